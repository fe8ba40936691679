/* Every fastnn kernel, with the shapes it expects. Kernels trust their inputs: the Python/Cython
   boundary validates shapes, dtypes and contiguity before calling in. */
#ifndef FASTNN_H
#define FASTNN_H

#include "common.h"

/* ---- CPU features and threads (cpu.c) ---- */
enum fnn_simd { FNN_SIMD_SCALAR = 0, FNN_SIMD_AVX2 = 1, FNN_SIMD_AVX512 = 2 };
int fnn_cpu_supports(int simd);   /* 1 when this CPU and OS can run that path */
int fnn_simd_best(void);           /* the fastest supported path */
void fnn_simd_set(int simd);       /* caller has checked fnn_cpu_supports */
int fnn_simd_get(void);
void fnn_set_num_threads(int n);
int fnn_get_num_threads(void);
int fnn_openmp_enabled(void);

/* ---- GEMM (gemm/) ---- */
enum fnn_act { FNN_ACT_NONE = 0, FNN_ACT_RELU = 1, FNN_ACT_SIGMOID = 2, FNN_ACT_TANH = 3 };

/* c is (m, n) row-major with row stride ldc.
   a is (m, k) row-major (lda >= k), or when trans_a it is stored (k, m) (lda >= m).
   b is (k, n) row-major (ldb >= n), or when trans_b it is stored (n, k) (ldb >= k).
   c = act(op(a) @ op(b) + bias), or with accumulate c = act(c + op(a) @ op(b) + bias).
   bias is (n,) or NULL. Returns 0, or -1 (c untouched) when pack memory could not be had. */
int fnn_sgemm(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
               const float *a, idx_t lda, const float *b, idx_t ldb,
               float *c, idx_t ldc, int accumulate, const float *bias, int act);

/* The naive triple loop with the same contract: the test oracle for the blocked driver. */
void fnn_sgemm_ref(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
                   const float *a, idx_t lda, const float *b, idx_t ldb,
                   float *c, idx_t ldc, int accumulate, const float *bias, int act);

#endif
