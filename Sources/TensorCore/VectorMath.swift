import CVectorKernels

/// The row and elementwise math of softmax, GELU, SwiGLU and the norms over raw buffers. The kernels are C (Sources/CVectorKernels)
/// so that they run on the widest vector unit the CPU has, chosen at run time, while the Swift targets stay built
/// for baseline x86-64; every variant gives the same bits.
public enum VectorMath {
    /// y[i] = exp(x[i] − shift); returns Σ y. x and y may alias.
    @inline(__always)
    public static func expShifted(_ x: UnsafePointer<Float>, shift: Float, into y: UnsafeMutablePointer<Float>, count n: Int) -> Float {
        lk_vec_exp_shifted(x, shift, y, Int64(n))
    }

    /// Σ exp(x[i] − shift), without storing.
    @inline(__always)
    public static func sumExpShifted(_ x: UnsafePointer<Float>, shift: Float, count n: Int) -> Float {
        lk_vec_sum_exp_shifted(x, shift, Int64(n))
    }

    /// max over n elements (−inf for n = 0).
    @inline(__always)
    public static func maximum(_ x: UnsafePointer<Float>, count n: Int) -> Float { lk_vec_max(x, Int64(n)) }

    /// Σ a[i]·b[i] over n elements, in 16 partial sums.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count n: Int) -> Float {
        lk_vec_dot(a, b, Int64(n))
    }

    /// The row turned into its softmax in place; returns its log-sum-exp (−inf, and a row of zeros, when every
    /// entry is −inf).
    @inline(__always)
    public static func softmaxInPlace(_ x: UnsafeMutablePointer<Float>, count n: Int) -> Float {
        lk_vec_softmax_in_place(x, Int64(n))
    }

    /// dp[i] = p[i] · (dp[i] − dot): softmax's backward for one row, where dot = Σ p · (incoming gradient).
    @inline(__always)
    public static func softmaxBackwardInPlace(_ p: UnsafePointer<Float>, _ dp: UnsafeMutablePointer<Float>, dot: Float, count n: Int) {
        lk_vec_softmax_backward_in_place(p, dp, dot, Int64(n))
    }

    /// y = x · Φ(x) (exact GELU) over n elements.
    public static func gelu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count n: Int) {
        lk_vec_gelu(x, y, Int64(n))
    }

    /// dx = g · (Φ(x) + x · φ(x)), the exact GELU's derivative, over n elements.
    public static func geluBackward(_ x: UnsafePointer<Float>, _ g: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count n: Int) {
        lk_vec_gelu_backward(x, g, dx, Int64(n))
    }

    /// out = silu(gate) ⊙ up over n elements.
    public static func swiglu(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count n: Int) {
        lk_vec_swiglu(gate, up, out, Int64(n))
    }

    /// The SwiGLU gradients for output gradient g: dUp = g · silu(gate), dGate = g · up · σ(gate)(1 + gate(1 − σ)).
    /// Either output may be nil (its input needs no gradient).
    public static func swigluBackward(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                      dGate: UnsafeMutablePointer<Float>?, dUp: UnsafeMutablePointer<Float>?, count n: Int) {
        lk_vec_swiglu_backward(gate, up, g, dGate, dUp, Int64(n))
    }

    /// RMSNorm of one row: y = w ⊙ x · inv, inv = 1/√(mean(x²) + eps); returns inv.
    @inline(__always)
    public static func rmsNorm(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>,
                               count n: Int, eps: Float) -> Float {
        lk_vec_rms_norm(x, w, y, Int64(n), eps)
    }

    /// RMSNorm's backward for one row given the forward's inv.
    @inline(__always)
    public static func rmsNormBackward(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, _ g: UnsafePointer<Float>,
                                       inv: Float, into dx: UnsafeMutablePointer<Float>, count n: Int) {
        lk_vec_rms_norm_backward(x, w, g, inv, dx, Int64(n))
    }

    /// LayerNorm of one row (biased variance): xhat = (x − mean) · inv, y = xhat ⊙ w + b; returns inv.
    @inline(__always)
    public static func layerNorm(_ x: UnsafePointer<Float>, weight w: UnsafePointer<Float>, bias b: UnsafePointer<Float>?,
                                 normalized xhat: UnsafeMutablePointer<Float>, into y: UnsafeMutablePointer<Float>,
                                 count n: Int, eps: Float) -> Float {
        lk_vec_layer_norm(x, w, b, xhat, y, Int64(n), eps)
    }

    /// LayerNorm's backward for one row from the saved xhat and inv.
    @inline(__always)
    public static func layerNormBackward(_ g: UnsafePointer<Float>, weight w: UnsafePointer<Float>, normalized xhat: UnsafePointer<Float>,
                                         inv: Float, into dx: UnsafeMutablePointer<Float>, count n: Int) {
        lk_vec_layer_norm_backward(g, w, xhat, inv, dx, Int64(n))
    }
}
