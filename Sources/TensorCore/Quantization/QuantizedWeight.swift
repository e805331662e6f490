/// A frozen (out × in) weight kept in a quantized block format. Products never widen it whole: `FrozenWeight`
/// asks for one panel of rows at a time (`GEMM.panelProduct`), so only the blocks and one fp32 panel are resident.
public protocol QuantizedWeight: AnyObject, Sendable {
    /// The format as users see it: "Q4_1", "NF4", …
    var formatName: String { get }
    var rows: Int { get }
    var columns: Int { get }
    /// Bytes the blocks (and their scales) take.
    var byteCount: Int { get }
    /// Rows `range` as fp32 into `out` (range.count × columns, row-major). Called concurrently for disjoint ranges.
    func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>)
}

/// Rows of fixed-size blocks that run along the input dimension, as GGML stores a weight (Q8_0, Q4_K, …): row r is
/// the `rowBytes` bytes at `r · rowBytes`, and `decode` widens a whole number of rows. The bytes may live in a
/// memory-mapped file (`owner` keeps the mapping alive) or in a buffer this object owns.
public final class BlockRows: QuantizedWeight, @unchecked Sendable {
    public typealias Decoder = @Sendable (_ source: UnsafeRawPointer, _ count: Int, _ out: UnsafeMutablePointer<Float>) -> Void

    public let formatName: String
    public let rows: Int, columns: Int
    public let rowBytes: Int
    private let base: UnsafeRawPointer
    private let owned: UnsafeMutableRawPointer?
    private let owner: AnyObject?
    private let decode: Decoder

    /// Blocks that stay where they are (a mapped file's tensor data); `owner` is retained as long as this weight.
    public init(format: String, rows: Int, columns: Int, rowBytes: Int, borrowing bytes: UnsafeRawPointer,
                owner: AnyObject?, decode: @escaping Decoder) {
        (formatName, self.rows, self.columns, self.rowBytes) = (format, rows, columns, rowBytes)
        (base, owned, self.owner, self.decode) = (bytes, nil, owner, decode)
    }

    /// Blocks in a buffer of rows · rowBytes bytes that `fill` writes; this weight owns it.
    public init(format: String, rows: Int, columns: Int, rowBytes: Int, decode: @escaping Decoder,
                fill: (UnsafeMutableRawPointer) throws -> Void) rethrows {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(1, rows * rowBytes), alignment: 64)
        do { try fill(buffer) } catch { buffer.deallocate(); throw error }
        (formatName, self.rows, self.columns, self.rowBytes) = (format, rows, columns, rowBytes)
        (base, owned, owner, self.decode) = (UnsafeRawPointer(buffer), buffer, nil, decode)
    }

    deinit { owned?.deallocate() }

    public var byteCount: Int { rows * rowBytes }

    /// The stored bytes of row `r` (for permuting rows without decoding and for writing them back out).
    public func rowPointer(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    public func dequantizeRows(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        decode(base + range.lowerBound * rowBytes, range.count * columns, out)
    }
}
