import ArgumentParser
import Benchmarks
import Foundation
import LoRAKit

/// `lorakit bench …`: speed and memory measurements (targets live here, never in timed unit tests).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure speed and memory.", subcommands: [BenchOps.self, BenchTokenize.self, BenchTrain.self, BenchAllReduce.self, BenchServe.self])
}

struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ops",
        abstract: "GEMM on oneDNN and OpenBLAS side by side (SmolLM2, MiniLM shapes) with the CPU/ISA, tensor-layer matmul overhead, attention fwd+bwd.")

    @Option(help: "Repetitions per measurement (the best is reported).") var repeats = 5
    @Flag(help: "Only the frozen-weight products (fp32, bf16, nf4, q8_0, q4_0 storage).") var frozen = false

    func run() throws {
        if frozen { print(GEMMBenchmark.frozenProducts(repeats: repeats)); return }
        print(GEMMBenchmark.run(repeats: repeats))
        print("")
        let report = OpsBenchmark.run(repeats: repeats)
        print(report.text)
    }
}

struct BenchTokenize: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokenize",
        abstract: "Encode throughput of a tokenizer (tokenizer.json or a shipped GGUF vocabulary JSON) on an Alpaca-sized corpus.")

    @Argument(help: "tokenizer.json, or a GGUF-style vocabulary JSON such as tokenizers/smollm2/vocabulary.json.")
    var tokenizer: String

    func run() throws {
        let url = URL(fileURLWithPath: tokenizer)
        let tok: any Tokenizer = url.lastPathComponent == "tokenizer.json"
            ? try TokenizerLoader.load(tokenizerJSON: url) : try BPETokenizer(ggufVocabularyJSON: url)
        print(TokenizerBenchmark.run(tok, separator: tok is WordPieceTokenizer ? " " : ""))
    }
}
