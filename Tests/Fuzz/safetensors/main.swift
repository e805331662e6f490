import Foundation
import ModelFormats

// SafetensorsFile maps a file, so each input is written to a scratch file first.
let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fuzz-safetensors-\(getpid())")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    try? Data(bytes: data, count: size).write(to: scratch)
    guard let file = try? SafetensorsFile(url: scratch) else { return 0 }
    for name in file.tensorNames {
        _ = try? file.bytes(name)
        _ = try? file.floats(name)
        _ = try? file.integers(name)
    }
    return 0
}
