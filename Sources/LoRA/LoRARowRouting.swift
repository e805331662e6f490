import Foundation
import TensorCore

/// Per-row adapter choice for batched inference across adapters (a server's continuous batch): batch row i of
/// every routed LoRA layer gets Σ weight · scaling · B(A(x_i)) over `rows[i]` only, so one request's adapter never
/// reaches another request's rows. Shared by all LoRA layers of a model; the owner calls `route(_:)` before each
/// forward. Inference only: no dropout, no graph, DoRA not supported (its norm term is per adapter, not per row).
///
/// SGMV by grouping: `route` turns the rows into, per adapter, runs of consecutive rows (one run per adapter when
/// the owner keeps each adapter's rows together), once per forward. Each layer then does, per run, two GEMMs on the
/// rows in place — shrink x·Aᵀ into a scratch buffer, expand ·Bᵀ accumulated straight into y — with no gather,
/// scatter or allocation. A forward whose rows name no adapter costs nothing beyond the base product.
public final class LoRARowRouting {
    /// Consecutive batch rows [start, start + count) that use one adapter, with each row's request weight.
    public struct Run: Equatable {
        public var start: Int
        public var count: Int
        /// One weight per row of the run (the request's `scale`; 1 = as trained).
        public var weights: [Float]
        /// All weights equal: the expand GEMM takes it as alpha and the scratch rows need no scaling.
        var uniform: Float? { weights.allSatisfy { $0 == weights[0] } ? weights[0] : nil }
    }

    /// For each batch row, the adapters (by name) and the request's weight for each, as last routed.
    public private(set) var rows: [[(adapter: String, weight: Float)]] = []
    /// Per adapter, in first-use order, the runs of rows that use it.
    public private(set) var plan: [(adapter: String, runs: [Run])] = []
    /// Growing scratch for the shrink products (rows × rank), reused by every layer and step.
    private var scratch = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var scratchCapacity = 0

    public init() {}
    deinit { scratch.deallocate() }

    /// Sets the adapters of each batch row for the next forward (weight-0 entries are dropped).
    public func route(_ rows: [[(adapter: String, weight: Float)]]) {
        self.rows = rows
        var plan: [(adapter: String, runs: [Run])] = []
        var index: [String: Int] = [:]
        for (row, list) in rows.enumerated() {
            for (name, weight) in list where weight != 0 {
                let i: Int
                if let known = index[name] { i = known } else {
                    i = plan.count
                    index[name] = i
                    plan.append((name, []))
                }
                if let last = plan[i].runs.last, last.start + last.count == row {
                    plan[i].runs[plan[i].runs.count - 1].count += 1
                    plan[i].runs[plan[i].runs.count - 1].weights.append(weight)
                } else {
                    plan[i].runs.append(Run(start: row, count: 1, weights: [weight]))
                }
            }
        }
        self.plan = plan
    }

    /// Scratch for `count` floats, valid until the next call (engine thread only).
    func scratch(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > scratchCapacity {
            scratch.deallocate()
            scratchCapacity = max(count, 2 * scratchCapacity)
            scratch = .allocate(capacity: scratchCapacity)
        }
        return scratch
    }
}

extension LoRALinear {
    /// y (B, T, out) += the routed adapters' deltas of x (B, T, in); see `LoRARowRouting`.
    /// Per run of r rows × T tokens (n = r·T): s (n, rank) = x_run (n, in) · Aᵀ; s *= weight · scaling per row
    /// (skipped when uniform: it becomes alpha); y_run (n, out) += s · Bᵀ.
    func addRoutedDeltas(_ x: Tensor, into y: Tensor, routing: LoRARowRouting) {
        guard !routing.plan.isEmpty else { return }
        let batch = x.shape[0]
        precondition(routing.rows.count == batch, "LoRA routing has \(routing.rows.count) rows for a batch of \(batch)")
        let (din, dout) = (inFeatures, outFeatures)
        let perRow = x.count / (batch * din)  // tokens per batch row
        for (name, runs) in routing.plan {
            guard let adapter = adapters[name] else { continue }  // this adapter does not target this layer
            precondition(!adapter.useDoRA, "per-row routing does not support DoRA adapter '\(name)'")
            let a = loraA(name).weight, b = loraB(name).weight  // (rank, in), (out, rank): PEFT's layout
            let rank = a.shape[0]
            for run in runs {
                let n = run.count * perRow
                let s = routing.scratch(n * rank)
                let xs = x.data + run.start * perRow * din, ys = y.data + run.start * perRow * dout
                GEMM.sgemm(transB: true, m: n, n: rank, k: din, a: xs, lda: din, b: a.data, ldb: din, c: s, ldc: rank)
                var alpha = adapter.scaling
                if let w = run.uniform { alpha *= w } else {
                    for (i, w) in run.weights.enumerated() {
                        let rowScratch = s + i * perRow * rank
                        for j in 0..<(perRow * rank) { rowScratch[j] *= w }
                    }
                }
                GEMM.sgemm(transB: true, m: n, n: dout, k: rank, alpha: alpha, a: s, lda: rank, b: b.data, ldb: rank,
                           beta: 1, c: ys, ldc: dout)
            }
        }
    }
}
