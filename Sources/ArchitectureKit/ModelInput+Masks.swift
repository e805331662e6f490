import TensorCore

extension ModelInput {
    /// Positions past..<past+T for every row.
    public static func defaultPositions(batch: Int, length: Int, offset: Int) -> IntTensor {
        IntTensor((0..<batch).flatMap { _ in (offset..<(offset + length)).map { Int32($0) } }, shape: [batch, length])
    }

    /// The (B, past + T) key mask for attention: the given attention_mask when it already spans the cached
    /// positions, else ones for the past followed by the mask of the new tokens. nil when nothing is padded.
    public func keyPaddingMask(pastLength past: Int) -> IntTensor? {
        // A cache with room to grow: the mask spans its whole capacity (see `KVCache.filledLength`).
        if let cache, cache.filledLength != nil, let mask = attentionMask, mask.shape[1] == cache.keys.first??.shape[1] { return mask }
        guard let mask = attentionMask, mask.values.contains(0) else { return nil }
        let (b, width) = (mask.shape[0], mask.shape[1])
        if width == past + length || past == 0 { return mask }
        var values: [Int32] = []
        for i in 0..<b { values += Array(repeating: 1, count: past) + mask.values[(i * width)..<((i + 1) * width)] }
        return IntTensor(values, shape: [b, past + width])
    }

    /// Per row, the index of the last real token: the rightmost id ≠ pad (transformers' sequence-classification
    /// pooling), or T−1 without a pad id.
    public func lastTokenIndices(padTokenID: Int?) -> [Int] {
        let (b, t) = (batchSize, length)
        return (0..<b).map { row in
            guard let pad = padTokenID else { return t - 1 }
            let ids = inputIDs.values[(row * t)..<((row + 1) * t)]
            return (ids.lastIndex { Int($0) != pad } ?? row * t) - row * t
        }
    }
}

extension KVCache {
    /// Appends this step's keys/values (B, T, Hkv, D) for `layer` and returns everything cached so far.
    public func append(layer: Int, keys k: Tensor, values v: Tensor) -> (Tensor, Tensor) {
        // A cache sized too small (a caller that counted layers another way) grows instead of trapping.
        while keys.count <= layer { keys.append(nil); values.append(nil) }
        while keyBuffers.count < keys.count { keyBuffers.append(nil); valueBuffers.append(nil) }
        if let filled = filledLength, let allK = keys[layer], let allV = values[layer] {
            let (b, capacity, t) = (allK.shape[0], allK.shape[1], k.shape[1])
            precondition(k.shape[0] == b && filled + t <= capacity && allV.shape == allK.shape,
                         "KV cache of \(allK.shape) with \(filled) filled cannot take \(k.shape)")
            let inner = k.count / (b * t)
            for row in 0..<b {
                (allK.data + (row * capacity + filled) * inner).update(from: k.data + row * t * inner, count: t * inner)
                (allV.data + (row * capacity + filled) * inner).update(from: v.data + row * t * inner, count: t * inner)
            }
            return (allK, allV)
        }
        let allK = Self.extend(keys[layer], with: k, buffer: &keyBuffers[layer])
        let allV = Self.extend(values[layer], with: v, buffer: &valueBuffers[layer])
        keys[layer] = allK
        values[layer] = allV
        return (allK, allV)
    }

    /// filled ++ new along time. Batch 1: in place in `buffer` while it has room, else into a new buffer with twice
    /// the positions (geometric growth: a one-token step copies nothing, amortised O(new tokens)); the result is a
    /// view of the buffer's filled start. Several rows: a new tensor (their filled prefixes are not contiguous in
    /// a buffer with room to spare).
    static func extend(_ filled: Tensor?, with new: Tensor, buffer: inout Storage?) -> Tensor {
        guard new.shape[0] == 1 else {
            buffer = nil
            return filled.map { Tensor.concatenateTime($0, new) } ?? new.detached()
        }
        let inner = new.shape.dropFirst(2).reduce(1, *)
        let (s, t) = (filled?.shape[1] ?? 0, new.shape[1])
        let trailing = Array(new.shape.dropFirst(2))
        if let filled, filled.shape[0] != 1 || Array(filled.shape.dropFirst(2)) != trailing {
            preconditionFailure("KV cache holds \(filled.shape); cannot append \(new.shape)")
        }
        let inPlace = filled.map { $0.storage === buffer && $0.offset == 0 } ?? false
        if !inPlace || buffer!.count < (s + t) * inner {
            let grown = Storage(count: max(2 * (s + t), 16) * inner, zeroed: false)
            if let filled, s > 0 { grown.pointer.update(from: filled.data, count: s * inner) }
            buffer = grown
        }
        (buffer!.pointer + s * inner).update(from: new.data, count: t * inner)
        return Tensor(shape: [1, s + t] + trailing, storage: buffer!, offset: 0)
    }
}

extension KVCache {
    /// The positions `range` of a batch-1 cache as a cache of their own, sharing its storage (no copy): the
    /// per-request caches of prompts that were packed into one row for a single prompt pass.
    public func slice(positions range: Range<Int>) -> KVCache {
        let part = KVCache(layers: keys.count)
        func view(_ t: Tensor?) -> Tensor? {
            guard let t else { return nil }
            precondition(t.shape[0] == 1 && range.upperBound <= t.shape[1], "slice \(range) of a cache of \(t.shape)")
            let inner = t.shape.dropFirst(2).reduce(1, *)
            return Tensor(shape: [1, range.count] + t.shape.dropFirst(2), storage: t.storage, offset: t.offset + range.lowerBound * inner)
        }
        part.keys = keys.map(view)
        part.values = values.map(view)
        return part
    }
}

extension Tensor {
    /// (B, S, …) ++ (B, T, …) along axis 1, outside the graph (the cache is inference-only).
    static func concatenateTime(_ a: Tensor, _ b: Tensor) -> Tensor {
        let batch = a.shape[0], inner = a.shape.dropFirst(2).reduce(1, *)
        let (s, t) = (a.shape[1], b.shape[1])
        let out = Tensor(zeros: [batch, s + t] + Array(a.shape.dropFirst(2)))
        for i in 0..<batch {
            (out.data + i * (s + t) * inner).update(from: a.data + i * s * inner, count: s * inner)
            (out.data + (i * (s + t) + s) * inner).update(from: b.data + i * t * inner, count: t * inner)
        }
        return out
    }

    /// Rows `indices[i]` of batch row i: (B, T, D) → (B, D). Gradients scatter back.
    public func gatherRows(_ indices: [Int]) -> Tensor {
        let (b, t, d) = (shape[0], shape[1], shape[2])
        precondition(indices.count == b, "gatherRows: \(indices.count) indices for batch \(b)")
        let flat = reshaped([b * t, d])
        return concatRows(indices.enumerated().map { i, j in flat.rows((i * t + j)..<(i * t + j + 1)) })
    }
}

/// Stacks (1, D) tensors into (N, D) with gradients.
func concatRows(_ parts: [Tensor]) -> Tensor {
    let d = parts[0].lastDim
    // (1, D) rows concatenated along the last axis then viewed as (N, D): same memory order.
    return concatLastAxis(parts.map { $0.reshaped([1, d]) }).reshaped([parts.count, d])
}
