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
    /// The units of work of every layer, split over the cores: (index into `plan`, run, rows of it).
    private(set) var pieces: [(adapter: Int, run: Run, rows: Range<Int>)] = []
    /// Some row uses several adapters (stacked): pieces may then add into the same rows and must run in turn.
    private(set) var stacked = false
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
        stacked = rows.contains { $0.filter { $0.weight != 0 }.count > 1 }
        var pieces: [(adapter: Int, run: Run, rows: Range<Int>)] = []
        for (i, entry) in plan.enumerated() {
            for run in entry.runs { pieces.append((i, run, 0..<run.count)) }
        }
        // One run alone (a batch of one adapter) is halved so that both cores share it.
        if pieces.count == 1, pieces[0].run.count > 1, Parallel.cores > 1 {
            let (i, run) = (pieces[0].adapter, pieces[0].run)
            pieces = [(i, run, 0..<(run.count / 2)), (i, run, (run.count / 2)..<run.count)]
        }
        self.pieces = pieces
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
    /// Per piece of r rows × T tokens (n = r·T) of one adapter: s (n, rank) = x_rows (n, in) · Aᵀ; s *= weight ·
    /// scaling per row (skipped when uniform: it becomes alpha); y_rows (n, out) += s · Bᵀ. Pieces run on separate
    /// cores (each GEMM single-threaded) unless a stacked row makes two of them add into the same rows.
    func addRoutedDeltas(_ x: Tensor, into y: Tensor, routing: LoRARowRouting) {
        guard !routing.pieces.isEmpty else { return }
        let batch = x.shape[0]
        precondition(routing.rows.count == batch, "LoRA routing has \(routing.rows.count) rows for a batch of \(batch)")
        let (din, dout) = (inFeatures, outFeatures)
        let perRow = x.count / (batch * din)  // tokens per batch row
        // The adapters of this layer, once per forward of the layer (nil: the adapter does not target it).
        let weights: [(a: Tensor, b: Tensor, scaling: Float)?] = routing.plan.map { entry in
            guard let adapter = adapters[entry.adapter] else { return nil }
            precondition(!adapter.useDoRA, "per-row routing does not support DoRA adapter '\(entry.adapter)'")
            return (loraA(entry.adapter).weight, loraB(entry.adapter).weight, adapter.scaling)  // (rank, in), (out, rank)
        }
        let maxRank = weights.reduce(0) { max($0, $1?.a.shape[0] ?? 0) }
        guard maxRank > 0 else { return }
        // Row i's scratch is at i·T·maxRank: pieces on different rows never share it.
        let scratch = routing.scratch(batch * perRow * maxRank)
        let pieces = routing.pieces
        func run(_ p: Int) {
            let (index, run, part) = pieces[p]
            guard let (a, b, scaling) = weights[index] else { return }
            let rank = a.shape[0]
            let first = run.start + part.lowerBound, n = part.count * perRow
            let xs = x.data + first * perRow * din, ys = y.data + first * perRow * dout
            let s = scratch + first * perRow * maxRank
            GEMM.sgemm(transB: true, m: n, n: rank, k: din, a: xs, lda: din, b: a.data, ldb: din, c: s, ldc: rank)
            var alpha = scaling
            if let w = run.uniform { alpha *= w } else {
                for i in part {
                    let w = run.weights[i], rowScratch = s + (i - part.lowerBound) * perRow * rank
                    for j in 0..<(perRow * rank) { rowScratch[j] *= w }
                }
            }
            GEMM.sgemm(transB: true, m: n, n: dout, k: rank, alpha: alpha, a: s, lda: rank, b: b.data, ldb: rank,
                       beta: 1, c: ys, ldc: dout)
        }
        if routing.stacked || pieces.count == 1 {
            for p in pieces.indices { run(p) }
        } else {
            // A high cost per piece: always one chunk per core (each chunk's GEMMs run single-threaded).
            Parallel.forEachChunk(pieces.count, costPerItem: 1 << 20) { range in for p in range { run(p) } }
        }
    }
}
