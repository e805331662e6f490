import Foundation
import Hummingbird
import LoRAKit

/// JSON and SSE responses, and the bearer-key check.
enum HTTPReply {
    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func error(_ e: ServeError) -> Response {
        Response(status: HTTPResponse.Status(code: e.status), headers: [.contentType: "application/json"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: e.json)))
    }

    /// One SSE event: `data: <json>` and a blank line.
    static func event(_ object: Any) -> ByteBuffer {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var buffer = ByteBuffer(string: "data: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}

/// With `--api-key`, every /v1/ route needs `Authorization: Bearer <key>` (401 otherwise, as OpenAI answers).
/// /health and /metrics stay open for probes and scrapers.
struct APIKeyMiddleware<Context: RequestContext>: RouterMiddleware {
    let key: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/v1/") else { return try await next(request, context) }
        let given = request.headers[.authorization] ?? ""
        guard given == "Bearer \(key)" else {
            return HTTPReply.error(ServeError(status: 401, given.isEmpty ? "Missing API key: send 'Authorization: Bearer <key>'" : "Incorrect API key provided",
                                              code: "invalid_api_key"))
        }
        return try await next(request, context)
    }
}

/// A consumer of one request's engine events that can be handed to the response body writer.
final class EventReader: @unchecked Sendable {
    private var iterator: AsyncStream<EngineEvent>.AsyncIterator
    init(_ stream: AsyncStream<EngineEvent>) { iterator = stream.makeAsyncIterator() }
    func next() async -> EngineEvent? { await iterator.next() }
}
