import TensorCore
import ArchitectureKit

/// One micro-batch ready for the model. `targets` are already shifted: the loss at position t is scored on
/// `targets[t]`, −100 where nothing is trained (prompt, padding, the last token of each sample).
public struct TrainingBatch {
    public var input: ModelInput
    /// (B·T) next-token targets for causal LM; (B) class indices for classification.
    public var targets: IntTensor
    /// Non-ignored targets: the denominator of the token-weighted loss.
    public var targetCount: Int
    /// Non-padding tokens (for tokens/s).
    public var tokenCount: Int
    public var isClassification: Bool
}

/// Builds micro-batches from tokenized examples, padded or packed.
public enum BatchBuilder {
    /// Right-padded rows, one example each, as long as the longest example.
    public static func padded(_ examples: [TokenizedExample], padID: Int32) -> TrainingBatch {
        let t = examples.map(\.count).max() ?? 1
        let b = examples.count
        var ids = [Int32](repeating: padID, count: b * t)
        var mask = [Int32](repeating: 0, count: b * t)
        var targets = [Int32](repeating: ignoreIndex, count: b * t)
        for (r, e) in examples.enumerated() {
            for i in 0..<e.count {
                ids[r * t + i] = e.inputIDs[i]
                mask[r * t + i] = 1
            }
            targets.replaceSubrange((r * t)..<(r * t + e.count), with: nextTokenTargets(e.labels, ignoreIndex: ignoreIndex))
        }
        let hasPadding = mask.contains(0)
        let input = ModelInput(inputIDs: IntTensor(ids, shape: [b, t]), attentionMask: hasPadding ? IntTensor(mask, shape: [b, t]) : nil)
        if let _ = examples.first?.classLabel {
            let classes = examples.map { Int32($0.classLabel ?? 0) }
            return TrainingBatch(input: input, targets: IntTensor(classes, shape: [b]), targetCount: b,
                                 tokenCount: examples.reduce(0) { $0 + $1.count }, isClassification: true)
        }
        return TrainingBatch(input: input, targets: IntTensor(targets, shape: [b * t]),
                             targetCount: targets.filter { $0 != ignoreIndex }.count,
                             tokenCount: examples.reduce(0) { $0 + $1.count }, isClassification: false)
    }

    /// Greedy in-order packing into rows of `length` tokens: a sample that does not fit starts a new row. Returns the
    /// groups of example indices per row.
    public static func packRows(_ lengths: [Int], length: Int) -> [[Int]] {
        var rows: [[Int]] = [], current: [Int] = [], used = 0
        for (i, n) in lengths.enumerated() {
            if used + n > length && !current.isEmpty { rows.append(current); current = []; used = 0 }
            current.append(i)
            used += n
        }
        if !current.isEmpty { rows.append(current) }
        return rows
    }

    /// Packed rows: samples placed end to end, position ids restarting at 0 for each sample, segment ids 1, 2, …
    /// per sample (0 = padding) so attention never crosses samples, and each sample's last target −100 so no
    /// token is trained to predict the next sample.
    public static func packed(_ rows: [[TokenizedExample]], length: Int, padID: Int32) -> TrainingBatch {
        // Rows are as long as the fullest one, so a short last batch does not pay for `length` tokens.
        let b = rows.count, t = min(length, rows.map { $0.reduce(0) { $0 + $1.count } }.max() ?? 1)
        var ids = [Int32](repeating: padID, count: b * t)
        var mask = [Int32](repeating: 0, count: b * t)
        var positions = [Int32](repeating: 0, count: b * t)
        var segments = [Int32](repeating: 0, count: b * t)
        var targets = [Int32](repeating: ignoreIndex, count: b * t)
        var tokens = 0
        for (r, row) in rows.enumerated() {
            var at = r * t
            for (s, e) in row.enumerated() {
                precondition(at - r * t + e.count <= t, "packed row overflows \(t) tokens")
                for i in 0..<e.count {
                    ids[at + i] = e.inputIDs[i]
                    mask[at + i] = 1
                    positions[at + i] = Int32(i)
                    segments[at + i] = Int32(s + 1)
                }
                targets.replaceSubrange(at..<(at + e.count), with: nextTokenTargets(e.labels, ignoreIndex: ignoreIndex))
                at += e.count
                tokens += e.count
            }
        }
        let input = ModelInput(inputIDs: IntTensor(ids, shape: [b, t]), attentionMask: IntTensor(mask, shape: [b, t]),
                               positionIDs: IntTensor(positions, shape: [b, t]), segmentIDs: IntTensor(segments, shape: [b, t]))
        return TrainingBatch(input: input, targets: IntTensor(targets, shape: [b * t]),
                             targetCount: targets.filter { $0 != ignoreIndex }.count, tokenCount: tokens, isClassification: false)
    }
}

/// The micro-batches of one epoch in a seeded order: the order depends only on (seed, epoch), so a resumed run
/// rebuilds exactly the batches it would have seen and only needs to store (epoch, batch index).
public struct EpochPlan {
    public var batches: [[Int]]
    public var packed: Bool

    /// Shuffles example indices with SeededGenerator(seed ⊕ epoch), then groups them into micro-batches of
    /// `batchSize` examples, or packs them into rows of `maxLength` and groups `batchSize` rows.
    public init(lengths: [Int], batchSize: Int, maxLength: Int, packing: Bool, seed: UInt64, epoch: Int, shuffle: Bool = true) {
        var order = Array(lengths.indices)
        if shuffle {
            var generator = SeededGenerator(seed: seed &+ 0x9E37_79B9 &* UInt64(epoch + 1))
            order.shuffle(using: &generator)
        }
        packed = packing
        if packing {
            let rows = BatchBuilder.packRows(order.map { lengths[$0] }, length: maxLength).map { $0.map { order[$0] } }
            // Each batch entry is a row; rows are separated by −1 inside a batch's index list.
            batches = stride(from: 0, to: rows.count, by: batchSize).map { start in
                rows[start..<min(start + batchSize, rows.count)].map { $0 + [-1] }.flatMap { $0 }
            }
        } else {
            batches = stride(from: 0, to: order.count, by: batchSize).map { Array(order[$0..<min($0 + batchSize, order.count)]) }
        }
    }

    /// The micro-batch `index` built from `examples`.
    public func batch(_ index: Int, examples: [TokenizedExample], maxLength: Int, padID: Int32) -> TrainingBatch {
        build(batches[index], examples: examples, maxLength: maxLength, padID: padID)
    }

    /// One micro-batch made of the entries `items` of a plan built with batch size 1 (each entry one example or one
    /// packed row): for a range [k·b, (k+1)·b) it equals micro-batch k of the same plan built with batch size b.
    public func batch(items: Range<Int>, examples: [TokenizedExample], maxLength: Int, padID: Int32) -> TrainingBatch {
        build(batches[items].flatMap { $0 }, examples: examples, maxLength: maxLength, padID: padID)
    }

    private func build(_ indices: [Int], examples: [TokenizedExample], maxLength: Int, padID: Int32) -> TrainingBatch {
        guard packed else { return BatchBuilder.padded(indices.map { examples[$0] }, padID: padID) }
        var rows: [[TokenizedExample]] = [[]]
        for i in indices {
            if i < 0 { rows.append([]) } else { rows[rows.count - 1].append(examples[i]) }
        }
        rows.removeLast()
        return BatchBuilder.packed(rows, length: maxLength, padID: padID)
    }
}
