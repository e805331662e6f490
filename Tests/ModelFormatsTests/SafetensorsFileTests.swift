import Foundation
import ModelFormats
import XCTest

final class SafetensorsFileTests: XCTestCase {
    /// `python_written.safetensors` and its expected values come from Tests/Fixtures/formats/
    /// make_safetensors_fixtures.py (Python safetensors 0.8.0 + numpy). Values must match exactly (tolerance 0):
    /// every conversion involved is exact, except F64 → F32, which numpy and Swift both round to nearest.
    func testReadsEveryDTypeWrittenByPython() throws {
        let file = try SafetensorsFile(url: Fixtures.url("python_written.safetensors"))
        let expected = try JSONSerialization.jsonObject(
            with: Data(contentsOf: Fixtures.url("python_written.json"))) as! [String: [String: Any]]
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(Set(file.tensorNames), Set(expected.keys))
        // File order is data order, which the Python writer makes "largest dtype first, then name".
        XCTAssertEqual(file.tensorNames.first, "ids.i64")
        XCTAssertEqual(file.tensorNames.last, "mask.bool")

        for (name, entry) in expected {
            let dtype = DType(rawValue: entry["dtype"] as! String)!
            XCTAssertEqual(try file.dtype(name), dtype, name)
            XCTAssertEqual(try file.shape(name), entry["shape"] as! [Int], name)
            let values = entry["values"] as! [Any]
            XCTAssertEqual(try file.bytes(name).count, values.count * dtype.byteSize, name)
            if dtype.isFloatingPoint {
                let want: [Float] = values.map { value in
                    switch value as? String {
                    case "inf": return .infinity
                    case "-inf": return -.infinity
                    default: return Float((value as! NSNumber).doubleValue)
                    }
                }
                let got = try file.floats(name)
                XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), name)
                XCTAssertThrowsDescribing(try file.integers(name), name, "cannot convert")
            } else {
                XCTAssertEqual(try file.integers(name), values.map { ($0 as! NSNumber).intValue }, name)
                XCTAssertThrowsDescribing(try file.floats(name), name, "cannot convert")
            }
        }
        XCTAssertThrowsDescribing(try file.floats("missing"), "python_written.safetensors", "missing")
    }

    /// A PEFT adapter saved by transformers/PEFT (copied from the shared parity fixtures, llama-tied-rslora).
    /// Expected values were printed with `safetensors.numpy.load_file` (float32 shortest repr, compared exactly).
    func testReadsPEFTAdapter() throws {
        let file = try SafetensorsFile(url: Fixtures.url("peft_llama_adapter.safetensors"))
        XCTAssertEqual(file.metadata, ["format": "pt"])
        XCTAssertEqual(file.tensorNames.count, 8)
        let name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        XCTAssertEqual(file.tensorNames.first, name)
        XCTAssertEqual(try file.shape(name), [8, 48])
        let values = try file.floats(name)
        XCTAssertEqual(values.count, 384)
        XCTAssertEqual(Array(values.prefix(3)), [0.09128517, -0.005319765, -0.0044500856])
        XCTAssertEqual(try file.shape("base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"), [48, 2])
    }

    // MARK: - Malformed files

    private func file(header: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) throws -> URL {
        let directory = try Fixtures.temporaryDirectory(self)
        let url = directory.appendingPathComponent("bad.safetensors")
        var length = (lengthOverride ?? UInt64(header.utf8.count)).littleEndian
        var bytes = withUnsafeBytes(of: &length) { [UInt8]($0) }
        bytes += Array(header.utf8) + data
        try Data(bytes).write(to: url)
        return url
    }

    func testRejectsTruncatedFile() throws {
        let url = try file(header: "").deletingLastPathComponent().appendingPathComponent("tiny.safetensors")
        try Data([1, 2, 3]).write(to: url)
        XCTAssertThrowsDescribing(try SafetensorsFile(url: url), "tiny.safetensors", "too short")
    }

    func testRejectsHeaderLengthPastEndOrHuge() throws {
        let past = try file(header: "{}", lengthOverride: 1000)
        XCTAssertThrowsDescribing(try SafetensorsFile(url: past), "bad.safetensors", "header length 1000")
        let huge = try file(header: "{}", lengthOverride: 200_000_000)
        XCTAssertThrowsDescribing(try SafetensorsFile(url: huge), "header length 200000000")
    }

    func testRejectsMalformedJSON() throws {
        XCTAssertThrowsDescribing(try SafetensorsFile(url: file(header: "{\"a\": ")), "malformed JSON")
        XCTAssertThrowsDescribing(try SafetensorsFile(url: file(header: "[1]")), "not a JSON object")
    }

    func testRejectsUnknownDType() throws {
        let url = try file(header: #"{"w":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}}"#, data: [0])
        XCTAssertThrowsDescribing(try SafetensorsFile(url: url), "'w'", "unknown dtype 'F7'")
    }

    func testRejectsOffsetsOutsideTheFile() throws {
        let url = try file(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])
        XCTAssertThrowsDescribing(try SafetensorsFile(url: url), "bad.safetensors", "'w'", "[0, 8)")
    }

    func testRejectsShapeThatDisagreesWithOffsets() throws {
        let url = try file(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: .init(repeating: 0, count: 8))
        XCTAssertThrowsDescribing(try SafetensorsFile(url: url), "'w'", "needs 12 bytes", "span 8")
    }

    func testRejectsOverlappingTensors() throws {
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let url = try file(header: header, data: .init(repeating: 0, count: 12))
        XCTAssertThrowsDescribing(try SafetensorsFile(url: url), "'a'", "'b'", "overlap")
    }

    func testRejectsBadShapeEntries() throws {
        let url = try file(header: #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0])
        XCTAssertThrowsDescribing(try SafetensorsFile(url: url), "'w'", "shape")
    }
}
