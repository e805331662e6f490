/// Concatenation and splitting along the last axis (fused QKV projections, LoRA `cat` combinations).
public func concatLastAxis(_ parts: [Tensor]) -> Tensor {
    precondition(!parts.isEmpty, "concat of nothing")
    let rows = parts[0].rowCount
    precondition(parts.allSatisfy { $0.rowCount == rows && $0.shape.dropLast() == parts[0].shape.dropLast() },
                 "concat shapes differ: \(parts.map(\.shape))")
    let widths = parts.map(\.lastDim)
    let total = widths.reduce(0, +)
    let out = Tensor(uninitialized: Array(parts[0].shape.dropLast()) + [total])
    var col = 0
    for (p, w) in zip(parts, widths) {
        for r in 0..<rows { (out.data + r * total + col).update(from: p.data + r * w, count: w) }
        col += w
    }
    let needed = parts.map { ($0.needsGrad, $0.shape) }  // not the parts themselves: backward needs no values
    return out.recording("concat", parts) { g in
        var col = 0
        return zip(needed, widths).map { p, w in
            defer { col += w }
            guard p.0 else { return nil }
            let d = Tensor(uninitialized: p.1)
            for r in 0..<rows { (d.data + r * w).update(from: g.data + r * total + col, count: w) }
            return d
        }
    }
}

extension Tensor {
    /// Splits the last axis into consecutive pieces of the given widths.
    public func split(lastAxis widths: [Int]) -> [Tensor] {
        precondition(widths.reduce(0, +) == lastDim, "split \(widths) of last axis \(lastDim)")
        var col = 0
        return widths.map { w in defer { col += w }; return slice(lastAxis: col..<(col + w)) }
    }

    /// Columns `range` of the last axis, copied.
    public func slice(lastAxis range: Range<Int>) -> Tensor {
        let n = lastDim, rows = rowCount, w = range.count
        let out = Tensor(uninitialized: Array(shape.dropLast()) + [w])
        for r in 0..<rows { (out.data + r * w).update(from: data + r * n + range.lowerBound, count: w) }
        let full = shape
        return out.recording("slice", [self]) { g in
            let d = Tensor(zeros: full)
            for r in 0..<rows { (d.data + r * n + range.lowerBound).update(from: g.data + r * w, count: w) }
            return [d]
        }
    }
}
