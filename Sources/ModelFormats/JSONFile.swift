import Foundation

/// A JSON file that could not be read or parsed, with the file and, where the parser gave an offset, the line and
/// column: Foundation's own error (`NSCocoaErrorDomain Code=3840 … around character 17`) names neither.
public struct JSONFileError: Error, CustomStringConvertible, Equatable {
    public var file: String
    /// 1-based; nil when the parser gave no position (e.g. the file ends early).
    public var line: Int?
    public var column: Int?
    public var reason: String

    public var description: String {
        if let line, let column { return "\(file):\(line):\(column): \(reason)" }
        return "\(file): \(reason)"
    }
}

/// Reads JSON files (config.json, adapter_config.json, …) with errors that say which file and where.
public enum JSONFile {
    /// The top-level object of the JSON file at `url`.
    public static func object(at url: URL) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            let exists = FileManager.default.fileExists(atPath: url.path)
            throw JSONFileError(file: url.path, reason: exists ? "cannot read the file (\(readReason(error)))"
                                    : "no such file")
        }
        return try object(data, file: url.path)
    }

    /// The top-level object of JSON `data`; `file` names it in errors.
    public static func object(_ data: Data, file: String) throws -> [String: Any] {
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw parseError(error, data: data, file: file)
        }
        guard let object = root as? [String: Any] else {
            throw JSONFileError(file: file, reason: "expected a JSON object at the top level, found \(kind(root))")
        }
        return object
    }

    /// Turns Foundation's parse error into one with a line and column. Foundation reports "… around character N."
    /// (a 0-based byte offset) in NSDebugDescription; the message is kept, the offset becomes line:column.
    static func parseError(_ error: Error, data: Data, file: String) -> JSONFileError {
        let debug = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
        var reason = debug.hasSuffix(".") ? String(debug.dropLast()) : debug
        if data.isEmpty { reason = "the file is empty" }
        guard let range = debug.range(of: "character "),
              let offset = Int(debug[range.upperBound...].prefix(while: \.isNumber)), offset <= data.count else {
            return JSONFileError(file: file, reason: "invalid JSON: \(reason)")
        }
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == 0x0A { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        if let around = reason.range(of: " around character") { reason = String(reason[..<around.lowerBound]) }
        return JSONFileError(file: file, line: line, column: column, reason: "invalid JSON: \(reason)")
    }

    static func kind(_ value: Any) -> String {
        switch value {
        case is [Any]: return "an array"
        case is String: return "a string"
        case is NSNull: return "null"
        case is NSNumber: return "a number or boolean"
        default: return "\(type(of: value))"
        }
    }

    static func readReason(_ error: Error) -> String {
        let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError
        if let underlying, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return (error as NSError).localizedDescription
    }
}
