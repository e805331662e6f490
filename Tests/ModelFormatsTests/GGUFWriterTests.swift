import Foundation
import XCTest
import ModelFormats

final class GGUFWriterTests: XCTestCase {
    /// quants.gguf holds inputs and gguf-py's `gguf.quants.quantize` of them (make_quant_fixture.py): every byte of
    /// LoRAKit's conversion must be equal (tolerance: none).
    func testQuantizersMatchGGUFPyBitForBit() throws {
        let file = try GGUFFile(url: Fixtures.url("quants.gguf"))
        let input = try file.floats("input")
        for (name, type) in [("q8_0", GGMLType.Q8_0), ("q4_0", .Q4_0), ("f16", .F16), ("bf16", .BF16)] {
            let expected = Array(try file.rawBytes(name))
            let actual = GGMLQuantizer.quantize(input, as: type)
            XCTAssertEqual(actual.count, expected.count, name)
            let firstDifference = zip(actual, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            XCTAssertNil(firstDifference, "\(name): first differing byte at \(firstDifference ?? -1)")
        }
        let special = try file.floats("special")
        XCTAssertEqual(GGMLQuantizer.quantize(special, as: .F16), Array(try file.rawBytes("special_f16")))
        XCTAssertEqual(GGMLQuantizer.quantize(special, as: .BF16), Array(try file.rawBytes("special_bf16")))
    }

    /// Dequantizing what the quantizer wrote gives the input back within the format's step: q8_0 d/2 with
    /// d = max|x|/127; q4_0 d = max|x|/8, because the end opposite to the block's extreme is clipped from 8d to 7d;
    /// plus the stored F16 scale's rounding (2^-11 relative) times the largest code (127 or 8).
    func testQuantizeThenDequantizeIsClose() {
        var g = SystemRandomNumberGenerator()
        let x = (0..<256).map { _ in Float.random(in: -2...2, using: &g) }
        for (type, tolerance) in [(GGMLType.Q8_0, Float(2.0 / 127 * (0.5 + 127.0 / 2048))), (.Q4_0, 2.0 / 8 * (1 + 8.0 / 2048)), (.F16, 1e-3), (.BF16, 1e-2)] {
            let bytes = GGMLQuantizer.quantize(x, as: type)
            var y = [Float](repeating: 0, count: x.count)
            bytes.withUnsafeBytes { GGMLDequantizer.dequantize(type, from: $0.baseAddress!, count: x.count, into: &y) }
            let worst = zip(x, y).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, tolerance, "\(type)")
        }
    }

    func testWriteThenReadBack() throws {
        let dir = try Fixtures.temporaryDirectory(self)
        let url = dir.appendingPathComponent("out.gguf")
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.type", .string("adapter"))
        w.set("a.u32", .uint32(7))
        w.set("a.f32", .float32(0.25))
        w.set("a.bool", .bool(true))
        w.set("a.strings", .array([.string("x"), .string("ü")]))
        w.set("a.ints", .array([.int32(-1), .int32(2)]))
        w.set("a.u32", .uint32(8))  // replaced in place
        let values = (0..<(3 * 64)).map { Float($0) / 10 - 5 }
        try w.addTensor("m.weight", shape: [3, 64], values: values, type: .F32)
        try w.addTensor("q.weight", shape: [3, 64], values: values, type: .Q8_0)
        try w.addTensor("n.weight", shape: [5], values: [1, 2, 3, 4, 5], type: .F32)
        try w.write(to: url)

        let file = try GGUFFile(url: url)
        XCTAssertEqual(file.metadataKeys, ["general.architecture", "general.type", "a.u32", "a.f32", "a.bool", "a.strings", "a.ints"])
        XCTAssertEqual(file["a.u32"], .uint32(8))
        XCTAssertEqual(file["a.f32"]?.float, 0.25)
        XCTAssertEqual(file["a.bool"]?.bool, true)
        XCTAssertEqual(file["a.strings"]?.strings, ["x", "ü"])
        XCTAssertEqual(file["a.ints"]?.ints, [-1, 2])
        XCTAssertEqual(try file.info("m.weight").shape, [3, 64])
        XCTAssertEqual(try file.floats("m.weight"), values)
        XCTAssertEqual(try file.info("q.weight").type, .Q8_0)
        let q = try file.floats("q.weight")
        // Rows reach |x| = 14.1, so q8_0's step is 14.1 / 127: the error is at most half of it plus the F16 scale's rounding.
        XCTAssertLessThan(zip(q, values).map { abs($0 - $1) }.max()!, 14.1 / 127 * (0.5 + 127.0 / 2048))
        XCTAssertEqual(try file.floats("n.weight"), [1, 2, 3, 4, 5])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["out.gguf"], "no temporary file left")

        // An existing file is refused unless overwriting is asked for.
        XCTAssertThrowsDescribing(try w.write(to: url), url.path, "already exists", "--force")
        w.set("a.u32", .uint32(9))
        try w.write(to: url, overwrite: true)
        XCTAssertEqual(try GGUFFile(url: url)["a.u32"], .uint32(9))
    }

    func testBadTensorsAreRefusedByName() {
        var w = GGUFWriter()
        XCTAssertThrowsDescribing(try w.addTensor("t", shape: [2, 40], values: [Float](repeating: 0, count: 80), type: .Q8_0),
                                  "'t'", "row length 40", "Q8_0")
        XCTAssertThrowsDescribing(try w.addTensor("t", shape: [2, 3], values: [0, 1], type: .F32), "'t'", "2 values for shape [2, 3]")
        XCTAssertThrowsDescribing(try w.addTensor("nan", shape: [2], values: [0, .nan], type: .F32), "'nan'", "not finite")
        XCTAssertThrowsDescribing(try w.addTensor("k", shape: [256], values: [Float](repeating: 0, count: 256), type: .Q4_K),
                                  "'k'", "cannot write type Q4_K")
    }
}
