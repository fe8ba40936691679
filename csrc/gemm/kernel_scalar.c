/* The portable micro-kernel: plain C that any compiler vectorises with its baseline SIMD. */
#include <string.h>
#include "gemm_internal.h"

#define MR 4
#define NR 8

// a is (mr, k) with strides (rsa, csa), b is (k, NR) with row stride rsb, c is (mr, nr) of an (., ldc) matrix
static void sgemm_scalar_4x8(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb,
                             float *c, idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias) {
    float acc[MR][NR];
    memset(acc, 0, sizeof(acc));
    for (idx_t p = 0; p < k; p++) {
        const float *b_p = b + p * rsb;
        for (idx_t r = 0; r < mr; r++) {
            float a_rp = a[r * rsa + p * csa];
            for (int j = 0; j < NR; j++) acc[r][j] += a_rp * b_p[j];
        }
    }
    for (idx_t r = 0; r < mr; r++) {
        float *c_r = c + r * ldc;
        for (idx_t j = 0; j < nr; j++) {
            float v = acc[r][j];
            if (load_c) v = c_r[j] + v;
            if (bias) v += bias[j];
            c_r[j] = v;
        }
    }
}

FNN_DEFINE_TILE_ACTIVATION(activate_tile_scalar)

const fnn_gemm_config fnn_gemm_scalar_config = {"scalar_4x8", sgemm_scalar_4x8, activate_tile_scalar, MR, NR, 128, 256, 2048};
