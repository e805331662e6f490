import ModelFormats
import XCTest

final class HalfPrecisionTests: XCTestCase {
    /// Every one of the 65,536 F16 bit patterns must widen exactly: compared with the platform's own `Float16`
    /// conversion (bit-for-bit for numbers; for NaNs only NaN-ness, since hardware may quiet a signalling NaN while
    /// numpy and we keep the payload as is).
    func testEveryF16PatternWidensExactly() {
        #if arch(x86_64) || arch(arm64)
        for bits in 0...UInt16.max {
            let ours = HalfPrecision.float(fromF16: bits)
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                XCTAssertTrue(ours.isNaN, "pattern \(bits)")
                XCTAssertEqual(ours.bitPattern & 0x003F_FFFF, UInt32(bits & 0x1FF) << 13, "payload of \(bits)")
            } else {
                XCTAssertEqual(ours.bitPattern, reference.bitPattern, "pattern \(bits)")
            }
        }
        #endif
    }

    func testSpecialF16Values() {
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x0001), Float(5.9604645e-08))  // smallest subnormal, 2^-24
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x03FF), Float(6.097555e-05))   // largest subnormal
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x7BFF), 65504)
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x7C00), .infinity)
        XCTAssertEqual(HalfPrecision.float(fromF16: 0xFC00), -.infinity)
        XCTAssertEqual(HalfPrecision.float(fromF16: 0x8000).bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertTrue(HalfPrecision.float(fromF16: 0x7E00).isNaN)
    }

    func testBF16IsTheTopHalfOfAFloat() {
        XCTAssertEqual(HalfPrecision.float(fromBF16: 0x3F80), 1)
        XCTAssertEqual(HalfPrecision.float(fromBF16: 0xFF80), -.infinity)
        XCTAssertEqual(HalfPrecision.float(fromBF16: 0x0001).bitPattern, 0x0001_0000)  // subnormal kept
        XCTAssertTrue(HalfPrecision.float(fromBF16: 0x7FC1).isNaN)
    }

    func testBulkConversionsHandleUnalignedInput() {
        let bytes: [UInt8] = [0xFF, 0x00, 0x3C, 0x00, 0xC0]  // one junk byte, then F16 1.0 and -2.0
        var out = [Float](repeating: 0, count: 2)
        bytes.withUnsafeBytes { raw in
            HalfPrecision.convertF16(raw.baseAddress! + 1, to: &out, count: 2)
        }
        XCTAssertEqual(out, [1, -2])
        let bf: [UInt8] = [0xFF, 0x80, 0x3F, 0x00, 0xC0]
        bf.withUnsafeBytes { raw in
            HalfPrecision.convertBF16(raw.baseAddress! + 1, to: &out, count: 2)
        }
        XCTAssertEqual(out, [1, -2])
    }
}
