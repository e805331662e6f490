import Foundation
import ModelFormats
import Training

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    _ = try? JSONLReader.read(bytes, name: "fuzz.jsonl", onBadLine: .error)
    if let contents = try? JSONLReader.read(bytes, name: "fuzz.jsonl", onBadLine: .skip) {
        for (_, value) in contents.rows { _ = value.description }
    }
    return 0
}
