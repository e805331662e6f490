import Foundation
import ModelFormats

/// A Hugging Face config.json object with typed accessors whose errors name the key and what was expected.
/// Plugins either read fields through it or decode their own `Codable` struct with `decode(_:)`.
public struct ModelConfig: @unchecked Sendable {
    public var values: [String: Any]
    /// Where it came from, for error messages.
    public var source: String

    public init(_ values: [String: Any], source: String) {
        self.values = values
        self.source = source
    }

    public init(contentsOf url: URL) throws {
        // JSONFile's errors name the file and the line:column of a syntax error.
        self.init(try JSONFile.object(at: url), source: url.path)
    }

    public var modelType: String? { values["model_type"] as? String }

    public func int(_ key: String) throws -> Int {
        guard let v = values[key] else { throw ArchitectureError.badConfig("\(source): missing \"\(key)\" (an integer)") }
        if let n = v as? NSNumber, !ModelConfig.isBoolean(n), n.doubleValue == n.doubleValue.rounded() { return n.intValue }
        throw ArchitectureError.badConfig("\(source): \"\(key)\" should be an integer, found \(v)")
    }

    public func int(_ key: String, default value: Int) throws -> Int {
        values[key] == nil || values[key] is NSNull ? value : try int(key)
    }

    public func double(_ key: String) throws -> Double {
        guard let v = values[key] else { throw ArchitectureError.badConfig("\(source): missing \"\(key)\" (a number)") }
        if let n = v as? NSNumber, !ModelConfig.isBoolean(n) { return n.doubleValue }
        throw ArchitectureError.badConfig("\(source): \"\(key)\" should be a number, found \(v)")
    }

    public func double(_ key: String, default value: Double) throws -> Double {
        values[key] == nil || values[key] is NSNull ? value : try double(key)
    }

    public func bool(_ key: String, default value: Bool) throws -> Bool {
        guard let v = values[key], !(v is NSNull) else { return value }
        if let n = v as? NSNumber, ModelConfig.isBoolean(n) { return n.boolValue }
        throw ArchitectureError.badConfig("\(source): \"\(key)\" should be true or false, found \(v)")
    }

    public func string(_ key: String, default value: String? = nil) throws -> String {
        guard let v = values[key], !(v is NSNull) else {
            if let value { return value }
            throw ArchitectureError.badConfig("\(source): missing \"\(key)\" (a string)")
        }
        if let s = v as? String { return s }
        throw ArchitectureError.badConfig("\(source): \"\(key)\" should be a string, found \(v)")
    }

    /// JSONSerialization gives every JSON number and boolean as NSNumber, and on Linux `1 is Bool` holds; only the
    /// boxed type (objCType "c") tells a JSON true/false apart from 1/0.
    static func isBoolean(_ n: NSNumber) -> Bool { String(cString: n.objCType) == "c" }

    /// Decodes a plugin's own Codable configuration (snake_case keys as in config.json).
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = try JSONSerialization.data(withJSONObject: values)
        do { return try JSONDecoder().decode(T.self, from: data) }
        catch { throw ArchitectureError.badConfig("\(source): \(error)") }
    }

    /// The config as JSON text (written next to merged models).
    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: values, options: [.prettyPrinted, .sortedKeys])
    }
}
