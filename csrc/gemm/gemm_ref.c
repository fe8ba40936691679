/* The naive GEMM: one dot product per output, float accumulation in k order. It is the oracle the
   blocked driver is tested against and has exactly fnn_sgemm's contract. */
#include "gemm_internal.h"

// a is (m, k) or stored (k, m) when trans_a; b is (k, n) or stored (n, k) when trans_b; c is (m, n)
void fnn_sgemm_ref(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
                   const float *a, idx_t lda, const float *b, idx_t ldb,
                   float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha) {
    for (idx_t i = 0; i < m; i++) {
        for (idx_t j = 0; j < n; j++) {
            float sum = 0.0f;
            for (idx_t p = 0; p < k; p++) {
                float a_ip = trans_a ? a[p * lda + i] : a[i * lda + p];
                float b_pj = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                sum += a_ip * b_pj;
            }
            float v = (accumulate ? c[i * ldc + j] : 0.0f) + sum + (bias ? bias[j] : 0.0f);
            c[i * ldc + j] = v;
        }
        fnn_activate_span(act, alpha, n, c + i * ldc, c + i * ldc);
    }
}
