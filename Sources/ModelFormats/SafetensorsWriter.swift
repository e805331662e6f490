import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor to write: its name, element type, PyTorch-order shape and little-endian bytes.
public struct SafetensorsTensor: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var bytes: [UInt8]

    /// A tensor from raw little-endian bytes; the writer checks that their length matches shape × dtype.
    public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A tensor from raw little-endian bytes held in `Data`.
    public init(name: String, dtype: DType, shape: [Int], data: Data) {
        self.init(name: name, dtype: dtype, shape: shape, bytes: [UInt8](data))
    }

    /// An F32 tensor.
    public init(name: String, floats: [Float], shape: [Int]) {
        let bytes = floats.withUnsafeBufferPointer { buffer in
            [UInt8](UnsafeRawBufferPointer(buffer))
        }
        self.init(name: name, dtype: .F32, shape: shape, bytes: Self.littleEndian(bytes, elementSize: 4))
    }

    /// An I64 tensor.
    public init(name: String, int64s: [Int64], shape: [Int]) {
        let bytes = int64s.withUnsafeBufferPointer { buffer in
            [UInt8](UnsafeRawBufferPointer(buffer))
        }
        self.init(name: name, dtype: .I64, shape: shape, bytes: Self.littleEndian(bytes, elementSize: 8))
    }

    /// safetensors is little-endian; on a big-endian host each element's bytes are reversed.
    private static func littleEndian(_ bytes: [UInt8], elementSize: Int) -> [UInt8] {
        guard 1.bigEndian == 1 else { return bytes }
        var swapped = bytes
        for start in stride(from: 0, to: bytes.count, by: elementSize) {
            swapped[start..<(start + elementSize)].reverse()
        }
        return swapped
    }
}

/// Writes safetensors files byte-identical to the Python `safetensors` library's for the same tensors.
public enum SafetensorsWriter {
    /// Writes `tensors` (and the optional `__metadata__` map) to `url`.
    ///
    /// Tensors are laid out like the Python writer: by element size class, largest first, then by name, with the
    /// header padded with spaces to a multiple of 8 bytes so every tensor's data stays aligned. The file is
    /// written under a temporary name in the same directory and renamed over `url`, so an interrupted write never
    /// replaces a good file with a partial one.
    public static func write(_ tensors: [SafetensorsTensor], metadata: [String: String]? = nil,
                             to url: URL) throws {
        let ordered = try validatedOrder(tensors)
        let header = headerBytes(ordered, metadata: metadata)
        var lengthPrefix = UInt64(header.count).littleEndian
        let prefix = withUnsafeBytes(of: &lengthPrefix) { [UInt8]($0) }

        let path = url.path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw SafetensorsError.writeFailed(path: path, reason: "cannot create \(temporary.path)")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            defer { try? handle.close() }
            try handle.write(contentsOf: prefix)
            try handle.write(contentsOf: header)
            for tensor in ordered {
                try handle.write(contentsOf: tensor.bytes)
            }
            try handle.synchronize()
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError.writeFailed(path: path, reason: plainReason(error))
        }
        // rename(2) replaces the destination atomically; FileManager.moveItem refuses an existing destination.
        guard rename(temporary.path, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw SafetensorsError.writeFailed(path: path, reason: "cannot rename temporary file: \(reason)")
        }
    }

    /// Checks each tensor and sorts them into the Python writer's order.
    /// "No space left on device" rather than Foundation's `Error Domain=NSCocoaErrorDomain Code=512 …` dump.
    private static func plainReason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(ns.code))) : "\(error)"
    }

    private static func validatedOrder(_ tensors: [SafetensorsTensor]) throws -> [SafetensorsTensor] {
        var seen = Set<String>()
        for tensor in tensors {
            guard tensor.name != "__metadata__" else {
                throw SafetensorsError.invalidTensorForWriting(tensor: tensor.name, reason: "reserved name")
            }
            guard seen.insert(tensor.name).inserted else {
                throw SafetensorsError.invalidTensorForWriting(tensor: tensor.name, reason: "duplicate name")
            }
            guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError.invalidTensorForWriting(tensor: tensor.name,
                                                               reason: "negative dimension in \(tensor.shape)")
            }
            let expected = tensor.shape.reduce(tensor.dtype.byteSize, *)
            guard expected == tensor.bytes.count else {
                throw SafetensorsError.invalidTensorForWriting(
                    tensor: tensor.name,
                    reason: "shape \(tensor.shape) of \(tensor.dtype.rawValue) needs \(expected) bytes, got "
                        + "\(tensor.bytes.count)")
            }
        }
        // Rust compares names as UTF-8 bytes, which differs from Swift's String ordering outside ASCII.
        return tensors.sorted { a, b in
            if a.dtype.pythonWriterRank != b.dtype.pythonWriterRank {
                return a.dtype.pythonWriterRank > b.dtype.pythonWriterRank
            }
            return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
    }

    /// The JSON header exactly as serde_json prints it (compact, keys in insertion order), space-padded.
    private static func headerBytes(_ tensors: [SafetensorsTensor], metadata: [String: String]?) -> [UInt8] {
        var json = "{"
        var first = true
        if let metadata {
            // The Rust library keeps metadata in a HashMap, so its order is arbitrary; sorted keys keep ours
            // reproducible and match Python whenever there is a single key.
            let entries = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
                .map { "\(quoted($0)):\(quoted(metadata[$0]!))" }
            json += "\"__metadata__\":{\(entries.joined(separator: ","))}"
            first = false
        }
        var offset = 0
        for tensor in tensors {
            if !first { json += "," }
            first = false
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            json += "\(quoted(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],"
                + "\"data_offsets\":[\(offset),\(offset + tensor.bytes.count)]}"
            offset += tensor.bytes.count
        }
        json += "}"
        var bytes = Array(json.utf8)
        bytes += [UInt8](repeating: UInt8(ascii: " "), count: (8 - bytes.count % 8) % 8)
        return bytes
    }

    /// A JSON string literal escaped as serde_json does: `"` and `\`, the short escapes for \b \f \n \r \t, `\u00XX`
    /// for other control characters, everything else (including non-ASCII) verbatim.
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
