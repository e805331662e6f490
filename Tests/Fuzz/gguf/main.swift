import Foundation
import ModelFormats

// GGUFFile maps a file, so each input is written to a scratch file first.
let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fuzz-gguf-\(getpid())")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    try? Data(bytes: data, count: size).write(to: scratch)
    guard let file = try? GGUFFile(url: scratch) else { return 0 }
    _ = file.architecture
    for key in file.metadataKeys {
        let value = file[key]
        _ = (value?.int, value?.double, value?.strings, value?.ints, value?.floats)
    }
    for info in file.tensorInfos {
        _ = try? file.floats(info.name)
        if info.rowCount > 0, info.rowLength <= 1 << 16 {
            let row = [Float](unsafeUninitializedCapacity: info.rowLength) { buffer, count in
                try? file.dequantizeRow(info.name, row: info.rowCount - 1, into: buffer.baseAddress!)
                count = info.rowLength
            }
            _ = row
        }
    }
    return 0
}
