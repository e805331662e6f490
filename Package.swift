// swift-tools-version:6.0
// LoRAKit: LoRA fine-tuning for language models on the CPU (OpenBLAS). Targets follow the layers of the design:
// tensor/autograd → NN modules → model formats → plugin contract → LoRA → tokenizers & templates → training → CLI.
import PackageDescription

let fast: [SwiftSetting] = [.unsafeFlags(["-Ounchecked", "-wmo"], .when(configuration: .release))]

let package = Package(
    name: "LoRAKit",
    products: [
        .executable(name: "lorakit", targets: ["LoRAKitCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CICU", path: "Sources/CICU", pkgConfig: "icu-uc",
                       providers: [.apt(["libicu-dev"])]),

        .target(name: "TensorCore", dependencies: ["COpenBLAS"], swiftSettings: fast),
        .target(name: "NN", dependencies: ["TensorCore"], swiftSettings: fast),
        .target(name: "ModelFormats", swiftSettings: fast),
        .target(name: "ArchitectureKit", dependencies: ["NN", "ModelFormats"], swiftSettings: fast),
        .target(name: "Tokenizers", dependencies: ["CICU"], swiftSettings: fast),
        .target(name: "ChatTemplates", swiftSettings: fast),

        .executableTarget(name: "LoRAKitCLI", dependencies: [
            "TensorCore", "NN", "ModelFormats", "Tokenizers", "ChatTemplates",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: fast),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"]),
        .testTarget(name: "NNTests", dependencies: ["NN"]),
        .testTarget(name: "ModelFormatsTests", dependencies: ["ModelFormats"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers"]),
        .testTarget(name: "ChatTemplatesTests", dependencies: ["ChatTemplates"]),
    ],
    swiftLanguageModes: [.v5]
)
