import Foundation

/// An error a client sees, in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with an HTTP status.
public struct ServeError: Error, CustomStringConvertible, Sendable {
    public var status: Int
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?

    public init(status: Int, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
    }

    public var description: String { "\(status) \(message)" }

    static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> ServeError {
        ServeError(status: 400, message, param: param, code: code)
    }
    static func modelNotFound(_ name: String) -> ServeError {
        ServeError(status: 404, "The model '\(name)' does not exist", type: "invalid_request_error", param: "model", code: "model_not_found")
    }

    /// The JSON body.
    public var json: Data {
        let error: [String: Any] = ["message": message, "type": type, "param": param ?? NSNull(), "code": code ?? NSNull()]
        return (try? JSONSerialization.data(withJSONObject: ["error": error], options: [.sortedKeys])) ?? Data()
    }
}
