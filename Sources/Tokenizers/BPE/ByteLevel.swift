/// GPT-2's byte-level alphabet (`bytes_to_unicode` in the original encoder.py).
///
/// Every byte gets a printable character so that BPE vocabularies can be stored as text: printable Latin-1 bytes
/// keep their own character, the other 68 bytes are moved to U+0100 onwards in byte order (space becomes `Ġ`,
/// newline `Ċ`).
enum ByteLevel {
    /// `characterForByte[b]` is the Unicode scalar that spells byte `b`.
    static let characterForByte: [Unicode.Scalar] = {
        var printable = Set<Int>()
        printable.formUnion(Int(UInt8(ascii: "!"))...Int(UInt8(ascii: "~")))
        printable.formUnion(0xA1...0xAC)
        printable.formUnion(0xAE...0xFF)
        var next = 256
        return (0..<256).map { byte in
            if printable.contains(byte) { return Unicode.Scalar(UInt32(byte))! }
            defer { next += 1 }
            return Unicode.Scalar(UInt32(next))!
        }
    }()

    /// The inverse of `characterForByte`, keyed by scalar value.
    static let byteForCharacter: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in characterForByte.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// The byte-level spelling of raw bytes, e.g. `[0x20, 0x61]` → `"Ġa"`.
    static func spell(_ bytes: some Sequence<UInt8>) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(characterForByte[Int(byte)]) }
        return String(scalars)
    }

    /// The bytes a vocabulary token stands for, or nil when it uses characters outside the byte alphabet
    /// (an added token such as `<|im_start|>` is fine: its characters are all printable ASCII).
    static func bytes(ofSpelling token: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(token.unicodeScalars.count)
        for scalar in token.unicodeScalars {
            guard let byte = byteForCharacter[scalar.value] else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// What the `ByteLevel` decoder turns a token into: its bytes if it is spelled in the alphabet, else its UTF-8.
    static func decodedBytes(of token: String) -> [UInt8] {
        bytes(ofSpelling: token) ?? Array(token.utf8)
    }
}
