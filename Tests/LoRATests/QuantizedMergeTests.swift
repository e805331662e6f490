import Foundation
import LoRAKit
import XCTest

/// `lorakit merge` from a quantized base (issue 11): the adapter is merged into the dequantized quantized weights, so
/// the merged fp32 model gives LoRAKit's logits on the quantized base + adapter; bf16/f16 outputs are that merge
/// rounded as torch rounds; f16 overflow is refused with the tensor named.
final class QuantizedMergeTests: XCTestCase {
    override class func setUp() { registerBuiltinArchitectures() }

    static let dir = ParityTests.parity.appendingPathComponent("llama")
    static var model: String { dir.appendingPathComponent("model").path }
    static var adapter: URL { dir.appendingPathComponent("adapter") }

    private func temporary(_ label: String) -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-qmerge-\(label)-\(UUID().uuidString)")
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    private func input() throws -> ModelInput {
        let expected = try SafetensorsFile(url: Self.dir.appendingPathComponent("expected.safetensors"))
        return ModelInput(inputIDs: IntTensor(try expected.integers("input_ids"), shape: try expected.shape("input_ids")),
                          attentionMask: IntTensor(try expected.integers("attention_mask"), shape: try expected.shape("attention_mask")))
    }

    func testMergedModelGivesTheQuantizedBasePlusAdapterLogits() throws {
        let input = try input()
        for (q, storage) in [(WeightQuantization.q8_0, "Q8_0"), (.nf4, "NF4"), (.q4_0, "Q4_0")] {
            let out = temporary(q.rawValue)
            try MergedModelWriter.merge(model: Self.model, adapter: Self.adapter, to: out, quantization: q)
            let base = try ModelLoader.load(Self.model, quantization: q)
            XCTAssertNotNil(WeightMemory(base.model).byStorage[storage], "\(q): the base really is quantized")
            let frozenTable = try XCTUnwrap((base.model.namedModules().first { $0.path.hasSuffix("embed_tokens") }?.module as? Embedding)?.frozenWeight)
            let tableValues = frozenTable.dequantized().scalars
            _ = try LoRAModel.load(from: Self.adapter, into: base.model, plugin: base.plugin)
            let reference = GradMode.withoutGrad { base.model.forward(input) }.scalars

            let merged = try ModelLoader.load(out.path)
            let logits = GradMode.withoutGrad { merged.model.forward(input) }.scalars
            let worst = zip(logits, reference).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-4, "\(q): merged logits vs the quantized base + adapter, max |Δ| \(worst)")
            // A weight no adapter targets is written as its exact dequantization.
            let written = try SafetensorsFile(url: out.appendingPathComponent("model.safetensors"))
            let name = try XCTUnwrap(written.tensorNames.first { $0.hasSuffix("embed_tokens.weight") })
            XCTAssertEqual(try written.floats(name).map(\.bitPattern), tableValues.map(\.bitPattern), "\(q): \(name)")
            // The unmerged fp32 model differs: the merge really used the quantized weights.
            let fp32 = try ModelLoader.load(Self.model)
            _ = try LoRAModel.load(from: Self.adapter, into: fp32.model, plugin: fp32.plugin)
            let fp32Logits = GradMode.withoutGrad { fp32.model.forward(input) }.scalars
            XCTAssertGreaterThan(zip(logits, fp32Logits).map { abs($0 - $1) }.max()!, 1e-4, "\(q) vs fp32 base")
        }
    }

    func testBF16AndF16OutputsAreTheF32MergeRounded() throws {
        let f32 = temporary("f32")
        try MergedModelWriter.merge(model: Self.model, adapter: Self.adapter, to: f32, quantization: .q8_0)
        let reference = try SafetensorsFile(url: f32.appendingPathComponent("model.safetensors"))
        for (dtype, fileType, torchName) in [(MergedModelWriter.DType.bf16, DType.BF16, "bfloat16"), (.f16, .F16, "float16")] {
            let out = temporary(dtype.rawValue)
            try MergedModelWriter.merge(model: Self.model, adapter: Self.adapter, to: out, quantization: .q8_0, dtype: dtype)
            let config = try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("config.json"))) as! [String: Any]
            XCTAssertEqual(config["torch_dtype"] as? String, torchName)
            let written = try SafetensorsFile(url: out.appendingPathComponent("model.safetensors"))
            XCTAssertEqual(Set(written.tensorNames), Set(reference.tensorNames))
            for name in reference.tensorNames {
                XCTAssertEqual(try written.dtype(name), fileType, name)
                let rounded = try reference.floats(name).map { v -> Float in
                    dtype == .bf16 ? BF16.widen(BF16.round(v)) : HalfPrecision.float(fromF16: GGMLQuantizer.f16Bits(v))
                }
                XCTAssertEqual(try written.floats(name).map(\.bitPattern), rounded.map(\.bitPattern), "\(dtype) \(name)")
            }
            // transformers loads the half-precision merge: LoRAKit reads it back and runs it.
            let merged = try ModelLoader.load(out.path)
            XCTAssertTrue(GradMode.withoutGrad { merged.model.forward(try! input()) }.scalars.allSatisfy(\.isFinite))
        }
    }

    func testF16OverflowNamesTheTensorAndWritesNothing() throws {
        let loaded = try ModelLoader.load(Self.model)
        let (path, norm) = try XCTUnwrap(loaded.model.namedParameters().first { $0.path.hasSuffix("norm.weight") })
        norm.data[3] = 70_000
        let out = temporary("overflow")
        XCTAssertThrowsError(try MergedModelWriter.write(loaded.model, config: loaded.config, to: out, dtype: .f16)) { error in
            XCTAssertTrue("\(error)".contains(path) && "\(error)".contains("f16"), "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "nothing written")
        try MergedModelWriter.write(loaded.model, config: loaded.config, to: out, dtype: .bf16)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("model.safetensors").path))
    }
}
