import CICU

/// BERT's text cleanup (`BertNormalizer` in tokenizer.json), step for step as the Rust crate does it:
/// drop control characters and turn whitespace into spaces, put spaces around CJK ideographs, strip accents
/// (NFD, then drop non-spacing marks), lower-case one character at a time.
public struct BertNormalizer: Sendable, Equatable {
    public var cleanText: Bool
    public var handleChineseChars: Bool
    /// nil follows `lowercase`, as in BERT.
    public var stripAccents: Bool?
    public var lowercase: Bool

    public init(cleanText: Bool = true, handleChineseChars: Bool = true, stripAccents: Bool? = nil,
                lowercase: Bool = true) {
        self.cleanText = cleanText
        self.handleChineseChars = handleChineseChars
        self.stripAccents = stripAccents
        self.lowercase = lowercase
    }

    /// The normalized text as scalars.
    func normalize(_ text: UnsafeBufferPointer<UInt16>) -> [Unicode.Scalar] {
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(text.count)
        for scalar in String(decoding: text, as: UTF16.self).unicodeScalars {
            if cleanText {
                if scalar.value == 0 || scalar.value == 0xFFFD || UnicodeCategories.isControl(scalar) { continue }
                if UnicodeCategories.isWhitespace(scalar) {
                    scalars.append(" ")
                    continue
                }
            }
            if handleChineseChars && UnicodeCategories.isCJKIdeograph(scalar) {
                scalars += [" ", scalar, " "]
            } else {
                scalars.append(scalar)
            }
        }
        if stripAccents ?? lowercase { scalars = Self.stripAccents(scalars) }
        if lowercase { scalars = Self.lowercased(scalars) }
        return scalars
    }

    /// NFD through ICU, then without non-spacing marks (Mn): "é" → "e".
    static func stripAccents(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        if scalars.allSatisfy(\.isASCII) { return scalars }
        var string = String.UnicodeScalarView()
        string.append(contentsOf: scalars)
        let units = Array(String(string).utf16)
        var status: Int32 = 0
        guard let nfd = lorakit_nfd_instance(&status), status <= 0 else { return scalars }
        var output = [UInt16](repeating: 0, count: units.count * 4 + 16)
        let length = lorakit_unorm2_normalize(nfd, units, Int32(units.count), &output, Int32(output.count), &status)
        guard status <= 0 else { return scalars }
        return String(decoding: output[0..<Int(length)], as: UTF16.self).unicodeScalars
            .filter { !UnicodeCategories.isNonSpacingMark($0) }
    }

    /// Each character lower-cased on its own with the full mapping (Rust's `char::to_lowercase`): no
    /// final-sigma context, so "ΣΑΣ" becomes "σασ".
    static func lowercased(_ scalars: [Unicode.Scalar]) -> [Unicode.Scalar] {
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(scalars.count)
        var output = [UInt16](repeating: 0, count: 8)
        for scalar in scalars {
            if scalar.isASCII {
                let value = scalar.value
                result.append(value >= 0x41 && value <= 0x5A ? Unicode.Scalar(value + 32)! : scalar)
                continue
            }
            let units = Array(String(scalar).utf16)
            var status: Int32 = 0
            let length = lorakit_u_strToLower(&output, Int32(output.count), units, Int32(units.count), &status)
            guard status <= 0 else {
                result.append(scalar)
                continue
            }
            result += String(decoding: output[0..<Int(length)], as: UTF16.self).unicodeScalars
        }
        return result
    }
}

/// Character classes BERT's normalizer and pre-tokenizer use, from ICU's character database.
enum UnicodeCategories {
    // ICU UCharCategory values.
    private static let unassigned: Int32 = 0, nonSpacingMark: Int32 = 6, control: Int32 = 15, format: Int32 = 16,
                       privateUse: Int32 = 17, surrogate: Int32 = 18
    private static let punctuation: Set<Int32> = [19, 20, 21, 22, 23, 28, 29]  // Pd Ps Pe Pc Po Pi Pf

    /// Rust's `char::is_whitespace` (White_Space), with tab, newline and return counted in.
    static func isWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" || lorakit_u_isUWhiteSpace(Int32(scalar.value)) != 0
    }

    /// "Other" categories (Cc, Cf, Cn, Co, Cs) except tab, newline and return, which BERT treats as whitespace.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == "\t" || scalar == "\n" || scalar == "\r" { return false }
        if scalar.value >= 0x20 && scalar.value < 0x7F { return false }
        let category = lorakit_u_charType(Int32(scalar.value))
        return category == unassigned || category == control || category == format || category == privateUse
            || category == surrogate
    }

    static func isNonSpacingMark(_ scalar: Unicode.Scalar) -> Bool {
        !scalar.isASCII && lorakit_u_charType(Int32(scalar.value)) == nonSpacingMark
    }

    /// BERT's punctuation: any ASCII symbol or punctuation (so `$`, `+`, `^` split too) or a Unicode P* character.
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if (0x21...0x2F).contains(value) || (0x3A...0x40).contains(value) || (0x5B...0x60).contains(value)
            || (0x7B...0x7E).contains(value) {
            return true
        }
        return !scalar.isASCII && punctuation.contains(lorakit_u_charType(Int32(value)))
    }

    /// The CJK Unified Ideograph blocks BERT pads with spaces (not Hangul, Hiragana or Katakana).
    static func isCJKIdeograph(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
             0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }
}
