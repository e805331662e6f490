import Foundation
import CMPI
import Training

/// `Communicator` over Open MPI's MPI_COMM_WORLD. Created only when `lorakit` was launched by mpirun
/// (`MPILaunch.communicator()`), so a plain run never calls MPI_Init.
///
/// Faults: MPI_ERRORS_RETURN turns a failed collective into a thrown `DistributedError`; a collective that does
/// not finish within `timeout` (a rank died without mpirun noticing, hangs, or the network is down) makes the
/// watchdog print which collective waited and end this process, and mpirun then ends the others.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    let world: MPI_Comm
    let watchdog: CollectiveWatchdog

    /// MPI_Init_thread (funneled: only the training thread calls MPI; the watchdog never does).
    init(timeout: Double) throws {
        var provided: Int32 = 0
        let rc = MPI_Init_thread(nil, nil, lorakit_mpi_thread_funneled(), &provided)
        guard rc == lorakit_mpi_success() else { throw DistributedError("MPI_Init_thread failed with code \(rc)") }
        world = lorakit_mpi_comm_world()
        MPI_Comm_set_errhandler(world, lorakit_mpi_errors_return())
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(world, &r)
        MPI_Comm_size(world, &n)
        rank = Int(r)
        size = Int(n)
        watchdog = CollectiveWatchdog(rank: rank, timeout: timeout)
    }

    public func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) throws {
        try allReduce(values.baseAddress, values.count, lorakit_mpi_float(), lorakit_mpi_sum(), "sum of \(values.count) floats")
    }

    public func sumInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(values.baseAddress, values.count, lorakit_mpi_double(), lorakit_mpi_sum(), "sum of \(values.count) doubles")
    }

    public func maxInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws {
        try allReduce(values.baseAddress, values.count, lorakit_mpi_double(), lorakit_mpi_max(), "max of \(values.count) doubles")
    }

    /// MPI_Allreduce(MPI_IN_PLACE, …): the result overwrites the input on every rank.
    private func allReduce(_ buffer: UnsafeMutableRawPointer?, _ count: Int, _ type: MPI_Datatype, _ op: MPI_Op,
                           _ what: @autoclosure () -> String) throws {
        guard count > 0 else { return }
        guard count <= Int(Int32.max) else { throw DistributedError("all-reduce of \(count) values exceeds MPI's int count") }
        watchdog.enter(what())
        let rc = MPI_Allreduce(lorakit_mpi_in_place(), buffer, Int32(count), type, op, world)
        watchdog.leave()
        guard rc == lorakit_mpi_success() else { throw DistributedError("rank \(rank): all-reduce (\(what())) failed: \(Self.errorString(rc))") }
    }

    /// Ends every rank of the job (after an error on this one), so no rank waits forever for it.
    public func abort(code: Int32) -> Never {
        MPI_Abort(world, code)
        exit(code)
    }

    /// MPI_Finalize after a successful run.
    public func finalize() {
        watchdog.stop()
        MPI_Finalize()
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(lorakit_mpi_max_error_string()) + 1)
        var length: Int32 = 0
        MPI_Error_string(code, &buffer, &length)
        return String(cString: buffer)
    }
}

/// Bounds the time any collective may wait. A background thread checks once a second whether the collective in
/// flight has exceeded the timeout and then writes a message and calls _exit(3): mpirun sees a rank end without
/// MPI_Finalize and terminates the whole job. The thread never calls MPI (MPI_THREAD_FUNNELED).
final class CollectiveWatchdog: @unchecked Sendable {
    let rank: Int
    let timeout: Double
    private let lock = NSLock()
    private var started: Date?
    private var label = ""
    private var running = true

    init(rank: Int, timeout: Double) {
        self.rank = rank
        self.timeout = timeout
        let thread = Thread { [weak self] in self?.watch() }
        thread.name = "lorakit-mpi-watchdog"
        thread.start()
    }

    func enter(_ what: String) { lock.lock(); started = Date(); label = what; lock.unlock() }
    func leave() { lock.lock(); started = nil; lock.unlock() }
    func stop() { lock.lock(); running = false; lock.unlock() }

    private func watch() {
        while true {
            Thread.sleep(forTimeInterval: 1)
            lock.lock()
            let (since, what, alive) = (started, label, running)
            lock.unlock()
            guard alive else { return }
            if let since, Date().timeIntervalSince(since) > timeout {
                let text = "lorakit rank \(rank): the other ranks did not join the \(what) all-reduce within \(Int(timeout)) s "
                    + "(a rank died or hangs, or the network is down); ending this rank so that mpirun ends the job. "
                    + "The last checkpoint in output_dir is intact; continue with --resume. "
                    + "(LORAKIT_MPI_TIMEOUT sets this limit in seconds.)\n"
                FileHandle.standardError.write(Data(text.utf8))
                _exit(3)
            }
        }
    }
}
