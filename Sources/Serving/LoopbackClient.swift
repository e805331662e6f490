import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A minimal HTTP client for the benchmark, refusing anything but loopback addresses.
struct LoopbackClient: Sendable {
    let base: URL

    init(_ base: String) throws {
        guard let url = URL(string: base), let host = url.host, ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) else {
            throw ServeError.badRequest("the benchmark only talks to loopback addresses (127.0.0.1, localhost, ::1), not \(base)")
        }
        self.base = url
    }

    struct Reply: Sendable {
        var status: Int
        var body: Data
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    }

    /// One request with a raw body; waits for the whole answer (timeout in seconds).
    func send(_ method: String, _ path: String, body: Data? = nil, timeout: Double = 300) async throws -> Reply {
        var request = URLRequest(url: base.appendingPathComponent(path), timeoutInterval: timeout)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return Reply(status: (response as? HTTPURLResponse)?.statusCode ?? 0, body: data)
    }

    func post(_ path: String, json: [String: Any]) async throws -> Reply {
        try await send("POST", path, body: try JSONSerialization.data(withJSONObject: json))
    }

    /// A streamed completion: when the first text arrived and how many tokens the usage chunk reports.
    struct StreamResult: Sendable {
        var status: Int
        var firstTextSeconds: Double?
        var totalSeconds: Double
        var completionTokens: Int
        var sawDone: Bool
    }

    func stream(_ path: String, json: [String: Any], timeout: Double = 300) async throws -> StreamResult {
        var request = URLRequest(url: base.appendingPathComponent(path), timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = try JSONSerialization.data(withJSONObject: json)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        let reader = SSEReader()
        let session = URLSession(configuration: .ephemeral, delegate: reader, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        return try await withCheckedThrowingContinuation { continuation in
            reader.start(continuation)
            session.dataTask(with: request).resume()
        }
    }
}

/// Reads an SSE response as it arrives (URLSession delegate callbacks), timing the first text chunk.
final class SSEReader: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<LoopbackClient.StreamResult, any Error>?
    private var pending = Data()
    private var start: UInt64 = 0
    private var result = LoopbackClient.StreamResult(status: 0, firstTextSeconds: nil, totalSeconds: 0, completionTokens: 0, sawDone: false)

    func start(_ c: CheckedContinuation<LoopbackClient.StreamResult, any Error>) {
        lock.withLock {
            continuation = c
            start = DispatchTime.now().uptimeNanoseconds
        }
    }

    private var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        lock.withLock { result.status = (response as? HTTPURLResponse)?.statusCode ?? 0 }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        lock.withLock {
            pending.append(data)
            // Events end with a blank line; handle each whole one.
            while let range = pending.range(of: Data("\n\n".utf8)) {
                let event = String(decoding: pending[pending.startIndex..<range.lowerBound], as: UTF8.self)
                pending.removeSubrange(pending.startIndex..<range.upperBound)
                handle(event)
            }
        }
    }

    private func handle(_ event: String) {
        guard event.hasPrefix("data: ") else { return }
        let payload = event.dropFirst(6)
        if payload == "[DONE]" { result.sawDone = true; return }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(payload.utf8))) as? [String: Any] else { return }
        if let usage = object["usage"] as? [String: Any], let n = usage["completion_tokens"] as? Int { result.completionTokens = n }
        if result.firstTextSeconds == nil, let choice = (object["choices"] as? [[String: Any]])?.first {
            let text = (choice["delta"] as? [String: Any])?["content"] as? String ?? choice["text"] as? String ?? ""
            if !text.isEmpty { result.firstTextSeconds = elapsed }
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        let (c, r) = lock.withLock { () -> (CheckedContinuation<LoopbackClient.StreamResult, any Error>?, LoopbackClient.StreamResult) in
            result.totalSeconds = elapsed
            let c = continuation
            continuation = nil
            return (c, result)
        }
        if let error { c?.resume(throwing: error) } else { c?.resume(returning: r) }
    }
}
