import Foundation
import LoRA
import ModelFormats

// The same bytes as an adapter_config.json (JSONFile, then PEFT's keys through LoRAConfig) and as a config.json
// (JSONFile; ModelConfig's typed accessors only look values up).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard let object = try? JSONFile.object(Data(bytes: data, count: size), file: "adapter_config.json") else { return 0 }
    if let config = try? LoRAConfig(json: object, source: "adapter_config.json") {
        _ = try? config.jsonData()
    }
    return 0
}
