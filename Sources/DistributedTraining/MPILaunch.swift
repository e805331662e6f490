import Foundation
import Training

/// Chooses between one process and MPI at run time. `lorakit` links Open MPI but calls MPI_Init only when mpirun
/// (or another PMIx launcher) started it, recognised by the variables the launcher sets for each rank. A plain
/// `lorakit train` therefore never initialises MPI: no ORTE/PMIx daemon contact, no network probing, no threads,
/// and it behaves exactly as a single process (the only cost is the dynamic loader mapping libmpi at start).
public enum MPILaunch {
    /// Variables Open MPI's launcher sets in every rank's environment.
    static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK"]

    /// True when this process is a rank started by mpirun.
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return launcherVariables.contains { env[$0] != nil }
    }

    /// `MPICommunicator` under mpirun, `SingleProcess` otherwise. The collective timeout is LORAKIT_MPI_TIMEOUT
    /// seconds (default 600: longer than any checkpoint write or evaluation one rank may do while others wait).
    public static func communicator() throws -> any Communicator {
        guard launchedByMPI else { return SingleProcess() }
        let text = ProcessInfo.processInfo.environment["LORAKIT_MPI_TIMEOUT"] ?? "600"
        guard let timeout = Double(text), timeout > 0 else {
            throw DistributedError("LORAKIT_MPI_TIMEOUT must be a positive number of seconds, not \"\(text)\"")
        }
        return try MPICommunicator(timeout: timeout)
    }
}
