// Block decoders for frozen quantized weights (GGML Q8_0 … Q6_K, bitsandbytes NF4), bit-identical to LoRAKit's
// scalar Swift decoders (Sources/ModelFormats/Dequantize.swift, Sources/TensorCore/Quantization/NF4.swift): the same
// products in the same order, in fp32, never fused into FMAs. Each entry point picks the widest variant this CPU
// runs (AVX-512, AVX2+F16C, scalar) once, at the first call.
#ifndef LORAKIT_QUANT_KERNELS_H
#define LORAKIT_QUANT_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels of the decoders.
enum {
    LK_QUANT_SCALAR = 0,
    LK_QUANT_AVX2 = 1,    // avx2 + f16c
    LK_QUANT_AVX512 = 2,  // avx512f + avx512bw
};

/// Decodes `count` elements (a whole number of blocks) of GGML type `ggml_type` (its numeric id: Q4_0 = 2, Q4_1 = 3,
/// Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q4_K = 12, Q5_K = 13, Q6_K = 14) at `source` (any alignment) into `out`.
/// Returns 0 on success, -1 for a type it does not decode or a count that is not whole blocks (nothing written).
int lk_dequantize_ggml(int ggml_type, const void *source, int64_t count, float *out);

/// Decodes NF4 blocks [first_block, first_block + blocks) of 64 elements: packed holds two 4-bit codes per byte
/// (element 2i in the high nibble), absmax of block b = absmax_code[quantized_absmax[b]] · absmax2[b / 256] + offset,
/// element = nf4_code[nibble] · absmax. `nf4_code` has 16 values, `absmax_code` 256.
void lk_dequantize_nf4(const uint8_t *packed, const uint8_t *quantized_absmax, const float *absmax2, float offset,
                       const float *nf4_code, const float *absmax_code, int64_t first_block, int64_t blocks,
                       float *out);

/// The level the decoders use now.
int lk_quant_level(void);
/// The highest level this CPU supports.
int lk_quant_best_level(void);
/// Makes the decoders use `level` (clamped to what the CPU supports; tests compare the variants). Returns the level
/// in use. Not meant to be called while other threads decode.
int lk_quant_set_level(int level);

#ifdef __cplusplus
}
#endif

#endif
