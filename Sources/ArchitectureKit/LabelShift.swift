/// transformers' causal-LM label shift for one sequence: the loss at position t is scored on the label at t + 1,
/// and the last position predicts nothing (−100). The trainer's batches and the parity loss both use it.
public func nextTokenTargets<C: Collection>(_ labels: C, ignoreIndex: Int32 = -100) -> [Int32] where C.Element == Int32 {
    labels.isEmpty ? [] : Array(labels.dropFirst()) + [ignoreIndex]
}
