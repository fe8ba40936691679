/* Checks the blocked GEMM on one SIMD path against the naive kernel over many shapes, transposes,
   epilogues and accumulate, and that each row computed alone (the one-row kernel) has the bits of the
   whole product's row; prints "N passed, M failed". Built by tests/test_gemm_emulated.py to run the
   AVX-512 micro-kernel through SIMDe on CPUs that lack AVX-512. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fastnn.h"

static float uniform(unsigned *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)((*state >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static int check(idx_t m, idx_t n, idx_t k, int ta, int tb, int acc, int use_bias, int act, unsigned seed) {
    float *a = malloc(sizeof(float) * (m * k + 1)), *b = malloc(sizeof(float) * (k * n + 1));
    float *c = malloc(sizeof(float) * (m * n + 64)), *r = malloc(sizeof(float) * (m * n + 1));
    float *bias = malloc(sizeof(float) * (n + 1)), *row = malloc(sizeof(float) * (n + 1));
    float *start = malloc(sizeof(float) * (m * n + 1));
    for (idx_t i = 0; i < m * k; i++) a[i] = uniform(&seed);
    for (idx_t i = 0; i < k * n; i++) b[i] = uniform(&seed);
    for (idx_t i = 0; i < n; i++) bias[i] = uniform(&seed);
    for (idx_t i = 0; i < m * n + 64; i++) c[i] = 7.0f;
    for (idx_t i = 0; i < m * n; i++) c[32 + i] = r[i] = start[i] = uniform(&seed);
    fnn_sgemm(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, c + 32, n, acc, use_bias ? bias : NULL, act, 0.2f);
    fnn_sgemm_ref(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, r, n, acc, use_bias ? bias : NULL, act, 0.2f);
    int ok = 1;
    for (idx_t i = 0; i < 32; i++) ok &= c[i] == 7.0f && c[32 + m * n + i] == 7.0f;
    float tol = 1e-5f * (float)(k + 8);
    for (idx_t i = 0; i < m * n; i++) ok &= fabsf(c[32 + i] - r[i]) <= tol;
    for (idx_t i = 0; i < m; i++) {
        memcpy(row, start + i * n, sizeof(float) * n);
        fnn_sgemm(ta, tb, 1, n, k, ta ? a + i : a + i * k, ta ? m : k, b, tb ? k : n, row, n, acc,
                  use_bias ? bias : NULL, act, 0.2f);
        ok &= memcmp(row, c + 32 + i * n, sizeof(float) * n) == 0;
    }
    if (!ok) printf("FAILED m=%td n=%td k=%td ta=%d tb=%d acc=%d bias=%d act=%d\n", m, n, k, ta, tb, acc, use_bias, act);
    free(a); free(b); free(c); free(r); free(bias); free(row); free(start);
    return ok;
}

int main(int argc, char **argv) {
    int simd = argc > 1 ? atoi(argv[1]) : FNN_SIMD_AVX512;
    fnn_simd_set(simd);
    fnn_set_num_threads(2);
    static const idx_t sizes[][3] = {{1, 1, 1}, {3, 5, 7}, {11, 31, 33}, {12, 32, 8}, {13, 33, 29}, {24, 64, 5}, {130, 70, 1024}, {40, 4200, 20},
                                     {25, 65, 257}, {145, 47, 31}, {100, 100, 0}, {150, 200, 300},
                                     {1, 700, 300}, {18, 40, 2100}, {30, 130, 600}};
    int passed = 0, failed = 0;
    unsigned seed = 1;
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int act = 0; act < 4; act++) {
                    int ok = check(sizes[s][0], sizes[s][1], sizes[s][2], ta, tb, act & 1, act >= 2, act, seed++);
                    passed += ok;
                    failed += !ok;
                }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
