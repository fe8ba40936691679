/* CPUID feature detection, the chosen SIMD path, and the thread setting. */
#include "fastnn.h"

static int simd_path = -1;
static int num_threads = 1;

#if defined(FASTNN_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

int fnn_cpu_supports(int simd) {
    unsigned int eax, ebx, ecx, edx;
    if (simd == FNN_SIMD_SCALAR) return 1;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    if (!(has_fma && has_osxsave && has_avx)) return 0;
    unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return 0;                /* the OS saves XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int has_avx2 = (ebx >> 5) & 1;
    if (simd == FNN_SIMD_AVX2) return has_avx2;
    int has_avx512f = (ebx >> 16) & 1, has_avx512dq = (ebx >> 17) & 1, has_avx512vl = (ebx >> 31) & 1;
    if (simd == FNN_SIMD_AVX512)
        return has_avx2 && has_avx512f && has_avx512dq && has_avx512vl && (xcr0 & 0xe6) == 0xe6;
    return 0;
}
#else
int fnn_cpu_supports(int simd) { return simd == FNN_SIMD_SCALAR; }
#endif

int fnn_simd_best(void) {
    if (fnn_cpu_supports(FNN_SIMD_AVX512)) return FNN_SIMD_AVX512;
    if (fnn_cpu_supports(FNN_SIMD_AVX2)) return FNN_SIMD_AVX2;
    return FNN_SIMD_SCALAR;
}

void fnn_simd_set(int simd) { simd_path = simd; }

int fnn_simd_get(void) {
    if (simd_path < 0) simd_path = fnn_simd_best();
    return simd_path;
}

/* fastnn keeps its own count and passes it to each parallel region (num_threads clause), so it
   neither changes nor depends on the process-wide OpenMP setting that other libraries share. */
void fnn_set_num_threads(int n) { num_threads = n < 1 ? 1 : n; }
int fnn_get_num_threads(void) { return num_threads; }

int fnn_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
