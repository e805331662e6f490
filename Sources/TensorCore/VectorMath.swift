import Foundation

/// Vectorized exp for the softmax-shaped loops (attention, cross-entropy), where scalar expf dominated the time.
///
/// Cephes' expf scheme: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n by building the float's
/// exponent bits. Relative error ≤ 2 ulp on [−87, 88]; below −87.3 (and −inf) the result is 0.
@inline(__always)
func exp16(_ x: SIMD16<Float>) -> SIMD16<Float> {
    // Only plain lane-wise arithmetic and bit casts: Swift's generic SIMD rounding and Float→Int conversions
    // compile to scalar loops, which made a first version slower than expf.
    // (pointwiseMin/Max are generic and were not inlined: a call per vector.)
    let clamped = x.replacing(with: 88.3, where: x .> 88.3).replacing(with: -87.3, where: x .< -87.3)
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
    let magic = SIMD16<Float>(repeating: 12_582_912)
    let shifted = clamped * 1.442_695_040_888_963_4 + magic
    let n = shifted - magic
    let r = clamped - n * 0.693_359_375 + n * 2.121_944_4e-4
    var p = SIMD16<Float>(repeating: 1.987_569_150_0e-4)
    p = p * r + 1.398_199_950_7e-3
    p = p * r + 8.333_451_907_3e-3
    p = p * r + 4.166_579_589_4e-2
    p = p * r + 1.666_666_545_9e-1
    p = p * r + 5.000_000_120_1e-1
    let er = p * r * r + r + 1
    let integer = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD16<Float>.self)
    // exp underflows to 0 below −87.3, including −inf (masked positions).
    return (er * scale).replacing(with: 0, where: x .< -87.3)
}

public enum VectorMath {
    /// y[i] = exp(x[i] − shift); returns Σ y. x and y may alias.
    @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, shift: Float, into y: UnsafeMutablePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        let s = SIMD16<Float>(repeating: shift)
        while i + 16 <= n {
            let v = exp16(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - s)
            UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: SIMD16<Float>.self)
            acc += v
            i += 16
        }
        var sum = acc.sum()
        while i < n { let e = expf(x[i] - shift); y[i] = e; sum += e; i += 1 }
        return sum
    }

    /// Σ exp(x[i] − shift), without storing.
    @inline(__always)
    public static func sumExpShifted(_ x: UnsafePointer<Float>, shift: Float, count n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: 0)
        var i = 0
        let s = SIMD16<Float>(repeating: shift)
        while i + 16 <= n {
            acc += exp16(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self) - s)
            i += 16
        }
        var sum = acc.sum()
        while i < n { sum += expf(x[i] - shift); i += 1 }
        return sum
    }

    /// max over n elements (−inf for n = 0).
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, count n: Int) -> Float {
        var acc = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            acc = acc.replacing(with: v, where: v .> acc)
            i += 16
        }
        var m = acc.max()
        while i < n { m = max(m, x[i]); i += 1 }
        return m
    }
}

/// erf for 16 lanes: Abramowitz & Stegun 7.1.26 (|error| ≤ 1.5e-7 absolute), with exp16 for e^(−x²). BERT and
/// Falcon's exact GELU spent most of their activation time in scalar erff.
@inline(__always)
func erf16(_ x: SIMD16<Float>) -> SIMD16<Float> { erf16(x, expOfMinusSquare: exp16(-(x * x))) }

/// erf16 given e^(−x²), which GELU's derivative needs as well (φ(x) is the same exponential): one exp16 for both.
@inline(__always)
func erf16(_ x: SIMD16<Float>, expOfMinusSquare e: SIMD16<Float>) -> SIMD16<Float> {
    let ax = x.replacing(with: -x, where: x .< 0)
    let t = 1 / (1 + 0.327_591_1 * ax)
    var p = SIMD16<Float>(repeating: 1.061_405_429)
    p = p * t - 1.453_152_027
    p = p * t + 1.421_413_741
    p = p * t - 0.284_496_736
    p = p * t + 0.254_829_592
    let y = 1 - p * t * e
    return y.replacing(with: -y, where: x .< 0)
}

/// 1/√2 as a Float literal: Glibc's M_SQRT1_2 is a Double behind a getter, which the GELU loops called every vector.
let inverseSquareRootOf2: Float = 0.707_106_781_186_547_5

extension VectorMath {
    /// y = x · Φ(x) (exact GELU) over n elements.
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            let r = 0.5 * v * (1 + erf16(v * inverseSquareRootOf2))
            UnsafeMutableRawPointer(y + i).storeBytes(of: r, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { y[i] = 0.5 * x[i] * (1 + erff(x[i] * inverseSquareRootOf2)); i += 1 }
    }

    /// dx = g · (Φ(x) + x · φ(x)), the exact GELU's derivative, over n elements. φ(x) = e^(−x²/2)/√(2π) is the
    /// exponential erf(x/√2) needs too, so it is computed once.
    public static func geluBackward(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count n: Int) {
        let invSqrt2Pi = Float(0.3989422804014327)
        var i = 0
        while i + 16 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            let u = v * inverseSquareRootOf2
            let e = exp16(-(u * u))
            let cdf = 0.5 * (1 + erf16(u, expOfMinusSquare: e))
            UnsafeMutableRawPointer(dx + i).storeBytes(of: gv * (cdf + v * e * invSqrt2Pi), as: SIMD16<Float>.self)
            i += 16
        }
        while i < n {
            let cdf = 0.5 * (1 + erff(x[i] * inverseSquareRootOf2))
            dx[i] = g[i] * (cdf + x[i] * expf(-0.5 * x[i] * x[i]) * invSqrt2Pi)
            i += 1
        }
    }
}

extension VectorMath {
    /// out = silu(gate) ⊙ up over n elements, σ(x) = 1 / (1 + e^(−x)) with exp16.
    public static func swiglu(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        var i = 0
        while i + 16 <= n {
            let x = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD16<Float>.self)
            let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD16<Float>.self)
            let s = 1 / (1 + exp16(-x))
            UnsafeMutableRawPointer(out + i).storeBytes(of: x * s * u, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { let x = gate[i]; out[i] = x / (1 + expf(-x)) * up[i]; i += 1 }
    }

    /// The SwiGLU gradients for output gradient g: dUp = g · silu(gate), dGate = g · up · σ(gate)(1 + gate(1 − σ)).
    /// Either output may be nil (its input needs no gradient).
    public static func swigluBackward(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                      dGate: UnsafeMutablePointer<Float>?, dUp: UnsafeMutablePointer<Float>?, count n: Int) {
        var i = 0
        while i + 16 <= n {
            let x = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD16<Float>.self)
            let u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD16<Float>.self)
            let gv = UnsafeRawPointer(g + i).loadUnaligned(as: SIMD16<Float>.self)
            let s = 1 / (1 + exp16(-x))
            if let dUp { UnsafeMutableRawPointer(dUp + i).storeBytes(of: gv * x * s, as: SIMD16<Float>.self) }
            if let dGate { UnsafeMutableRawPointer(dGate + i).storeBytes(of: gv * u * s * (1 + x * (1 - s)), as: SIMD16<Float>.self) }
            i += 16
        }
        while i < n {
            let x = gate[i], s = 1 / (1 + expf(-x))
            dUp?[i] = g[i] * x * s
            dGate?[i] = g[i] * up[i] * s * (1 + x * (1 - s))
            i += 1
        }
    }
}
