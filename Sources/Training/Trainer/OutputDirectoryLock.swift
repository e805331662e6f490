import Foundation
import LoRA
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock on a training output_dir: `output_dir/.lorakit.lock` held with flock(2) for the life of the run,
/// with the owner's pid written in it for the error message. Two runs into one directory would interleave their
/// checkpoints and metrics; the second one refuses instead. The kernel drops the lock when its process dies (even by
/// kill -9), so a later `--resume` takes over a dead run's directory without any stale-lock guessing.
public final class OutputDirectoryLock {
    public static let fileName = ".lorakit.lock"
    public let directory: URL
    private var fd: Int32

    /// Creates `directory` if needed, proves it writable and takes the lock, or throws naming the holder's pid.
    public init(directory: URL) throws {
        self.directory = directory
        try OutputPaths.ensureWritableDirectory(directory)
        let path = directory.appendingPathComponent(Self.fileName).path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw OutputPathError.notWritable(path: path, reason: String(cString: strerror(errno))) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw TrainingError.configuration("\(directory.path) is in use by another lorakit train (pid \(holder)); wait for it to finish, "
                + "or choose another save.output_dir")
        }
        let pid = Data("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, pid.count, 0) }
    }

    /// Releases the lock (also released when the process exits).
    public func release() {
        guard fd >= 0 else { return }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    deinit { release() }
}
