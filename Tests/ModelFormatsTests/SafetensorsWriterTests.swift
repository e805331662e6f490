import Foundation
import ModelFormats
import XCTest

final class SafetensorsWriterTests: XCTestCase {
    /// Rebuilds the tensors of make_safetensors_fixtures.py from the file Python wrote and writes them back: the
    /// result must be byte-identical to Python's (same header key order, spacing, padding and data layout).
    func testWritesTheSameBytesAsPython() throws {
        let pythonURL = Fixtures.url("python_written.safetensors")
        let python = try SafetensorsFile(url: pythonURL)
        // Shuffled input order: the writer, like Python's, must sort.
        let tensors = try python.tensorNames.reversed().map { name in
            let info = try python.info(name)
            return SafetensorsTensor(name: name, dtype: info.dtype, shape: info.shape,
                                     bytes: [UInt8](try python.bytes(name)))
        }
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("ours.safetensors")
        try SafetensorsWriter.write(tensors, metadata: ["format": "pt"], to: url)
        XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: pythonURL))
    }

    func testRoundTripsFloatsIntegersAndScalars() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("round.safetensors")
        let weights: [Float] = [1.5, -0.0, .infinity, 3e-42, -7]
        try SafetensorsWriter.write([
            SafetensorsTensor(name: "w", floats: weights, shape: [5]),
            SafetensorsTensor(name: "ids", int64s: [-1, Int64.max], shape: [2, 1]),
            SafetensorsTensor(name: "scalar", floats: [2], shape: []),
            SafetensorsTensor(name: "empty", floats: [], shape: [0, 4]),
            SafetensorsTensor(name: "h", dtype: .F16, shape: [1], data: Data([0x00, 0x3C])),
            SafetensorsTensor(name: "quote\"\n\u{01}é", dtype: .U8, shape: [1], bytes: [9]),
        ], metadata: ["b": "2", "a": "\"1\""], to: url)
        let file = try SafetensorsFile(url: url)
        XCTAssertEqual(file.metadata, ["a": "\"1\"", "b": "2"])
        XCTAssertEqual(try file.floats("w").map(\.bitPattern), weights.map(\.bitPattern))
        XCTAssertEqual(try file.integers("ids"), [-1, Int(Int64.max)])
        XCTAssertEqual(try file.shape("ids"), [2, 1])
        XCTAssertEqual(try file.shape("scalar"), [])
        XCTAssertEqual(try file.floats("scalar"), [2])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.floats("h"), [1])
        XCTAssertEqual(try file.integers("quote\"\n\u{01}é"), [9])
        // The header is padded to a multiple of 8 so the data section stays aligned.
        let length = try Data(contentsOf: url).prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(length % 8, 0)
    }

    func testRejectsInconsistentTensorsAndKeepsTheOldFile() throws {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent("keep.safetensors")
        try SafetensorsWriter.write([SafetensorsTensor(name: "w", floats: [1], shape: [1])], to: url)
        let before = try Data(contentsOf: url)
        XCTAssertThrowsDescribing(
            try SafetensorsWriter.write([SafetensorsTensor(name: "w", floats: [1, 2], shape: [3])], to: url),
            "'w'", "needs 12 bytes")
        XCTAssertThrowsDescribing(
            try SafetensorsWriter.write([SafetensorsTensor(name: "w", floats: [1], shape: [1]),
                                         SafetensorsTensor(name: "w", floats: [1], shape: [1])], to: url),
            "duplicate")
        XCTAssertEqual(try Data(contentsOf: url), before)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: url.deletingLastPathComponent().path)
        XCTAssertEqual(leftovers, ["keep.safetensors"])
    }

    func testFailsClearlyWhenTheDirectoryIsMissing() {
        let url = URL(fileURLWithPath: "/nonexistent-lorakit-dir/x.safetensors")
        XCTAssertThrowsDescribing(
            try SafetensorsWriter.write([SafetensorsTensor(name: "w", floats: [1], shape: [1])], to: url),
            "/nonexistent-lorakit-dir/x.safetensors")
    }
}
