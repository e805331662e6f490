import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from mapping a file into memory.
public enum MemoryMapError: Error, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case cannotStat(path: String, errno: Int32)
    case cannotMap(path: String, size: Int, errno: Int32)

    public var description: String {
        switch self {
        case let .cannotOpen(path, code): return "\(path): cannot open (\(String(cString: strerror(code))))"
        case let .cannotStat(path, code): return "\(path): cannot stat (\(String(cString: strerror(code))))"
        case let .cannotMap(path, size, code):
            return "\(path): cannot mmap \(size) bytes (\(String(cString: strerror(code))))"
        }
    }
}

/// A read-only, private memory mapping of a whole file, unmapped when the object is released.
///
/// Model files are hundreds of megabytes: mapping them lets the kernel page in only what is read and share the
/// pages between processes, where `Data(contentsOf:)` would copy everything up front.
public final class MemoryMap: @unchecked Sendable {
    /// The file's bytes. Valid for as long as this object is alive.
    public let bytes: UnsafeRawBufferPointer
    /// The path that was mapped, for error messages.
    public let path: String

    /// Maps the file at `url` read-only.
    public init(url: URL) throws {
        path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw MemoryMapError.cannotOpen(path: path, errno: errno) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw MemoryMapError.cannotStat(path: path, errno: errno) }
        let size = Int(info.st_size)
        // mmap rejects a zero length; an empty file still has to open so the parser can report it as truncated.
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw MemoryMapError.cannotMap(path: path, size: size, errno: errno)
        }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress {
            munmap(UnsafeMutableRawPointer(mutating: base), bytes.count)
        }
    }
}
