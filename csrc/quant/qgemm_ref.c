/* The naive int8 GEMM: the oracle for the packed, blocked, per-ISA driver. */
#include <stdint.h>

#include "../fastnn.h"

// a is (m, k) u8 (lda), b is (k, n) int8 row-major (ldb), c is (m, n) int32 (ldc)
void fnn_qgemm_u8s8_ref(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *b, idx_t ldb,
                        int32_t *c, idx_t ldc) {
    for (idx_t i = 0; i < m; i++)
        for (idx_t j = 0; j < n; j++) {
            int32_t acc = 0;
            for (idx_t p = 0; p < k; p++) acc += (int32_t)a[i * lda + p] * (int32_t)b[p * ldb + j];
            c[i * ldc + j] = acc;
        }
}
