import Foundation

/// Range checks for the sizes and constants a plugin reads, so a bad config.json or GGUF header is a clear error
/// naming the key instead of a division by zero, an invalid range or an allocation of terabytes.
extension ModelConfig {
    /// Generous upper bounds (far above any released model) that keep one bad number from allocating the machine away.
    public enum Limits {
        public static let width = 1 << 17        // hidden, intermediate, head_dim
        public static let vocabulary = 1 << 24
        public static let layers = 4096
        public static let heads = 4096
        public static let positions = 1 << 24
    }

    /// An integer size in 1...`limit`.
    public func size(_ key: String, default value: Int? = nil, limit: Int) throws -> Int {
        let n = try value.map { try int(key, default: $0) } ?? int(key)
        guard n > 0 else { throw ArchitectureError.badConfig("\(source): \"\(key)\" is \(n); it must be a positive integer") }
        guard n <= limit else {
            throw ArchitectureError.badConfig("\(source): \"\(key)\" is \(n), above the limit of \(limit); the file is corrupt or not a model LoRAKit can hold")
        }
        return n
    }

    /// A finite, strictly positive number (norm epsilons, rope_theta).
    public func positive(_ key: String, default value: Double) throws -> Double {
        let x = try double(key, default: value)
        guard x.isFinite, x > 0 else {
            throw ArchitectureError.badConfig("\(source): \"\(key)\" is \(x); it must be a finite number above 0")
        }
        return x
    }

    /// `divisor` must divide `dividend` exactly (heads into hidden, KV heads into heads).
    public func requireDivides(_ divisor: (key: String, value: Int), _ dividend: (key: String, value: Int)) throws {
        guard divisor.value > 0, dividend.value % divisor.value == 0 else {
            throw ArchitectureError.badConfig("\(source): \"\(dividend.key)\" \(dividend.value) is not a multiple of \"\(divisor.key)\" \(divisor.value)")
        }
    }

    /// Refuses a value of `key` outside `supported` by name (a setting the architecture would otherwise ignore).
    public func requireOneOf(_ key: String, default value: String, _ supported: [String]) throws -> String {
        let s = try string(key, default: value)
        guard supported.contains(s) else {
            throw ArchitectureError.unsupported("\(source): \"\(key)\" \"\(s)\" is not supported (supported: \(supported.joined(separator: ", ")))")
        }
        return s
    }

    /// The number of transformer blocks that the weight names hold: one more than the largest N in
    /// `layers.N.` / `layer.N.` / `h.N.` / `blk.N.`; nil when no name has such a component.
    public static func layerCount(inTensorNames names: [String]) -> Int? {
        var largest: Int?
        for name in names {
            let parts = name.split(separator: ".")
            for (i, part) in parts.enumerated().dropLast() where ["layers", "layer", "h", "blk"].contains(part) {
                if let n = Int(parts[i + 1]) { largest = max(largest ?? n, n) }
            }
        }
        return largest.map { $0 + 1 }
    }

    /// A layer count in the config above what the weight file holds would allocate layers the file cannot fill
    /// (a GGUF block_count of 100000 would take tens of GB before strict loading could object).
    public func checkLayerCount(against names: [String], file: String) throws {
        guard let held = Self.layerCount(inTensorNames: names) else { return }
        for key in ["num_hidden_layers", "n_layer", "num_layers"] {
            guard let n = try? int(key) else { continue }
            if n > held {
                throw ArchitectureError.badConfig("\(source): \"\(key)\" is \(n) but \(file) holds weights for \(held) layers")
            }
        }
    }
}
