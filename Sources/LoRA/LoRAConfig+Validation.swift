import Foundation

extension LoRAConfig {
    /// Values PEFT would reject or that cannot mean anything: a rank below 1, a non-finite or negative lora_alpha
    /// (a negative scale silently inverts the update), a dropout outside [0, 1). `source` names the file or recipe.
    public func validate(source: String) throws {
        guard r >= 1 else { throw LoRAError.badConfig("\(source): r is \(r); the rank must be at least 1") }
        for (key, rank) in rankPattern where rank < 1 {
            throw LoRAError.badConfig("\(source): rank_pattern '\(key)' is \(rank); a rank must be at least 1")
        }
        guard loraAlpha.isFinite, loraAlpha >= 0 else {
            throw LoRAError.badConfig("\(source): lora_alpha is \(loraAlpha); it must be a finite number ≥ 0")
        }
        for (key, alpha) in alphaPattern where !(alpha.isFinite && alpha >= 0) {
            throw LoRAError.badConfig("\(source): alpha_pattern '\(key)' is \(alpha); it must be a finite number ≥ 0")
        }
        guard loraDropout.isFinite, loraDropout >= 0, loraDropout < 1 else {
            throw LoRAError.badConfig("\(source): lora_dropout is \(loraDropout); it must be in [0, 1)")
        }
    }

    /// The rank for one layer, bounded by the layer: above max(in, out) a rank adds parameters but no expressiveness
    /// (BA has rank ≤ min(in, out)), and a corrupt r = 2^40 would abort on allocation. PiSSA takes the top-r
    /// singular vectors, so it needs r ≤ min(in, out).
    func checkedRank(for path: String, inFeatures: Int, outFeatures: Int) throws -> Int {
        let rank = self.rank(for: path)
        if initLoRAWeights == .pissa, rank > min(inFeatures, outFeatures) {
            throw LoRAError.badConfig("PiSSA rank \(rank) for '\(path)' exceeds min(in_features, out_features) = \(min(inFeatures, outFeatures)): there are only that many singular vectors")
        }
        guard rank <= max(inFeatures, outFeatures) else {
            throw LoRAError.badConfig("rank \(rank) for '\(path)' exceeds max(in_features, out_features) = \(max(inFeatures, outFeatures)) of that layer; use a rank up to min(in, out) = \(min(inFeatures, outFeatures))")
        }
        return rank
    }
}

extension LoRAModel {
    /// A missing adapter directory or one without adapter_config.json, said plainly (instead of Foundation's
    /// NSCocoaErrorDomain Code=260).
    public static func checkAdapterDirectory(_ directory: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) else {
            throw LoRAError.adapterFile("adapter directory \(directory.path) does not exist")
        }
        guard isDirectory.boolValue else {
            throw LoRAError.adapterFile("\(directory.path) is a file; an adapter is a directory with adapter_config.json and adapter_model.safetensors")
        }
        for file in ["adapter_config.json", "adapter_model.safetensors"] {
            let url = directory.appendingPathComponent(file)
            guard FileManager.default.isReadableFile(atPath: url.path) else {
                throw LoRAError.adapterFile("\(directory.path) has no readable \(file); is it a PEFT adapter directory?")
            }
        }
    }
}
