import ArgumentParser
import DistributedTraining
import Foundation
import LoRAKit

/// `mpirun -np N lorakit bench allreduce --floats 1843200,4884480`: the gradient all-reduce alone, through the
/// trainer's own bucketed path (`GradientBuckets`), so its cost can be told apart from the compute of a step.
struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "allreduce",
        abstract: "Time the bucketed fp32 gradient all-reduce across the ranks of mpirun (e.g. the LoRA gradient sizes of SmolLM2).")

    @Option(help: "Gradient sizes in floats, comma-separated (SmolLM2 r16: 1843200 for q,k,v,o; 4884480 for all linear layers).")
    var floats = "1843200,4884480"
    @Option(help: "Tensors the gradient is split into (4 targets × 30 layers × A and B = 240).") var tensors = 240
    @Option(help: "Timed repetitions per size (after 3 untimed).") var repeats = 30

    func run() throws {
        let communicator = try MPILaunch.communicator()
        guard communicator.size > 1 else {
            throw ValidationError("run it under mpirun: mpirun -np 2 lorakit bench allreduce")
        }
        let sizes = try floats.split(separator: ",").map { s -> Int in
            guard let n = Int(s.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("--floats: \"\(s)\" is not a positive count") }
            return n
        }
        guard tensors > 0, repeats > 0 else { throw ValidationError("--tensors and --repeats must be positive") }
        for n in sizes {
            let parts = (0..<tensors).map { i -> Tensor in
                let count = n / tensors + (i < n % tensors ? 1 : 0)
                let t = Tensor(zeros: [max(count, 1)])
                t.grad = Tensor([Float](repeating: Float(communicator.rank + 1), count: max(count, 1)), shape: [max(count, 1)])
                return t
            }
            var times: [Double] = []
            for r in 0..<(repeats + 3) {
                // A small all-reduce first lines the ranks up, so the time below is the transfer, not a wait.
                _ = try communicator.sum([0])
                let buckets = GradientBuckets()
                try buckets.reduce(parts, over: communicator)
                if r >= 3 { times.append(buckets.seconds) }
                for p in parts { for i in 0..<p.count { p.grad!.data[i] = Float(communicator.rank + 1) } }
            }
            // The sum of (rank + 1) over ranks checks that the values really travelled.
            let expected = Float(communicator.size * (communicator.size + 1) / 2)
            let buckets = GradientBuckets()
            try buckets.reduce(parts, over: communicator)
            guard parts.allSatisfy({ $0.grad!.data[0] == expected }) else { throw DistributedError("all-reduce gave a wrong sum") }
            if communicator.isMain {
                times.sort()
                let bytes = Double(parts.reduce(0) { $0 + $1.count } * 4)
                let median = times[times.count / 2], best = times[0]
                let ring = 2 * Double(communicator.size - 1) / Double(communicator.size) * bytes
                print(String(format: "{\"floats\":%d,\"mb\":%.2f,\"buckets\":%d,\"ranks\":%d,\"median_ms\":%.2f,\"best_ms\":%.2f,"
                             + "\"bus_gb_per_s\":%.2f}", n, bytes / 1e6, buckets.calls, communicator.size, median * 1e3, best * 1e3,
                             ring / median / 1e9))
            }
        }
        (communicator as? MPICommunicator)?.finalize()
    }
}
