import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit bench …`: speed and memory measurements (targets live here, never in timed unit tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure speed and memory.", subcommands: [BenchOps.self])
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ops",
        abstract: "Tensor-layer matmul against raw cblas_sgemm for SmolLM2 shapes, and fused attention fwd+bwd.")

    @Option(help: "Repetitions per measurement (the best is reported).") var repeats = 5

    func run() throws {
        let report = OpsBenchmark.run(repeats: repeats)
        print(report.text)
    }
}
