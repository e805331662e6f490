import CQuantKernels

/// NF4 as bitsandbytes stores it for QLoRA (`quantize_4bit(quant_type="nf4", blocksize=64, compress_statistics=True)`):
///
/// - The weight is flattened row-major and cut into blocks of 64. Each element is divided by its block's absmax
///   (fp32 reciprocal, then one multiply, clamped to [-1, 1]) and takes the index of the nearest of the 16 NF4 values
///   (ties to the lower index, as `torch.bucketize` on the midpoints does). Element 2i goes in the high nibble of
///   byte i, element 2i+1 in the low one.
/// - Double quantization: the fp32 absmaxes minus their mean (`offset`) are quantized again in blocks of 256 to
///   8-bit indices into the signed dynamic map, with one fp32 absmax per 256 (bitsandbytes' CPU `quantize_blockwise`:
///   value / absmax, then the nearest code, ties to the lower; its search treats code[0] as -1).
/// - Dequantization: absmax_b = code2[q_b] · absmax2[b / 256] + offset, then element = nf4[nibble] · absmax_b, all
///   fp32 as bitsandbytes computes it.
public final class NF4Weight: QuantizedWeight, @unchecked Sendable {
    public static let blockSize = 64, absmaxBlockSize = 256

    /// The 16 NF4 values (QLoRA, appendix E), sorted.
    public static let code: [Float] = [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
        -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
        0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ]
    /// bitsandbytes' signed dynamic 8-bit map for the absmaxes.
    public static var absmaxCode: [Float] { DynamicMap.values }

    /// Each byte's two elements (high nibble, low nibble) as NF4 values: one 8-byte load per byte when decoding.
    private static let pairs: [SIMD2<Float>] = (0..<256).map { SIMD2(code[$0 >> 4], code[$0 & 15]) }
    private static let midpoints: [Float] = (0..<15).map { (code[$0] + code[$0 + 1]) / 2 }

    public let rows: Int, columns: Int
    /// rows · columns / 2 bytes.
    public let packed: [UInt8]
    /// One 8-bit code per block of 64.
    public let quantizedAbsmax: [UInt8]
    /// One fp32 scale per 256 blocks.
    public let absmax2: [Float]
    public let offset: Float

    public var formatName: String { "NF4" }
    public var byteCount: Int { packed.count + quantizedAbsmax.count + 4 * absmax2.count + 4 }
    public var blockCount: Int { quantizedAbsmax.count }

    /// Stored parts as bitsandbytes returns them (tests, files).
    public init(rows: Int, columns: Int, packed: [UInt8], quantizedAbsmax: [UInt8], absmax2: [Float], offset: Float) {
        precondition(columns % Self.blockSize == 0, "NF4 rows must hold whole blocks of 64, got \(columns) columns")
        let blocks = rows * columns / Self.blockSize
        precondition(packed.count == rows * columns / 2 && quantizedAbsmax.count == blocks
                     && absmax2.count == (blocks + Self.absmaxBlockSize - 1) / Self.absmaxBlockSize, "NF4 parts do not fit \(rows)×\(columns)")
        (self.rows, self.columns, self.packed, self.quantizedAbsmax, self.absmax2, self.offset) =
            (rows, columns, packed, quantizedAbsmax, absmax2, offset)
    }

    /// True when a weight with this many columns can be stored in NF4 with rows made of whole blocks.
    public static func canStore(columns: Int) -> Bool { columns > 0 && columns % blockSize == 0 }

    /// Quantizes `rows × columns` fp32 values (row-major) exactly as bitsandbytes does.
    public convenience init(quantizing x: UnsafePointer<Float>, rows: Int, columns: Int) {
        precondition(Self.canStore(columns: columns), "NF4 rows must hold whole blocks of 64, got \(columns) columns")
        let n = rows * columns, blocks = n / Self.blockSize
        var absmax = [Float](repeating: 0, count: blocks)
        var packed = [UInt8](repeating: 0, count: n / 2)
        absmax.withUnsafeMutableBufferPointer { am in
            packed.withUnsafeMutableBufferPointer { out in
                let am = am.baseAddress!, out = out.baseAddress!
                Parallel.forEachChunk(blocks, costPerItem: Self.blockSize * 4) { range in
                    for b in range { Self.quantizeBlock(x + b * Self.blockSize, absmax: &am[b], into: out + b * Self.blockSize / 2) }
                }
            }
        }
        // torch's float32 mean; summing in Double and rounding once gives the correctly rounded mean, which torch's
        // cascaded fp32 sum matches for these sizes (NF4Tests compares with bitsandbytes).
        let offset = blocks == 0 ? 0 : Float(absmax.reduce(0.0) { $0 + Double($1) } / Double(blocks))
        let (q, a2) = Self.quantizeAbsmax(absmax.map { $0 - offset })
        self.init(rows: rows, columns: columns, packed: packed, quantizedAbsmax: q, absmax2: a2, offset: offset)
    }

    private static func quantizeBlock(_ x: UnsafePointer<Float>, absmax: inout Float, into out: UnsafeMutablePointer<UInt8>) {
        var m: Float = 0
        for i in 0..<blockSize { m = Swift.max(m, abs(x[i])) }
        absmax = m
        let inverse = 1 / Swift.max(m, 1e-38)  // torch: absmax.clamp(min=1e-38), reciprocal, multiply
        midpoints.withUnsafeBufferPointer { mid in
            for i in stride(from: 0, to: blockSize, by: 2) {
                let hi = nearest(Swift.min(1, Swift.max(-1, x[i] * inverse)), mid)
                let lo = nearest(Swift.min(1, Swift.max(-1, x[i + 1] * inverse)), mid)
                out[i / 2] = hi << 4 | lo
            }
        }
    }

    /// torch.bucketize(v, midpoints, right=False): the number of midpoints strictly below v.
    @inline(__always)
    private static func nearest(_ v: Float, _ mid: UnsafeBufferPointer<Float>) -> UInt8 {
        var count: UInt8 = 0
        for m in mid where m < v { count += 1 }
        return count
    }

    /// bitsandbytes' CPU blockwise 8-bit quantization of the absmaxes: blocks of 256, value / block absmax, the
    /// nearest code found by searching from the left neighbour (code[0] read as -1), ties to the left.
    static func quantizeAbsmax(_ v: [Float]) -> ([UInt8], [Float]) {
        var code = DynamicMap.values
        code[0] = -1
        var q = [UInt8](repeating: 0, count: v.count)
        var scales: [Float] = []
        var start = 0
        while start < v.count {
            let end = Swift.min(v.count, start + absmaxBlockSize)
            var m = -Float.greatestFiniteMagnitude
            for i in start..<end { m = Swift.max(m, abs(v[i])) }
            scales.append(m)
            for i in start..<end {
                let normed = v[i] / m
                // The last code ≤ normed (code[0] = -1 ≤ every normed value).
                var lo = 0, hi = code.count - 1
                while lo < hi {
                    let mid = (lo + hi + 1) / 2
                    if code[mid] <= normed { lo = mid } else { hi = mid - 1 }
                }
                var idx = lo
                if idx < 255, abs(normed - code[idx + 1]) < abs(normed - code[idx]) { idx += 1 }
                q[i] = UInt8(idx)
            }
            start = end
        }
        return (q, scales)
    }

    /// The fp32 absmax of block `b`, as bitsandbytes' dequantize_blockwise + offset computes it.
    @inline(__always)
    public func absmax(_ b: Int) -> Float {
        DynamicMap.values[Int(quantizedAbsmax[b])] * absmax2[b / Self.absmaxBlockSize] + offset
    }

    /// Decoded by CQuantKernels (the widest SIMD variant this CPU runs), bit-identical to `dequantizeRowsScalar`.
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        if range.isEmpty { return }
        let perRow = columns / Self.blockSize
        Self.code.withUnsafeBufferPointer { code in
            DynamicMap.values.withUnsafeBufferPointer { code2 in
                packed.withUnsafeBufferPointer { bytes in
                    quantizedAbsmax.withUnsafeBufferPointer { qa in
                        absmax2.withUnsafeBufferPointer { a2 in
                            lk_dequantize_nf4(bytes.baseAddress!, qa.baseAddress!, a2.baseAddress!, offset, code.baseAddress!,
                                              code2.baseAddress!, Int64(range.lowerBound * perRow), Int64(range.count * perRow), out)
                        }
                    }
                }
            }
        }
    }

    /// The Swift decoder: the reference the C kernel is tested against.
    public func dequantizeRowsScalar(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let perRow = columns / Self.blockSize
        let firstBlock = range.lowerBound * perRow, blocks = range.count * perRow
        Self.pairs.withUnsafeBufferPointer { pairs in
            packed.withUnsafeBufferPointer { bytes in
                let pairs = pairs.baseAddress!
                let out2 = UnsafeMutableRawPointer(out)
                for j in 0..<blocks {
                    let b = firstBlock + j
                    let a = SIMD2<Float>(repeating: absmax(b))
                    let src = bytes.baseAddress! + b * Self.blockSize / 2
                    let dst = out2 + j * Self.blockSize * 4
                    for i in 0..<(Self.blockSize / 2) {
                        dst.storeBytes(of: pairs[Int(src[i])] * a, toByteOffset: 8 * i, as: SIMD2<Float>.self)
                    }
                }
            }
        }
    }
}
