import Foundation

/// Turns what a user types (`--model`, a recipe's `model:`) into a file or directory: a path, or a short alias
/// resolved in the model cache that scripts/fetch-models.sh fills.
public enum ModelReference {
    /// Aliases and the file or folder they name inside the cache.
    public static let aliases: [String: String] = [
        "smollm2-135m-instruct": "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
        "minilm-l6": "minilm-l6",
    ]

    /// `$LORAKIT_CACHE/models`, default `~/.cache/lorakit/models`.
    public static var cacheDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        let root = env["LORAKIT_CACHE"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/lorakit")
        return root.appendingPathComponent("models")
    }

    public static func resolve(_ reference: String) throws -> URL {
        let fm = FileManager.default
        if let relative = aliases[reference] {
            let url = cacheDirectory.appendingPathComponent(relative)
            guard fm.fileExists(atPath: url.path) else {
                throw ModelLoadingError.aliasNotFetched(reference, url.path)
            }
            return url
        }
        let url = URL(fileURLWithPath: (reference as NSString).expandingTildeInPath)
        guard fm.fileExists(atPath: url.path) else {
            throw ModelLoadingError.notFound(reference, known: aliases.keys.sorted())
        }
        return url
    }
}

public enum ModelLoadingError: Error, CustomStringConvertible {
    case notFound(String, known: [String])
    case aliasNotFetched(String, String)
    case missingConfig(String)
    case unknownTensor(file: String, tensor: String)
    case unsupported(String)

    public var description: String {
        switch self {
        case .notFound(let r, let known):
            return "model '\(r)' is neither a file, a directory nor an alias (aliases: \(known.joined(separator: ", ")))"
        case .aliasNotFetched(let alias, let path):
            return "model alias '\(alias)' is not in the cache (\(path)); run `bash scripts/fetch-models.sh` or `lorakit models fetch`"
        case .missingConfig(let dir): return "\(dir): no config.json (a model directory needs config.json + *.safetensors)"
        case .unknownTensor(let file, let tensor): return "\(file): tensor '\(tensor)' maps to no parameter of the model"
        case .unsupported(let s): return s
        }
    }
}
