import Foundation

/// PEFT's LoraConfig, with PEFT's field names in JSON/YAML (adapter_config.json reads and writes unchanged).
/// Keys LoRAKit does not use (newer PEFT versions add many) are kept and written back, so a round trip is lossless.
public struct LoRAConfig: Equatable {
    public var r: Int = 8
    public var loraAlpha: Double = 8
    public var loraDropout: Double = 0
    /// nil = the architecture's default targets.
    public var targetModules: TargetModules?
    public var excludeModules: TargetModules?
    public var bias: Bias = .none
    public var modulesToSave: [String]?
    public var layersToTransform: [Int]?
    public var layersPattern: [String]?
    public var rankPattern: [String: Int] = [:]
    public var alphaPattern: [String: Double] = [:]
    public var useRSLoRA = false
    public var useDoRA = false
    public var initLoRAWeights: Initialization = .kaiming
    public var fanInFanOut = false
    public var taskType: String?
    public var baseModelNameOrPath: String?
    public var revision: String?
    public var inferenceMode = false
    /// Everything else from adapter_config.json, preserved verbatim.
    public var otherKeys: [String: Any] = [:]

    public enum TargetModules: Equatable {
        /// Match a module whose path equals an entry or ends with "." + entry.
        case names([String])
        /// Match a module whose whole path matches the regular expression.
        case regex(String)
        /// Every linear layer except the architecture's output heads.
        case allLinear
    }

    public enum Bias: String, Equatable { case none, all, loraOnly = "lora_only" }

    public enum Initialization: Equatable {
        /// PEFT's `true`: A kaiming-uniform (as nn.Linear), B zero — the adapter starts as the identity.
        case kaiming
        /// A ~ N(0, 1/r), B zero.
        case gaussian
        /// PEFT's `false`: A and B both nn.Linear's default (a random, non-identity adapter, for tests).
        case random
        /// PiSSA: A, B from the top-r singular vectors of W, the base weight keeps the residual.
        case pissa
    }

    public init(r: Int = 8, loraAlpha: Double = 8, loraDropout: Double = 0, targetModules: TargetModules? = nil) {
        self.r = r
        self.loraAlpha = loraAlpha
        self.loraDropout = loraDropout
        self.targetModules = targetModules
    }

    /// Equal when they write the same adapter_config.json (keys sorted).
    public static func == (a: LoRAConfig, b: LoRAConfig) -> Bool {
        guard let x = try? a.jsonData(), let y = try? b.jsonData() else { return false }
        return x == y
    }

    /// The rank for a module path, after rank_pattern (PEFT's get_pattern_key: a key matches when
    /// `(.*\.)?(key)$` matches the whole path, i.e. the key is a regex for a dot-separated path suffix).
    /// PEFT takes the first matching key in file order; JSON objects arrive unordered here, so overlapping keys are
    /// tried in sorted order instead — keys that match disjoint modules (the usual case) behave identically.
    public func rank(for path: String) -> Int { Self.patternValue(rankPattern, path) ?? r }
    public func alpha(for path: String) -> Double { Self.patternValue(alphaPattern, path) ?? loraAlpha }

    /// scale = alpha / r, or alpha / √r with rsLoRA.
    public func scaling(for path: String) -> Double {
        let (rank, alpha) = (Double(rank(for: path)), alpha(for: path))
        return useRSLoRA ? alpha / rank.squareRoot() : alpha / rank
    }

    static func patternValue<V>(_ pattern: [String: V], _ path: String) -> V? {
        for (key, value) in pattern.sorted(by: { $0.key < $1.key }) {
            if key == path || path.range(of: "^(.*\\.)?(\(key))$", options: .regularExpression) != nil { return value }
        }
        return nil
    }
}
