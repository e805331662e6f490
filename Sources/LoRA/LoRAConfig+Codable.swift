import Foundation
import ModelFormats

/// `Codable` with PEFT's snake_case keys, so a LoRAConfig can sit inside any Codable document (JSON or YAML).
/// Both directions go through the same key table as adapter_config.json, so validation and the preserved unknown
/// keys behave identically however the config arrives.
extension LoRAConfig: Codable {
    public init(from decoder: Decoder) throws {
        let value = try JSONValue(from: decoder)
        guard case .object = value, let object = value.foundationObject as? [String: Any] else {
            throw LoRAConfigError(key: "", message: "expected an object of LoRA settings", source: decoder.codingPath.pathString)
        }
        try self.init(json: object, source: decoder.codingPath.isEmpty ? "lora config" : decoder.codingPath.pathString)
    }

    public func encode(to encoder: Encoder) throws {
        try JSONValue(foundation: jsonObject()).encode(to: encoder)
    }
}

private extension Array where Element == CodingKey {
    var pathString: String { map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
}
