import Foundation

/// A declarative plugin: an architecture that is an existing one under another name with other options
/// (Qwen2 = Llama with q/k/v biases, Mistral = Llama, …), described by a JSON file instead of Swift code.
///
///     {
///       "lorakit_plugin": 1,
///       "name": "Qwen2",
///       "model_types": ["qwen2"],
///       "base": "llama",                          // model_type of a registered plugin that builds it
///       "config": {"attention_bias": true},       // set in config.json's values before building
///       "require": {"use_sliding_window": false}, // refuse configs the base cannot compute exactly
///       "remove_parameters": ["self_attn.o_proj.bias"]  // parameters (by path suffix) the architecture lacks
///     }
///
/// The declared architecture keeps the base's LoRA defaults, heads and GGUF mapping.
public struct ArchitectureDeclaration: Decodable {
    public var name: String
    public var modelTypes: [String]
    public var base: String
    public var config: [String: JSONScalar]
    public var require: [String: JSONScalar]
    public var removeParameters: [String]
    /// Where it came from (a file path).
    public var origin = ""

    enum CodingKeys: String, CodingKey {
        case version = "lorakit_plugin", name, modelTypes = "model_types", base, config, require
        case removeParameters = "remove_parameters"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard version == 1 else {
            throw ArchitectureError.unsupported("declarative plugin format version \(version); this LoRAKit reads version 1")
        }
        name = try c.decode(String.self, forKey: .name)
        modelTypes = try c.decode([String].self, forKey: .modelTypes)
        base = try c.decode(String.self, forKey: .base)
        config = try c.decodeIfPresent([String: JSONScalar].self, forKey: .config) ?? [:]
        require = try c.decodeIfPresent([String: JSONScalar].self, forKey: .require) ?? [:]
        removeParameters = try c.decodeIfPresent([String].self, forKey: .removeParameters) ?? []
    }

    public static func load(_ url: URL) throws -> ArchitectureDeclaration {
        do {
            var d = try JSONDecoder().decode(ArchitectureDeclaration.self, from: Data(contentsOf: url))
            d.origin = url.path
            return d
        } catch let e as DecodingError {
            throw ArchitectureError.badConfig("\(url.path): \(Self.describe(e))")
        }
    }

    static func describe(_ e: DecodingError) -> String {
        switch e {
        case .keyNotFound(let k, _): return "missing \"\(k.stringValue)\""
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
            return "\(ctx.codingPath.map(\.stringValue).joined(separator: ".")): \(ctx.debugDescription)"
        @unknown default: return "\(e)"
        }
    }

    /// The config the base plugin builds: requirements checked, overrides applied.
    func apply(to config: ModelConfig) throws -> ModelConfig {
        for (key, expected) in require {
            let actual = JSONScalar(any: config.values[key])
            guard actual == expected || (actual == nil && expected == .null) else {
                throw ArchitectureError.unsupported("\(config.source): \(name) needs \"\(key)\": \(expected), found \(actual.map { "\($0)" } ?? "nothing")")
            }
        }
        var out = config
        for (key, value) in self.config { out.values[key] = value.any }
        return out
    }
}

/// A JSON number, string, boolean or null.
public enum JSONScalar: Decodable, Equatable, CustomStringConvertible {
    case number(Double), string(String), bool(Bool), null

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else { self = .string(try c.decode(String.self)) }
    }

    init?(any: Any?) {
        switch any {
        case nil: return nil
        case is NSNull: self = .null
        case let n as NSNumber where ModelConfig.isBoolean(n): self = .bool(n.boolValue)
        case let n as NSNumber: self = .number(n.doubleValue)
        case let s as String: self = .string(s)
        default: return nil
        }
    }

    var any: Any {
        switch self {
        case .number(let d): return d == d.rounded() && abs(d) < 1e15 ? Int(d) as Any : d
        case .string(let s): return s
        case .bool(let b): return b
        case .null: return NSNull()
        }
    }

    public var description: String {
        switch self {
        case .number(let d): return "\(d)"
        case .string(let s): return "\"\(s)\""
        case .bool(let b): return "\(b)"
        case .null: return "null"
        }
    }
}
