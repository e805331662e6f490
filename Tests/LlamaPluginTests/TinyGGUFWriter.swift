import Foundation

/// Writes a GGUF v3 file with F32 tensors, following ggml's docs/gguf.md: header, metadata key/values, tensor
/// infos (dimensions innermost first), padding to `general.alignment` (32), then the tensor data. Tests use it to
/// turn the tiny safetensors fixtures into the layout llama.cpp's convert_hf_to_gguf.py writes.
struct TinyGGUFWriter {
    enum Value {
        case u32(UInt32), f32(Float), bool(Bool), string(String), strings([String]), i32s([Int32])
    }

    var metadata: [(String, Value)] = []
    /// (GGUF name, PyTorch shape, row-major values).
    var tensors: [(String, [Int], [Float])] = []

    func data() -> Data {
        var out = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: Array(s.utf8)) }
        // gguf_type: UINT32 = 4, INT32 = 5, FLOAT32 = 6, BOOL = 7, STRING = 8, ARRAY = 9.
        func value(_ v: Value) {
            switch v {
            case .u32(let x): u32(4); u32(x)
            case .f32(let x): u32(6); u32(x.bitPattern)
            case .bool(let x): u32(7); out.append(x ? 1 : 0)
            case .string(let s): u32(8); string(s)
            case .strings(let a): u32(9); u32(8); u64(UInt64(a.count)); a.forEach(string)
            case .i32s(let a): u32(9); u32(5); u64(UInt64(a.count)); a.forEach { u32(UInt32(bitPattern: $0)) }
            }
        }
        u32(0x4655_4747)  // "GGUF"
        u32(3)
        u64(UInt64(tensors.count))
        u64(UInt64(metadata.count))
        for (key, v) in metadata { string(key); value(v) }
        var offset: UInt64 = 0
        for (name, shape, values) in tensors {
            string(name)
            u32(UInt32(shape.count))
            shape.reversed().forEach { u64(UInt64($0)) }
            u32(0)  // GGML_TYPE_F32
            u64(offset)
            offset += UInt64(values.count * 4)
            offset = (offset + 31) / 32 * 32
        }
        func pad() { while out.count % 32 != 0 { out.append(0) } }
        pad()
        for (_, _, values) in tensors {
            values.forEach { u32($0.bitPattern) }
            pad()
        }
        return out
    }
}

/// GPT-2's bytes_to_unicode: the printable spelling of each byte that byte-level BPE vocabularies use.
func byteLevelSpelling(_ byte: UInt8) -> String {
    let printable = Array(33...126) + Array(161...172) + Array(174...255)
    if printable.contains(Int(byte)) { return String(UnicodeScalar(byte)) }
    let rank = (0...255).filter { !printable.contains($0) }.firstIndex(of: Int(byte))!
    return String(UnicodeScalar(256 + rank)!)
}
