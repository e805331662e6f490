import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A minimal HTTP/1.1 client for the benchmark on SwiftNIO (one connection per request), refusing anything but
/// loopback addresses. Not URLSession: on Linux its libcurl driver burnt about one core of the two polling while
/// 8 streams were open, so the benchmark measured its own client more than the server.
struct LoopbackClient: Sendable {
    let host: String
    let port: Int

    init(_ base: String) throws {
        guard let url = URL(string: base), let host = url.host, ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host) else {
            throw ServeError.badRequest("the benchmark only talks to loopback addresses (127.0.0.1, localhost, ::1), not \(base)")
        }
        self.host = host == "localhost" ? "127.0.0.1" : host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        port = url.port ?? 80
    }

    struct Reply: Sendable {
        var status: Int
        var body: Data
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    }

    /// One request with a raw body; waits for the whole answer (timeout in seconds).
    func send(_ method: String, _ path: String, body: Data? = nil, timeout: Double = 300) async throws -> Reply {
        var status = 0
        var data = Data()
        try await exchange(method, path, body: body, timeout: timeout) { head in status = Int(head.status.code) } body: { chunk in
            data.append(contentsOf: chunk.readableBytesView)
        }
        return Reply(status: status, body: data)
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
        let start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        var result = StreamResult(status: 0, firstTextSeconds: nil, totalSeconds: 0, completionTokens: 0, sawDone: false)
        var pending: [UInt8] = []
        try await exchange("POST", path, body: try JSONSerialization.data(withJSONObject: json), timeout: timeout) { head in
            result.status = Int(head.status.code)
        } body: { chunk in
            pending += chunk.readableBytesView
            // SSE events end with a blank line; handle each whole one.
            while let end = Self.blankLine(in: pending) {
                Self.handle(event: pending[..<end], into: &result, elapsed: elapsed)
                pending.removeFirst(end + 2)
            }
        }
        result.totalSeconds = elapsed()
        return result
    }

    private static func blankLine(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 2 else { return nil }
        for i in 0..<(bytes.count - 1) where bytes[i] == 10 && bytes[i + 1] == 10 { return i }
        return nil
    }

    private static func handle(event: ArraySlice<UInt8>, into result: inout StreamResult, elapsed: () -> Double) {
        let prefix = Array("data: ".utf8)
        guard event.starts(with: prefix) else { return }
        let payload = event.dropFirst(prefix.count)
        if payload.elementsEqual("[DONE]".utf8) { result.sawDone = true; return }
        guard let object = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any] else { return }
        if let usage = object["usage"] as? [String: Any], let n = usage["completion_tokens"] as? Int { result.completionTokens = n }
        if result.firstTextSeconds == nil, let choice = (object["choices"] as? [[String: Any]])?.first {
            let text = (choice["delta"] as? [String: Any])?["content"] as? String ?? choice["text"] as? String ?? ""
            if !text.isEmpty { result.firstTextSeconds = elapsed() }
        }
    }

    /// Sends one request on a fresh connection and feeds the response head and body chunks to the closures as they
    /// arrive; throws when the server does not finish within `timeout` seconds.
    private func exchange(_ method: String, _ path: String, body: Data?, timeout: Double,
                          head onHead: (HTTPResponseHead) -> Void, body onBody: (ByteBuffer) -> Void) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
                }
            }
        // The deadline closes the connection, which ends the read loop below with an error.
        let watchdog = Task { [channel = channel.channel] in
            try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
            channel.close(promise: nil)
        }
        defer { watchdog.cancel() }
        var finished = false
        try await channel.executeThenClose { inbound, outbound in
            var headers = HTTPHeaders([("Host", "\(host):\(port)"), ("Connection", "close")])
            if let body {
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "Content-Length", value: String(body.count))
            }
            // Head, body and end in one write: the server may answer (a 400 for a bad body) and close as soon as
            // it has the body, and a separate write of the end after that failed with "I/O on closed channel",
            // counting an answered request as dropped.
            var parts: [HTTPClientRequestPart] = [.head(HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: method),
                                                                        uri: "/" + path, headers: headers))]
            if let body { parts.append(.body(.byteBuffer(ByteBuffer(bytes: body)))) }
            parts.append(.end(nil))
            try await outbound.write(contentsOf: parts)
            for try await part in inbound {
                switch part {
                case .head(let head): onHead(head)
                case .body(let chunk): onBody(chunk)
                case .end: finished = true
                }
                if finished { break }
            }
        }
        guard finished else { throw ServeError(status: 504, "\(method) /\(path): no complete answer within \(timeout) s") }
    }
}
