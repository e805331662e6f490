import Foundation
import TensorCore

/// Per-request adapter choice for batched inference across adapters (a server's continuous batch): the tokens of
/// request i get Σ weight · scaling · B(A(x)) over `entries[i]` only, so one request's adapter never reaches
/// another request's tokens. Shared by all LoRA layers of a model; the owner calls `route(_:tokens:)` before each
/// forward. Inference only: no dropout, no graph, DoRA not supported (its norm term is per adapter, not per row).
///
/// A request is either one batch row (decode: rows of one token each) or, with `tokens`, a span of consecutive
/// tokens of the flattened (B·T) input (several prompts packed into one row for a single prompt pass).
///
/// SGMV by grouping: `route` turns the entries into, per adapter, runs of consecutive entries with one weight (one
/// run per adapter when the owner keeps each adapter's requests together), once per forward. Each layer then does,
/// per run, a shrink x·Aᵀ into a scratch buffer and an expand ·Bᵀ accumulated straight into y, in place, with no
/// gather or scatter. A forward whose entries name no adapter costs nothing beyond the base product.
public final class LoRARowRouting {
    /// Consecutive entries [start, start + count) that use one adapter at one weight.
    public struct Run: Equatable {
        public var start: Int
        public var count: Int
        /// The requests' `scale` (1 = as trained); it becomes the expand's alpha with the adapter's scaling.
        public var weight: Float
    }

    /// For each entry (request), the adapters (by internal name) and the request's weight for each, as last routed.
    public private(set) var rows: [[(adapter: String, weight: Float)]] = []
    /// Token offsets of the entries in the flattened input (entries + 1 of them); nil: entry i is batch row i.
    public private(set) var offsets: [Int]?
    /// Per adapter, in first-use order, the runs of entries that use it.
    public private(set) var plan: [(adapter: String, runs: [Run])] = []
    /// Some entry uses several adapters (stacked): their deltas add into the same tokens and must run in turn.
    private(set) var stacked = false
    /// Growing scratch for the shrink products (tokens × rank), reused by every layer and step.
    private var scratch = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private var scratchCapacity = 0

    /// Each routed layer's B (out, rank) laid out for the expand, made once per layer and adapter: blocks of 16
    /// outputs, each block (rank, 16) contiguous (`expandLayout`), so the expand reads one sequential stream and
    /// runs as vector multiply-adds (a rank-long dot product per output costs more in its horizontal sum than in
    /// its arithmetic). Keyed by layer and adapter; the B it was made from is kept, so a replaced B (another
    /// adapter under the name) is noticed by its storage's identity; B is not expected to change in place while served.
    private var transposedB: [ObjectIdentifier: [String: (source: Tensor, transposed: Tensor)]] = [:]

    public init() {}
    deinit { scratch.deallocate() }

    /// `layer`'s adapter `adapter`'s B (out, rank) in the expand's layout — engine thread only.
    func transposed(_ b: Tensor, layer: LoRALinear, adapter: String) -> Tensor {
        let id = ObjectIdentifier(layer)
        if let cached = transposedB[id]?[adapter], cached.source.storage === b.storage, cached.source.offset == b.offset,
           cached.source.shape == b.shape { return cached.transposed }
        let t = LoRALinear.expandLayout(b)
        transposedB[id, default: [:]][adapter] = (b, t)
        return t
    }

    /// Forgets the expand-layout copies of adapter `name` (it was unloaded).
    func forgetTransposed(_ name: String) {
        for key in transposedB.keys { transposedB[key]![name] = nil }
    }

    /// Sets the adapters of each request for the next forward (weight-0 entries are dropped). `tokens`: how many
    /// consecutive tokens of the flattened input each request has (packed prompts); nil: one batch row each.
    public func route(_ rows: [[(adapter: String, weight: Float)]], tokens: [Int]? = nil) {
        precondition(tokens == nil || tokens!.count == rows.count, "routing: \(tokens!.count) token counts for \(rows.count) requests")
        self.rows = rows
        offsets = tokens.map { counts in counts.reduce(into: [0]) { $0.append($0.last! + $1) } }
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
                if let last = plan[i].runs.last, last.start + last.count == row, last.weight == weight {
                    plan[i].runs[plan[i].runs.count - 1].count += 1
                } else {
                    plan[i].runs.append(Run(start: row, count: 1, weight: weight))
                }
            }
        }
        self.plan = plan
        stacked = rows.contains { $0.filter { $0.weight != 0 }.count > 1 }
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

    /// One unit of a layer's work: the tokens [tokens) of one adapter's run, at one weight.
    struct Piece { var adapter: Int; var tokens: Range<Int>; var weight: Float }

    /// The runs as token ranges for an input of `tokenCount` tokens in `batch` rows; a lone large run is halved so
    /// that both cores share it.
    func pieces(tokenCount: Int, batch: Int) -> [Piece] {
        let start: (Int) -> Int
        if let offsets, offsets.last != tokenCount && tokenCount == rows.count {
            start = { $0 }  // one token per request: the lm_head over each packed prompt's last position
        } else if let offsets {
            precondition(offsets.last == tokenCount, "LoRA routing covers \(offsets.last!) tokens of an input of \(tokenCount)")
            start = { offsets[$0] }
        } else {
            precondition(rows.count == batch, "LoRA routing has \(rows.count) rows for a batch of \(batch)")
            let perRow = tokenCount / batch
            start = { $0 * perRow }
        }
        var pieces: [Piece] = []
        for (i, entry) in plan.enumerated() {
            for run in entry.runs { pieces.append(Piece(adapter: i, tokens: start(run.start)..<start(run.start + run.count), weight: run.weight)) }
        }
        if pieces.count == 1, pieces[0].tokens.count >= 2 * LoRALinear.smallTokens, Parallel.cores > 1 {
            let (p, mid) = (pieces[0], (pieces[0].tokens.lowerBound + pieces[0].tokens.upperBound) / 2)
            pieces = [Piece(adapter: p.adapter, tokens: p.tokens.lowerBound..<mid, weight: p.weight),
                      Piece(adapter: p.adapter, tokens: mid..<p.tokens.upperBound, weight: p.weight)]
        }
        return pieces
    }
}

extension LoRALinear {
    /// Pieces of at most this many tokens stay on the calling core (the hand-off would cost more than the work).
    static let smallTokens = 16

    /// y (B, T, out) += the routed adapters' deltas of x (B, T, in); see `LoRARowRouting`.
    /// Per piece of n tokens of one adapter: s (n, rank) = x (n, in) · Aᵀ; y (n, out) += weight · scaling · s · Bᵀ.
    /// The products are loops over contiguous rows rather than GEMM calls: with ranks of 8–64 and a few tokens per
    /// adapter they are tiny, and the GEMM backend's per-call setup (and its thread team) cost more than the
    /// arithmetic — two calls per adapter per layer, every decode step. Large pieces (prompt passes) are spread
    /// over the cores unless a stacked entry makes two of them add into the same tokens.
    func addRoutedDeltas(_ x: Tensor, into y: Tensor, routing: LoRARowRouting) {
        guard !routing.plan.isEmpty else { return }
        Profiler.measure(.lora) { routedDeltas(x, into: y, routing: routing) }
    }

    private func routedDeltas(_ x: Tensor, into y: Tensor, routing: LoRARowRouting) {
        let (din, dout) = (inFeatures, outFeatures)
        let tokenCount = x.count / din
        // The adapters of this layer, once per forward of the layer (nil: the adapter does not target it).
        let weights: [(a: Tensor, bt: Tensor, scaling: Float)?] = routing.plan.map { entry in
            guard let adapter = adapters[entry.adapter] else { return nil }
            precondition(!adapter.useDoRA, "per-row routing does not support DoRA adapter '\(entry.adapter)'")
            // A (rank, in); B in the expand's layout
            return (loraA(entry.adapter).weight, routing.transposed(loraB(entry.adapter).weight, layer: self, adapter: entry.adapter),
                    adapter.scaling)
        }
        let maxRank = weights.reduce(0) { max($0, $1?.a.shape[0] ?? 0) }
        guard maxRank > 0 else { return }
        let pieces = routing.pieces(tokenCount: tokenCount, batch: x.shape[0])
        // Token t's scratch is at t·maxRank: pieces on different tokens never share it.
        let scratch = routing.scratch(tokenCount * maxRank)
        func run(_ piece: LoRARowRouting.Piece) {
            guard let (a, bt, scaling) = weights[piece.adapter] else { return }
            let rank = a.shape[0]
            let (first, n) = (piece.tokens.lowerBound, piece.tokens.count)
            let s = scratch + first * maxRank
            Self.shrink(x.data + first * din, a.data, into: s, rows: n, inFeatures: din, rank: rank)
            Self.expand(s, bt.data, alpha: scaling * piece.weight, into: y.data + first * dout, rows: n, outFeatures: dout, rank: rank)
        }
        if routing.stacked || pieces.count == 1 || pieces.allSatisfy({ $0.tokens.count <= Self.smallTokens }) {
            // A decode step's pieces are a few tokens each: measured on 2 cores under load, handing them to the
            // second core cost more than it saved (the GEMM's idle OpenMP worker is not a free core then).
            for piece in pieces { run(piece) }
        } else {
            Parallel.forEachChunk(pieces.count, costPerItem: 1 << 20) { range in for p in range { run(pieces[p]) } }
        }
    }

    /// s (rows, rank) = x (rows, in) · Aᵀ with A (rank, in): dot products of contiguous rows, four x rows per
    /// pass over each row of A. Every row is summed in the same order whether it goes in a group of four or alone,
    /// so a request's tokens do not depend on how many others share its adapter.
    static func shrink(_ x: UnsafePointer<Float>, _ a: UnsafePointer<Float>, into s: UnsafeMutablePointer<Float>,
                       rows: Int, inFeatures din: Int, rank: Int) {
        var i = 0
        while i + 4 <= rows {
            for r in 0..<rank {
                let d = dot4(a + r * din, x + i * din, din)
                s[i * rank + r] = d.0
                s[(i + 1) * rank + r] = d.1
                s[(i + 2) * rank + r] = d.2
                s[(i + 3) * rank + r] = d.3
            }
            i += 4
        }
        while i < rows {
            for r in 0..<rank { s[i * rank + r] = dot(a + r * din, x + i * din, din) }
            i += 1
        }
    }

    /// B (out, rank) as ⌈out/16⌉ blocks of (rank, 16): block j holds Bᵀ's columns 16j..<16j+16, zero past out.
    static func expandLayout(_ b: Tensor) -> Tensor {
        let (out, rank) = (b.shape[0], b.shape[1])
        let blocks = (out + 15) / 16
        let t = Tensor(zeros: [blocks, rank, 16])
        for o in 0..<out { for r in 0..<rank { t.data[((o / 16) * rank + r) * 16 + o % 16] = b.data[o * rank + r] } }
        return t
    }

    /// y (rows, out) += alpha · s (rows, rank) · Bᵀ, with B in `expandLayout`: for each block of 16 outputs,
    /// every row's outputs are rank vector multiply-adds of its rank scalars with the block's rows (the block
    /// stays in L1 across the rows). Each output sums over r in the same order for any row count.
    static func expand(_ s: UnsafePointer<Float>, _ blocked: UnsafePointer<Float>, alpha: Float, into y: UnsafeMutablePointer<Float>,
                       rows: Int, outFeatures dout: Int, rank: Int) {
        var o = 0
        while o < dout {
            let w = blocked + o * rank  // block o / 16 starts at (o / 16) · rank · 16
            let width = min(16, dout - o)
            for i in 0..<rows {
                let si = s + i * rank
                var acc = SIMD16<Float>()
                for r in 0..<rank { acc += si[r] * load16(w + r * 16) }
                acc *= alpha
                let yi = y + i * dout + o
                if width == 16 {
                    let yp = UnsafeMutableRawPointer(yi)
                    yp.storeBytes(of: yp.loadUnaligned(as: SIMD16<Float>.self) + acc, as: SIMD16<Float>.self)
                } else {
                    for l in 0..<width { yi[l] += acc[l] }
                }
            }
            o += 16
        }
    }

    @inline(__always)
    static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> { UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self) }

    /// The dot product of `a` and one row `x`, summed exactly as each of `dot4`'s four.
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
        var c = SIMD8<Float>()
        var k = 0
        while k + 8 <= n {
            c += load8(a + k) * load8(x + k)
            k += 8
        }
        var r = c.sum()
        while k < n { r += a[k] * x[k]; k += 1 }
        return r
    }

    /// Four dot products of `a` with four consecutive rows of `x` (row stride n), reading `a` once.
    @inline(__always)
    static func dot4(_ a: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float, Float, Float) {
        var c0 = SIMD8<Float>(), c1 = SIMD8<Float>(), c2 = SIMD8<Float>(), c3 = SIMD8<Float>()
        var k = 0
        while k + 8 <= n {
            let av = load8(a + k)
            c0 += av * load8(x + k)
            c1 += av * load8(x + n + k)
            c2 += av * load8(x + 2 * n + k)
            c3 += av * load8(x + 3 * n + k)
            k += 8
        }
        var r = (c0.sum(), c1.sum(), c2.sum(), c3.sum())
        while k < n {
            r.0 += a[k] * x[k]; r.1 += a[k] * x[n + k]; r.2 += a[k] * x[2 * n + k]; r.3 += a[k] * x[3 * n + k]
            k += 1
        }
        return r
    }
}
