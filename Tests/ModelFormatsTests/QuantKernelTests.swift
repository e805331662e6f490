import CQuantKernels
import ModelFormats
import XCTest

/// CQuantKernels' GGML decoders (every SIMD level this CPU runs, and the scalar C) against the Swift reference
/// decoders, bit for bit, on random blocks whose f16 scales range over the whole format: normals from tiny to
/// 65504, subnormals, ±0, and ±inf / NaN.
final class QuantKernelTests: XCTestCase {
    static let types: [GGMLType] = [.Q8_0, .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q4_K, .Q5_K, .Q6_K]

    override func tearDown() { lk_quant_set_level(lk_quant_best_level()) }

    /// SplitMix64: a seeded source so a failure can be replayed.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Byte offsets of the f16 scales in one block (d, and m/dmin where the format has one).
    static func scaleOffsets(_ type: GGMLType) -> [Int] {
        switch type {
        case .Q4_1, .Q5_1, .Q4_K, .Q5_K: return [0, 2]
        case .Q6_K: return [208]
        default: return [0]
        }
    }

    /// One f16 scale: mostly ordinary, often extreme. Non-finite only when `allowNonFinite`.
    static func scale(_ g: inout Generator, allowNonFinite: Bool) -> UInt16 {
        let sign = UInt16(g.next() & 1) << 15, mantissa = UInt16(g.next() % 1024)
        switch g.next() % 8 {
        case 0: return sign | mantissa                          // subnormal (or ±0)
        case 1: return sign | 0x7BFF                            // 65504, the largest finite half
        case 2: return sign | 0x0400 | mantissa                 // smallest normals
        case 3 where allowNonFinite: return sign | 0x7C00 | (g.next() % 2 == 0 ? 0 : max(1, mantissa))  // ±inf or NaN
        default: return sign | UInt16(0x0800 + g.next() % 0x7000) & 0x7FFF  // ordinary normals
        }
    }

    /// Random blocks. At most one scale per block is inf/NaN: with two NaN operands the payload of the result
    /// depends on the order the compiler put them in, which neither decoder fixes.
    static func randomBlocks(_ type: GGMLType, blocks: Int, seed: UInt64) -> [UInt8] {
        var g = Generator(state: seed)
        var bytes = (0..<(blocks * type.typeSize)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        for b in 0..<blocks {
            var nonFiniteLeft = true
            for o in scaleOffsets(type) {
                let h = scale(&g, allowNonFinite: nonFiniteLeft)
                if h & 0x7C00 == 0x7C00 { nonFiniteLeft = false }
                bytes[b * type.typeSize + o] = UInt8(h & 0xFF)
                bytes[b * type.typeSize + o + 1] = UInt8(h >> 8)
            }
        }
        return bytes
    }

    /// Every level and every type, on block counts that exercise whole vectors and remainders, from an odd
    /// (unaligned) source address.
    func testEveryLevelMatchesTheSwiftDecodersBitForBit() {
        let best = lk_quant_best_level()
        XCTAssertGreaterThanOrEqual(best, Int32(LK_QUANT_SCALAR))
        for level in Int32(LK_QUANT_SCALAR)...best {
            XCTAssertEqual(lk_quant_set_level(level), level)
            for (i, type) in Self.types.enumerated() {
                for blocks in [1, 3, 64, 257] {
                    let bytes = [0] + Self.randomBlocks(type, blocks: blocks, seed: UInt64(1000 * i + blocks))
                    let count = blocks * type.blockSize
                    var simd = [Float](repeating: 0, count: count), reference = simd
                    bytes.withUnsafeBytes { raw in
                        let source = raw.baseAddress! + 1
                        XCTAssertEqual(lk_dequantize_ggml(Int32(type.rawValue), source, Int64(count), &simd), 0)
                        GGMLDequantizer.dequantizeScalar(type, from: source, count: count, into: &reference)
                    }
                    let differing = zip(simd, reference).enumerated().filter { $0.element.0.bitPattern != $0.element.1.bitPattern }
                    XCTAssertTrue(differing.isEmpty, "\(type) level \(level), \(blocks) blocks: \(differing.count) values differ, first at "
                                  + "\(differing.first.map { "\($0.offset): \($0.element.0) vs \($0.element.1)" } ?? "")")
                    XCTAssertTrue(reference.contains { !$0.isFinite } || blocks < 64, "\(type): the data has non-finite scales")
                }
            }
        }
    }

    /// The public entry point uses the kernels and gives the reference numbers; other types and partial blocks
    /// are left to the Swift path.
    func testDequantizeRoutesThroughTheKernels() {
        XCTAssertEqual(lk_dequantize_ggml(Int32(GGMLType.F16.rawValue), [UInt8](repeating: 0, count: 4), 2, nil), -1)
        XCTAssertEqual(lk_dequantize_ggml(Int32(GGMLType.Q8_0.rawValue), [UInt8](repeating: 0, count: 34), 31, nil), -1)
        let bytes = Self.randomBlocks(.Q4_K, blocks: 9, seed: 7)
        var a = [Float](repeating: 0, count: 9 * 256), b = a
        bytes.withUnsafeBytes {
            GGMLDequantizer.dequantize(.Q4_K, from: $0.baseAddress!, count: a.count, into: &a)
            GGMLDequantizer.dequantizeScalar(.Q4_K, from: $0.baseAddress!, count: b.count, into: &b)
        }
        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
    }
}
