import Foundation
import ModelFormats
import XCTest

final class GGUFFileTests: XCTestCase {
    // tiny.gguf and tiny_expected.safetensors are made by Tests/Fixtures/formats/make_gguf_fixture.py (gguf-py
    // 0.19.0); the expected floats are gguf.quants.dequantize's output.

    func testReadsMetadataOfEveryValueType() throws {
        let file = try GGUFFile(url: Fixtures.url("tiny.gguf"))
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.architecture, "llama")
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.dataOffset % 64, 0)
        XCTAssertEqual(file.metadataKeys.prefix(3), ["general.architecture", "general.alignment", "test.uint8"])
        XCTAssertEqual(file["test.uint8"], .uint8(200))
        XCTAssertEqual(file["test.int8"], .int8(-100))
        XCTAssertEqual(file["test.uint16"], .uint16(60000))
        XCTAssertEqual(file["test.int16"], .int16(-30000))
        XCTAssertEqual(file["test.uint32"]?.int, 4_000_000_000)
        XCTAssertEqual(file["test.int32"]?.int, -2_000_000_000)
        XCTAssertEqual(file["test.float32"]?.float, 0.15625)
        XCTAssertEqual(file["test.bool"]?.bool, true)
        XCTAssertEqual(file["test.string"]?.string, "héllo ✓")
        XCTAssertEqual(file["test.uint64"], .uint64(1 << 63 + 5))
        XCTAssertNil(file["test.uint64"]?.int, "2^63+5 does not fit in Int")
        XCTAssertEqual(file["test.int64"]?.int, -(1 << 40))
        XCTAssertEqual(file["test.float64"]?.double, 1.0 / 3.0)
        XCTAssertEqual(file["test.ints"]?.ints, [1, -2, 3])
        XCTAssertEqual(file["test.floats"]?.floats, [0.5, -1.25])
        XCTAssertEqual(file["test.strings"]?.strings, ["a", "", "ccc"])
        XCTAssertEqual(file["test.bools"]?.bools, [true, false])
        XCTAssertEqual(file["test.nested"], .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])]))
        XCTAssertNil(file["test.string"]?.int)
        XCTAssertNil(file["missing"])
    }

    func testTensorInfos() throws {
        let file = try GGUFFile(url: Fixtures.url("tiny.gguf"))
        XCTAssertEqual(file.tensorNames, ["t.f32", "t.f16", "t.bf16", "t.q8_0", "t.q4_0", "t.q4_1", "t.q5_0", "t.q5_1",
                                          "t.q4_k", "t.q5_k", "t.q6_k", "t.q2_k"])
        let f32 = try file.info("t.f32")
        XCTAssertEqual(f32.type, .F32)
        XCTAssertEqual(f32.dimensions, [4, 3, 2])
        XCTAssertEqual(f32.shape, [2, 3, 4])
        XCTAssertEqual(f32.rowCount, 6)
        let q6 = try file.info("t.q6_k")
        XCTAssertEqual(q6.type, .Q6_K)
        XCTAssertEqual(q6.shape, [2, 256])
        XCTAssertEqual(q6.byteCount, 2 * 210)
        XCTAssertEqual(q6.rowByteCount, 210)
        XCTAssertEqual(try file.rawBytes("t.q6_k").count, 420)
        XCTAssertEqual(try file.rawBytes("t.q4_1").count, 3 * 2 * 20)
        for info in file.tensorInfos {
            XCTAssertEqual(info.offset % 64, 0, "\(info.name) honours general.alignment")
        }
    }

    /// Every supported type must match gguf-py bit for bit (tolerance 0).
    func testDequantizationMatchesGGUFPy() throws {
        let file = try GGUFFile(url: Fixtures.url("tiny.gguf"))
        let expected = try SafetensorsFile(url: Fixtures.url("tiny_expected.safetensors"))
        XCTAssertEqual(expected.tensorNames.count, 11)
        for name in expected.tensorNames {
            let info = try file.info(name)
            XCTAssertTrue(info.type.isDequantizable, name)
            XCTAssertEqual(info.shape, try expected.shape(name), name)
            let want = try expected.floats(name)
            let got = try file.floats(name)
            XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "\(name) (\(info.type))")

            // Row by row gives the same values.
            var row = [Float](repeating: .nan, count: info.rowLength)
            for r in 0..<info.rowCount {
                try file.dequantizeRow(name, row: r, into: &row)
                XCTAssertEqual(row.map(\.bitPattern),
                               want[(r * info.rowLength)..<((r + 1) * info.rowLength)].map(\.bitPattern), "\(name) row \(r)")
            }
            XCTAssertThrowsDescribing(try file.dequantizeRow(name, row: info.rowCount, into: &row), name, "out of range")
        }
    }

    func testReportsUnsupportedTypesByName() throws {
        let file = try GGUFFile(url: Fixtures.url("tiny.gguf"))
        XCTAssertEqual(try file.info("t.q2_k").type, .Q2_K)
        XCTAssertEqual(try file.rawBytes("t.q2_k").count, 84)
        XCTAssertThrowsDescribing(try file.floats("t.q2_k"), "tiny.gguf", "'t.q2_k'", "Q2_K", "not supported")
        XCTAssertThrowsDescribing(try file.floats("nope"), "tiny.gguf", "'nope'")
    }

    // MARK: - Versions and bad input

    private func fixtureBytes() throws -> [UInt8] { [UInt8](try Data(contentsOf: Fixtures.url("tiny.gguf"))) }

    private func write(_ bytes: [UInt8], name: String = "bad.gguf") throws -> URL {
        let url = try Fixtures.temporaryDirectory(self).appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func testReadsVersion2AndRejectsVersion1() throws {
        var bytes = try fixtureBytes()
        bytes[4] = 2  // v2 differs from v3 only in not allowing big-endian files
        let v2 = try GGUFFile(url: write(bytes))
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(try v2.floats("t.f32").count, 24)
        bytes[4] = 1
        XCTAssertThrowsDescribing(try GGUFFile(url: write(bytes)), "bad.gguf", "version 1")
    }

    func testRejectsWrongMagic() throws {
        var bytes = try fixtureBytes()
        bytes[0] = UInt8(ascii: "X")
        XCTAssertThrowsDescribing(try GGUFFile(url: write(bytes)), "bad.gguf", "not a GGUF file")
        XCTAssertThrowsDescribing(try GGUFFile(url: write([])), "bad.gguf", "truncated", "magic")
    }

    func testRejectsTruncatedFilesAtEveryLength() throws {
        let bytes = try fixtureBytes()
        let file = try GGUFFile(url: Fixtures.url("tiny.gguf"))
        // Any cut before the end of the last tensor's data must throw (never crash); stepping by 7 keeps it quick.
        let lastEnd = file.dataOffset + file.tensorInfos.map { $0.offset + $0.byteCount }.max()!
        for length in stride(from: 0, to: lastEnd, by: 7) {
            XCTAssertThrowsError(try GGUFFile(url: write(Array(bytes.prefix(length)))), "length \(length)")
        }
        XCTAssertThrowsDescribing(try GGUFFile(url: write(Array(bytes.prefix(100)))), "bad.gguf", "truncated",
                                  "offset")
        XCTAssertThrowsDescribing(try GGUFFile(url: write(Array(bytes.prefix(lastEnd - 1)))), "'t.q2_k'",
                                  "past the end")
    }

    func testRejectsTensorOffsetPastEnd() throws {
        var bytes = try fixtureBytes()
        // The last tensor info ends with t.q2_k's UInt64 offset, just before the padding to the data section.
        let file = try GGUFFile(url: Fixtures.url("tiny.gguf"))
        let name = Array("t.q2_k".utf8)
        let nameStart = (0..<bytes.count).last { bytes[$0..<min($0 + name.count, bytes.count)].elementsEqual(name) }!
        let offsetPosition = nameStart + name.count + 4 + 2 * 8 + 4  // n_dims, two dims, type
        let bogus = UInt64(1 << 20)
        withUnsafeBytes(of: bogus.littleEndian) { bytes.replaceSubrange(offsetPosition..<(offsetPosition + 8), with: $0) }
        XCTAssertEqual(try file.info("t.q2_k").offset, 2304, "fixture layout changed")
        XCTAssertThrowsDescribing(try GGUFFile(url: write(bytes)), "bad.gguf", "'t.q2_k'", "past the end")
    }

    func testRejectsUnknownValueAndTensorTypes() throws {
        var bytes = try fixtureBytes()
        // The value type of the first key ("general.architecture", a string) follows its 8-byte length and name.
        let typePosition = 24 + 8 + "general.architecture".utf8.count
        XCTAssertEqual(bytes[typePosition], 8, "fixture layout changed")
        bytes[typePosition] = 99
        XCTAssertThrowsDescribing(try GGUFFile(url: write(bytes)), "'general.architecture'", "unknown value type 99")
    }

    func testHugeArrayLengthDoesNotAllocate() throws {
        // magic, version 3, 0 tensors, 1 key "k" of type array<uint8> claiming 2^60 elements.
        var bytes: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [1, 0, 0, 0, 0, 0, 0, 0]
        bytes += [1, 0, 0, 0, 0, 0, 0, 0] + Array("k".utf8) + [9, 0, 0, 0] + [0, 0, 0, 0]
        bytes += [0, 0, 0, 0, 0, 0, 0, 0x10]
        XCTAssertThrowsDescribing(try GGUFFile(url: write(bytes)), "array 'k'", "truncated")
    }

    /// Issue 12: a value of nested array headers (array of array of …, 12 bytes a level) used to recurse once per
    /// level, so a large enough file would overflow the stack; nesting now stops at 8 levels with an error.
    func testDeeplyNestedArraysAreAnErrorNotARecursion() throws {
        var bytes: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [1, 0, 0, 0, 0, 0, 0, 0]
        bytes += [1, 0, 0, 0, 0, 0, 0, 0] + Array("k".utf8) + [9, 0, 0, 0]
        for _ in 0..<100_000 { bytes += [9, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0] }  // element type array, count 1
        bytes += [0, 0, 0, 0, 1]
        XCTAssertThrowsDescribing(try GGUFFile(url: write(bytes)), "key 'k'", "arrays nested more than 8 deep")
        // One level of nesting, as real files may use, still reads.
        var ok: [UInt8] = Array("GGUF".utf8) + [3, 0, 0, 0] + [UInt8](repeating: 0, count: 8) + [1, 0, 0, 0, 0, 0, 0, 0]
        ok += [1, 0, 0, 0, 0, 0, 0, 0] + Array("k".utf8) + [9, 0, 0, 0] + [9, 0, 0, 0] + [1, 0, 0, 0, 0, 0, 0, 0]
        ok += [0, 0, 0, 0] + [2, 0, 0, 0, 0, 0, 0, 0] + [7, 8]
        XCTAssertEqual(try GGUFFile(url: write(ok))["k"], .array([.array([.uint8(7), .uint8(8)])]))
    }
}
