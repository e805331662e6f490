/// NumPy broadcasting for binary elementwise ops, with a contiguous inner loop.
enum Broadcast {
    static func shape(_ a: [Int], _ b: [Int]) -> [Int] {
        let rank = max(a.count, b.count)
        let pa = Array(repeating: 1, count: rank - a.count) + a
        let pb = Array(repeating: 1, count: rank - b.count) + b
        return zip(pa, pb).map { x, y in
            precondition(x == y || x == 1 || y == 1, "shapes \(a) and \(b) do not broadcast")
            return max(x, y)
        }
    }

    /// Element strides of `shape` read as `outShape` (0 along broadcast dimensions).
    static func strides(_ shape: [Int], in outShape: [Int]) -> [Int] {
        let padded = Array(repeating: 1, count: outShape.count - shape.count) + shape
        var strides = Array(repeating: 0, count: padded.count)
        var s = 1
        for i in stride(from: padded.count - 1, through: 0, by: -1) {
            strides[i] = padded[i] == 1 ? 0 : s
            s *= padded[i]
        }
        return strides
    }

    /// Calls `body(outOffset, aOffset, bOffset, n, aStep, bStep)` for each innermost run of the output.
    static func forEachRun(_ outShape: [Int], _ sa: [Int], _ sb: [Int],
                           _ body: (Int, Int, Int, Int, Int, Int) -> Void) {
        guard let inner = outShape.last else { body(0, 0, 0, 1, 0, 0); return }
        let r = outShape.count
        let outer = outShape.dropLast().reduce(1, *)
        var idx = Array(repeating: 0, count: r - 1)
        var (oa, ob) = (0, 0)
        for o in 0..<outer {
            body(o * inner, oa, ob, inner, sa[r - 1], sb[r - 1])
            var d = r - 2
            while d >= 0 {
                idx[d] += 1; oa += sa[d]; ob += sb[d]
                if idx[d] < outShape[d] { break }
                oa -= sa[d] * idx[d]; ob -= sb[d] * idx[d]; idx[d] = 0
                d -= 1
            }
        }
    }
}

extension Tensor {
    /// Sums a broadcast gradient back down to `shape`.
    func reduced(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = Tensor(zeros: target)
        let so = Broadcast.strides(target, in: shape)
        let zero = Array(repeating: 0, count: shape.count)
        let src = data, dst = out.data
        Broadcast.forEachRun(shape, so, zero) { o, a, _, n, step, _ in
            if step == 0 { var s: Float = 0; for i in 0..<n { s += src[o + i] }; dst[a] += s }
            else { for i in 0..<n { dst[a + i] += src[o + i] } }
        }
        return out
    }
}
