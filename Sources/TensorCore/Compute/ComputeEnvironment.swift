import Foundation
import CDNNL
import COpenBLAS

/// Which library computes the matrix products.
public enum GEMMBackendKind: String, CaseIterable, Sendable {
    /// oneDNN (the default): picks its kernels by CPU features (AVX2, AVX-512, bf16, AMX), not by CPU model.
    case onednn
    /// OpenBLAS's cblas_sgemm. OpenBLAS stays linked for LAPACK (SVD) either way.
    case openblas

    public func makeBackend() -> any GEMMBackend {
        switch self {
        case .onednn: return OneDNNBackend()
        case .openblas: return OpenBLASBackend()
        }
    }
}

/// A bad LORAKIT_* variable: names it, the value and what was expected.
public struct ComputeEnvironmentError: Error, CustomStringConvertible, Equatable {
    public var variable: String
    public var value: String
    public var expected: String
    public var description: String { "\(variable)=\(value) is not valid: expected \(expected)" }
}

/// The process-wide compute settings, read once from the environment:
///
/// - `LORAKIT_GEMM=onednn|openblas` — the GEMM backend (default onednn).
/// - `LORAKIT_THREADS=N` — the thread budget (default: the cores this process may run on, from its CPU affinity
///   mask). It is the only place the process's thread counts are set: OpenBLAS gets N threads, oneDNN (OpenMP) gets
///   N threads on the orchestrating thread, `Parallel.forEachChunk` splits into at most N chunks, and a GEMM called
///   inside one of those chunks runs on that one thread (`Parallel` sets OpenMP to 1 thread there). So the levels
///   never multiply into more busy threads than cores.
/// - `LORAKIT_BF16_GEMM=auto|native|widened` — how products with bf16 weights run (default auto: oneDNN's bf16
///   kernels only where this process measured them faster than fp32, see `BF16Speed`).
///
/// OMP_NUM_THREADS / OPENBLAS_NUM_THREADS are overridden by the budget; OPENBLAS_CORETYPE is never set or read.
public struct ComputeEnvironment: Sendable {
    public var gemm: GEMMBackendKind
    public var threads: Int
    public var bf16Kernels: BF16KernelChoice = .auto

    public static let gemmVariable = "LORAKIT_GEMM"
    public static let bf16KernelsVariable = "LORAKIT_BF16_GEMM"
    public static let threadsVariable = "LORAKIT_THREADS"

    /// Parses the two variables; unset or empty means the default.
    public static func parse(_ environment: [String: String]) throws -> ComputeEnvironment {
        let gemm = try choice(gemmVariable, in: environment, default: GEMMBackendKind.onednn)
        var threads = availableCores()
        if let raw = environment[threadsVariable], !raw.isEmpty {
            guard let n = Int(raw.trimmingCharacters(in: .whitespaces)), (1...4096).contains(n) else {
                throw ComputeEnvironmentError(variable: threadsVariable, value: raw, expected: "a whole number of threads from 1 to 4096")
            }
            threads = n
        }
        let bf16Kernels = try choice(bf16KernelsVariable, in: environment, default: BF16KernelChoice.auto, listedWith: ", ")
        return ComputeEnvironment(gemm: gemm, threads: threads, bf16Kernels: bf16Kernels)
    }

    /// `variable`'s value as one of an enum's cases (case-insensitive); unset or empty means `fallback`.
    private static func choice<T: RawRepresentable & CaseIterable>(_ variable: String, in environment: [String: String],
                                                                  default fallback: T, listedWith separator: String = " or ") throws -> T
    where T.RawValue == String {
        guard let raw = environment[variable], !raw.isEmpty else { return fallback }
        guard let value = T(rawValue: raw.lowercased()) else {
            throw ComputeEnvironmentError(variable: variable, value: raw,
                                          expected: T.allCases.map(\.rawValue).joined(separator: separator))
        }
        return value
    }

    /// The settings of this process, applied to OpenBLAS and OpenMP on first use. A bad variable stops the process
    /// with a message and exit code 1 (the CLI checks earlier with `parse` to report it before any work).
    public static let current: ComputeEnvironment = {
        do {
            let settings = try parse(ProcessInfo.processInfo.environment)
            settings.applyThreadBudget()
            return settings
        } catch {
            FileHandle.standardError.write(Data("lorakit: \(error)\n".utf8))
            exit(1)
        }
    }()

    /// Cores this process may run on: its CPU affinity mask (taskset, cpusets; /proc/self/status, since Foundation's
    /// count ignores it), capped by a cgroup v2 CPU quota (/sys/fs/cgroup/cpu.max), at least 1.
    public static func availableCores() -> Int {
        var cores = ProcessInfo.processInfo.activeProcessorCount
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) {
            let mask = line.dropFirst("Cpus_allowed:".count).filter(\.isHexDigit)
            let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
            if count > 0 { cores = min(cores, count) }
        }
        if let quota = try? String(contentsOfFile: "/sys/fs/cgroup/cpu.max", encoding: .utf8) {
            let parts = quota.split(whereSeparator: \.isWhitespace)
            if parts.count == 2, let q = Double(parts[0]), let p = Double(parts[1]), p > 0 {
                cores = min(cores, Int((q / p).rounded(.up)))
            }
        }
        return max(1, cores)
    }

    private func applyThreadBudget() {
        openblas_set_num_threads(Int32(threads))
        omp_set_num_threads(Int32(threads))
    }
}

/// Thread counts on the calling thread.
enum ThreadBudget {
    /// Runs `body` with OpenMP (oneDNN) limited to one thread on this thread: for GEMMs issued from inside a
    /// parallel chunk, whose sibling chunks already occupy the other cores. OpenMP's thread count is per thread,
    /// so this affects no other thread.
    @inline(__always)
    static func singleThreaded<T>(_ body: () throws -> T) rethrows -> T {
        let previous = omp_get_max_threads()
        if previous != 1 { omp_set_num_threads(1) }
        defer { if previous != 1 { omp_set_num_threads(previous) } }
        return try body()
    }
}
