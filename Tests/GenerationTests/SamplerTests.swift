import XCTest
import LoRAKit

/// The sampler against the definitions in transformers' logits processors (TemperatureLogitsWarper →
/// TopKLogitsWarper → TopPLogitsWarper → multinomial). Frequencies come from a fixed seed, so the checks are
/// deterministic; the 0.01 tolerance is > 6 standard deviations of a frequency over 100,000 draws.
final class SamplerTests: XCTestCase {
    let logits: [Float] = [1.0, 3.0, -2.0, 2.5, 0.0]

    func draw(_ options: SamplingOptions, _ logits: [Float], count: Int) -> [Int] {
        var sampler = Sampler(options)
        return logits.withUnsafeBufferPointer { row in (0..<count).map { _ in sampler.next(row) } }
    }

    func frequencies(_ draws: [Int], vocabulary: Int) -> [Double] {
        var counts = [Double](repeating: 0, count: vocabulary)
        for d in draws { counts[d] += 1 }
        return counts.map { $0 / Double(draws.count) }
    }

    func softmax(_ x: [Double]) -> [Double] {
        let m = x.max()!, e = x.map { exp($0 - m) }, s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    func testTemperatureZeroIsArgmax() {
        XCTAssertEqual(draw(SamplingOptions(), logits, count: 5), [1, 1, 1, 1, 1])
    }

    func testSameSeedSameDrawsOtherSeedOtherDraws() {
        let a = draw(SamplingOptions(temperature: 1, seed: 3), logits, count: 50)
        XCTAssertEqual(a, draw(SamplingOptions(temperature: 1, seed: 3), logits, count: 50))
        XCTAssertNotEqual(a, draw(SamplingOptions(temperature: 1, seed: 4), logits, count: 50))
    }

    func testTemperatureSamplingFollowsSoftmaxOfScaledLogits() {
        let expected = softmax(logits.map { Double($0) / 0.7 })
        let observed = frequencies(draw(SamplingOptions(temperature: 0.7, seed: 11), logits, count: 100_000), vocabulary: 5)
        for (o, e) in zip(observed, expected) { XCTAssertEqual(o, e, accuracy: 0.01) }
    }

    func testTopKKeepsTheKBestRenormalised() {
        let expected = softmax([3.0, 2.5])  // ids 1 and 3
        let observed = frequencies(draw(SamplingOptions(temperature: 1, topK: 2, seed: 5), logits, count: 100_000), vocabulary: 5)
        XCTAssertEqual(observed[1], expected[0], accuracy: 0.01)
        XCTAssertEqual(observed[3], expected[1], accuracy: 0.01)
        XCTAssertEqual(observed[0] + observed[2] + observed[4], 0)
    }

    func testTopPKeepsTheSmallestPrefixReachingP() {
        // Probabilities 0.5, 0.3, 0.15, 0.05: top_p 0.7 keeps {0.5, 0.3} (0.5 alone is below 0.7), renormalised.
        let probabilities: [Float] = [0.15, 0.5, 0.05, 0.3]
        let observed = frequencies(draw(SamplingOptions(temperature: 1, topP: 0.7, seed: 9), probabilities.map { logf($0) }, count: 100_000),
                                   vocabulary: 4)
        XCTAssertEqual(observed[1], 0.5 / 0.8, accuracy: 0.01)
        XCTAssertEqual(observed[3], 0.3 / 0.8, accuracy: 0.01)
        XCTAssertEqual(observed[0] + observed[2], 0)
        // A top_p below the best token's probability still keeps that token (min_tokens_to_keep = 1).
        XCTAssertEqual(Set(draw(SamplingOptions(temperature: 1, topP: 0.1, seed: 9), probabilities.map { logf($0) }, count: 200)), [1])
    }
}
