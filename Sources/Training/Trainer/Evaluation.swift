import Foundation
import TensorCore
import ArchitectureKit

/// Loss over held-out examples: token-weighted mean cross-entropy (what transformers reports as eval_loss when
/// batches are weighted by their tokens), its perplexity, and accuracy for classification.
public struct EvaluationResult: Equatable, Sendable {
    public var loss: Double
    public var targetCount: Int
    public var accuracy: Double?
    public var perplexity: Double { exp(loss) }
}

/// Forward passes shared by training and evaluation.
public enum LossComputation {
    /// Summed cross-entropy of one micro-batch (to be divided by the accumulated target count), and for
    /// classification the number of correct argmax predictions.
    public static func summedLoss(_ model: any ArchitectureModel, _ batch: TrainingBatch) -> (loss: Tensor, correct: Int) {
        let logits = model.forward(batch.input)
        // Causal LM: (B, T, V) → (B·T, V) against shifted targets; classification: (B, C) against class indices.
        let flat = batch.isClassification ? logits : logits.reshaped([-1, logits.lastDim])
        let loss = crossEntropy(flat, labels: batch.targets, ignoreIndex: ignoreIndex, reduction: .sum)
        var correct = 0
        if batch.isClassification {
            let c = flat.lastDim
            for r in 0..<flat.rowCount {
                let row = flat.data + r * c
                var best = 0
                for j in 1..<c where row[j] > row[best] { best = j }
                if Int32(best) == batch.targets.values[r] { correct += 1 }
            }
        }
        return (loss, correct)
    }

    /// Evaluates in order (no shuffling) with padded batches of `batchSize`, at most `maxBatches` of them.
    public static func evaluate(_ model: any ArchitectureModel, examples: [TokenizedExample], batchSize: Int,
                                maxBatches: Int? = nil, padID: Int32) -> EvaluationResult? {
        guard !examples.isEmpty else { return nil }
        let wasTraining = model.isTraining
        model.setTraining(false)
        defer { model.setTraining(wasTraining) }
        var total = 0.0, targets = 0, correct = 0, batches = 0
        var start = 0
        while start < examples.count, batches < (maxBatches ?? .max) {
            let batch = BatchBuilder.padded(Array(examples[start..<min(start + batchSize, examples.count)]), padID: padID)
            let (loss, right) = GradMode.withoutGrad { summedLoss(model, batch) }
            total += Double(loss.item)
            targets += batch.targetCount
            correct += right
            start += batchSize
            batches += 1
        }
        let isClassification = examples[0].classLabel != nil
        return EvaluationResult(loss: total / Double(max(targets, 1)), targetCount: targets,
                                accuracy: isClassification ? Double(correct) / Double(max(targets, 1)) : nil)
    }
}
