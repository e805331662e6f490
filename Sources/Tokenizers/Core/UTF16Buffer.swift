/// Appends the UTF-8 encoding of `units` to `bytes` without building a `String`; an unpaired surrogate becomes
/// U+FFFD, as Rust's lossy conversion does.
func appendUTF8(of units: UnsafeBufferPointer<UInt16>, to bytes: inout [UInt8]) {
    var index = 0
    while index < units.count {
        var scalar = UInt32(units[index])
        index += 1
        if scalar < 0x80 {
            bytes.append(UInt8(scalar))
            continue
        }
        if UTF16.isLeadSurrogate(UInt16(scalar)) {
            if index < units.count, UTF16.isTrailSurrogate(units[index]) {
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (UInt32(units[index]) - 0xDC00)
                index += 1
            } else {
                scalar = 0xFFFD
            }
        } else if UTF16.isTrailSurrogate(UInt16(scalar)) {
            scalar = 0xFFFD
        }
        if scalar < 0x800 {
            bytes.append(UInt8(0xC0 | (scalar >> 6)))
            bytes.append(UInt8(0x80 | (scalar & 0x3F)))
        } else if scalar < 0x10000 {
            bytes.append(UInt8(0xE0 | (scalar >> 12)))
            bytes.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            bytes.append(UInt8(0x80 | (scalar & 0x3F)))
        } else {
            bytes.append(UInt8(0xF0 | (scalar >> 18)))
            bytes.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            bytes.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            bytes.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }
}
