import Foundation
import ModelFormats
import NN
import TensorCore

/// Builds quantized frozen weights while a model loads (`quantization:` / `--quantization`), one tensor at a time,
/// so a quantized model never holds an fp32 copy of all its weights. Linear weights and embedding tables are
/// stored quantized; norms, biases and anything the format cannot hold (rows that are not whole blocks) stay fp32.
enum QuantizedLoading {
    /// GGML block types `keep` leaves as the file has them.
    static let keptTypes: Set<GGMLType> = [.Q8_0, .Q4_0, .Q4_1, .Q5_0, .Q5_1, .Q4_K, .Q5_K, .Q6_K]

    /// Model parameter paths of Linear weights and embedding tables, with their modules.
    static func candidates(_ model: Module) -> [(path: String, module: Module)] {
        model.namedModules().compactMap { path, module in
            guard (module is Linear || module is Embedding), module.parameter("weight") != nil else { return nil }
            return ((path.isEmpty ? "" : path + ".") + "weight", module)
        }
    }

    /// The checkpoint key for a model parameter path, across transformers' base_model_prefix (as loadWeights maps).
    static func key(for path: String, available: Set<String>, prefix: String?) -> String? {
        if available.contains(path) { return path }
        guard let prefix else { return nil }
        if path.hasPrefix(prefix + "."), available.contains(String(path.dropFirst(prefix.count + 1))) {
            return String(path.dropFirst(prefix.count + 1))
        }
        return available.contains(prefix + "." + path) ? prefix + "." + path : nil
    }

    /// Stores every candidate weight that `make` turns into a frozen weight (nil: load it as fp32 as before), and
    /// shares it with tied parameters (lm_head tied to the embedding). Returns the checkpoint keys consumed.
    static func install(into model: any ArchitectureModel, plugin: any ArchitecturePlugin.Type, available: Set<String>,
                        source: String, make: (String) throws -> FrozenWeight?) throws -> Set<String> {
        var consumed = Set<String>()
        var byPath: [String: FrozenWeight] = [:]
        let all = candidates(model)
        for (path, module) in all {
            guard let key = key(for: path, available: available, prefix: plugin.baseModelPrefix) else { continue }
            Tensor.releaseCachedBuffers()
            let frozen: FrozenWeight?
            do { frozen = try make(key) } catch let error as ModelLoadingError { throw error } catch {
                throw ModelLoadingError.unsupported("\(source): \(key): \(error)")
            }
            guard let frozen else { continue }
            install(frozen, in: module)
            byPath[path] = frozen
            consumed.insert(key)
        }
        for (target, origin) in model.tiedParameters {
            guard let frozen = byPath[origin], let module = all.first(where: { $0.path == target })?.module,
                  key(for: target, available: available, prefix: plugin.baseModelPrefix) == nil else { continue }
            install(frozen, in: module)
        }
        Tensor.releaseCachedBuffers()
        return consumed
    }

    private static func install(_ frozen: FrozenWeight, in module: Module) {
        if let linear = module as? Linear { linear.install(frozen: frozen) } else if let e = module as? Embedding { e.install(frozen: frozen) }
    }

    /// `rows × columns` fp32 values quantized as `quantization` asks (nf4, q8_0, q4_0), or nil when the rows are not
    /// whole blocks of that format (or the quantization keeps fp32).
    static func quantize(_ x: UnsafePointer<Float>, rows: Int, columns: Int, as quantization: WeightQuantization) -> FrozenWeight? {
        switch quantization {
        case .none, .keep: return nil
        case .nf4:
            guard NF4Weight.canStore(columns: columns) else { return nil }
            return FrozenWeight(quantized: NF4Weight(quantizing: x, rows: rows, columns: columns))
        case .q8_0, .q4_0:
            let type: GGMLType = quantization == .q8_0 ? .Q8_0 : .Q4_0
            guard columns > 0, columns % type.blockSize == 0 else { return nil }
            let rowBytes = columns / type.blockSize * type.typeSize
            let blocks = BlockRows(format: type.description, rows: rows, columns: columns, rowBytes: rowBytes, decode: decoder(type)) { out in
                // Row by row (gguf-py's quantizer takes arrays): only one row's array at a time.
                Parallel.forEachChunk(rows, costPerItem: columns * 8) { range in
                    for r in range {
                        let bytes = GGMLQuantizer.quantize(Array(UnsafeBufferPointer(start: x + r * columns, count: columns)), as: type)
                        bytes.withUnsafeBytes { (out + r * rowBytes).copyMemory(from: $0.baseAddress!, byteCount: rowBytes) }
                    }
                }
            }
            return FrozenWeight(quantized: blocks)
        }
    }

    static func decoder(_ type: GGMLType) -> BlockRows.Decoder {
        { source, count, out in GGMLDequantizer.dequantize(type, from: source, count: count, into: out) }
    }

    /// A GGUF tensor's own blocks (`keep`), borrowed from the mapping, or rows permuted into an owned copy for
    /// llama's Q/K (blocks run along the input dimension, so the rotary un-permutation moves whole rows of blocks).
    /// nil for types that are not kept (F32/F16/BF16 stay fp32) and for tensors that are not matrices.
    static func keptBlocks(_ file: GGUFFile, tensor name: String, rotaryHeads: Int?) throws -> FrozenWeight? {
        let info = try file.info(name)
        guard keptTypes.contains(info.type), info.shape.count == 2, info.rowLength % info.type.blockSize == 0 else { return nil }
        let raw = try file.rawBytes(name)
        let (rows, rowBytes) = (info.rowCount, info.rowByteCount)
        guard raw.count == rows * rowBytes, let base = raw.baseAddress else {
            throw ModelLoadingError.unsupported("\(file.url.path): tensor \(name): \(raw.count) bytes of \(info.type.description) data, "
                                                + "expected \(rows) rows of \(rowBytes)")
        }
        try checkScales(base, type: info.type, blocks: rows * info.rowLength / info.type.blockSize, tensor: name, path: file.url.path)
        let decode = decoder(info.type)
        guard let heads = rotaryHeads else {
            return FrozenWeight(quantized: BlockRows(format: info.type.description, rows: rows, columns: info.rowLength, rowBytes: rowBytes,
                                                     borrowing: base, owner: file, decode: decode))
        }
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else {
            throw ModelLoadingError.unsupported("\(file.url.path): tensor \(name): \(rows) rows do not split into \(heads) rotary heads")
        }
        let blocks = BlockRows(format: info.type.description, rows: rows, columns: info.rowLength, rowBytes: rowBytes, decode: decode) { out in
            let headDim = rows / heads, half = headDim / 2
            for h in 0..<heads { for i in 0..<half { for p in 0..<2 {
                let from = h * headDim + i * 2 + p, to = h * headDim + p * half + i
                (out + to * rowBytes).copyMemory(from: base + from * rowBytes, byteCount: rowBytes)
            } } }
        }
        return FrozenWeight(quantized: blocks)
    }

    /// Byte offsets of the f16 scales in one block of `type` (d, and m/dmin where the format has one).
    static func scaleOffsets(_ type: GGMLType) -> [Int] {
        switch type {
        case .Q4_1, .Q5_1, .Q4_K, .Q5_K: return [0, 2]
        case .Q6_K: return [208]
        default: return [0]
        }
    }

    /// A non-finite f16 scale makes every value of its block NaN/inf: a corrupt file, named with its tensor and block.
    static func checkScales(_ base: UnsafeRawPointer, type: GGMLType, blocks: Int, tensor: String, path: String) throws {
        let offsets = scaleOffsets(type), size = type.typeSize
        for b in 0..<blocks {
            for o in offsets {
                let h = UInt16(base.load(fromByteOffset: b * size + o, as: UInt8.self))
                    | UInt16(base.load(fromByteOffset: b * size + o + 1, as: UInt8.self)) << 8
                if h & 0x7C00 == 0x7C00 {
                    throw ModelLoadingError.unsupported(String(format: "%@: tensor %@: block %d of %@ has a non-finite scale (f16 0x%04X): the file is corrupt",
                                                               path, tensor, b, type.description, h))
                }
            }
        }
    }
}

extension FrozenWeight {
    /// `rows × columns` fp32 values stored as `quantization` (nf4, q8_0, q4_0) the way loading stores them; nil when
    /// the rows are not whole blocks of that format or the quantization keeps fp32.
    public static func quantizing(_ x: UnsafePointer<Float>, rows: Int, columns: Int, as quantization: WeightQuantization) -> FrozenWeight? {
        QuantizedLoading.quantize(x, rows: rows, columns: columns, as: quantization)
    }
}
