import Foundation
import TensorCore

/// `LORAKIT_SERVE_PROFILE=N`: every N decode steps the engine prints to stderr where its thread's time went — the
/// forward by op kind (base GEMMs, attention, LoRA routing, norms, …, from `Profiler`), sampling and streaming the
/// text, batch cache rebuilds, prompt passes, and idle time waiting for work. Off (no clock reads) without it.
final class StepProfile {
    enum Part: Int, CaseIterable { case idle, prefill, rebuild, prepare, forward, sample, other }
    static let every: Int? = ProcessInfo.processInfo.environment["LORAKIT_SERVE_PROFILE"].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil }

    private var totals = [UInt64](repeating: 0, count: Part.allCases.count)
    private var steps = 0, rows = 0
    private var last = DispatchTime.now().uptimeNanoseconds
    let enabled = StepProfile.every != nil

    init() {}

    /// Starts op-kind profiling on the calling (engine) thread.
    func start() {
        guard enabled else { return }
        Profiler.setEnabled(true)
        last = DispatchTime.now().uptimeNanoseconds
    }

    /// Charges the time since the previous mark to `part`.
    @inline(__always) func mark(_ part: Part) {
        guard enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        totals[part.rawValue] += now - last
        last = now
    }

    /// Counts a decode step of `batch` rows and prints the totals every N steps.
    func step(batch: Int) {
        guard let every = Self.every else { return }
        steps += 1
        rows += batch
        guard steps >= every else { return }
        Profiler.flush()
        let ops = Profiler.milliseconds().filter { $0.value > 0.05 }.sorted { $0.value > $1.value }
        let s = Double(steps)
        let parts = Part.allCases.map { String(format: "%@ %.2f", "\($0)" as NSString, Double(totals[$0.rawValue]) / 1e6 / s) }
        let opText = ops.map { String(format: "%@ %.2f", $0.key.label as NSString, $0.value / s) }
        FileHandle.standardError.write(Data((String(format: "serve profile: %d steps, %.1f rows/step; ms/step: ", steps, Double(rows) / s)
            + parts.joined(separator: ", ") + "; forward ops ms/step (prefill included): " + opText.joined(separator: ", ") + "\n").utf8))
        totals = totals.map { _ in 0 }
        (steps, rows) = (0, 0)
        Profiler.reset()
    }
}
