import NN
import TensorCore

/// A causal LM whose loss can be computed from its final hidden states and its `lm_head`, so that the trainer
/// projects to the vocabulary chunk by chunk (`linearCrossEntropy`) instead of materialising (B, T, vocab) logits.
/// `forward` must equal `lm_head(hiddenStates(input))`.
public protocol ChunkedLossModel: ArchitectureModel {
    /// The hidden states `forward` feeds to the output head: (B, T, hidden).
    func hiddenStates(_ input: ModelInput) -> Tensor
    /// The output head module (`lm_head`) as currently installed (LoRA or modules_to_save may wrap it); nil without one.
    var outputHead: Module? { get }
}
