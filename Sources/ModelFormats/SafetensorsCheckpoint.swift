import Foundation

/// A Hugging Face checkpoint directory: either a single `model.safetensors`, or `model.safetensors.index.json`
/// whose `weight_map` sends each tensor name to one of several shard files.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    /// The directory that was opened.
    public let directory: URL
    /// The opened files, in shard-name order (one element for an unsharded checkpoint).
    public let files: [SafetensorsFile]
    /// Every tensor name, in shard order then file order.
    public let tensorNames: [String]

    private let fileForTensor: [String: SafetensorsFile]

    /// Opens the checkpoint in `directory`, preferring the index when both layouts are present.
    public init(directory: URL) throws {
        self.directory = directory
        let index = directory.appendingPathComponent("model.safetensors.index.json")
        let single = directory.appendingPathComponent("model.safetensors")
        let fileManager = FileManager.default
        if fileManager.fileExists(atPath: index.path) {
            let weightMap = try Self.readWeightMap(index)
            var shards: [String: SafetensorsFile] = [:]
            var mapping: [String: SafetensorsFile] = [:]
            // Sorted so the first missing shard reported and the file order do not depend on hashing.
            for (tensor, shard) in weightMap.sorted(by: { $0.key < $1.key }) {
                if shards[shard] == nil {
                    let url = directory.appendingPathComponent(shard)
                    guard fileManager.fileExists(atPath: url.path) else {
                        throw SafetensorsError.missingShard(path: index.path, shard: shard, tensor: tensor)
                    }
                    shards[shard] = try SafetensorsFile(url: url)
                }
                let file = shards[shard]!
                guard file.contains(tensor) else {
                    throw SafetensorsError.invalidIndex(
                        path: index.path, reason: "tensor '\(tensor)' is mapped to '\(shard)', which does not hold it")
                }
                mapping[tensor] = file
            }
            files = shards.keys.sorted().map { shards[$0]! }
            fileForTensor = mapping
            tensorNames = files.flatMap { file in file.tensorNames.filter { mapping[$0] === file } }
        } else if fileManager.fileExists(atPath: single.path) {
            let file = try SafetensorsFile(url: single)
            files = [file]
            tensorNames = file.tensorNames
            fileForTensor = Dictionary(uniqueKeysWithValues: file.tensorNames.map { ($0, file) })
        } else {
            throw SafetensorsError.noCheckpoint(directory: directory.path)
        }
    }

    /// True when some shard holds tensor `name`.
    public func contains(_ name: String) -> Bool { fileForTensor[name] != nil }

    /// The file holding tensor `name`.
    public func file(containing name: String) throws -> SafetensorsFile {
        guard let file = fileForTensor[name] else {
            throw SafetensorsError.tensorNotFound(path: directory.path, tensor: name)
        }
        return file
    }

    /// The header entry of tensor `name`.
    public func info(_ name: String) throws -> SafetensorsTensorInfo { try file(containing: name).info(name) }

    /// Tensor `name` as `Float`s (see `SafetensorsFile.floats(_:)`).
    public func floats(_ name: String) throws -> [Float] { try file(containing: name).floats(name) }

    /// Tensor `name` as `Int`s (see `SafetensorsFile.integers(_:)`).
    public func integers(_ name: String) throws -> [Int] { try file(containing: name).integers(name) }

    /// The raw bytes of tensor `name`, valid while this checkpoint lives.
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer { try file(containing: name).bytes(name) }

    private static func readWeightMap(_ url: URL) throws -> [String: String] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: try Data(contentsOf: url))
        } catch {
            throw SafetensorsError.invalidIndex(path: url.path, reason: "unreadable JSON (\(error))")
        }
        guard let root = object as? [String: Any], let map = root["weight_map"] as? [String: String] else {
            throw SafetensorsError.invalidIndex(path: url.path, reason: "no string→string \"weight_map\" object")
        }
        return map
    }
}
