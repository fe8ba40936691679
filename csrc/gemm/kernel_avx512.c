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

#define KERNEL_NAME "avx512_12x32"
#define KERNEL_CONFIG fnn_gemm_avx512_config
#define DEFAULT_MC 144
#define DEFAULT_KC 256
#define DEFAULT_NC 4096
#include "kernel_simd.h"
