import Foundation

/// The collectives data-parallel training needs, so that the Trainer never sees MPI: `SingleProcess` (the default,
/// a no-op) here, `MPICommunicator` in the Distributed target. Every rank must call the same collectives in the same
/// order with buffers of the same length.
public protocol Communicator: AnyObject {
    /// This process's index, 0 ..< size. Rank 0 alone writes files and prints.
    var rank: Int { get }
    /// Number of processes training together.
    var size: Int { get }
    /// Elementwise sum over ranks, in place, in fp32 (gradient buckets).
    func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// Elementwise sum over ranks, in place, in fp64 (loss sums, token counts: exact for integers below 2⁵³).
    func sumInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws
    /// Elementwise maximum over ranks, in place.
    func maxInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws
}

extension Communicator {
    public var isMain: Bool { rank == 0 }

    public func sum(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try sumInPlace($0) }
        return v
    }

    public func max(_ values: [Double]) throws -> [Double] {
        var v = values
        try v.withUnsafeMutableBufferPointer { try maxInPlace($0) }
        return v
    }

    /// Elementwise minimum, as −max(−x).
    public func min(_ values: [Double]) throws -> [Double] { try max(values.map { -$0 }).map { -$0 } }
}

/// One process: every collective is the identity, so a run without mpirun does exactly what it did before.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func sumInPlace(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    public func sumInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws {}
    public func maxInPlace(_ values: UnsafeMutableBufferPointer<Double>) throws {}
}

/// A collective that failed or did not finish: another rank died, hangs, or the network is down.
public struct DistributedError: Error, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "distributed training: \(message)" }
}
