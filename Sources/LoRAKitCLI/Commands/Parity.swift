import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit parity CASE_DIR [--out FILE]`: recompute a transformers + PEFT reference case and compare every key.
struct Parity: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare logits, loss, gradients and merged weights with a transformers + PEFT case directory.")

    @Argument(help: "A case directory: model/, adapter/, expected.safetensors, case.json.") var caseDirectory: String
    @Option(help: "Write the computed tensors (same keys as expected.safetensors) to this file.") var out: String?
    @Option(help: "Also save the case's adapter as LoRAKit writes it to this directory (for checks with PEFT).")
    var saveAdapter: String?
    @Flag(help: "Replace --out / --save-adapter if they exist.") var force = false

    func run() throws {
        for target in [out, saveAdapter].compactMap({ $0 }) { try OutputPaths.checkTarget(URL(fileURLWithPath: target), force: force) }
        let report = try ParityCheck.run(caseDirectory: URL(fileURLWithPath: caseDirectory),
                                         saveAdapterTo: saveAdapter.map { URL(fileURLWithPath: $0) })
        print(report.text)
        if let out { try ParityCheck.write(report, to: URL(fileURLWithPath: out)) }
        if !report.passed { throw ExitCode(1) }
    }
}
