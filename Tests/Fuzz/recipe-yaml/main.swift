import Foundation
import Recipes

// Only the YAML layer of the recipe reader (limits, Yams, the located node tree and --set overrides) is built
// into this harness: the schema reader behind it needs the whole training stack.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard var root = try? RecipeNode.parse(text, file: "fuzz.yaml") else { return 0 }
    try? root.apply(override: "training.max_steps=4")
    try? root.apply(override: "datasets.0.path=[a, {b: c}]")
    _ = root.location
    return 0
}
