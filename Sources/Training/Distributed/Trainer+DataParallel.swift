import Foundation
import TensorCore

extension Trainer {
    /// Before the first step under mpirun: checks that every rank holds bit-identical parameters (same model file,
    /// recipe, seed and checkpoint), and gives ranks 1… their own LoRA-dropout streams.
    func prepareRanks() throws {
        // Every parameter, frozen ones included: a host with another model file would otherwise train silently
        // against a different base.
        let local = parameterChecksum(model.namedParameters())
        let (high, low) = (try communicator.max(local), try communicator.min(local))
        guard high == low else {
            throw DistributedError("the \(communicator.size) ranks do not hold the same parameters (checksum of rank \(communicator.rank): "
                + String(format: "%08llx%08llx", UInt64(local[0]), UInt64(local[1])) + "); every host must load the same model file, "
                + "recipe and checkpoint")
        }
        reporter.message("\(communicator.size) ranks, parameters identical (checksum " + String(format: "%08llx%08llx", UInt64(local[0]), UInt64(local[1]))
            + "); global micro-batch \(configuration.batchSize) × \(communicator.size) ranks, × \(configuration.gradientAccumulationSteps) accumulation per update")
        // As in DDP, ranks draw different dropout masks: rank r > 0 reseeds from rank 0's state and r. Only rank 0's
        // stream is checkpointed, so a resumed run reproduces rank 0's masks and rederives the others.
        guard communicator.rank > 0 else { return }
        adapter.restoreRandomState(adapter.randomState().map { g in
            var g = g
            return SeededGenerator(seed: g.next() ^ (UInt64(communicator.rank) &* 0x9E37_79B9_7F4A_7C15))
        })
    }

    /// One line about the gradient all-reduce for the run's summary; nil on one process.
    public var allReduceSummary: String? {
        let b = gradientBuckets
        guard communicator.size > 1, b.steps > 0 else { return nil }
        return String(format: "gradient all-reduce: %.2f MB per update in %d bucket(s), %.1f ms per update (mean of %d updates, %d ranks)",
                      Double(b.bytes) / Double(b.steps) / 1e6, b.calls / b.steps, 1000 * b.seconds / Double(b.steps), b.steps, communicator.size)
    }
}
