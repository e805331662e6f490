/// Token (or position) embedding lookup. weight: (V, D), ids: any shape; out: ids.shape + [D].
/// Backward scatter-adds rows into a dense (V, D) gradient.
public func embedding(_ ids: IntTensor, weight: Tensor) -> Tensor {
    let (v, d) = (weight.shape[0], weight.shape[1])
    let out = Tensor(uninitialized: ids.shape + [d])
    for (i, id) in ids.values.enumerated() {
        precondition(id >= 0 && Int(id) < v, "token id \(id) outside the embedding table of \(v) rows")
        (out.data + i * d).update(from: weight.data + Int(id) * d, count: d)
    }
    return out.recording("embedding", [weight]) { g in
        let dw = Tensor(zeros: weight.shape)
        for (i, id) in ids.values.enumerated() {
            let row = dw.data + Int(id) * d, gr = g.data + i * d
            for j in 0..<d { row[j] += gr[j] }
        }
        return [dw]
    }
}
