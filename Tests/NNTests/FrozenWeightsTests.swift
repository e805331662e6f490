import XCTest
import TensorCore
import NN

/// `storeFrozenWeights(.bf16)`: which weights it stores, tied weights stored once, and layers computing with the
/// widened bf16 values (fp32 GEMM on exact widened weights: 1e-5 relative).
final class FrozenWeightsTests: XCTestCase {
    func testFrozenLinearsAndTiedEmbeddingAreStoredOnceInBF16() throws {
        var gen = SeededGenerator(seed: 5)
        let root = Module()
        let embed = Embedding(count: 11, dimension: 8), head = Linear(inFeatures: 8, outFeatures: 11, bias: false)
        let trained = Linear(inFeatures: 8, outFeatures: 8, bias: true)
        root.register("embed_tokens", embed)
        root.register("trained", trained)
        root.register("lm_head", head)
        try embed.setParameter(at: "weight", .normal([11, 8], std: 1, generator: &gen))
        try head.setParameter(at: "weight", embed.weight)  // tied, as tie_word_embeddings does
        try trained.setParameter(at: "weight", .normal([8, 8], std: 1, generator: &gen))
        root.setTrainable(false)
        trained.weight.requiresGrad = true
        let fp32Table = embed.weight
        let ids = IntTensor([3, 0, 10] as [Int], shape: [1, 3])
        let before = GradMode.withoutGrad { head(embed(ids)) }

        let summary = root.storeFrozenWeights(.bf16)
        XCTAssertEqual(summary.tensors, 1, "the tied table is stored once; the trained weight stays fp32")
        XCTAssertEqual(summary.bytesBefore, 11 * 8 * 4)
        XCTAssertEqual(summary.bytesAfter, 11 * 8 * 2)
        XCTAssertTrue(head.frozenWeight === embed.frozenWeight)
        XCTAssertNil(trained.frozenWeight)
        XCTAssertEqual(root.namedParameters().map(\.path), ["trained.weight", "trained.bias"])

        let widened = fp32Table.scalars.map { BF16.widen(BF16.round($0)) }
        XCTAssertEqual(embed.weight.scalars, widened)
        let after = GradMode.withoutGrad { head(embed(ids)) }
        let table = Tensor(widened, shape: [11, 8])
        let expected = GradMode.withoutGrad { embedding(ids, weight: table).linear(table) }
        for i in 0..<after.count { XCTAssertEqual(after.data[i], expected.data[i], accuracy: 1e-5 * max(1, abs(expected.data[i]))) }
        XCTAssertNotEqual(after.scalars, before.scalars, "bf16 rounding should show in the logits")
    }

    func testFP32ChangesNothing() {
        let l = Linear(inFeatures: 4, outFeatures: 2, bias: false)
        l.setTrainable(false)
        XCTAssertEqual(l.storeFrozenWeights(.fp32).tensors, 0)
        XCTAssertNil(l.frozenWeight)
        XCTAssertNotNil(l.parameter("weight"))
    }
}
