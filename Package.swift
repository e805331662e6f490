// swift-tools-version:6.0
// LoRAKit: LoRA fine-tuning for language models on the CPU (OpenBLAS). Targets follow the layers of the design:
// tensor/autograd → NN modules → model formats → plugin contract → LoRA → tokenizers & templates → generation →
// training → recipes → CLI. Built-in architectures live in Plugins/<Name>/ and depend on the contract only.
import PackageDescription

// Release builds are -O with whole-module optimisation (SwiftPM's default). Not -Ounchecked: it turns every
// precondition (shape checks, bounds) into undefined behaviour instead of a clear stop.
let fast: [SwiftSetting] = []

let package = Package(
    name: "LoRAKit",
    products: [
        .library(name: "LoRAKit", targets: ["LoRAKit"]),
        .executable(name: "lorakit", targets: ["LoRAKitCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        // `lorakit serve` only (the Serving target); the library does not depend on them.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Already in the graph through Hummingbird; named for the benchmark's loopback HTTP client.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        // oneDNN: the default GEMM backend. Debian's libdnnl-dev ships no dnnl.pc, so no pkgConfig here.
        .systemLibrary(name: "CDNNL", path: "Sources/CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CICU", path: "Sources/CICU", pkgConfig: "icu-uc", providers: [.apt(["libicu-dev"])]),
        .systemLibrary(name: "CJSONC", path: "Sources/CJSONC", pkgConfig: "json-c", providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi", providers: [.apt(["libopenmpi-dev"])]),

        // Block decoders for quantized frozen weights (GGML, NF4): plain C with per-function AVX2/AVX-512 variants
        // picked at run time. -ffp-contract=off: outputs stay bit-identical to the Swift decoders (no FMA).
        .target(name: "CQuantKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),
        .target(name: "CVectorKernels", cSettings: [.unsafeFlags(["-O3", "-ffp-contract=off"])]),

        // Core layers, bottom up.
        .target(name: "TensorCore", dependencies: ["COpenBLAS", "CDNNL", "CQuantKernels", "CVectorKernels"], swiftSettings: fast),
        .target(name: "NN", dependencies: ["TensorCore"], swiftSettings: fast),
        .target(name: "ModelFormats", dependencies: ["CQuantKernels"], swiftSettings: fast),
        .target(name: "ArchitectureKit", dependencies: ["TensorCore", "NN", "ModelFormats"], swiftSettings: fast),
        .target(name: "LoRA", dependencies: ["TensorCore", "NN", "ModelFormats", "ArchitectureKit"], swiftSettings: fast),
        .target(name: "Tokenizers", dependencies: ["CICU"], swiftSettings: fast),
        .target(name: "ChatTemplates", swiftSettings: fast),
        // The tokenizer and chat template that come with a model (below Generation and Training, which both use them).
        .target(name: "Assets", dependencies: ["ModelFormats", "ArchitectureKit", "Tokenizers", "ChatTemplates"], swiftSettings: fast),
        .target(name: "Generation", dependencies: ["TensorCore", "ModelFormats", "ArchitectureKit", "Tokenizers", "ChatTemplates", "Assets"], swiftSettings: fast),
        .target(name: "Training", dependencies: ["TensorCore", "ModelFormats", "ArchitectureKit", "LoRA", "Assets", "Tokenizers", "ChatTemplates", "CJSONC"], swiftSettings: fast),
        .target(name: "Recipes", dependencies: ["TensorCore", "ModelFormats", "ArchitectureKit", "LoRA", "Tokenizers", "ChatTemplates", "Assets", "Generation", "Training",
                                                .product(name: "Yams", package: "Yams")], swiftSettings: fast),
        // Data-parallel training over Open MPI: the only target that sees MPI; Training talks to its Communicator.
        // `lorakit bench`'s measurements: above the library layers, used only by the command line.
        .target(name: "Benchmarks", dependencies: ["TensorCore", "ArchitectureKit", "LoRA", "Tokenizers", "Training"], swiftSettings: fast),
        .target(name: "DistributedTraining", dependencies: ["CMPI", "Training"], swiftSettings: fast),

        // Built-in architectures: one folder each, depending on the plugin contract only.
        .target(name: "LlamaPlugin", dependencies: ["TensorCore", "NN", "ArchitectureKit"], path: "Plugins/Llama", swiftSettings: fast),
        .target(name: "GPT2Plugin", dependencies: ["TensorCore", "NN", "ArchitectureKit"], path: "Plugins/GPT2", swiftSettings: fast),
        .target(name: "BERTPlugin", dependencies: ["TensorCore", "NN", "ArchitectureKit"], path: "Plugins/BERT", swiftSettings: fast),
        .target(name: "FalconPlugin", dependencies: ["TensorCore", "NN", "ArchitectureKit"], path: "Plugins/Falcon", swiftSettings: fast),

        // The library product and the command line.
        .target(name: "LoRAKit", dependencies: ["TensorCore", "NN", "ModelFormats", "ArchitectureKit", "LoRA", "Tokenizers",
                                                "ChatTemplates", "Assets", "Generation", "Training", "Recipes", "LlamaPlugin", "GPT2Plugin",
                                                "BERTPlugin", "FalconPlugin"],
                swiftSettings: fast),
        // `lorakit serve`: OpenAI-compatible HTTP server over one base model and many LoRA adapters.
        .target(name: "Serving", dependencies: [
            "LoRAKit", .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: fast),
        .executableTarget(name: "LoRAKitCLI", dependencies: [
            "LoRAKit", "Serving", "DistributedTraining", "Benchmarks", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast,
        // Plugins loaded with dlopen resolve the contract's symbols from the executable itself.
        linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic"])]),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "CQuantKernels", "CVectorKernels"]),
        .testTarget(name: "NNTests", dependencies: ["TensorCore", "NN"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["ModelFormats", "CQuantKernels"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates"]),
        .testTarget(name: "LlamaPluginTests", dependencies: ["LoRAKit"]),
        .testTarget(name: "ArchitecturePluginTests", dependencies: ["LoRAKit"]),
        .testTarget(name: "LoRATests", dependencies: ["LoRAKit"]),
        .testTarget(name: "GenerationTests", dependencies: ["LoRAKit"]),
        .testTarget(name: "TrainingTests", dependencies: ["LoRAKit"]),
        .testTarget(name: "RecipesTests", dependencies: ["LoRAKit"]),
        .testTarget(name: "ServingTests", dependencies: ["Serving", "LoRAKit"]),
    ],
    swiftLanguageModes: [.v5]
)
