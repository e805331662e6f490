import Foundation
import TensorCore
import ArchitectureKit
import NN

/// Loss over held-out examples: token-weighted mean cross-entropy (what transformers reports as eval_loss when
/// batches are weighted by their tokens), its perplexity, and accuracy for classification.
public struct EvaluationResult: Equatable, Sendable {
    public var loss: Double
    public var targetCount: Int
    public var accuracy: Double?
    /// Classification: counts[true class][predicted class].
    public var confusion: [[Int]]?
    public var perplexity: Double { exp(loss) }

    public init(loss: Double, targetCount: Int, accuracy: Double?, confusion: [[Int]]? = nil) {
        self.loss = loss
        self.targetCount = targetCount
        self.accuracy = accuracy
        self.confusion = confusion
    }

    /// The confusion matrix as text, rows = true class, columns = predicted, with the class names given.
    public func confusionTable(labels: [String]) -> String? {
        guard let confusion else { return nil }
        let names = confusion.indices.map { $0 < labels.count ? labels[$0] : "class \($0)" }
        let width = max(8, (names.map(\.count).max() ?? 0) + 2)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        var lines = [pad("true \\ pred") + names.map(pad).joined()]
        for (i, row) in confusion.enumerated() { lines.append(pad(names[i]) + row.map { pad(String($0)) }.joined()) }
        return lines.joined(separator: "\n")
    }
}

/// Forward passes shared by training and evaluation.
public enum LossComputation {
    /// Summed cross-entropy of one micro-batch (to be divided by the accumulated target count), and for
    /// classification the number of correct argmax predictions.
    public static func summedLoss(_ model: any ArchitectureModel, _ batch: TrainingBatch) -> (loss: Tensor, correct: Int) {
        let (loss, predictions) = lossAndPredictions(model, batch)
        let correct = zip(predictions, batch.targets.values).filter { Int32($0) == $1 }.count
        return (loss, correct)
    }

    /// Summed cross-entropy and, for classification, the argmax class of every row.
    public static func lossAndPredictions(_ model: any ArchitectureModel, _ batch: TrainingBatch) -> (loss: Tensor, predictions: [Int]) {
        // A plain lm_head (not wrapped by LoRA or modules_to_save): project and score chunk by chunk, never holding
        // the (B·T, vocab) logits or their gradient.
        if !batch.isClassification, let chunked = model as? ChunkedLossModel, let head = chunked.outputHead as? Linear,
           head.bias == nil {
            let hidden = chunked.hiddenStates(batch.input)
            // A frozen (bf16/quantized) head is widened panel by panel, never whole.
            let loss = head.frozenWeight.map { linearCrossEntropy(hidden.reshaped([-1, hidden.lastDim]), frozen: $0, labels: batch.targets,
                                                                  ignoreIndex: ignoreIndex, reduction: .sum) }
                ?? linearCrossEntropy(hidden.reshaped([-1, hidden.lastDim]), weight: head.weight, labels: batch.targets,
                                      ignoreIndex: ignoreIndex, reduction: .sum)
            return (loss, [])
        }
        let logits = model.forward(batch.input)
        // Causal LM: (B, T, V) → (B·T, V) against shifted targets; classification: (B, C) against class indices.
        let flat = batch.isClassification ? logits : logits.reshaped([-1, logits.lastDim])
        let loss = crossEntropy(flat, labels: batch.targets, ignoreIndex: ignoreIndex, reduction: .sum)
        var predictions: [Int] = []
        if batch.isClassification {
            let c = flat.lastDim
            for r in 0..<flat.rowCount {
                let row = flat.data + r * c
                var best = 0
                for j in 1..<c where row[j] > row[best] { best = j }
                predictions.append(best)
            }
        }
        return (loss, predictions)
    }

    /// Evaluates in order (no shuffling) with padded batches of `batchSize`, at most `maxBatches` of them.
    public static func evaluate(_ model: any ArchitectureModel, examples: [TokenizedExample], batchSize: Int,
                                maxBatches: Int? = nil, padID: Int32) -> EvaluationResult? {
        // SingleProcess never throws.
        try! evaluate(model, examples: examples, batchSize: batchSize, maxBatches: maxBatches, padID: padID, communicator: SingleProcess())
    }

    /// The same batches sharded over ranks: rank r evaluates batches r, r + N, …; the loss sums, counts and the
    /// confusion matrix are then summed over the ranks, so every rank returns the whole result.
    public static func evaluate(_ model: any ArchitectureModel, examples: [TokenizedExample], batchSize: Int,
                                maxBatches: Int? = nil, padID: Int32, communicator: any Communicator) throws -> EvaluationResult? {
        guard !examples.isEmpty else { return nil }
        let wasTraining = model.isTraining
        model.setTraining(false)
        defer { model.setTraining(wasTraining) }
        var total = 0.0, targets = 0, correct = 0, batches = 0
        var confusion: [[Int]] = []
        var start = 0
        while start < examples.count, batches < (maxBatches ?? .max) {
            defer { start += batchSize; batches += 1 }
            guard batches % communicator.size == communicator.rank else { continue }
            let batch = BatchBuilder.padded(Array(examples[start..<min(start + batchSize, examples.count)]), padID: padID)
            let (loss, predictions) = GradMode.withoutGrad { lossAndPredictions(model, batch) }
            total += Double(loss.item)
            targets += batch.targetCount
            for (p, t) in zip(predictions, batch.targets.values) {
                let (truth, classes) = (Int(t), max(Int(t), p) + 1)
                if confusion.count < classes { confusion += Array(repeating: [], count: classes - confusion.count) }
                for i in confusion.indices where confusion[i].count < confusion.count {
                    confusion[i] += Array(repeating: 0, count: confusion.count - confusion[i].count)
                }
                confusion[truth][p] += 1
                if truth == p { correct += 1 }
            }
        }
        // Evaluation batches are padded to their own lengths, so their buffers rarely fit a training step's shapes:
        // return them rather than keep them idle (resident) in the pool for the rest of the run.
        Tensor.releaseCachedBuffers()
        let isClassification = examples[0].classLabel != nil
        if communicator.size > 1 {
            // The confusion matrix grows with the classes seen: agree on its size, then sum it flattened.
            let classes = Int(try communicator.max([Double(confusion.count)])[0])
            var values: [Double] = [total, Double(targets), Double(correct)]
            for i in 0..<classes {
                for j in 0..<classes {
                    let count: Int = i < confusion.count && j < confusion[i].count ? confusion[i][j] : 0
                    values.append(Double(count))
                }
            }
            let sums = try communicator.sum(values)
            total = sums[0]
            targets = Int(sums[1])
            correct = Int(sums[2])
            confusion = (0..<classes).map { (i: Int) -> [Int] in (0..<classes).map { (j: Int) -> Int in Int(sums[3 + i * classes + j]) } }
        }
        return EvaluationResult(loss: total / Double(max(targets, 1)), targetCount: targets,
                                accuracy: isClassification ? Double(correct) / Double(max(targets, 1)) : nil,
                                confusion: isClassification ? confusion : nil)
    }
}
