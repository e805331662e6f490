import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why an output path cannot be written.
public enum OutputPathError: Error, CustomStringConvertible, Equatable {
    /// The target exists and holds something of the user's; only `--force` may replace it.
    case exists(path: String)
    /// The directory cannot be created or written (permissions, read-only filesystem, full disk).
    case notWritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .exists(let path):
            return "\(path) already exists and is not empty; choose another path or pass --force to replace it"
        case .notWritable(let path, let reason):
            return "cannot write to \(path): \(reason)"
        }
    }
}

/// Output paths that never destroy what a user owns: refuse an existing target unless forced, replace a directory
/// by renaming a complete new one into place, and fsync so a crash leaves the old or the new version, not a mix.
public enum OutputPaths {
    /// Throws `.exists` when `url` is a file, or a directory with anything in it, and `force` is false.
    public static func checkTarget(_ url: URL, force: Bool) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !force else { return }
        if isDirectory.boolValue, ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).isEmpty { return }
        throw OutputPathError.exists(path: url.path)
    }

    /// Finishes what a killed writer of `target` left next to it (`.NAME.tmp-PID`, `.NAME.old-PID` of a process that
    /// no longer runs): a staging directory is removed; the user's previous `target`, renamed aside just before the
    /// kill, is put back when `target` is missing, else removed.
    public static func recoverInterruptedWrite(of target: URL) {
        let fm = FileManager.default
        let parent = target.deletingLastPathComponent(), prefix = ".\(target.lastPathComponent)."
        for name in (try? fm.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            let kind = rest.hasPrefix("tmp-") ? "tmp-" : rest.hasPrefix("old-") ? "old-" : nil
            guard let kind, let pid = Int32(rest.dropFirst(kind.count)), !isRunning(pid) else { continue }
            let url = parent.appendingPathComponent(name)
            if kind == "old-", !fm.fileExists(atPath: target.path), Glibc.rename(url.path, target.path) == 0 { continue }
            try? fm.removeItem(at: url)
        }
    }

    static func isRunning(_ pid: Int32) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }

    /// Creates `directory` (and its parents) and proves a file can be created in it, so a read-only or missing
    /// output fails before hours of work rather than at the first save.
    public static func ensureWritableDirectory(_ directory: URL) throws {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw OutputPathError.notWritable(path: directory.path, reason: whyNotCreatable(directory) ?? reason(error))
        }
        let probe = directory.appendingPathComponent(".lorakit-write-test-\(getpid())")
        let fd = open(probe.path, O_CREAT | O_EXCL | O_WRONLY, 0o644)
        guard fd >= 0 else { throw OutputPathError.notWritable(path: directory.path, reason: String(cString: strerror(errno))) }
        close(fd)
        unlink(probe.path)
    }

    /// Foundation says only "error 512" when a directory cannot be created; the nearest existing ancestor tells why.
    static func whyNotCreatable(_ directory: URL) -> String? {
        var ancestor = directory.deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: ancestor.path), ancestor.path != "/" { ancestor.deleteLastPathComponent() }
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: ancestor.path, isDirectory: &isDirectory)
        if !isDirectory.boolValue { return "\(ancestor.path) is a file, not a directory" }
        if access(ancestor.path, W_OK) != 0 { return "\(ancestor.path): \(String(cString: strerror(errno)))" }
        return nil
    }

    /// Flushes a file or directory to disk (a directory's fsync makes the renames inside it durable).
    public static func fsync(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw OutputPathError.notWritable(path: url.path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        guard Glibc.fsync(fd) == 0 else { throw OutputPathError.notWritable(path: url.path, reason: String(cString: strerror(errno))) }
    }

    /// fsyncs every regular file directly inside `directory`, then the directory itself.
    public static func fsyncContents(_ directory: URL) throws {
        for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
            var isDirectory: ObjCBool = false
            let url = directory.appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue { try fsync(url) }
        }
        try fsync(directory)
    }

    /// Puts the complete directory `staging` at `target`. An existing target is first renamed aside and deleted
    /// only after the new one is in place, so there is never a moment with half a target.
    public static func replaceDirectory(_ target: URL, with staging: URL) throws {
        let parent = target.deletingLastPathComponent()
        try fsyncContents(staging)
        let old = parent.appendingPathComponent(".\(target.lastPathComponent).old-\(getpid())")
        let hadOld = FileManager.default.fileExists(atPath: target.path)
        if hadOld { try rename(target, old) }
        do { try rename(staging, target) } catch {
            if hadOld { _ = Glibc.rename(old.path, target.path) }
            throw error
        }
        try? fsync(parent)
        if hadOld { try? FileManager.default.removeItem(at: old) }
    }

    /// rename(2) with an error that names both paths.
    public static func rename(_ from: URL, _ to: URL) throws {
        guard Glibc.rename(from.path, to.path) == 0 else {
            throw OutputPathError.notWritable(path: to.path, reason: "cannot rename \(from.path) to it: \(String(cString: strerror(errno)))")
        }
    }

    /// A Foundation error's reason without the NSCocoaErrorDomain noise: the POSIX message when there is one.
    public static func reason(_ error: Error) -> String {
        // LoRAKit's own typed errors already say what happened (and name the file).
        if !(error is CocoaError), type(of: error) != NSError.self { return "\(error)" }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        switch ns.code {
        case NSFileWriteNoPermissionError: return "permission denied"
        case NSFileWriteVolumeReadOnlyError: return "read-only file system"
        case NSFileWriteOutOfSpaceError: return "no space left on device"
        case NSFileNoSuchFileError, NSFileReadNoSuchFileError: return "no such file or directory"
        default: return ns.localizedDescription
        }
    }
}
