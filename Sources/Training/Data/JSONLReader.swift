import CJSONC
import Foundation
import ModelFormats

/// A JSONL line that is not one JSON object, with where it is.
public struct JSONLError: Error, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var reason: String
    public var description: String { "\(file):\(line): \(reason)" }
}

/// What reading a JSONL file produced: the rows with their 1-based line numbers, and the lines that were skipped.
public struct JSONLContents {
    public var rows: [(line: Int, value: JSONValue)]
    /// Malformed lines skipped under `onBadLine: .skip` (never silently: callers report the count).
    public var skipped: [JSONLError]
}

/// What to do with a line that is not a JSON object.
public enum BadLinePolicy: String, Sendable, Codable, CaseIterable {
    case error, skip
}

/// Reads JSON Lines with json-c: one object per line, blank lines ignored, the whole line must be consumed (a
/// trailing `}` or a second object on the line is an error rather than silently dropped text).
public enum JSONLReader {
    public static func read(_ url: URL, onBadLine policy: BadLinePolicy = .error) throws -> JSONLContents {
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw JSONLError(file: url.path, line: 0, reason: "cannot read the file: \(error.localizedDescription)")
        }
        return try read(data, name: url.path, onBadLine: policy)
    }

    /// Parses JSONL bytes; `name` is used in errors.
    public static func read(_ data: Data, name: String, onBadLine policy: BadLinePolicy = .error) throws -> JSONLContents {
        var rows: [(Int, JSONValue)] = []
        var skipped: [JSONLError] = []
        guard let tok = json_tokener_new() else { throw JSONLError(file: name, line: 0, reason: "json-c: out of memory") }
        defer { json_tokener_free(tok) }
        // Reject invalid UTF-8 instead of passing broken text to the tokenizer.
        json_tokener_set_flags(tok, Int32(JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8))
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress?.assumingMemoryBound(to: CChar.self) else { return }
            var start = 0, lineNumber = 0
            while start < raw.count {
                lineNumber += 1
                var end = start
                while end < raw.count && raw[end] != 0x0A { end += 1 }
                var stop = end
                while stop > start && (raw[stop - 1] == 0x0D || raw[stop - 1] == 0x20 || raw[stop - 1] == 0x09) { stop -= 1 }
                var first = start
                while first < stop && (raw[first] == 0x20 || raw[first] == 0x09) { first += 1 }
                defer { start = end + 1 }
                if first == stop { continue }
                json_tokener_reset(tok)
                let length = stop - first
                let object = json_tokener_parse_ex(tok, base + first, Int32(length))
                defer { if object != nil { json_object_put(object) } }
                var reason: String?
                if object == nil {
                    let err = json_tokener_get_error(tok)
                    reason = err == json_tokener_continue ? "the JSON value is incomplete"
                        : "invalid JSON (\(String(cString: json_tokener_error_desc(err))))"
                } else if json_tokener_get_parse_end(tok) < length {
                    reason = "unexpected text after the JSON value at column \(json_tokener_get_parse_end(tok) + 1)"
                } else if json_object_get_type(object) != json_type_object {
                    reason = "expected a JSON object, found \(convert(object).typeName)"
                }
                if let reason {
                    let error = JSONLError(file: name, line: lineNumber, reason: reason)
                    if policy == .error { throw error }
                    skipped.append(error)
                    continue
                }
                rows.append((lineNumber, convert(object)))
            }
        }
        return JSONLContents(rows: rows, skipped: skipped)
    }

    static func convert(_ object: OpaquePointer?) -> JSONValue {
        guard let object else { return .null }
        switch json_object_get_type(object) {
        case json_type_null: return .null
        case json_type_boolean: return .bool(json_object_get_boolean(object) != 0)
        case json_type_int: return .int(json_object_get_int64(object))
        case json_type_double: return .double(json_object_get_double(object))
        case json_type_string:
            // Length-aware: strings may contain \u0000.
            let n = Int(json_object_get_string_len(object))
            let p = UnsafeRawPointer(json_object_get_string(object)!).assumingMemoryBound(to: UInt8.self)
            return .string(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
        case json_type_array:
            let n = json_object_array_length(object)
            return .array((0..<n).map { convert(json_object_array_get_idx(object, $0)) })
        case json_type_object:
            var result: [String: JSONValue] = [:]
            var it = json_object_iter_begin(object), end = json_object_iter_end(object)
            while json_object_iter_equal(&it, &end) == 0 {
                let key = String(cString: json_object_iter_peek_name(&it))
                result[key] = convert(json_object_iter_peek_value(&it))
                json_object_iter_next(&it)
            }
            return .object(result)
        default: return .null
        }
    }
}
