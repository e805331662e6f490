import Foundation
import LoRAKit

/// A one-character-per-token tokenizer over ASCII for data-pipeline tests: id = scalar value, BOS 2, EOS 3,
/// PAD 0, added in front by `addSpecialTokens` (like Llama's post-processor).
struct CharTokenizer: Tokenizer {
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        (addSpecialTokens ? [2] : []) + text.unicodeScalars.map { Int($0.value) % 128 }
    }
    func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        String(String.UnicodeScalarView(ids.filter { !skipSpecialTokens || $0 > 3 }.compactMap { Unicode.Scalar(UInt32($0)) }))
    }
    func id(forToken token: String) -> Int? { token.unicodeScalars.first.map { Int($0.value) } }
    func token(forID id: Int) -> String? { Unicode.Scalar(UInt32(id)).map { String($0) } }
    var vocabularySize: Int { 128 }
    var specialTokenIDs: Set<Int> { [0, 2, 3] }
    var bosTokenID: Int? { 2 }
    var eosTokenID: Int? { 3 }
    var padTokenID: Int? { 0 }
    var unkTokenID: Int? { nil }
}

/// A ChatML-style renderer written out by hand, for masking tests independent of the template engine.
let chatMLRenderer: ChatRenderer = { messages, addGenerationPrompt in
    messages.map { "<\($0.role)>\($0.content)</>" }.joined() + (addGenerationPrompt ? "<assistant>" : "")
}

/// Embedding → linear head: the smallest causal LM with trainable parameters, so the loop's arithmetic can be
/// checked without the LoRA layer. Optionally turns its head weight to +inf after `poisonAfter` forward passes.
final class TinyLM: Module, ArchitectureModel {
    let head = TaskHead.causalLM
    var forwardCount = 0
    var poisonAfter: Int?

    init(vocab: Int = 128, dim: Int = 8, seed: UInt64 = 7) {
        super.init()
        var g = SeededGenerator(seed: seed)
        let e = Embedding(count: vocab, dimension: dim), l = Linear(inFeatures: dim, outFeatures: vocab, bias: false)
        register("embed_tokens", e)
        register("lm_head", l)
        try! setParameter(at: "embed_tokens.weight", Tensor.normal([vocab, dim], std: 0.5, generator: &g))
        try! setParameter(at: "lm_head.weight", Tensor.normal([vocab, dim], std: 0.5, generator: &g))
        setTrainable(true)
    }

    func forward(_ input: ModelInput) -> Tensor {
        forwardCount += 1
        if let n = poisonAfter, forwardCount > n { child("lm_head", as: Linear.self).weight.data[0] = .infinity }
        let h = child("embed_tokens", as: Embedding.self)(input.inputIDs)
        return child("lm_head", as: Linear.self)(h)
    }
}

/// Saves a module's trainable parameters as safetensors (stands in for the PEFT saver in loop tests).
func parameterSaver(_ model: Module) -> AdapterHooks {
    AdapterHooks(save: { dir in
        let tensors = model.trainableParameters().map { SafetensorsTensor(name: $0.path, floats: $0.tensor.scalars, shape: $0.tensor.shape) }
        try SafetensorsWriter.write(tensors, to: dir.appendingPathComponent("adapter_model.safetensors"))
    })
}

/// Examples of varied lengths whose labels mask a prompt of `promptLength` tokens.
func syntheticExamples(_ count: Int, seed: UInt64 = 3) -> [TokenizedExample] {
    var g = SeededGenerator(seed: seed)
    return (0..<count).map { i in
        let n = 5 + Int(g.next() % 9)
        let ids = (0..<n).map { _ in Int32(4 + g.next() % 100) }
        let prompt = 1 + i % 3
        return TokenizedExample(inputIDs: ids, labels: ids.enumerated().map { $0.offset < prompt ? ignoreIndex : $0.element })
    }
}

func temporaryDirectory(_ name: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-\(name)-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// Tests/Fixtures/training.
let trainingFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/training")
