// See include/vector_kernels.h. Each kernel is one body written with 16-lane vectors (clang's vector extensions),
// instantiated three times with per-function target attributes: baseline x86-64 lowers a 16-lane vector to four
// SSE registers, AVX2 to two, AVX-512 to one. The math is Cephes' expf and Abramowitz & Stegun's erf, as the
// Swift versions these replace had. Contraction into FMA is off so that every variant rounds alike.
#include "vector_kernels.h"

#include <math.h>
#include <stdint.h>

#pragma clang fp contract(off)
// The helpers take and return 16-lane vectors by value; they are always inlined, so no call crosses the ABI that
// clang warns about.
#pragma clang diagnostic ignored "-Wpsabi"

#define INLINE static inline __attribute__((always_inline))
#define AVX2 __attribute__((target("avx2")))
#define AVX512 __attribute__((target("avx512f,avx2")))

typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

INLINE v16f splat(float x) { return (v16f){0} + x; }
INLINE v16f load(const float *p) { v16f v; __builtin_memcpy(&v, p, sizeof v); return v; }
INLINE void store(float *p, v16f v) { __builtin_memcpy(p, &v, sizeof v); }
/// The first `count` (< 16) floats at p, the other lanes `fill`: tails run through the same vector code.
INLINE v16f load_tail(const float *p, int64_t count, float fill) {
    v16f v = splat(fill);
    for (int64_t i = 0; i < count; i++) v[i] = p[i];
    return v;
}
INLINE void store_tail(float *p, v16f v, int64_t count) { for (int64_t i = 0; i < count; i++) p[i] = v[i]; }
/// mask ? a : b, lane-wise (mask lanes are all ones or all zeros, as comparisons give).
INLINE v16f select(v16i mask, v16f a, v16f b) { return (v16f)(((v16i)a & mask) | ((v16i)b & ~mask)); }
/// Lanes summed in index order, the same on every variant.
INLINE float sum_lanes(v16f v, int64_t count) {
    float s = 0;
    for (int64_t i = 0; i < count; i++) s += v[i];
    return s;
}

// MARK: - exp and erf

/// Cephes' expf: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial, 2^n built in the exponent bits.
/// ≤ 2 ulp on [−87, 88]; 0 below −87.3 (−inf included); NaN stays NaN.
INLINE v16f vexp(v16f x) {
    v16f clamped = select(x > 88.3f, splat(88.3f), x);
    clamped = select(clamped < -87.3f, splat(-87.3f), clamped);
    // Adding 1.5·2²³ rounds to the nearest integer and leaves it in the low mantissa bits.
    const v16f magic = splat(12582912.0f);
    v16f shifted = clamped * 1.4426950408889634f + magic;
    v16f n = shifted - magic;
    v16f r = clamped - n * 0.693359375f + n * 2.1219444e-4f;
    v16f p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    v16f er = p * r * r + r + 1.0f;
    v16i integer = (v16i)shifted - 0x4B400000;
    v16f scale = (v16f)((integer + 127) << 23);
    return select(x < -87.3f, splat(0), er * scale);
}

/// erf(x) given e = exp(−x²), which GELU's derivative needs as well: Abramowitz & Stegun 7.1.26.
INLINE v16f verf(v16f x, v16f e) {
    v16i negative = x < 0.0f;
    v16f ax = select(negative, -x, x);
    v16f t = 1.0f / (1.0f + 0.3275911f * ax);
    v16f p = splat(1.061405429f);
    p = p * t - 1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t - 0.284496736f;
    p = p * t + 0.254829592f;
    v16f y = 1.0f - p * t * e;
    return select(negative, -y, y);
}

static const float inverse_sqrt2 = 0.7071067811865475f, inverse_sqrt_2pi = 0.3989422804014327f;

// MARK: - Kernel bodies

INLINE float exp_shifted(const float *x, float shift, float *y, int64_t n) {
    v16f acc = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16f e = vexp(load(x + i) - shift);
        store(y + i, e);
        acc += e;
    }
    float sum = sum_lanes(acc, 16);
    if (i < n) {
        v16f e = vexp(load_tail(x + i, n - i, 0) - shift);
        store_tail(y + i, e, n - i);
        sum += sum_lanes(e, n - i);
    }
    return sum;
}

INLINE float sum_exp_shifted(const float *x, float shift, int64_t n) {
    v16f acc = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += vexp(load(x + i) - shift);
    float sum = sum_lanes(acc, 16);
    if (i < n) sum += sum_lanes(vexp(load_tail(x + i, n - i, 0) - shift), n - i);
    return sum;
}

INLINE float maximum(const float *x, int64_t n) {
    v16f acc = splat(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16f v = load(x + i);
        acc = select(v > acc, v, acc);
    }
    if (i < n) {
        v16f v = load_tail(x + i, n - i, -INFINITY);
        acc = select(v > acc, v, acc);
    }
    float m = -INFINITY;
    for (int k = 0; k < 16; k++) m = acc[k] > m ? acc[k] : m;
    return m;
}

INLINE float dot(const float *a, const float *b, int64_t n) {
    v16f acc = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += load(a + i) * load(b + i);
    float sum = sum_lanes(acc, 16);
    if (i < n) sum += sum_lanes(load_tail(a + i, n - i, 0) * load_tail(b + i, n - i, 0), n - i);
    return sum;
}

INLINE float softmax_in_place(float *x, int64_t n) {
    float m = maximum(x, n);
    if (m == -INFINITY) {
        for (int64_t i = 0; i < n; i++) x[i] = 0;
        return -INFINITY;
    }
    float sum = exp_shifted(x, m, x, n), inv = 1.0f / sum;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) store(x + i, load(x + i) * inv);
    for (; i < n; i++) x[i] *= inv;
    return m + logf(sum);
}

INLINE void softmax_backward_in_place(const float *p, float *dp, float dot, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) store(dp + i, load(p + i) * (load(dp + i) - dot));
    for (; i < n; i++) dp[i] = p[i] * (dp[i] - dot);
}

INLINE v16f gelu16(v16f v) {
    v16f u = v * inverse_sqrt2;
    return 0.5f * v * (1.0f + verf(u, vexp(-(u * u))));
}

INLINE v16f gelu_backward16(v16f v, v16f g) {
    v16f u = v * inverse_sqrt2;
    v16f e = vexp(-(u * u));
    v16f cdf = 0.5f * (1.0f + verf(u, e));
    return g * (cdf + v * e * inverse_sqrt_2pi);
}

INLINE void gelu(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) store(y + i, gelu16(load(x + i)));
    if (i < n) store_tail(y + i, gelu16(load_tail(x + i, n - i, 0)), n - i);
}

INLINE void gelu_backward(const float *x, const float *g, float *dx, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) store(dx + i, gelu_backward16(load(x + i), load(g + i)));
    if (i < n) store_tail(dx + i, gelu_backward16(load_tail(x + i, n - i, 0), load_tail(g + i, n - i, 0)), n - i);
}

INLINE v16f sigmoid16(v16f x) { return 1.0f / (1.0f + vexp(-x)); }

INLINE void swiglu(const float *gate, const float *up, float *out, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        v16f x = load(gate + i);
        store(out + i, x * sigmoid16(x) * load(up + i));
    }
    if (i < n) {
        v16f x = load_tail(gate + i, n - i, 0);
        store_tail(out + i, x * sigmoid16(x) * load_tail(up + i, n - i, 0), n - i);
    }
}

INLINE void swiglu_backward16(v16f x, v16f u, v16f g, v16f *d_gate, v16f *d_up) {
    v16f s = sigmoid16(x);
    *d_up = g * x * s;
    *d_gate = g * u * s * (1.0f + x * (1.0f - s));
}

INLINE void swiglu_backward(const float *gate, const float *up, const float *g, float *d_gate, float *d_up, int64_t n) {
    v16f dg, du;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        swiglu_backward16(load(gate + i), load(up + i), load(g + i), &dg, &du);
        if (d_gate) store(d_gate + i, dg);
        if (d_up) store(d_up + i, du);
    }
    if (i < n) {
        int64_t r = n - i;
        swiglu_backward16(load_tail(gate + i, r, 0), load_tail(up + i, r, 0), load_tail(g + i, r, 0), &dg, &du);
        if (d_gate) store_tail(d_gate + i, dg, r);
        if (d_up) store_tail(d_up + i, du, r);
    }
}

/// Σ x (16 partial sums, lane order), Σ x·y, and the like: the reductions of the norms.
INLINE float sum(const float *x, int64_t n) {
    v16f acc = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += load(x + i);
    float s = sum_lanes(acc, 16);
    if (i < n) s += sum_lanes(load_tail(x + i, n - i, 0), n - i);
    return s;
}

INLINE float rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    float inv = 1.0f / sqrtf(dot(x, x, n) / (float)n + eps);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) store(y + i, load(w + i) * (load(x + i) * inv));
    for (; i < n; i++) y[i] = w[i] * (x[i] * inv);
    return inv;
}

INLINE void rms_norm_backward(const float *x, const float *w, const float *g, float inv, float *dx, int64_t n) {
    v16f acc = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) acc += load(g + i) * load(w + i) * load(x + i);
    float dot = sum_lanes(acc, 16);
    if (i < n) dot += sum_lanes(load_tail(g + i, n - i, 0) * load_tail(w + i, n - i, 0) * load_tail(x + i, n - i, 0), n - i);
    float c = dot * inv * inv * inv / (float)n;
    for (i = 0; i + 16 <= n; i += 16) store(dx + i, load(g + i) * load(w + i) * inv - load(x + i) * c);
    for (; i < n; i++) dx[i] = g[i] * w[i] * inv - x[i] * c;
}

INLINE float layer_norm(const float *x, const float *w, const float *b, float *xhat, float *y, int64_t n, float eps) {
    float mean = sum(x, n) / (float)n;
    v16f acc = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { v16f d = load(x + i) - mean; acc += d * d; }
    float var = sum_lanes(acc, 16);
    if (i < n) { v16f d = load_tail(x + i, n - i, mean) - mean; var += sum_lanes(d * d, n - i); }
    float inv = 1.0f / sqrtf(var / (float)n + eps);
    for (i = 0; i + 16 <= n; i += 16) {
        v16f h = (load(x + i) - mean) * inv;
        store(xhat + i, h);
        store(y + i, b ? h * load(w + i) + load(b + i) : h * load(w + i) + 0.0f);
    }
    for (; i < n; i++) {
        float h = (x[i] - mean) * inv;
        xhat[i] = h;
        y[i] = h * w[i] + (b ? b[i] : 0.0f);
    }
    return inv;
}

INLINE void layer_norm_backward(const float *g, const float *w, const float *xhat, float inv, float *dx, int64_t n) {
    v16f sg = splat(0), sgh = splat(0);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { v16f gw = load(g + i) * load(w + i); sg += gw; sgh += gw * load(xhat + i); }
    float sumG = sum_lanes(sg, 16), sumGH = sum_lanes(sgh, 16);
    if (i < n) {
        v16f gw = load_tail(g + i, n - i, 0) * load_tail(w + i, n - i, 0);
        sumG += sum_lanes(gw, n - i);
        sumGH += sum_lanes(gw * load_tail(xhat + i, n - i, 0), n - i);
    }
    float mg = sumG / (float)n, mgh = sumGH / (float)n;
    for (i = 0; i + 16 <= n; i += 16) store(dx + i, inv * (load(g + i) * load(w + i) - mg - load(xhat + i) * mgh));
    for (; i < n; i++) dx[i] = inv * (g[i] * w[i] - mg - xhat[i] * mgh);
}

// MARK: - Variants and dispatch

#define VARIANTS(ret, name, params, args)                                \
    static ret name##_baseline params { return name args; }             \
    AVX2 static ret name##_avx2 params { return name args; }            \
    AVX512 static ret name##_avx512 params { return name args; }        \
    static ret(*const name##_variants[3]) params = {name##_baseline, name##_avx2, name##_avx512};

VARIANTS(float, exp_shifted, (const float *x, float s, float *y, int64_t n), (x, s, y, n))
VARIANTS(float, sum_exp_shifted, (const float *x, float s, int64_t n), (x, s, n))
VARIANTS(float, maximum, (const float *x, int64_t n), (x, n))
VARIANTS(float, dot, (const float *a, const float *b, int64_t n), (a, b, n))
VARIANTS(float, softmax_in_place, (float *x, int64_t n), (x, n))
VARIANTS(void, softmax_backward_in_place, (const float *p, float *dp, float dot, int64_t n), (p, dp, dot, n))
VARIANTS(void, gelu, (const float *x, float *y, int64_t n), (x, y, n))
VARIANTS(void, gelu_backward, (const float *x, const float *g, float *dx, int64_t n), (x, g, dx, n))
VARIANTS(void, swiglu, (const float *gate, const float *up, float *out, int64_t n), (gate, up, out, n))
VARIANTS(void, swiglu_backward, (const float *gate, const float *up, const float *g, float *dg, float *du, int64_t n),
         (gate, up, g, dg, du, n))

VARIANTS(float, rms_norm, (const float *x, const float *w, float *y, int64_t n, float eps), (x, w, y, n, eps))
VARIANTS(void, rms_norm_backward, (const float *x, const float *w, const float *g, float inv, float *dx, int64_t n),
         (x, w, g, inv, dx, n))
VARIANTS(float, layer_norm, (const float *x, const float *w, const float *b, float *xh, float *y, int64_t n, float eps),
         (x, w, b, xh, y, n, eps))
VARIANTS(void, layer_norm_backward, (const float *g, const float *w, const float *xh, float inv, float *dx, int64_t n),
         (g, w, xh, inv, dx, n))

int lk_vec_best_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2")) return LK_VEC_AVX512;
    if (__builtin_cpu_supports("avx2")) return LK_VEC_AVX2;
    return LK_VEC_BASELINE;
}

// -1 until the first call picks the best level. A plain int: every thread computes the same value.
static int level = -1;

int lk_vec_level(void) {
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = lk_vec_best_level();
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

int lk_vec_set_level(int requested) {
    int best = lk_vec_best_level();
    int l = requested < LK_VEC_BASELINE ? LK_VEC_BASELINE : requested > best ? best : requested;
    __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    return l;
}

float lk_vec_exp_shifted(const float *x, float shift, float *y, int64_t n) {
    return exp_shifted_variants[lk_vec_level()](x, shift, y, n);
}
float lk_vec_sum_exp_shifted(const float *x, float shift, int64_t n) {
    return sum_exp_shifted_variants[lk_vec_level()](x, shift, n);
}
float lk_vec_max(const float *x, int64_t n) { return maximum_variants[lk_vec_level()](x, n); }
float lk_vec_dot(const float *a, const float *b, int64_t n) { return dot_variants[lk_vec_level()](a, b, n); }
float lk_vec_softmax_in_place(float *x, int64_t n) { return softmax_in_place_variants[lk_vec_level()](x, n); }
void lk_vec_softmax_backward_in_place(const float *p, float *dp, float dot, int64_t n) {
    softmax_backward_in_place_variants[lk_vec_level()](p, dp, dot, n);
}
void lk_vec_gelu(const float *x, float *y, int64_t n) { gelu_variants[lk_vec_level()](x, y, n); }
void lk_vec_gelu_backward(const float *x, const float *g, float *dx, int64_t n) {
    gelu_backward_variants[lk_vec_level()](x, g, dx, n);
}
void lk_vec_swiglu(const float *gate, const float *up, float *out, int64_t n) {
    swiglu_variants[lk_vec_level()](gate, up, out, n);
}
void lk_vec_swiglu_backward(const float *gate, const float *up, const float *g, float *d_gate, float *d_up, int64_t n) {
    swiglu_backward_variants[lk_vec_level()](gate, up, g, d_gate, d_up, n);
}
float lk_vec_rms_norm(const float *x, const float *w, float *y, int64_t n, float eps) {
    return rms_norm_variants[lk_vec_level()](x, w, y, n, eps);
}
void lk_vec_rms_norm_backward(const float *x, const float *w, const float *g, float inv, float *dx, int64_t n) {
    rms_norm_backward_variants[lk_vec_level()](x, w, g, inv, dx, n);
}
float lk_vec_layer_norm(const float *x, const float *w, const float *b, float *xhat, float *y, int64_t n, float eps) {
    return layer_norm_variants[lk_vec_level()](x, w, b, xhat, y, n, eps);
}
void lk_vec_layer_norm_backward(const float *g, const float *w, const float *xhat, float inv, float *dx, int64_t n) {
    layer_norm_backward_variants[lk_vec_level()](g, w, xhat, inv, dx, n);
}
