/* The portable micro-kernels: plain C that any compiler vectorises with its baseline SIMD. Without an
   FMA instruction set each step of the chain is a multiply then an add (C compilers in ISO mode do not
   fuse them), the same in the tile and the one-row kernel. */
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

// a is (1, k) with stride csa, b is (k, n) in panels (see fnn_row_kernel), c and bias are (n,)
static void sgemm_scalar_row(idx_t k, const float *a, idx_t csa, const float *b, idx_t rsb, idx_t panel_stride,
                             float *c, idx_t n, int load_c, const float *bias) {
    for (idx_t j0 = 0; j0 < n; j0 += NR, b += panel_stride) {
        idx_t nr = FNN_MIN(NR, n - j0);
        float acc[NR] = {0.0f};
        for (idx_t p = 0; p < k; p++) {
            const float a_p = a[p * csa], *b_p = b + p * rsb;
            for (idx_t j = 0; j < nr; j++) acc[j] += a_p * b_p[j];
        }
        for (idx_t j = 0; j < nr; j++) {
            float v = acc[j];
            if (load_c) v = c[j0 + j] + v;
            if (bias) v += bias[j0 + j];
            c[j0 + j] = v;
        }
    }
}

// lane j of step p at src[j * ld + p], to panel[p * width + j] (fnn_pack_kernel)
static void pack_strided(float *panel, const float *src, idx_t ld, idx_t kc, idx_t valid, idx_t width) {
    for (idx_t j = 0; j < valid; j++)
        for (idx_t p = 0; p < kc; p++) panel[p * width + j] = src[j * ld + p];
    for (idx_t j = valid; j < width; j++)
        for (idx_t p = 0; p < kc; p++) panel[p * width + j] = 0.0f;
}

/* Twelve independent multiply-adds of four lanes (GCC/Clang vector extensions: the baseline SIMD). */
static double multiply_add_loop(idx_t iterations) {
    typedef float v4 __attribute__((vector_size(16)));
    v4 acc[12], scale = {0.999999f, 0.999999f, 0.999999f, 0.999999f}, step = {1e-6f, 1e-6f, 1e-6f, 1e-6f};
    for (int i = 0; i < 12; i++) acc[i] = (v4){(float)i, (float)i, (float)i, (float)i};
    for (idx_t it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) acc[i] = acc[i] * scale + step;
    float total = 0.0f;
    for (int i = 0; i < 12; i++) total += acc[i][0] + acc[i][1] + acc[i][2] + acc[i][3];
    fnn_peak_sink = total;
    return (double)iterations * 12 * 4 * 2;
}

FNN_DEFINE_TILE_ACTIVATION(activate_tile_scalar)

const fnn_gemm_config fnn_gemm_scalar_config = {"scalar_4x8", sgemm_scalar_4x8, activate_tile_scalar, MR, NR,
                                                128, 256, 2048, sgemm_scalar_row, pack_strided,
                                                multiply_add_loop};
