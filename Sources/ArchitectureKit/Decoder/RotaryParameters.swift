import Foundation
import TensorCore

/// Rotary position embeddings as a config gives them: the base and how many channels of each head rotate.
public struct RotaryParameters: Equatable, Sendable {
    /// Channels of each head that rotate (the whole head unless partial_rotary_factor / rotary_pct says less).
    public var dimension: Int
    public var theta: Double

    public init(dimension: Int, theta: Double) {
        self.dimension = dimension
        self.theta = theta
    }
}

extension ModelConfig {
    /// Rotary settings the way transformers 5 writes them — nested under `rope_parameters` {rope_type, rope_theta,
    /// partial_rotary_factor} — or at the top level as older configs do (`rope_theta`; GPT-NeoX: `rotary_emb_base`,
    /// `rotary_pct`). Only rope_type "default" is computed; anything else is refused by name.
    /// - Parameters:
    ///   - headDim: channels per head.
    ///   - legacyTheta / legacyFraction: the top-level keys of older configs and their defaults.
    public func rotary(headDim: Int, legacyTheta: (key: String, default: Double) = ("rope_theta", 10_000),
                       legacyFraction: (key: String, default: Double)? = nil) throws -> RotaryParameters {
        let theta: Double, fraction: Double
        if let rope = values["rope_parameters"] as? [String: Any] {
            let nested = ModelConfig(rope, source: source + " rope_parameters")
            let ropeType = try nested.string("rope_type", default: "default")
            guard ropeType == "default" else {
                throw ArchitectureError.unsupported("\(source): rope_type \"\(ropeType)\" is not supported (only \"default\")")
            }
            theta = try nested.positive("rope_theta", default: legacyTheta.default)
            fraction = try nested.double("partial_rotary_factor", default: legacyFraction.map { try double($0.key, default: $0.default) } ?? 1)
        } else {
            theta = try positive(legacyTheta.key, default: legacyTheta.default)
            fraction = try legacyFraction.map { try double($0.key, default: $0.default) } ?? 1
        }
        guard fraction > 0 && fraction <= 1 else {
            throw ArchitectureError.badConfig("\(source): the rotary fraction is \(fraction); it must be in (0, 1]")
        }
        let dimension = Int(Double(headDim) * fraction)
        guard dimension % 2 == 0 && dimension > 0 else {
            throw ArchitectureError.badConfig("\(source): \(dimension) rotary channels per head (head size \(headDim)); rotary embeddings need an even, positive number")
        }
        return RotaryParameters(dimension: dimension, theta: theta)
    }

    /// A dropout probability (default 0 when absent or null), checked to be in [0, 1).
    public func dropout(_ key: String) throws -> Float {
        let p = try double(key, default: 0)
        guard p >= 0 && p < 1 else { throw ArchitectureError.badConfig("\(source): \"\(key)\" is \(p); a dropout probability must be in [0, 1)") }
        return Float(p)
    }
}

/// The activations transformers' ACT2FN names that LoRAKit computes, refused by name otherwise.
public enum HiddenActivation: String, Sendable {
    case gelu, geluNew = "gelu_new", geluPytorchTanh = "gelu_pytorch_tanh", relu

    /// `config[key]` (default `fallback`), limited to `allowed`.
    public init(_ config: ModelConfig, key: String, default fallback: String, allowed: [HiddenActivation]) throws {
        let name = try config.string(key, default: fallback)
        guard let value = HiddenActivation(rawValue: name), allowed.contains(value) else {
            throw ArchitectureError.unsupported("\(config.source): \(key) \"\(name)\" is not supported (\(allowed.map(\.rawValue).joined(separator: ", ")))")
        }
        self = value
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch self {
        case .gelu: return x.gelu()
        case .geluNew, .geluPytorchTanh: return x.geluTanh()
        case .relu: return x.relu()
        }
    }
}
