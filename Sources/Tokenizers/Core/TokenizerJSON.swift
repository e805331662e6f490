import Foundation

/// Typed access to a decoded JSON object (a tokenizer.json or one of its parts) that names the field at fault.
///
/// tokenizer.json mixes shapes per `type` (e.g. `merges` as `"a b"` strings or `["a", "b"]` pairs), so it is read
/// as `JSONSerialization` objects rather than through `Codable`.
struct JSONObject {
    let fields: [String: Any]
    /// Dotted path of this object inside the file, used in error messages.
    let path: String

    init(_ fields: [String: Any], path: String) {
        self.fields = fields
        self.path = path
    }

    /// Parses a whole file; `name` appears in errors.
    init(data: Data, name: String) throws {
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw TokenizerError.unreadableFile(name, reason: "not JSON (\(error.localizedDescription))")
        }
        guard let fields = root as? [String: Any] else {
            throw TokenizerError.unreadableFile(name, reason: "top level is not a JSON object")
        }
        self.init(fields, path: "")
    }

    func fieldPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { fields[key] != nil && !(fields[key] is NSNull) }

    func value<T>(_ key: String, as type: T.Type = T.self) throws -> T {
        guard let raw = fields[key], !(raw is NSNull) else { throw TokenizerError.missingField(fieldPath(key)) }
        guard let value = raw as? T else {
            throw TokenizerError.invalidField(fieldPath(key), reason: "expected \(T.self), found \(Swift.type(of: raw))")
        }
        return value
    }

    func optional<T>(_ key: String, as type: T.Type = T.self) throws -> T? {
        has(key) ? try value(key, as: T.self) : nil
    }

    func string(_ key: String) throws -> String { try value(key) }

    func int(_ key: String) throws -> Int {
        let number: NSNumber = try value(key)
        // intValue would turn 1e300 into Int.min and 2⁶⁴−1 into −1.
        let integer = number.int64Value
        guard Double(integer) == number.doubleValue else {
            throw TokenizerError.invalidField(fieldPath(key), reason: "expected a whole number, found \(number)")
        }
        return Int(integer)
    }

    /// A token id (see TokenizerLimits).
    func tokenID(_ key: String) throws -> Int {
        try TokenizerLimits.tokenID(try value(key, as: NSNumber.self), field: fieldPath(key))
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard has(key) else { return fallback }
        let number: NSNumber = try value(key)
        return number.boolValue
    }

    func object(_ key: String) throws -> JSONObject {
        JSONObject(try value(key, as: [String: Any].self), path: fieldPath(key))
    }

    func optionalObject(_ key: String) throws -> JSONObject? {
        has(key) ? try object(key) : nil
    }

    func objects(_ key: String) throws -> [JSONObject] {
        let array: [Any] = try value(key)
        return try array.enumerated().map { index, element in
            guard let fields = element as? [String: Any] else {
                throw TokenizerError.invalidField("\(fieldPath(key))[\(index)]", reason: "expected an object")
            }
            return JSONObject(fields, path: "\(fieldPath(key))[\(index)]")
        }
    }
}
