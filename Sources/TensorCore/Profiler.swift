import Foundation

/// The op kinds `lorakit bench train --profile` reports time for.
public enum OpKind: Int, CaseIterable, Sendable {
    case gemm, dequantize, attention, norms, activations, rotary, crossEntropy, lora, optimizer, other

    public var label: String {
        switch self {
        case .gemm: return "gemm"
        case .dequantize: return "dequantize"
        case .attention: return "attention"
        case .norms: return "norms"
        case .activations: return "activations"
        case .rotary: return "rotary"
        case .crossEntropy: return "cross_entropy"
        case .lora: return "lora"
        case .optimizer: return "optimizer"
        case .other: return "other"
        }
    }

    /// The kind of a recorded op, by the name it records in the graph.
    static func of(op name: String) -> OpKind {
        switch name {
        case "matmul", "bmm", "linear", "linear_frozen": return .gemm
        case "attention": return .attention
        case "rms_norm", "layer_norm", "add_rms_norm": return .norms
        case "gelu", "gelu_tanh", "silu", "swiglu", "tanh", "relu": return .activations
        case "rotary": return .rotary
        case "cross_entropy", "linear_cross_entropy": return .crossEntropy
        case "lora_linear", "dropout": return .lora
        default: return .other
        }
    }
}

/// Cheap per-op timers for one orchestrating thread, off unless `isEnabled`.
///
/// Forward time is attributed by marks: every op output passes through `Tensor.recording`, which charges the time
/// since the previous mark to that op's kind (the Swift glue between two ops goes to the op that follows it).
/// Backward closures, the optimizer and explicitly measured sections (`measure`) are timed directly; a nested
/// `measure` pauses its parent, so each nanosecond is charged to exactly one kind. Parallel workers inside an op
/// are part of that op (attention's own QKᵀ and PV products count as attention, not GEMM).
public enum Profiler {
    nonisolated(unsafe) public private(set) static var isEnabled = false
    nonisolated(unsafe) private static var totals = [UInt64](repeating: 0, count: OpKind.allCases.count)
    nonisolated(unsafe) private static var lastMark: UInt64 = 0
    /// Time since the last mark that belongs to the next op (its part before a nested `measure`).
    nonisolated(unsafe) private static var pending: UInt64 = 0
    /// Open `measure` sections: kind and the time its current uninterrupted stretch began.
    nonisolated(unsafe) private static var stack: [(kind: OpKind, since: UInt64)] = []
    /// Time by op name (forward by recorded name, backward as "name backward", each including what it nests), to
    /// show what a kind's total, "other" above all, is made of.
    nonisolated(unsafe) private static var byName: [String: UInt64] = [:]
    /// Ops recorded inside `scoped(_:)` are charged to this kind (LoRA's adapter path).
    nonisolated(unsafe) static var scope: OpKind?

    @inline(__always) static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Turns profiling on or off and clears the totals.
    public static func setEnabled(_ on: Bool) {
        isEnabled = on
        reset()
    }

    /// Clears the totals and starts the clock (call at the start of a measured span).
    public static func reset() {
        totals = totals.map { _ in 0 }
        byName = [:]
        stack = []
        pending = 0
        lastMark = now()
    }

    /// Charges time not yet attributed (since the last mark) to `other`, e.g. at the end of a step.
    public static func flush() {
        guard isEnabled, stack.isEmpty else { return }
        let t = now()
        totals[OpKind.other.rawValue] += pending + (t - lastMark)
        pending = 0
        lastMark = t
    }

    /// Milliseconds per kind since the last reset.
    public static func milliseconds() -> [OpKind: Double] {
        Dictionary(uniqueKeysWithValues: OpKind.allCases.map { ($0, Double(totals[$0.rawValue]) / 1e6) })
    }

    /// Milliseconds by op name since the last reset (see `byName`).
    public static func millisecondsByOp() -> [String: Double] { byName.mapValues { Double($0) / 1e6 } }

    /// An op named `name` has just produced its output.
    @inline(__always) static func mark(op name: String) {
        guard isEnabled, stack.isEmpty else { return }
        let t = now()
        byName[name, default: 0] += pending + (t - lastMark)
        totals[(scope ?? OpKind.of(op: name)).rawValue] += pending + (t - lastMark)
        pending = 0
        lastMark = t
    }

    /// Runs `body` charging its time to `kind` (inner `measure` calls take their own share).
    @inline(__always)
    public static func measure<T>(_ kind: OpKind, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        let start = now()
        if let top = stack.last {
            totals[top.kind.rawValue] += start - top.since
        } else {
            pending += start - lastMark
        }
        stack.append((kind, start))
        defer {
            let end = now()
            let mine = stack.removeLast()
            totals[mine.kind.rawValue] += end - mine.since
            if stack.isEmpty { lastMark = end } else { stack[stack.count - 1].since = end }
        }
        return try body()
    }

    /// Runs an op's backward charged to `kind`, and its whole time to "`name` backward".
    static func backward<T>(_ kind: OpKind, op name: String, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        let start = now()
        defer { byName[name + " backward", default: 0] += now() - start }
        return try measure(kind, body)
    }

    /// Runs a forward pass nested in a measured section (gradient checkpointing recomputes a block inside the
    /// checkpoint's backward) so that its ops are charged by kind as in a plain forward pass.
    public static func forwardPass<T>(_ body: () throws -> T) rethrows -> T {
        guard isEnabled, let top = stack.last else { return try body() }
        let saved = stack
        let start = now()
        totals[top.kind.rawValue] += start - top.since
        stack = []
        lastMark = start
        pending = 0
        defer {
            let end = now()
            totals[OpKind.other.rawValue] += pending + (end - lastMark)
            pending = 0
            stack = saved
            stack[stack.count - 1].since = end
        }
        return try body()
    }

    /// Charges the ops recorded in `body` (forward and backward) to `kind`.
    @inline(__always)
    public static func scoped<T>(_ kind: OpKind, _ body: () throws -> T) rethrows -> T {
        guard isEnabled else { return try body() }
        let previous = scope
        scope = kind
        defer { scope = previous }
        return try body()
    }
}
