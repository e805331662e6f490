/// Exact widening of IEEE half (F16) and bfloat16 (BF16) values to `Float`.
///
/// Both conversions are exact: every F16 and BF16 value is representable as a `Float`. F16 goes through a
/// 65,536-entry table (256 KB, built once) because a table load beats the branchy bit manipulation in tight
/// dequantization loops; BF16 is the top half of a `Float`, so it is a shift.
public enum HalfPrecision {
    /// Widens one F16 bit pattern. NaN payloads are kept (shifted into the `Float` mantissa) as numpy does.
    @inline(__always)
    public static func float(fromF16 bits: UInt16) -> Float {
        f16Table.withUnsafeBufferPointer { $0[Int(bits)] }
    }

    /// Widens one BF16 bit pattern.
    @inline(__always)
    public static func float(fromBF16 bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Widens `count` little-endian F16 values at `source` (any alignment) into `destination`.
    public static func convertF16(_ source: UnsafeRawPointer, to destination: UnsafeMutablePointer<Float>,
                                  count: Int) {
        f16Table.withUnsafeBufferPointer { table in
            let table = table.baseAddress!
            for i in 0..<count {
                let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                destination[i] = table[Int(bits)]
            }
        }
    }

    /// Widens `count` little-endian BF16 values at `source` (any alignment) into `destination`.
    public static func convertBF16(_ source: UnsafeRawPointer, to destination: UnsafeMutablePointer<Float>,
                                   count: Int) {
        for i in 0..<count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    }

    /// The F16 → F32 rule written out, so the result does not depend on the platform's `Float16` support.
    static func widenF16(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = UInt32(h >> 10) & 0x1F
        let mantissa = UInt32(h) & 0x3FF
        switch exponent {
        case 0 where mantissa == 0:
            return Float(bitPattern: sign)
        case 0:
            // Subnormal half: shift the mantissa up until its leading 1 reaches the implicit-bit position (bit 10),
            // lowering the exponent once per shift.
            var m = mantissa
            var e: UInt32 = 127 - 15 + 1
            while m & 0x400 == 0 {
                m <<= 1
                e -= 1
            }
            return Float(bitPattern: sign | (e << 23) | ((m & 0x3FF) << 13))
        case 0x1F:
            // Inf and NaN: all-ones exponent, payload kept.
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        default:
            return Float(bitPattern: sign | ((exponent + 127 - 15) << 23) | (mantissa << 13))
        }
    }

    private static let f16Table: [Float] = (0...0xFFFF).map { widenF16(UInt16($0)) }
}
