/// Softmax over the last axis (numerically stable: max-subtracted).
extension Tensor {
    public func softmax() -> Tensor {
        let n = lastDim, rows = rowCount
        let out = Tensor(uninitialized: shape)
        let (px, po) = (data, out.data)
        Parallel.forEachChunk(rows, costPerItem: n * 4) { r in
            for row in r { softmaxRow(px + row * n, po + row * n, n) }
        }
        // Backward reads y through a detached view: capturing `out` itself would make a cycle (out → its node →
        // this closure → out) that keeps the op alive whenever its backward never runs.
        let y = out.detached()
        return out.recording("softmax", [self]) { g in
            // dx = y ⊙ (g − Σ g⊙y)
            let dx = Tensor(uninitialized: g.shape)
            let (pg, py, pd) = (g.data, y.data, dx.data)
            Parallel.forEachChunk(rows, costPerItem: n * 2) { r in
                for row in r {
                    let o = row * n
                    var dot: Float = 0
                    for j in 0..<n { dot += pg[o + j] * py[o + j] }
                    for j in 0..<n { pd[o + j] = py[o + j] * (pg[o + j] - dot) }
                }
            }
            return [dx]
        }
    }
}

/// y = softmax(x) for one row of length n; a row of all −inf gives zeros (a fully masked attention row).
@inline(__always)
func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    if UnsafePointer(y) != x { y.update(from: x, count: n) }
    _ = VectorMath.softmaxInPlace(y, count: n)
}
