import Foundation
import ModelFormats
import XCTest

final class SafetensorsCheckpointTests: XCTestCase {
    func testOpensSingleFileCheckpoint() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        try SafetensorsWriter.write([SafetensorsTensor(name: "a", floats: [1, 2], shape: [2])],
                                    to: directory.appendingPathComponent("model.safetensors"))
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(checkpoint.tensorNames, ["a"])
        XCTAssertEqual(try checkpoint.floats("a"), [1, 2])
        XCTAssertThrowsDescribing(try checkpoint.floats("b"), "'b'")
    }

    func testResolvesTensorsThroughTheShardIndex() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        try SafetensorsWriter.write([SafetensorsTensor(name: "embed", floats: [1, 2], shape: [1, 2])],
                                    to: directory.appendingPathComponent("model-00001-of-00002.safetensors"))
        try SafetensorsWriter.write([SafetensorsTensor(name: "head", floats: [3], shape: [1]),
                                     SafetensorsTensor(name: "pos", int64s: [4], shape: [1])],
                                    to: directory.appendingPathComponent("model-00002-of-00002.safetensors"))
        let index = #"{"metadata":{"total_size":20},"weight_map":{"embed":"model-00001-of-00002.safetensors","#
            + #""head":"model-00002-of-00002.safetensors","pos":"model-00002-of-00002.safetensors"}}"#
        try Data(index.utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        let checkpoint = try SafetensorsCheckpoint(directory: directory)
        XCTAssertEqual(checkpoint.files.count, 2)
        XCTAssertEqual(checkpoint.tensorNames, ["embed", "pos", "head"])
        XCTAssertEqual(try checkpoint.floats("head"), [3])
        XCTAssertEqual(try checkpoint.integers("pos"), [4])
        XCTAssertEqual(try checkpoint.info("embed").shape, [1, 2])
        XCTAssertEqual(try checkpoint.file(containing: "head").url.lastPathComponent,
                       "model-00002-of-00002.safetensors")
    }

    func testNamesTheMissingShard() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        let index = #"{"weight_map":{"w":"model-00009-of-00009.safetensors"}}"#
        try Data(index.utf8).write(to: directory.appendingPathComponent("model.safetensors.index.json"))
        XCTAssertThrowsDescribing(try SafetensorsCheckpoint(directory: directory),
                                  "model-00009-of-00009.safetensors", "'w'")
    }

    func testNamesAnEmptyDirectory() throws {
        let directory = try Fixtures.temporaryDirectory(self)
        XCTAssertThrowsDescribing(try SafetensorsCheckpoint(directory: directory), directory.path,
                                  "model.safetensors")
    }
}
