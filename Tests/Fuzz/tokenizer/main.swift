import Foundation
import Tokenizers

// TokenizerLoader reads a path, so each input is written to a scratch file first.
let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("fuzz-tokenizer-\(getpid()).json")
let texts = ["Hello, world! 123", "  naïve café\n\tend", "<|im_start|>user\nhi<|im_end|>", "日本語 🙂", ""]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    try? Data(bytes: data, count: size).write(to: scratch)
    guard let tokenizer = try? TokenizerLoader.load(tokenizerJSON: scratch) else { return 0 }
    for text in texts {
        let ids = tokenizer.encode(text)
        _ = tokenizer.decode(ids)
        _ = tokenizer.decode(ids, skipSpecialTokens: true)
    }
    // Ids a caller might pass that the vocabulary does not hold.
    _ = tokenizer.decode([-1, 0, 1, 1 << 40])
    return 0
}
