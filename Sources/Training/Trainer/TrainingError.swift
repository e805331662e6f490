/// Why training stopped or could not start.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    /// A loss or gradient norm that is NaN or infinite; training stopped before applying it.
    case nonFinite(what: String, step: Int, lastCheckpoint: String?)
    /// No examples left to train on after filtering, truncation and masking.
    case noData(String)
    /// A checkpoint that cannot be written or resumed from.
    case checkpoint(String)
    /// A setting that cannot work (e.g. a batch that does not fit the memory budget).
    case configuration(String)

    public var description: String {
        switch self {
        case .nonFinite(let what, let step, let last):
            return "\(what) is not finite at step \(step); training stopped without applying it. "
                + (last.map { "The last good checkpoint is \($0)." } ?? "No checkpoint had been saved yet.")
        case .noData(let s): return "no training data: \(s)"
        case .checkpoint(let s): return "checkpoint: \(s)"
        case .configuration(let s): return s
        }
    }
}
