/// How a model's frozen Linear/Embedding weights are stored when it is loaded (`quantization:` in recipes,
/// `--quantization` in bench). Products always run in fp32 on one widened panel at a time.
public enum WeightQuantization: String, CaseIterable, Sendable {
    /// fp32, as today (a GGUF's blocks are dequantized at load).
    case none
    /// A GGUF's own blocks (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) kept byte for byte; other tensors fp32.
    case keep
    /// bitsandbytes NF4 (blocks of 64, double-quantized absmaxes), from whatever the file holds.
    case nf4
    /// GGML Q8_0 / Q4_0 blocks produced on load (bit-exact with gguf-py's quantizer).
    case q8_0, q4_0

    /// Storage when neither the recipe nor `--quantization` names one: a GGUF's own blocks for fp32 products (they
    /// widen to the very values `none` holds, in a sixth of the memory), fp32 for `precision: bf16`, which makes
    /// its own bf16 copy of fp32 weights and cannot of blocks.
    public static func defaultStorage(for precision: WeightPrecision) -> WeightQuantization {
        precision == .fp32 ? .keep : .none
    }
}
