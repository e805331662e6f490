// Elementwise kernels of the training step that are not GEMM (softmax exponentials, GELU, SwiGLU, norms), in C so one
// binary runs them 16 lanes wide on the widest vector unit the CPU has: the Swift targets are built for baseline
// x86-64 (SSE2), where a 16-lane vector is four registers, and building them for AVX2 would make the binary die
// with SIGILL on CPUs without it. Each entry point picks its variant (AVX-512, AVX2, baseline) once, at the first
// call; every variant does the same fp32 operations in the same order, never fused into FMAs, so results are
// identical on every CPU. Sums over a row run in 16 partial sums (then added in lane order): a single running sum
// is a chain of dependent adds that no compiler may reorder, one add per 3-4 cycles.
#ifndef LORAKIT_VECTOR_KERNELS_H
#define LORAKIT_VECTOR_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    LK_VEC_BASELINE = 0,
    LK_VEC_AVX2 = 1,
    LK_VEC_AVX512 = 2,  // avx512f
};

/// y[i] = exp(x[i] − shift) for i < n; returns the sum of the y. x and y may be the same buffer.
/// exp is Cephes' scheme (≤ 2 ulp on [−87, 88]); it is 0 below −87.3 and for −inf.
float lk_vec_exp_shifted(const float *x, float shift, float *y, int64_t n);
/// Σ exp(x[i] − shift), nothing stored.
float lk_vec_sum_exp_shifted(const float *x, float shift, int64_t n);
/// The largest x[i] (NaNs skipped), −inf for n = 0.
float lk_vec_max(const float *x, int64_t n);
/// Σ a[i]·b[i] in 16 partial sums (then added in lane order), so every variant gives the same bits.
float lk_vec_dot(const float *a, const float *b, int64_t n);
/// A row of scores turned into probabilities in place; returns its log-sum-exp. A row that is all −inf becomes
/// zeros and returns −inf.
float lk_vec_softmax_in_place(float *x, int64_t n);
/// dp[i] = p[i] · (dp[i] − dot): softmax's backward for one row, dot = Σ p·dp (attention passes rowsum(dO ⊙ O)).
void lk_vec_softmax_backward_in_place(const float *p, float *dp, float dot, int64_t n);

/// y = x · Φ(x), the exact GELU (erf by Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7).
void lk_vec_gelu(const float *x, float *y, int64_t n);
/// dx = g · (Φ(x) + x · φ(x)).
void lk_vec_gelu_backward(const float *x, const float *g, float *dx, int64_t n);
/// out = silu(gate) · up.
void lk_vec_swiglu(const float *gate, const float *up, float *out, int64_t n);
/// d_up = g · silu(gate), d_gate = g · up · σ(gate)(1 + gate(1 − σ(gate))); either output may be NULL.
void lk_vec_swiglu_backward(const float *gate, const float *up, const float *g, float *d_gate, float *d_up, int64_t n);

/// RMSNorm of one row: y = w ⊙ x · inv with inv = 1/√(mean(x²) + eps); returns inv.
float lk_vec_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps);
/// Its backward for one row given the forward's inv: dx = g ⊙ w · inv − x · (Σ g·w·x) · inv³ / n.
void lk_vec_rms_norm_backward(const float *x, const float *w, const float *g, float inv, float *dx, int64_t n);
/// LayerNorm of one row (biased variance): xhat = (x − mean) · inv, y = xhat ⊙ w + b (b may be NULL);
/// returns inv = 1/√(var + eps).
float lk_vec_layer_norm(const float *x, const float *w, const float *b, float *xhat, float *y, int64_t n, float eps);
/// Its backward for one row: dx = inv · (g⊙w − mean(g⊙w) − xhat · mean(g⊙w⊙xhat)).
void lk_vec_layer_norm_backward(const float *g, const float *w, const float *xhat, float inv, float *dx, int64_t n);

/// The level the kernels use now.
int lk_vec_level(void);
/// The highest level this CPU supports.
int lk_vec_best_level(void);
/// Makes the kernels use `level` (clamped to what the CPU supports; tests compare the variants). Returns the level
/// in use. Not meant to be called while other threads run the kernels.
int lk_vec_set_level(int level);

#ifdef __cplusplus
}
#endif

#endif
