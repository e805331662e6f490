import TensorCore

extension Module {
    /// Fills every parameter of the tree from `lookup` (by dotted HF path). Strict like mlx-swift: a parameter with no
    /// weight or a weight with the wrong shape fails loudly instead of leaving a layer at its initial value.
    /// `optional` names parameters a checkpoint may omit (e.g. a tied lm_head, which the caller ties afterwards).
    /// Returns the paths that were loaded.
    @discardableResult
    public func loadWeights(optional: Set<String> = [], _ lookup: (String) throws -> Tensor?) throws -> [String] {
        var missing: [String] = [], loaded: [String] = []
        // Paths only: holding the (path, tensor) list would keep every placeholder alive until the loop ends, so
        // loading would peak at twice the model's size.
        for path in namedParameters().map(\.path) {
            guard let t = try lookup(path) else {
                if !optional.contains(path) { missing.append(path) }
                continue
            }
            try setParameter(at: path, t)
            loaded.append(path)
        }
        if !missing.isEmpty { throw ModuleError.missingWeights(missing) }
        return loaded
    }

    /// Shares one tensor between two parameter paths (tied input embedding and lm_head).
    public func tie(_ path: String, to source: String) throws {
        guard let t = namedParameters().first(where: { $0.path == source })?.tensor else { throw ModuleError.unknownParameter(source) }
        try setParameter(at: path, t)
    }
}
