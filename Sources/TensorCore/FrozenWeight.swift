import Foundation

/// How frozen base weights are stored and multiplied (`precision:` in recipes, `--precision` in bench).
public enum WeightPrecision: String, CaseIterable, Sendable {
    /// fp32 weights, fp32 products: today's numbers exactly.
    case fp32
    /// bf16 weights (half the memory). Products run in bf16 with fp32 accumulation where oneDNN has bf16 kernels
    /// for this CPU (avx512_core_bf16, AMX); elsewhere each weight panel is widened to fp32 and multiplied in fp32.
    case bf16
}

/// A Linear's frozen base weight, (out × in) as torch stores it, in its storage format. It gets no gradient.
///
/// Products read it panel by panel: `dequantizeRows` fills an fp32 panel of rows into scratch, which the GEMM
/// backend multiplies (`GEMM.frozenProduct`). That is all a new storage needs to provide — issue 11's GGUF blocks
/// and NF4 become further `Storage` cases whose `dequantizeRows` decodes blocks; only formats with a native kernel
/// (bf16 on oneDNN) add a fast path.
public final class FrozenWeight: @unchecked Sendable {
    public enum Storage {
        case fp32(Tensor)
        /// Row-major bf16 bits (the upper half of the fp32 pattern, rounded to nearest even), owned.
        case bf16(UnsafeMutablePointer<UInt16>)
        /// Quantized blocks (GGUF Q4_1 kept from the file, NF4, …): widened panel by panel, never whole.
        case quantized(any QuantizedWeight)
    }

    /// out features (rows of W) and in features (columns).
    public let rows: Int, columns: Int
    public let storage: Storage

    /// Stores `weight` (out × in) in `precision`. fp32 keeps the tensor itself (no copy).
    public init(_ weight: Tensor, precision: WeightPrecision) {
        precondition(weight.rank == 2, "a frozen weight is a matrix, got \(weight.shape)")
        (rows, columns) = (weight.shape[0], weight.shape[1])
        switch precision {
        case .fp32:
            storage = .fp32(weight)
        case .bf16:
            let bits = UnsafeMutablePointer<UInt16>.allocate(capacity: weight.count)
            let source = weight.data
            Parallel.forEachChunk(weight.count, costPerItem: 2) { r in
                BF16.round(source + r.lowerBound, into: bits + r.lowerBound, count: r.count)
            }
            storage = .bf16(bits)
        }
    }

    /// Keeps quantized blocks as they are; products widen them one panel at a time.
    public init(quantized: any QuantizedWeight) {
        (rows, columns) = (quantized.rows, quantized.columns)
        storage = .quantized(quantized)
    }

    deinit { if case .bf16(let p) = storage { p.deallocate() } }

    /// The precision products run in: quantized panels are widened to fp32.
    public var precision: WeightPrecision {
        switch storage { case .fp32, .quantized: return .fp32; case .bf16: return .bf16 }
    }

    /// How the weight is stored, for logs and `inspect`: "fp32", "bf16", "Q4_1", "NF4", …
    public var storageName: String {
        switch storage { case .fp32: return "fp32"; case .bf16: return "bf16"; case .quantized(let q): return q.formatName }
    }

    /// Bytes the stored weight takes.
    public var byteCount: Int {
        switch storage {
        case .fp32: return rows * columns * 4
        case .bf16: return rows * columns * 2
        case .quantized(let q): return q.byteCount
        }
    }

    /// Rows `range` of W as fp32 into `out` (range.count × columns, row-major).
    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows, "rows \(range) of a \(rows)-row weight")
        switch storage {
        case .fp32(let t):
            out.update(from: t.data + range.lowerBound * columns, count: range.count * columns)
        case .bf16(let bits):
            BF16.widen(bits + range.lowerBound * columns, into: out, count: range.count * columns)
        case .quantized(let q):
            q.dequantizeRows(range, into: out)
        }
    }

    /// The whole weight as an fp32 tensor (merging, DoRA norms): the stored tensor for fp32, a copy otherwise.
    public func dequantized() -> Tensor {
        if case .fp32(let t) = storage { return t }
        let t = Tensor(zeros: [rows, columns])
        Parallel.forEachChunk(rows, costPerItem: columns) { r in
            self.dequantizeRows(r, into: t.data + r.lowerBound * self.columns)
        }
        return t
    }
}

/// bfloat16 conversions: the upper 16 bits of an IEEE fp32, as torch's `.to(torch.bfloat16)` rounds them.
public enum BF16 {
    /// One value, round to nearest even; NaN stays a (quiet) NaN.
    @inline(__always)
    public static func round(_ x: Float) -> UInt16 {
        let bits = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
    }

    @inline(__always)
    public static func widen(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// `count` values, rounded as `round(_:)` does, 16 lanes at a time.
    public static func round(_ x: UnsafePointer<Float>, into out: UnsafeMutablePointer<UInt16>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            let bits = unsafeBitCast(v, to: SIMD16<UInt32>.self)
            var rounded = (bits &+ 0x7FFF &+ ((bits &>> 16) & 1)) &>> 16
            // NaN lanes: keep the sign and exponent, force a quiet-NaN payload so rounding cannot make an infinity.
            let nan = v .!= v
            rounded.replace(with: (bits &>> 16) | 0x0040, where: nan)
            UnsafeMutableRawPointer(out + i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: rounded), as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < count { out[i] = round(x[i]); i += 1 }
    }

    /// `count` bf16 values to fp32 (exact).
    public static func widen(_ h: UnsafePointer<UInt16>, into out: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let v = SIMD16<UInt32>(truncatingIfNeeded: UnsafeRawPointer(h + i).loadUnaligned(as: SIMD16<UInt16>.self)) &<< 16
            UnsafeMutableRawPointer(out + i).storeBytes(of: unsafeBitCast(v, to: SIMD16<Float>.self), as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { out[i] = widen(h[i]); i += 1 }
    }
}
