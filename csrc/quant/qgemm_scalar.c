/* The portable int8 micro-kernel: the packed layout read with plain loops (the path every CPU has). */
#include "qgemm_internal.h"

#define MR 4

static void qgemm_scalar(idx_t steps, const uint8_t *a, idx_t lda, idx_t mr, const int8_t *b, idx_t panel_stride,
                         idx_t panels, int32_t *tile, int a_7bit) {
    (void)a_7bit;
    for (idx_t r = 0; r < mr; r++) {
        const uint8_t *a_r = a + r * lda;
        for (idx_t p = 0; p < panels; p++) {
            int32_t acc[FNN_QGEMM_PANEL] = {0};
            const int8_t *b_p = b + p * panel_stride;
            for (idx_t s = 0; s < steps; s++) {
                const uint8_t *a_s = a_r + 4 * s;
                const int8_t *b_s = b_p + s * 4 * FNN_QGEMM_PANEL;
                for (idx_t j = 0; j < FNN_QGEMM_PANEL; j++)
                    acc[j] += a_s[0] * b_s[4 * j] + a_s[1] * b_s[4 * j + 1] + a_s[2] * b_s[4 * j + 2] +
                              a_s[3] * b_s[4 * j + 3];
            }
            memcpy(tile + r * FNN_QGEMM_GROUP_COLS + p * FNN_QGEMM_PANEL, acc, sizeof acc);
        }
    }
}

const fnn_qgemm_config fnn_qgemm_scalar_config = {"scalar_u8s8", qgemm_scalar, MR};
