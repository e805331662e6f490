/// Broadcasting add/sub/mul, scaling, and the in-place helpers the optimizer and autograd use.
extension Tensor {
    /// The operators `binary` applies. Its loops switch on this once per chunk, so each loop body is a plain `+`,
    /// `−` or `×` the compiler vectorizes; a `(Float, Float) -> Float` closure stayed a call per element (~2 ns a float
    /// on every residual and gradient add).
    private enum BinaryOperator {
        case add, subtract, multiply

        @inline(__always) func callAsFunction(_ x: Float, _ y: Float) -> Float {
            switch self { case .add: x + y; case .subtract: x - y; case .multiply: x * y }
        }

        /// o[i] = x[i] ∘ y[i] for i in `range`.
        @inline(__always) func apply(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, _ range: Range<Int>) {
            switch self {
            case .add: for i in range { o[i] = x[i] + y[i] }
            case .subtract: for i in range { o[i] = x[i] - y[i] }
            case .multiply: for i in range { o[i] = x[i] * y[i] }
            }
        }
    }

    private static func binary(_ a: Tensor, _ b: Tensor, _ op: BinaryOperator) -> Tensor {
        if a.shape == b.shape {
            let out = Tensor(uninitialized: a.shape)
            let (pa, pb, po) = (a.data, b.data, out.data)
            Parallel.forEachChunk(a.count) { r in op.apply(pa, pb, into: po, r) }
            return out
        }
        if b.rank == 1 && a.rank >= 1 && b.count == a.lastDim && a.lastDim > 1 {
            // A vector along the last axis (a bias): rows in parallel, no index arithmetic.
            let (n, rows) = (a.lastDim, a.rowCount)
            let out = Tensor(uninitialized: a.shape)
            let (pa, pb, po) = (a.data, b.data, out.data)
            Parallel.forEachChunk(rows, costPerItem: n) { r in
                for row in r { op.apply(pa + row * n, pb, into: po + row * n, 0..<n) }
            }
            return out
        }
        let shape = Broadcast.shape(a.shape, b.shape)
        let out = Tensor(uninitialized: shape)
        let (pa, pb, po) = (a.data, b.data, out.data)
        Broadcast.forEachRun(shape, Broadcast.strides(a.shape, in: shape), Broadcast.strides(b.shape, in: shape)) { o, ia, ib, n, sa, sb in
            for i in 0..<n { po[o + i] = op(pa[ia + i * sa], pb[ib + i * sb]) }
        }
        return out
    }

    // The closures capture shapes and flags, not the operands: a residual add must not keep both of its inputs
    // alive until backward.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (sa, sb, ga, gb) = (a.shape, b.shape, a.needsGrad, b.needsGrad)
        return binary(a, b, .add).recording("add", [a, b]) { g in
            [ga ? g.reduced(to: sa) : nil, gb ? g.reduced(to: sb) : nil]
        }
    }

    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (sa, sb, ga, gb) = (a.shape, b.shape, a.needsGrad, b.needsGrad)
        return binary(a, b, .subtract).recording("sub", [a, b]) { g in
            [ga ? g.reduced(to: sa) : nil, gb ? (g * -1).reduced(to: sb) : nil]
        }
    }

    public static func * (a: Tensor, b: Tensor) -> Tensor {
        // Each operand is kept only when the other one's gradient needs it.
        let (sa, sb) = (a.shape, b.shape)
        let (keptA, keptB) = (b.needsGrad ? a : nil, a.needsGrad ? b : nil)
        return binary(a, b, .multiply).recording("mul", [a, b]) { g in
            [keptB.map { binary(g, $0, .multiply).reduced(to: sa) }, keptA.map { binary(g, $0, .multiply).reduced(to: sb) }]
        }
    }

    public static func * (a: Tensor, s: Float) -> Tensor {
        let out = Tensor(uninitialized: a.shape)
        let (pa, po) = (a.data, out.data)
        Parallel.forEachChunk(a.count) { r in for i in r { po[i] = pa[i] * s } }
        return out.recording("scale", [a]) { g in [g * s] }
    }

    public static func * (s: Float, a: Tensor) -> Tensor { a * s }

    /// self += other (same shape), outside the graph.
    public func addInPlace(_ other: Tensor, scale: Float = 1) {
        precondition(shape == other.shape, "addInPlace \(other.shape) into \(shape)")
        let (p, q) = (data, other.data)
        Parallel.forEachChunk(count) { r in for i in r { p[i] += scale * q[i] } }
    }

    /// self + other as a new tensor, outside the graph.
    public func adding(_ other: Tensor) -> Tensor { GradMode.withoutGrad { self + other } }

    /// Sets every element to `value`, outside the graph.
    public func fill(_ value: Float) { data.update(repeating: value, count: count) }

    /// Sum of all elements: a scalar of shape [1].
    public func sum() -> Tensor {
        var s: Double = 0
        for i in 0..<count { s += Double(data[i]) }
        let shape = self.shape
        return Tensor([Float(s)], shape: [1]).recording("sum", [self]) { g in [Tensor(filled: g.data[0], shape: shape)] }
    }

    /// Mean of all elements: a scalar of shape [1].
    public func mean() -> Tensor { sum() * (1 / Float(count)) }
}
