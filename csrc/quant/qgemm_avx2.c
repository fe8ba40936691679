/* AVX2 micro-kernels (no VNNI). vpmaddubsw multiplies u8 by s8 and adds pairs into int16 with
   saturation: 255 * 127 * 2 overflows it, so it is exact only when a fits in 7 bits (127 * 127 * 2 =
   32258). Two kernels therefore:
   - a_7bit (activations quantized to [0, 127], quantize_dynamic's reduce_range): vpmaddubsw, then
     vpmaddwd by ones into int32; per 16 columns and step, 2 multiplies-pairs + 2 widenings + 2 adds.
   - full u8: B widened to int16 (vpmovsxbw) and a zero-extended, multiplied and paired by vpmaddwd
     into int32 exactly; each int32 lane then holds half a column's step, and the halves are added
     once at the end of the tile.
   Both give the exact integers; benchmarks/quant_rows.py measures which is faster. */
#include <immintrin.h>

#include "qgemm_internal.h"

#define MR 4

/* One panel (16 columns) of ROWS rows, 7-bit a. */
static inline __attribute__((always_inline)) void panel_maddubs(idx_t steps, const uint8_t *a, idx_t lda,
                                                                const int8_t *b, int32_t *tile, const int ROWS) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[MR][2];
    for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (idx_t s = 0; s < steps; s++) {
        __m256i b_lo = _mm256_loadu_si256((const __m256i *)(b + s * 64));
        __m256i b_hi = _mm256_loadu_si256((const __m256i *)(b + s * 64 + 32));
        for (int r = 0; r < ROWS; r++) {
            __m256i a_rs = _mm256_set1_epi32(fnn_qgemm_step_bytes(a + r * lda + 4 * s));
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(a_rs, b_lo), ones));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(a_rs, b_hi), ones));
        }
    }
    for (int r = 0; r < ROWS; r++) {
        _mm256_storeu_si256((__m256i *)(tile + r * FNN_QGEMM_GROUP_COLS), acc[r][0]);
        _mm256_storeu_si256((__m256i *)(tile + r * FNN_QGEMM_GROUP_COLS + 8), acc[r][1]);
    }
}

/* Half a panel (8 columns, the 32 bytes at b + half * 32 of each step) of ROWS rows, any u8 a. */
static inline __attribute__((always_inline)) void half_panel_widened(idx_t steps, const uint8_t *a, idx_t lda,
                                                                     const int8_t *b, int32_t *tile,
                                                                     const int ROWS) {
    __m256i acc[MR][2];
    for (int r = 0; r < ROWS; r++) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
    for (idx_t s = 0; s < steps; s++) {
        /* columns 0-3 and 4-7 of the half: int16 lanes (column c, step byte i) at 4c + i */
        __m256i b_03 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + s * 64)));
        __m256i b_47 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + s * 64 + 16)));
        for (int r = 0; r < ROWS; r++) {
            __m128i a4 = _mm_cvtepu8_epi16(_mm_cvtsi32_si128(fnn_qgemm_step_bytes(a + r * lda + 4 * s)));
            __m256i a_rs = _mm256_broadcastq_epi64(a4); /* a0 a1 a2 a3 in every 64 bits */
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(a_rs, b_03));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(a_rs, b_47));
        }
    }
    for (int r = 0; r < ROWS; r++) {
        /* hadd gives columns 0 1 4 5 | 2 3 6 7; the permute puts them in order */
        __m256i sums = _mm256_hadd_epi32(acc[r][0], acc[r][1]);
        sums = _mm256_permute4x64_epi64(sums, _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(tile + r * FNN_QGEMM_GROUP_COLS), sums);
    }
}

static inline __attribute__((always_inline)) void tile_rows(idx_t steps, const uint8_t *a, idx_t lda,
                                                            const int8_t *b, idx_t panel_stride, idx_t panels,
                                                            int32_t *tile, int a_7bit, const int ROWS) {
    for (idx_t p = 0; p < panels; p++) {
        const int8_t *b_p = b + p * panel_stride;
        int32_t *tile_p = tile + p * FNN_QGEMM_PANEL;
        if (a_7bit) {
            panel_maddubs(steps, a, lda, b_p, tile_p, ROWS);
        } else {
            half_panel_widened(steps, a, lda, b_p, tile_p, ROWS);
            half_panel_widened(steps, a, lda, b_p + 32, tile_p + 8, ROWS);
        }
    }
}

static void qgemm_avx2(idx_t steps, const uint8_t *a, idx_t lda, idx_t mr, const int8_t *b, idx_t panel_stride,
                       idx_t panels, int32_t *tile, int a_7bit) {
    switch (mr) {
    case 4: tile_rows(steps, a, lda, b, panel_stride, panels, tile, a_7bit, 4); break;
    case 3: tile_rows(steps, a, lda, b, panel_stride, panels, tile, a_7bit, 3); break;
    case 2: tile_rows(steps, a, lda, b, panel_stride, panels, tile, a_7bit, 2); break;
    default: tile_rows(steps, a, lda, b, panel_stride, panels, tile, a_7bit, 1); break;
    }
}

const fnn_qgemm_config fnn_qgemm_avx2_config = {"avx2_u8s8_4x16", qgemm_avx2, MR};
