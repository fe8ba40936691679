/* The measured ceiling of the active SIMD path: its register-only multiply-add loop on every thread
   at once. GEMM benchmarks report each row as a fraction of it. */
#define _POSIX_C_SOURCE 199309L
#include <time.h>
#include "gemm_internal.h"

volatile float fnn_peak_sink;

/* Each run lasts ~50 ms at ~3 GHz with two FMA units; the best of RUNS is kept, so a run the OS
   interrupts does not count. */
#define PEAK_ITERATIONS 12000000
#define PEAK_RUNS 5

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double fnn_gemm_peak_gflops(int threads) {
    const fnn_gemm_config *cfg = fnn_gemm_active_config();
    double best = 0.0;
    for (int run = 0; run < PEAK_RUNS; run++) {
        double flops = 0.0, start = seconds_now();
#pragma omp parallel num_threads(threads) reduction(+ : flops)
        flops += cfg->peak_loop(PEAK_ITERATIONS);
        double rate = flops / (seconds_now() - start) * 1e-9;
        if (rate > best) best = rate;
    }
    return best;
}
