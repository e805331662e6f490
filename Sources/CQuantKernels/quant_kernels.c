// See include/quant_kernels.h. One portable body per format (plain loops the compiler vectorizes), instantiated
// three times with per-function target attributes, so one binary runs the widest variant the CPU has. Exactness
// with the Swift decoders comes from doing the same fp32 operations in the same order: integer codes convert to
// float exactly, each output is one multiply (and one add/subtract), and contraction into FMA is off.
#include "quant_kernels.h"

#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#pragma clang fp contract(off)

#define INLINE static inline __attribute__((always_inline))
#define AVX2 __attribute__((target("avx2,f16c")))
#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,f16c")))

// IEEE half to float, exactly and with the NaN payload kept (as HalfPrecision.widenF16). A subnormal half is
// mantissa · 2⁻²⁴, exact in fp32.
INLINE float f16(const uint8_t *p) {
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF;
    uint32_t bits;
    if (exponent == 0) {
        float v = (float)mantissa * 0x1p-24f;
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (exponent == 0x1F) {
        bits = sign | 0x7F800000u | mantissa << 13;
    } else {
        bits = sign | (exponent + 112) << 23 | mantissa << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// MARK: - 32-element blocks (ggml-common.h layouts)

INLINE void q8_0(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 34, y += 32) {
        const float d = f16(b);
        const int8_t *q = (const int8_t *)(b + 2);
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d;
    }
}

INLINE void q4_0(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 18, y += 32) {
        const float d = f16(b);
        const uint8_t *q = b + 2;
        // Two passes (low nibbles, then high) so each vectorizes to contiguous stores.
        for (int j = 0; j < 16; j++) y[j] = (float)((int)(q[j] & 15) - 8) * d;
        for (int j = 0; j < 16; j++) y[j + 16] = (float)((int)(q[j] >> 4) - 8) * d;
    }
}

INLINE void q4_1(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 20, y += 32) {
        const float d = f16(b), m = f16(b + 2);
        const uint8_t *q = b + 4;
        for (int j = 0; j < 16; j++) y[j] = (float)(q[j] & 15) * d + m;
        for (int j = 0; j < 16; j++) y[j + 16] = (float)(q[j] >> 4) * d + m;
    }
}

INLINE void q5_0(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 22, y += 32) {
        const float d = f16(b);
        const uint32_t qh = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
        const uint8_t *q = b + 6;
        for (int j = 0; j < 16; j++) {
            int lo = (q[j] & 15) | (int)((qh >> j) & 1) << 4;
            int hi = (q[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = d * (float)(lo - 16);
            y[j + 16] = d * (float)(hi - 16);
        }
    }
}

INLINE void q5_1(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 24, y += 32) {
        const float d = f16(b), m = f16(b + 2);
        const uint32_t qh = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
        const uint8_t *q = b + 8;
        for (int j = 0; j < 16; j++) {
            uint32_t lo = (uint32_t)(q[j] & 15) | ((qh >> j) & 1) << 4;
            uint32_t hi = (uint32_t)(q[j] >> 4) | ((qh >> (j + 16)) & 1) << 4;
            y[j] = d * (float)lo + m;
            y[j + 16] = d * (float)hi + m;
        }
    }
}

// MARK: - K-quants (256-element super-blocks)

// get_scale_min_k4: the 6-bit scale and min of sub-block j.
INLINE void scale_min(int j, const uint8_t *q, float *scale, float *min) {
    if (j < 4) {
        *scale = (float)(q[j] & 63);
        *min = (float)(q[j + 4] & 63);
    } else {
        *scale = (float)((q[j + 4] & 15) | (q[j - 4] >> 6) << 4);
        *min = (float)((q[j + 4] >> 4) | (q[j] >> 6) << 4);
    }
}

INLINE void q4_K(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 144, y += 256) {
        const float d = f16(b), dmin = f16(b + 2);
        const uint8_t *scales = b + 4, *qs = b + 16;
        for (int c = 0; c < 4; c++) {
            float s0, m0, s1, m1;
            scale_min(2 * c, scales, &s0, &m0);
            scale_min(2 * c + 1, scales, &s1, &m1);
            const float d0 = d * s0, min0 = dmin * m0, d1 = d * s1, min1 = dmin * m1;
            const uint8_t *q = qs + 32 * c;
            float *out = y + 64 * c;
            for (int l = 0; l < 32; l++) {
                out[l] = d0 * (float)(q[l] & 15) - min0;
                out[l + 32] = d1 * (float)(q[l] >> 4) - min1;
            }
        }
    }
}

INLINE void q5_K(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 176, y += 256) {
        const float d = f16(b), dmin = f16(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *qs = b + 48;
        for (int c = 0; c < 4; c++) {
            float s0, m0, s1, m1;
            scale_min(2 * c, scales, &s0, &m0);
            scale_min(2 * c + 1, scales, &s1, &m1);
            const float d0 = d * s0, min0 = dmin * m0, d1 = d * s1, min1 = dmin * m1;
            const uint8_t *q = qs + 32 * c;
            float *out = y + 64 * c;
            const int lowBit = 2 * c, highBit = 2 * c + 1;
            for (int l = 0; l < 32; l++) {
                int lo = (q[l] & 15) | ((qh[l] >> lowBit) & 1) << 4;
                int hi = (q[l] >> 4) | ((qh[l] >> highBit) & 1) << 4;
                out[l] = d0 * (float)lo - min0;
                out[l + 32] = d1 * (float)hi - min1;
            }
        }
    }
}

INLINE void q6_K(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 210, y += 256) {
        const float d = f16(b + 208);
        const int8_t *scales = (const int8_t *)(b + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
            float *out = y + 128 * h;
            const int8_t *scale = scales + 8 * h;
            for (int s = 0; s < 4; s++) {
                const uint8_t *low = ql + 32 * (s & 1);
                const int shift = 4 * (s >> 1), highShift = 2 * s;
                const float dA = d * (float)scale[2 * s], dB = d * (float)scale[2 * s + 1];
                for (int l = 0; l < 16; l++) {
                    int q = (((low[l] >> shift) & 15) | ((qh[l] >> highShift) & 3) << 4) - 32;
                    out[32 * s + l] = dA * (float)q;
                }
                for (int l = 16; l < 32; l++) {
                    int q = (((low[l] >> shift) & 15) | ((qh[l] >> highShift) & 3) << 4) - 32;
                    out[32 * s + l] = dB * (float)q;
                }
            }
        }
    }
}

// MARK: - NF4

INLINE float nf4_absmax(const uint8_t *qa, const float *absmax2, float offset, const float *absmax_code, int64_t b) {
    return absmax_code[qa[b]] * absmax2[b / 256] + offset;
}

static void nf4_scalar(const uint8_t *packed, const uint8_t *qa, const float *absmax2, float offset,
                       const float *code, const float *absmax_code, int64_t first, int64_t blocks, float *restrict y) {
    for (int64_t j = 0; j < blocks; j++, y += 64) {
        const int64_t b = first + j;
        const float a = nf4_absmax(qa, absmax2, offset, absmax_code, b);
        const uint8_t *src = packed + b * 32;
        for (int i = 0; i < 32; i++) {
            y[2 * i] = code[src[i] >> 4] * a;
            y[2 * i + 1] = code[src[i] & 15] * a;
        }
    }
}

// Eight outputs from four bytes: each byte's 32-bit lane twice, shifted by 4 (high nibble, even element) then 0.
AVX2 static void nf4_avx2(const uint8_t *packed, const uint8_t *qa, const float *absmax2, float offset,
                          const float *code, const float *absmax_code, int64_t first, int64_t blocks, float *restrict y) {
    const __m256 tableLow = _mm256_loadu_ps(code), tableHigh = _mm256_loadu_ps(code + 8);
    const __m256i pairA = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), pairB = _mm256_setr_epi32(4, 4, 5, 5, 6, 6, 7, 7);
    const __m256i shifts = _mm256_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0), fifteen = _mm256_set1_epi32(15);
    for (int64_t j = 0; j < blocks; j++, y += 64) {
        const int64_t b = first + j;
        const __m256 a = _mm256_set1_ps(nf4_absmax(qa, absmax2, offset, absmax_code, b));
        const uint8_t *src = packed + b * 32;
        for (int i = 0; i < 32; i += 8) {
            __m256i bytes = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(src + i)));
            for (int half = 0; half < 2; half++) {
                __m256i lanes = _mm256_permutevar8x32_epi32(bytes, half ? pairB : pairA);
                __m256i nib = _mm256_and_si256(_mm256_srlv_epi32(lanes, shifts), fifteen);
                __m256 low = _mm256_permutevar8x32_ps(tableLow, nib), high = _mm256_permutevar8x32_ps(tableHigh, nib);
                __m256 v = _mm256_blendv_ps(low, high, _mm256_castsi256_ps(_mm256_slli_epi32(nib, 28)));
                _mm256_storeu_ps(y + 2 * i + 8 * half, _mm256_mul_ps(v, a));
            }
        }
    }
}

// Sixteen outputs from eight bytes; the 16-entry table fits one register.
AVX512 static void nf4_avx512(const uint8_t *packed, const uint8_t *qa, const float *absmax2, float offset,
                              const float *code, const float *absmax_code, int64_t first, int64_t blocks, float *restrict y) {
    const __m512 table = _mm512_loadu_ps(code);
    const __m512i pairA = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __m512i pairB = _mm512_setr_epi32(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    const __m512i shifts = _mm512_setr_epi32(4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0), fifteen = _mm512_set1_epi32(15);
    for (int64_t j = 0; j < blocks; j++, y += 64) {
        const int64_t b = first + j;
        const __m512 a = _mm512_set1_ps(nf4_absmax(qa, absmax2, offset, absmax_code, b));
        const uint8_t *src = packed + b * 32;
        for (int i = 0; i < 32; i += 16) {
            __m512i bytes = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(src + i)));
            __m512i nibA = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(pairA, bytes), shifts), fifteen);
            __m512i nibB = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutexvar_epi32(pairB, bytes), shifts), fifteen);
            _mm512_storeu_ps(y + 2 * i, _mm512_mul_ps(_mm512_permutexvar_ps(nibA, table), a));
            _mm512_storeu_ps(y + 2 * i + 16, _mm512_mul_ps(_mm512_permutexvar_ps(nibB, table), a));
        }
    }
}

// MARK: - Q4_0 / Q4_1 by hand: the compiler's vectorization of the nibble split is slower than scalar code.

// The low and high nibbles of a block's 16 bytes as 32 int32 lanes: elements 0–15 (low), 16–31 (high).
AVX2 static inline void nibbles_avx2(const uint8_t *qs, __m256i lanes[4]) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs), mask = _mm_set1_epi8(15);
    const __m128i low = _mm_and_si128(q, mask), high = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
    lanes[0] = _mm256_cvtepu8_epi32(low);
    lanes[1] = _mm256_cvtepu8_epi32(_mm_srli_si128(low, 8));
    lanes[2] = _mm256_cvtepu8_epi32(high);
    lanes[3] = _mm256_cvtepu8_epi32(_mm_srli_si128(high, 8));
}

AVX2 static void q4_0_avx2(const uint8_t *b, int64_t blocks, float *restrict y) {
    const __m256i eight = _mm256_set1_epi32(8);
    for (int64_t i = 0; i < blocks; i++, b += 18, y += 32) {
        const __m256 d = _mm256_set1_ps(f16(b));
        __m256i lanes[4];
        nibbles_avx2(b + 2, lanes);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + 8 * k, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(lanes[k], eight)), d));
    }
}

AVX2 static void q4_1_avx2(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 20, y += 32) {
        const __m256 d = _mm256_set1_ps(f16(b)), m = _mm256_set1_ps(f16(b + 2));
        __m256i lanes[4];
        nibbles_avx2(b + 4, lanes);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(y + 8 * k, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(lanes[k]), d), m));
    }
}

AVX512 static inline void nibbles_avx512(const uint8_t *qs, __m512i *low, __m512i *high) {
    const __m128i q = _mm_loadu_si128((const __m128i *)qs), mask = _mm_set1_epi8(15);
    *low = _mm512_cvtepu8_epi32(_mm_and_si128(q, mask));
    *high = _mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), mask));
}

AVX512 static void q4_0_avx512(const uint8_t *b, int64_t blocks, float *restrict y) {
    const __m512i eight = _mm512_set1_epi32(8);
    for (int64_t i = 0; i < blocks; i++, b += 18, y += 32) {
        const __m512 d = _mm512_set1_ps(f16(b));
        __m512i low, high;
        nibbles_avx512(b + 2, &low, &high);
        _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(low, eight)), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(high, eight)), d));
    }
}

AVX512 static void q4_1_avx512(const uint8_t *b, int64_t blocks, float *restrict y) {
    for (int64_t i = 0; i < blocks; i++, b += 20, y += 32) {
        const __m512 d = _mm512_set1_ps(f16(b)), m = _mm512_set1_ps(f16(b + 2));
        __m512i low, high;
        nibbles_avx512(b + 4, &low, &high);
        _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(low), d), m));
        _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(high), d), m));
    }
}

// MARK: - Variants and dispatch

typedef void (*block_decoder)(const uint8_t *, int64_t, float *restrict);

#define VARIANTS(name)                                                                                   \
    static void name##_scalar(const uint8_t *b, int64_t n, float *restrict y) { name(b, n, y); }         \
    AVX2 static void name##_avx2(const uint8_t *b, int64_t n, float *restrict y) { name(b, n, y); }      \
    AVX512 static void name##_avx512(const uint8_t *b, int64_t n, float *restrict y) { name(b, n, y); }  \
    static const block_decoder name##_variants[3] = {name##_scalar, name##_avx2, name##_avx512};

VARIANTS(q8_0)
static void q4_0_scalar(const uint8_t *b, int64_t n, float *restrict y) { q4_0(b, n, y); }
static void q4_1_scalar(const uint8_t *b, int64_t n, float *restrict y) { q4_1(b, n, y); }
static const block_decoder q4_0_variants[3] = {q4_0_scalar, q4_0_avx2, q4_0_avx512};
static const block_decoder q4_1_variants[3] = {q4_1_scalar, q4_1_avx2, q4_1_avx512};
VARIANTS(q5_0)
VARIANTS(q5_1)
VARIANTS(q4_K)
VARIANTS(q5_K)
VARIANTS(q6_K)

typedef void (*nf4_decoder)(const uint8_t *, const uint8_t *, const float *, float, const float *, const float *,
                            int64_t, int64_t, float *restrict);
static const nf4_decoder nf4_variants[3] = {nf4_scalar, nf4_avx2, nf4_avx512};

int lk_quant_best_level(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c"))
        return LK_QUANT_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c")) return LK_QUANT_AVX2;
    return LK_QUANT_SCALAR;
}

// -1 until the first call picks the best level. A plain int: every thread computes the same value.
static int level = -1;

int lk_quant_level(void) {
    int l = __atomic_load_n(&level, __ATOMIC_RELAXED);
    if (l < 0) {
        l = lk_quant_best_level();
        __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    }
    return l;
}

int lk_quant_set_level(int requested) {
    int best = lk_quant_best_level();
    int l = requested < LK_QUANT_SCALAR ? LK_QUANT_SCALAR : requested > best ? best : requested;
    __atomic_store_n(&level, l, __ATOMIC_RELAXED);
    return l;
}

int lk_dequantize_ggml(int ggml_type, const void *source, int64_t count, float *out) {
    const block_decoder *variants;
    int64_t blockSize;
    switch (ggml_type) {
    case 2: variants = q4_0_variants; blockSize = 32; break;
    case 3: variants = q4_1_variants; blockSize = 32; break;
    case 6: variants = q5_0_variants; blockSize = 32; break;
    case 7: variants = q5_1_variants; blockSize = 32; break;
    case 8: variants = q8_0_variants; blockSize = 32; break;
    case 12: variants = q4_K_variants; blockSize = 256; break;
    case 13: variants = q5_K_variants; blockSize = 256; break;
    case 14: variants = q6_K_variants; blockSize = 256; break;
    default: return -1;
    }
    if (count < 0 || count % blockSize != 0) return -1;
    variants[lk_quant_level()]((const uint8_t *)source, count / blockSize, out);
    return 0;
}

void lk_dequantize_nf4(const uint8_t *packed, const uint8_t *quantized_absmax, const float *absmax2, float offset,
                       const float *nf4_code, const float *absmax_code, int64_t first_block, int64_t blocks,
                       float *out) {
    nf4_variants[lk_quant_level()](packed, quantized_absmax, absmax2, offset, nf4_code, absmax_code, first_block,
                                   blocks, out);
}
