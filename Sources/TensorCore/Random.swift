import Foundation

/// Deterministic, seedable generator (xoshiro256**, seeded by SplitMix64) whose whole state can be saved in a
/// checkpoint and restored, so dropout masks and data order replay exactly after a resume.
public struct SeededGenerator: RandomNumberGenerator, Codable, Equatable {
    public private(set) var state: [UInt64]

    public init(seed: UInt64) {
        var s = seed
        func splitmix() -> UInt64 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = [splitmix(), splitmix(), splitmix(), splitmix()]
    }

    public mutating func next() -> UInt64 {
        let result = ((state[1] &* 5) << 7 | (state[1] &* 5) >> 57) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]; state[3] ^= state[1]; state[1] ^= state[2]; state[0] ^= state[3]
        state[2] ^= t
        state[3] = (state[3] << 45) | (state[3] >> 19)
        return result
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func nextUniform() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Standard normal (Box–Muller).
    public mutating func nextNormal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float(sqrt(-2 * log(u1)) * cos(2 * Double.pi * u2))
    }
}

extension Tensor {
    /// Uniform values in [low, high).
    public static func uniform(_ shape: [Int], low: Float, high: Float, generator: inout SeededGenerator) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = low + (high - low) * generator.nextUniform() }
        return t
    }

    /// Normal values with the given mean and standard deviation.
    public static func normal(_ shape: [Int], mean: Float = 0, std: Float, generator: inout SeededGenerator) -> Tensor {
        let t = Tensor(uninitialized: shape)
        for i in 0..<t.count { t.data[i] = mean + std * generator.nextNormal() }
        return t
    }
}

extension SeededGenerator {
    /// Calls `body(i, u)` for i in 0..<count with the same uniforms as `count` calls of `nextUniform()` (and leaves
    /// the generator where those calls would), with the state in registers: dropout masks of millions of elements
    /// are drawn this way.
    @inline(__always)
    public mutating func forEachUniform(_ count: Int, _ body: (Int, Float) -> Void) {
        var (s0, s1, s2, s3) = (state[0], state[1], state[2], state[3])
        for i in 0..<count {
            let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
            let t = s1 << 17
            s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
            s2 ^= t
            s3 = (s3 << 45) | (s3 >> 19)
            body(i, Float(result >> 40) * (1.0 / 16_777_216.0))
        }
        state = [s0, s1, s2, s3]
    }
}
