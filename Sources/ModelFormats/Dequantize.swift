import CQuantKernels

/// Dequantization of GGML blocks to `Float`, bit-for-bit equal to gguf-py's `gguf.quants.dequantize` (and so to
/// llama.cpp's `dequantize_row_*` reference functions).
///
/// Block layouts are ggml's `block_*` structs (ggml-common.h); all scales are F16 unless noted. Each product is
/// computed in the same order and precision as gguf-py (F16 scales widened to F32, one F32 multiply, then the
/// F32 add/subtract), so results match exactly. Loops walk raw pointers block by block without allocating, so a
/// whole 135M-parameter model dequantizes in a fraction of a second.
///
/// `dequantize` runs the block types through CQuantKernels (AVX-512 / AVX2 variants of the same operations);
/// `dequantizeScalar` is the Swift reference below, which the kernels' tests compare against bit for bit.
public enum GGMLDequantizer {
    /// Dequantizes `count` elements of type `type` stored at `source` into `destination`.
    ///
    /// - Precondition: `type.isDequantizable` and `count` is a multiple of `type.blockSize`; `source` holds
    ///   `count / type.blockSize * type.typeSize` readable bytes (any alignment).
    public static func dequantize(_ type: GGMLType, from source: UnsafeRawPointer, count: Int,
                                  into destination: UnsafeMutablePointer<Float>) {
        precondition(count % type.blockSize == 0, "\(count) elements is not a whole number of \(type) blocks")
        if lk_dequantize_ggml(Int32(type.rawValue), source, Int64(count), destination) == 0 { return }
        dequantizeScalar(type, from: source, count: count, into: destination)
    }

    /// The Swift decoders: the reference the C kernels match bit for bit (and the path for F32/F16/BF16).
    public static func dequantizeScalar(_ type: GGMLType, from source: UnsafeRawPointer, count: Int,
                                        into destination: UnsafeMutablePointer<Float>) {
        precondition(count % type.blockSize == 0, "\(count) elements is not a whole number of \(type) blocks")
        let blocks = count / type.blockSize
        let size = type.typeSize
        switch type {
        case .F32:
            for i in 0..<count {
                destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(
                    fromByteOffset: 4 * i, as: UInt32.self)))
            }
        case .F16: HalfPrecision.convertF16(source, to: destination, count: count)
        case .BF16: HalfPrecision.convertBF16(source, to: destination, count: count)
        case .Q8_0: forEachBlock(blocks, size, 32, source, destination, q8_0)
        case .Q4_0: forEachBlock(blocks, size, 32, source, destination, q4_0)
        case .Q4_1: forEachBlock(blocks, size, 32, source, destination, q4_1)
        case .Q5_0: forEachBlock(blocks, size, 32, source, destination, q5_0)
        case .Q5_1: forEachBlock(blocks, size, 32, source, destination, q5_1)
        case .Q4_K: forEachBlock(blocks, size, 256, source, destination, q4_K)
        case .Q5_K: forEachBlock(blocks, size, 256, source, destination, q5_K)
        case .Q6_K: forEachBlock(blocks, size, 256, source, destination, q6_K)
        default: preconditionFailure("GGML type \(type) cannot be dequantized")
        }
    }

    @inline(__always)
    private static func forEachBlock(_ blocks: Int, _ typeSize: Int, _ blockSize: Int, _ source: UnsafeRawPointer,
                                     _ destination: UnsafeMutablePointer<Float>,
                                     _ body: (UnsafePointer<UInt8>, UnsafeMutablePointer<Float>) -> Void) {
        let bytes = source.assumingMemoryBound(to: UInt8.self)
        for b in 0..<blocks {
            body(bytes + b * typeSize, destination + b * blockSize)
        }
    }

    @inline(__always)
    private static func half(_ p: UnsafePointer<UInt8>) -> Float {
        HalfPrecision.float(fromF16: UInt16(p[0]) | UInt16(p[1]) << 8)
    }

    // MARK: - 32-element blocks

    /// block_q8_0 { f16 d; int8 qs[32] }: y = d·q.
    @inline(__always)
    private static func q8_0(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        // q + 128 as an unsigned byte, widened exactly through the 2²³ trick (see `exactFloats`), then − 128.
        let q = UnsafeRawPointer(block + 2).loadUnaligned(as: SIMD32<UInt8>.self) ^ 0x80
        let v = (exactFloats(SIMD32<UInt32>(truncatingIfNeeded: q)) - 128) * d
        UnsafeMutableRawPointer(y).storeBytes(of: v, as: SIMD32<Float>.self)
    }

    /// Small unsigned integers (< 2²³) as exact floats without a per-lane conversion: the bits 0x4B000000 | u are
    /// the float 2²³ + u, so subtracting 2²³ leaves u exactly. Same values as `Float(u)`, so results stay bit-exact.
    @inline(__always)
    private static func exactFloats(_ u: SIMD32<UInt32>) -> SIMD32<Float> {
        unsafeBitCast(u | 0x4B00_0000, to: SIMD32<Float>.self) - 8_388_608
    }

    @inline(__always)
    private static func exactFloats(_ u: SIMD16<UInt32>) -> SIMD16<Float> {
        unsafeBitCast(u | 0x4B00_0000, to: SIMD16<Float>.self) - 8_388_608
    }

    /// The low and high nibbles of 16 bytes as exact floats (elements 0–15 and 16–31 of a Q4 block).
    @inline(__always)
    private static func nibbles(_ qs: UnsafePointer<UInt8>) -> (low: SIMD16<Float>, high: SIMD16<Float>) {
        let b = SIMD16<UInt32>(truncatingIfNeeded: UnsafeRawPointer(qs).loadUnaligned(as: SIMD16<UInt8>.self))
        return (exactFloats(b & 0x0F), exactFloats(b &>> 4))
    }

    /// block_q4_0 { f16 d; u8 qs[16] }: element j is the low nibble of qs[j], element j+16 the high nibble;
    /// y = d·(q − 8).
    @inline(__always)
    private static func q4_0(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        let (low, high) = nibbles(block + 2)
        let out = UnsafeMutableRawPointer(y)
        out.storeBytes(of: (low - 8) * d, as: SIMD16<Float>.self)
        out.storeBytes(of: (high - 8) * d, toByteOffset: 64, as: SIMD16<Float>.self)
    }

    /// block_q4_1 { f16 d; f16 m; u8 qs[16] }: nibbles as Q4_0; y = d·q + m.
    @inline(__always)
    private static func q4_1(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        let m = half(block + 2)
        let (low, high) = nibbles(block + 4)
        let out = UnsafeMutableRawPointer(y)
        out.storeBytes(of: low * d + m, as: SIMD16<Float>.self)
        out.storeBytes(of: high * d + m, toByteOffset: 64, as: SIMD16<Float>.self)
    }

    /// block_q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: the 5th bit of element i is bit i of the little-endian qh;
    /// y = d·(q − 16).
    @inline(__always)
    private static func q5_0(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        let qh = UInt32(block[2]) | UInt32(block[3]) << 8 | UInt32(block[4]) << 16 | UInt32(block[5]) << 24
        let qs = block + 6
        for j in 0..<16 {
            let low = Int32(qs[j] & 0x0F) | Int32((qh >> UInt32(j)) & 1) << 4
            let high = Int32(qs[j] >> 4) | Int32((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(low - 16)
            y[j + 16] = d * Float(high - 16)
        }
    }

    /// block_q5_1 { f16 d; f16 m; u8 qh[4]; u8 qs[16] }: bits as Q5_0; y = d·q + m.
    @inline(__always)
    private static func q5_1(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        let m = half(block + 2)
        let qh = UInt32(block[4]) | UInt32(block[5]) << 8 | UInt32(block[6]) << 16 | UInt32(block[7]) << 24
        let qs = block + 8
        for j in 0..<16 {
            let low = UInt32(qs[j] & 0x0F) | ((qh >> UInt32(j)) & 1) << 4
            let high = UInt32(qs[j] >> 4) | ((qh >> UInt32(j + 16)) & 1) << 4
            y[j] = d * Float(low) + m
            y[j + 16] = d * Float(high) + m
        }
    }

    // MARK: - K-quants (256-element super-blocks)

    /// The 6-bit scale and min of sub-block j (0..<8) from the 12 packed bytes of Q4_K/Q5_K (`get_scale_min_k4`):
    /// sub-blocks 0–3 keep theirs in the low 6 bits of bytes j and j+4; sub-blocks 4–7 combine a nibble of byte
    /// j+4 with the top two bits of bytes j−4 (scale) and j (min).
    @inline(__always)
    private static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: Float, min: Float) {
        if j < 4 {
            return (Float(q[j] & 63), Float(q[j + 4] & 63))
        }
        let scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
        let min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        return (Float(scale), Float(min))
    }

    /// block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }: eight 32-element sub-blocks; sub-blocks 2c and
    /// 2c+1 are the low and high nibbles of qs[32c..<32c+32]; y = (d·scale)·q − dmin·min.
    @inline(__always)
    private static func q4_K(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        let dmin = half(block + 2)
        let scales = block + 4
        let qs = block + 16
        for chunk in 0..<4 {
            let (s0, m0) = scaleMin(2 * chunk, scales)
            let (s1, m1) = scaleMin(2 * chunk + 1, scales)
            let d0 = d * s0, min0 = dmin * m0
            let d1 = d * s1, min1 = dmin * m1
            let q = qs + 32 * chunk
            let out = y + 64 * chunk
            for l in 0..<32 {
                out[l] = d0 * Float(q[l] & 0x0F) - min0
                out[l + 32] = d1 * Float(q[l] >> 4) - min1
            }
        }
    }

    /// block_q5_K { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: as Q4_K, plus a 5th bit for element
    /// l of sub-block i in bit i of qh[l].
    @inline(__always)
    private static func q5_K(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block)
        let dmin = half(block + 2)
        let scales = block + 4
        let qh = block + 16
        let qs = block + 48
        for chunk in 0..<4 {
            let (s0, m0) = scaleMin(2 * chunk, scales)
            let (s1, m1) = scaleMin(2 * chunk + 1, scales)
            let d0 = d * s0, min0 = dmin * m0
            let d1 = d * s1, min1 = dmin * m1
            let q = qs + 32 * chunk
            let out = y + 64 * chunk
            let lowBit = UInt8(2 * chunk), highBit = UInt8(2 * chunk + 1)
            for l in 0..<32 {
                let low = (q[l] & 0x0F) | ((qh[l] >> lowBit) & 1) << 4
                let high = (q[l] >> 4) | ((qh[l] >> highBit) & 1) << 4
                out[l] = d0 * Float(low) - min0
                out[l + 32] = d1 * Float(high) - min1
            }
        }
    }

    /// block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: two halves of 128 elements; in half h, element
    /// 32s + l (s = 0..<4) takes its low 4 bits from ql[64h + l (+32 for odd s)] (low nibble for s < 2, high for
    /// s ≥ 2) and its top 2 bits from bits 2s…2s+1 of qh[32h + l]; y = (d·scale[e/16])·(q − 32).
    @inline(__always)
    private static func q6_K(_ block: UnsafePointer<UInt8>, _ y: UnsafeMutablePointer<Float>) {
        let d = half(block + 208)
        let scales = UnsafeRawPointer(block + 192).assumingMemoryBound(to: Int8.self)
        for h in 0..<2 {
            let ql = block + 64 * h
            let qh = block + 128 + 32 * h
            let out = y + 128 * h
            let scale = scales + 8 * h
            for s in 0..<4 {
                let low = ql + 32 * (s & 1)
                let shift = UInt8(4 * (s >> 1))
                let highShift = UInt8(2 * s)
                // Each 32-element run spans two 16-element scale groups.
                let dA = d * Float(scale[2 * s]), dB = d * Float(scale[2 * s + 1])
                for l in 0..<32 {
                    let q = Int32((low[l] >> shift) & 0x0F | ((qh[l] >> highShift) & 3) << 4) - 32
                    out[32 * s + l] = (l < 16 ? dA : dB) * Float(q)
                }
            }
        }
    }
}
