/* AVX-512 micro-kernels: a 12x32 register tile (24 accumulators, 2 B vectors, 1 broadcast) and the
   one-row kernel (kernel_simd.h over 16-float vectors). Edges use lane masks. */
#ifdef FNN_EMULATE_AVX512
/* Test builds on CPUs without AVX-512 map the intrinsics to SIMDe's portable versions. */
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#else
#include <immintrin.h>
#endif
#include "gemm_internal.h"

#define MR 12
#define NR 32
#define LANES 16

typedef __m512 vec;
#define vec_zero() _mm512_setzero_ps()
#define vec_load(p) _mm512_loadu_ps(p)
#define vec_store(p, v) _mm512_storeu_ps(p, v)
#define vec_set1(x) _mm512_set1_ps(x)
#define vec_fma(a, b, c) _mm512_fmadd_ps(a, b, c)
#define vec_add(a, b) _mm512_add_ps(a, b)

/* The first n (clamped to [0, 16]) lanes of a vector. */
static inline __mmask16 first_lanes(idx_t n) {
    return n >= LANES ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

#ifdef FNN_EMULATE_AVX512
/* SIMDe 0.7 has no masked loads and stores: the lanes go through memory one by one. */
static inline __m512 load_lanes(const float *p, idx_t n) {
    float lanes[LANES];
    for (idx_t j = 0; j < LANES; j++) lanes[j] = j < n ? p[j] : 0.0f;
    return _mm512_loadu_ps(lanes);
}

static inline void store_lanes(float *p, idx_t n, __m512 v) {
    float lanes[LANES];
    _mm512_storeu_ps(lanes, v);
    for (idx_t j = 0; j < FNN_MIN(n, LANES); j++) p[j] = lanes[j];
}
#else
static inline __m512 load_lanes(const float *p, idx_t n) { return _mm512_maskz_loadu_ps(first_lanes(n), p); }
static inline void store_lanes(float *p, idx_t n, __m512 v) { _mm512_mask_storeu_ps(p, first_lanes(n), v); }
#endif

/* r[i][j] <-> r[j][i]: pairs of rows interleaved by 32 then 64 bits (each 128-bit lane then holds four
   rows of one column), then the lanes gathered across four vectors by two-source permutes. */
static inline void transpose(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int q = 0; q < 16; q += 4)
        for (int h = 0; h < 2; h++) {
            __m512d lo = _mm512_castps_pd(t[q + h]), hi = _mm512_castps_pd(t[q + h + 2]);
            u[q + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(lo, hi));
            u[q + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(lo, hi));
        }
    /* u[4q + c] holds, in its 128-bit lane L, rows 4q..4q+3 of column 4L + c */
    const __m512i lanes_01 = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i lanes_23 = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    const __m512i low_halves = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
    const __m512i high_halves = _mm512_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int c = 0; c < 4; c++) {
        __m512 x = _mm512_permutex2var_ps(u[c], lanes_01, u[4 + c]);
        __m512 y = _mm512_permutex2var_ps(u[8 + c], lanes_01, u[12 + c]);
        __m512 x2 = _mm512_permutex2var_ps(u[c], lanes_23, u[4 + c]);
        __m512 y2 = _mm512_permutex2var_ps(u[8 + c], lanes_23, u[12 + c]);
        r[c] = _mm512_permutex2var_ps(x, low_halves, y);
        r[4 + c] = _mm512_permutex2var_ps(x, high_halves, y);
        r[8 + c] = _mm512_permutex2var_ps(x2, low_halves, y2);
        r[12 + c] = _mm512_permutex2var_ps(x2, high_halves, y2);
    }
}

#define KERNEL_NAME "avx512_12x32"
#define KERNEL_CONFIG fnn_gemm_avx512_config
#define DEFAULT_MC 144
#define DEFAULT_KC 256
#define DEFAULT_NC 4096
#include "kernel_simd.h"
