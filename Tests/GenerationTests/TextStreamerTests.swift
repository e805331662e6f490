import XCTest
import LoRAKit

/// Streaming decoded text over a byte-level vocabulary in which every token is one byte, so multi-byte characters
/// are necessarily split over tokens (as byte-level BPE does for rare characters).
final class TextStreamerTests: XCTestCase {
    static func byteTokenizer() throws -> any Tokenizer {
        // GPT-2's bytes_to_unicode spelling of each byte.
        let printable = Array(33...126) + Array(161...172) + Array(174...255)
        let others = (0...255).filter { !printable.contains($0) }
        let spellings = (0...255).map { b in
            printable.contains(b) ? String(UnicodeScalar(UInt8(b))) : String(UnicodeScalar(256 + others.firstIndex(of: b)!)!)
        }
        return try BPETokenizer(ggufTokens: spellings, merges: [], tokenTypes: nil, preTokenizer: nil)
    }

    func testPiecesAreWholeCharactersAndConcatenateToTheText() throws {
        let tokenizer = try Self.byteTokenizer()
        let text = "Café 日本 🙂!"
        let ids = tokenizer.encode(text, addSpecialTokens: false)
        XCTAssertEqual(ids, Array(text.utf8).map(Int.init))
        var streamer = TextStreamer(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in ids { let p = streamer.append(id); if !p.isEmpty { pieces.append(p) } }
        pieces.append(streamer.finish())
        XCTAssertEqual(pieces.joined(), text)
        XCTAssertFalse(pieces.contains { $0.contains("\u{FFFD}") }, "\(pieces)")
        XCTAssertTrue(pieces.contains("🙂"), "the 4-byte emoji arrives as one piece: \(pieces)")
    }

    func testIncompleteTailIsHeldBackUntilFinish() throws {
        let tokenizer = try Self.byteTokenizer()
        var streamer = TextStreamer(tokenizer: tokenizer)
        XCTAssertEqual(streamer.append(Int(UInt8(ascii: "a"))), "a")
        XCTAssertEqual(streamer.append(0xE6), "")  // first byte of 日 (E6 97 A5)
        XCTAssertEqual(streamer.append(0x97), "")
        XCTAssertEqual(streamer.finish(), "\u{FFFD}")  // what Hugging Face's decode gives for the cut character
    }
}
