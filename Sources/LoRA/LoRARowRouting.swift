import Foundation
import TensorCore

/// Per-row adapter choice for batched inference across adapters (a server's continuous batch): batch row i of
/// every routed LoRA layer gets Σ weight · scaling · B(A(x_i)) over `rows[i]` only, so one request's adapter never
/// reaches another request's rows. Shared by all LoRA layers of a model; the owner rewrites `rows` before each
/// forward. Inference only: no dropout, no graph, DoRA not supported (its norm term is per adapter, not per row).
public final class LoRARowRouting {
    /// For each batch row, the adapters (by name) and the request's weight for each (1 = as trained).
    public var rows: [[(adapter: String, weight: Float)]] = []
    public init() {}
}

extension LoRALinear {
    /// y (B, T, out) += the routed adapters' deltas of x (B, T, in). For each adapter the rows that use it are
    /// gathered and go through two small GEMMs (rows·Aᵀ, then ·Bᵀ) on the usual GEMM path — SGMV by grouping.
    func addRoutedDeltas(_ x: Tensor, into y: Tensor, routing: LoRARowRouting) {
        let batch = x.shape[0]
        precondition(routing.rows.count == batch, "LoRA routing has \(routing.rows.count) rows for a batch of \(batch)")
        let (din, dout) = (inFeatures, outFeatures)
        let perRow = x.count / (batch * din)  // tokens per batch row
        var groups: [String: [(row: Int, weight: Float)]] = [:]
        var order: [String] = []
        for (row, list) in routing.rows.enumerated() {
            for (name, weight) in list where adapters[name] != nil && weight != 0 {
                if groups[name] == nil { order.append(name) }
                groups[name, default: []].append((row, weight))
            }
        }
        for name in order {
            let members = groups[name]!, scaling = adapters[name]!.scaling
            precondition(!adapters[name]!.useDoRA, "per-row routing does not support DoRA adapter '\(name)'")
            let n = members.count * perRow
            let xs = Tensor(zeros: [n, din])
            for (i, m) in members.enumerated() {
                (xs.data + i * perRow * din).update(from: x.data + m.row * perRow * din, count: perRow * din)
            }
            let delta = loraB(name)(loraA(name)(xs))  // (n, out)
            for (i, m) in members.enumerated() {
                let s = scaling * m.weight
                let src = delta.data + i * perRow * dout, dst = y.data + m.row * perRow * dout
                for j in 0..<(perRow * dout) { dst[j] += s * src[j] }
            }
        }
    }
}
