/// Conversion of `Float` rows to GGML storage types, bit-for-bit equal to gguf-py's `gguf.quants.quantize` (which
/// is itself bit-exact with ggml's reference `quantize_row_*_ref`), so a tensor LoRAKit writes is the tensor
/// llama.cpp's converters would write from the same floats.
///
/// Every step keeps numpy's float32 order of operations: one F32 division for the scale, one F32 reciprocal, one F32
/// multiply per element, numpy's float16 rounding (round to nearest even) for the stored scale.
public enum GGMLQuantizer {
    /// True for the types `quantize` can produce.
    public static func canQuantize(_ type: GGMLType) -> Bool {
        switch type {
        case .F32, .F16, .BF16, .Q8_0, .Q4_0: return true
        default: return false
        }
    }

    /// `values` (row-major, rows of `rowLength`) in `type`'s byte layout.
    ///
    /// - Precondition: `canQuantize(type)` and `rowLength` is a multiple of `type.blockSize`.
    public static func quantize(_ values: [Float], as type: GGMLType) -> [UInt8] {
        precondition(values.count % type.blockSize == 0, "\(values.count) values is not a whole number of \(type) blocks")
        let blocks = values.count / type.blockSize
        var out = [UInt8](repeating: 0, count: blocks * type.typeSize)
        values.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                let x = x.baseAddress!, o = o.baseAddress!
                switch type {
                case .F32:
                    for i in 0..<values.count { store32(x[i].bitPattern, o + 4 * i) }
                case .F16:
                    for i in 0..<values.count { store16(f16Bits(x[i]), o + 2 * i) }
                case .BF16:
                    for i in 0..<values.count { store16(bf16Bits(x[i]), o + 2 * i) }
                case .Q8_0:
                    for b in 0..<blocks { q8_0(x + 32 * b, o + 34 * b) }
                case .Q4_0:
                    for b in 0..<blocks { q4_0(x + 32 * b, o + 18 * b) }
                default:
                    preconditionFailure("GGML type \(type) cannot be quantized")
                }
            }
        }
        return out
    }

    @inline(__always) private static func store16(_ v: UInt16, _ p: UnsafeMutablePointer<UInt8>) {
        p[0] = UInt8(v & 0xFF)
        p[1] = UInt8(v >> 8)
    }

    @inline(__always) private static func store32(_ v: UInt32, _ p: UnsafeMutablePointer<UInt8>) {
        for k in 0..<4 { p[k] = UInt8((v >> UInt32(8 * k)) & 0xFF) }
    }

    /// block_q8_0 { f16 d; int8 qs[32] }: d = max|x| / 127, q = round-half-away(x · (1/d)) (gguf-py's np_roundf).
    @inline(__always)
    private static func q8_0(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<UInt8>) {
        var amax: Float = 0
        for j in 0..<32 { amax = max(amax, abs(x[j])) }
        let d = amax / 127
        let id: Float = d == 0 ? 0 : 1 / d
        store16(f16Bits(d), o)
        for j in 0..<32 {
            // Float.rounded() rounds half away from zero, as np_roundf does.
            let q = (x[j] * id).rounded()
            o[2 + j] = UInt8(bitPattern: Int8(q.isNaN ? 0 : max(-128, min(127, q))))
        }
    }

    /// block_q4_0 { f16 d; u8 qs[16] }: d = (the signed element of largest magnitude, first on ties) / −8,
    /// q = min(15, trunc(x · (1/d) + 8.5)); element j is the low nibble of qs[j], element j+16 the high nibble.
    @inline(__always)
    private static func q4_0(_ x: UnsafePointer<Float>, _ o: UnsafeMutablePointer<UInt8>) {
        var amax: Float = 0, extreme: Float = 0
        for j in 0..<32 where abs(x[j]) > amax {  // strict: numpy's argmax keeps the first maximum
            amax = abs(x[j])
            extreme = x[j]
        }
        let d = extreme / -8
        let id: Float = d == 0 ? 0 : 1 / d
        store16(f16Bits(d), o)
        func nibble(_ v: Float) -> UInt8 {
            let t = (v * id + 8.5).rounded(.towardZero)
            return t.isNaN ? 0 : UInt8(min(15, max(0, t)))
        }
        for j in 0..<16 {
            o[2 + j] = nibble(x[j]) | nibble(x[j + 16]) << 4
        }
    }

    /// IEEE half bits of `f`, rounded to nearest even as numpy's `astype(np.float16)`: overflow to ±inf, gradual
    /// underflow to subnormals, NaN payloads kept in the top mantissa bits (and kept non-zero).
    public static func f16Bits(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            guard mantissa != 0 else { return sign | 0x7C00 }
            let payload = UInt16(mantissa >> 13)
            return sign | 0x7C00 | (payload == 0 ? 1 : payload)
        }
        let magnitude = abs(f)
        if magnitude < 6.103515625e-05 {  // below 2^-14: a subnormal half (or zero), in units of 2^-24
            // Scaling by 2^24 is exact; rounding that to an integer is the half's rounding.
            return sign | UInt16((magnitude * 16_777_216).rounded(.toNearestOrEven))
        }
        let e = exponent - 127 + 15
        if e >= 31 { return sign | 0x7C00 }
        var h = UInt32(e) << 10 | mantissa >> 13
        let rest = mantissa & 0x1FFF
        // A carry out of the mantissa moves into the exponent, and from 65504 up to inf, as it should.
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(h)
    }

    /// bfloat16 bits of `f` as ggml_compute_fp32_to_bf16 (gguf-py's BF16): NaN made quiet, otherwise round to
    /// nearest even.
    public static func bf16Bits(_ f: Float) -> UInt16 {
        let n = f.bitPattern
        if n & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16((n >> 16) | 64) }
        return UInt16((UInt64(n) + UInt64(0x7FFF + ((n >> 16) & 1))) >> 16)
    }
}
