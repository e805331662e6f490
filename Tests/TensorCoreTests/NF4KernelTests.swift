import CQuantKernels
import TensorCore
import XCTest

/// CQuantKernels' NF4 decoder at every level this CPU runs against NF4Weight's Swift decoder, bit for bit, with
/// double-quantized absmaxes whose second-level scales range over fp32: tiny, subnormal, huge, ±inf, NaN.
final class NF4KernelTests: XCTestCase {
    override func tearDown() { lk_quant_set_level(lk_quant_best_level()) }

    func testEveryLevelMatchesTheSwiftDecoderBitForBit() {
        var g = SeededGenerator(seed: 11)
        let (rows, columns) = (37, 192)  // 111 blocks of 64: a partial group of 256 absmaxes
        let blocks = rows * columns / NF4Weight.blockSize
        let packed = (0..<(rows * columns / 2)).map { _ in UInt8.random(in: 0...255, using: &g) }
        let codes = (0..<blocks).map { _ in UInt8.random(in: 0...255, using: &g) }
        let extremes: [Float] = [1e-3, .leastNonzeroMagnitude, 1e-40, .greatestFiniteMagnitude, .infinity, -.infinity, .nan, 3e38]
        for (i, absmax2) in extremes.enumerated() {
            let weight = NF4Weight(rows: rows, columns: columns, packed: packed, quantizedAbsmax: codes,
                                   absmax2: [absmax2], offset: i % 2 == 0 ? 0.0125 : -1e-30)
            var reference = [Float](repeating: 0, count: rows * columns)
            weight.dequantizeRowsScalar(0..<rows, into: &reference)
            for level in Int32(LK_QUANT_SCALAR)...lk_quant_best_level() {
                XCTAssertEqual(lk_quant_set_level(level), level)
                for range in [0..<rows, 5..<6, 3..<29] {
                    var out = [Float](repeating: -7, count: range.count * columns)
                    weight.dequantizeRows(range, into: &out)
                    let expected = reference[(range.lowerBound * columns)..<(range.upperBound * columns)]
                    let differing = zip(out, expected).filter { $0.bitPattern != $1.bitPattern }.count
                    XCTAssertEqual(differing, 0, "absmax2 \(absmax2), level \(level), rows \(range): \(differing) values differ")
                }
            }
        }
    }
}
