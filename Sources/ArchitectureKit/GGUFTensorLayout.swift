import Foundation

/// Which way a tensor crosses between Hugging Face's layout and llama.cpp's: loading a GGUF goes `.fromGGUF`,
/// exporting one goes `.toGGUF`. The two are exact inverses (pure element moves, no arithmetic).
public enum GGUFLayoutDirection: Sendable {
    case toGGUF, fromGGUF
}

public struct GGUFLayoutError: Error, CustomStringConvertible {
    public var description: String
}

extension GGUFTensorMapping {
    /// True when the tensor's elements move between the two layouts (Q/K rotary rows, GPT-2's Conv1D transposes,
    /// Falcon's grouped QKV rows).
    public var movesElements: Bool { undoRotaryPermutation != nil || transposed || groupedQKV != nil }

    /// The tensor in the other layout. `shape` is the shape in the source layout (numpy order, as GGUFFile reports
    /// it for `.fromGGUF`, the parameter's shape for `.toGGUF`); the result carries the target's shape.
    public func rearrange(_ values: [Float], shape: [Int], _ direction: GGUFLayoutDirection) throws -> (values: [Float], shape: [Int]) {
        var values = values, shape = shape
        // Export permutes Hugging Face rows then transposes; loading undoes it in the reverse order. No mapping does
        // both today, but the order keeps the two directions inverse if one ever does.
        if direction == .fromGGUF, transposed { (values, shape) = try Self.transpose(values, shape: shape, name: path) }
        if let heads = undoRotaryPermutation {
            values = try Self.permuteRotaryRows(values, rows: shape[0], columns: shape.dropFirst().reduce(1, *), heads: heads,
                                                direction, name: path)
        }
        if let g = groupedQKV {
            values = try Self.regroupQKVRows(values, rows: shape[0], columns: shape.dropFirst().reduce(1, *), heads: g.heads,
                                             kvHeads: g.kvHeads, direction, name: path)
        }
        if direction == .toGGUF, transposed { (values, shape) = try Self.transpose(values, shape: shape, name: path) }
        return (values, shape)
    }

    /// Falcon's fused query_key_value: Hugging Face orders the rows per KV group g as [q(g, 0) … q(g, H/Hkv − 1), k(g),
    /// v(g)] (head-sized blocks); llama.cpp's converter reorders them to [q(0) … q(H−1), k(0) … k(Hkv−1), v(0) …].
    public static func regroupQKVRows(_ w: [Float], rows: Int, columns: Int, heads: Int, kvHeads: Int, _ direction: GGUFLayoutDirection,
                                      name: String = "tensor") throws -> [Float] {
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, rows % (heads + 2 * kvHeads) == 0, w.count == rows * columns else {
            throw GGUFLayoutError(description: "\(name): \(rows) rows of \(columns) are not a fused QKV of \(heads) query and \(kvHeads) KV heads")
        }
        let block = rows / (heads + 2 * kvHeads) * columns, perGroup = heads / kvHeads
        var out = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dst in
            for g in 0..<kvHeads {
                let hfGroup = g * (perGroup + 2)
                var pairs = (0..<perGroup).map { (hf: hfGroup + $0, gguf: g * perGroup + $0) }
                pairs += [(hf: hfGroup + perGroup, gguf: heads + g), (hf: hfGroup + perGroup + 1, gguf: heads + kvHeads + g)]
                for (hf, gguf) in pairs {
                    let (to, from) = direction == .toGGUF ? (gguf, hf) : (hf, gguf)
                    (dst.baseAddress! + to * block).update(from: src.baseAddress! + from * block, count: block)
                }
            }
        } }
        return out
    }

    /// llama.cpp's converter permutes the rows of Q and K (and of a LoRA B for them) per head for its rotary layout:
    /// Hugging Face orders a head's rows (half, i) — first halves, then second halves — llama.cpp (i, half),
    /// interleaved pairs. `rows` = heads · headDim; each row is `columns` contiguous values.
    public static func permuteRotaryRows(_ w: [Float], rows: Int, columns: Int, heads: Int, _ direction: GGUFLayoutDirection,
                                         name: String = "tensor") throws -> [Float] {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0, w.count == rows * columns else {
            throw GGUFLayoutError(description: "\(name): cannot permute \(rows) rows of \(columns) for \(heads) rotary heads: "
                                  + "rows must be heads × an even head size and the tensor \(rows * columns) values (it has \(w.count))")
        }
        let headDim = rows / heads, half = headDim / 2
        var out = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dst in
            for h in 0..<heads { for i in 0..<half { for p in 0..<2 {
                let gguf = h * headDim + i * 2 + p, hf = h * headDim + p * half + i
                let (to, from) = direction == .toGGUF ? (gguf, hf) : (hf, gguf)
                (dst.baseAddress! + to * columns).update(from: src.baseAddress! + from * columns, count: columns)
            } } }
        } }
        return out
    }

    /// A 2-D transpose (GPT-2's Conv1D stores (in, out); llama.cpp wants the Linear layout (out, in)).
    static func transpose(_ w: [Float], shape: [Int], name: String) throws -> ([Float], [Int]) {
        guard shape.count == 2, w.count == shape[0] * shape[1] else {
            throw GGUFLayoutError(description: "\(name): expected a matrix to transpose, found shape \(shape) with \(w.count) values")
        }
        let (r, c) = (shape[0], shape[1])
        var out = [Float](repeating: 0, count: w.count)
        w.withUnsafeBufferPointer { src in out.withUnsafeMutableBufferPointer { dst in
            for i in 0..<r { for j in 0..<c { dst[j * r + i] = src[i * c + j] } }
        } }
        return (out, [c, r])
    }
}
