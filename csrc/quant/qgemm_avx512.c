/* AVX-512 VNNI micro-kernel: vpdpbusd multiplies four u8 of a by four s8 of B and adds the four products
   to an int32 lane, exactly (no 16-bit intermediate). Tile 6 rows x 64 columns: 24 accumulators, four
   B registers, one broadcast. Used when the CPU has AVX512-VNNI (qgemm.c checks); else the AVX2
   kernels run. */
#include <immintrin.h>

#include "qgemm_internal.h"

#define MR 6
/* gcc's own unrolling gives up on the 6 x 4 nest and keeps the accumulators in memory. */
#define FULLY_UNROLLED _Pragma("GCC unroll 8")

/* ROWS and PANELS are constants at every call, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) void tile_vnni(idx_t steps, const uint8_t *a, idx_t lda,
                                                            const int8_t *b, idx_t panel_stride, int32_t *tile,
                                                            const int ROWS, const int PANELS) {
    __m512i acc[MR][FNN_QGEMM_GROUP_PANELS];
    FULLY_UNROLLED for (int r = 0; r < ROWS; r++)
        FULLY_UNROLLED for (int p = 0; p < PANELS; p++) acc[r][p] = _mm512_setzero_si512();
    for (idx_t s = 0; s < steps; s++) {
        __m512i b_s[FNN_QGEMM_GROUP_PANELS];
        FULLY_UNROLLED for (int p = 0; p < PANELS; p++) b_s[p] = _mm512_loadu_si512(b + p * panel_stride + s * 64);
        FULLY_UNROLLED for (int r = 0; r < ROWS; r++) {
            __m512i a_rs = _mm512_set1_epi32(fnn_qgemm_step_bytes(a + r * lda + 4 * s));
            FULLY_UNROLLED for (int p = 0; p < PANELS; p++) acc[r][p] = _mm512_dpbusd_epi32(acc[r][p], a_rs, b_s[p]);
        }
    }
    FULLY_UNROLLED for (int r = 0; r < ROWS; r++)
        FULLY_UNROLLED for (int p = 0; p < PANELS; p++)
            _mm512_storeu_si512(tile + r * FNN_QGEMM_GROUP_COLS + p * FNN_QGEMM_PANEL, acc[r][p]);
}

#define PANEL_CASES(ROWS)                                                              \
    switch (panels) {                                                                  \
    case 4: tile_vnni(steps, a, lda, b, panel_stride, tile, ROWS, 4); break;           \
    case 3: tile_vnni(steps, a, lda, b, panel_stride, tile, ROWS, 3); break;           \
    case 2: tile_vnni(steps, a, lda, b, panel_stride, tile, ROWS, 2); break;           \
    default: tile_vnni(steps, a, lda, b, panel_stride, tile, ROWS, 1); break;          \
    }

static void qgemm_avx512_vnni(idx_t steps, const uint8_t *a, idx_t lda, idx_t mr, const int8_t *b,
                              idx_t panel_stride, idx_t panels, int32_t *tile, int a_7bit) {
    (void)a_7bit;
    switch (mr) {
    case 6: PANEL_CASES(6) break;
    case 5: PANEL_CASES(5) break;
    case 4: PANEL_CASES(4) break;
    case 3: PANEL_CASES(3) break;
    case 2: PANEL_CASES(2) break;
    default: PANEL_CASES(1) break;
    }
}

const fnn_qgemm_config fnn_qgemm_avx512_config = {"avx512vnni_u8s8_6x64", qgemm_avx512_vnni, MR};
