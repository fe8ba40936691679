/* The one way fastnn's elementwise kernels and fixed-chunk reductions go parallel.

   Entering an OpenMP region costs ~0.5 us even when an if() clause turns it off, which is more than
   a small kernel's whole work, so small work never reaches a pragma: the body runs inline. */
#include "fastnn.h"

void fnn_parallel_for(idx_t n, idx_t grain, fnn_range_fn body, void *ctx) {
    if (n <= 0) return;
    int threads = fnn_get_num_threads();
    idx_t useful = grain > 1 ? n / grain : n;  /* every thread gets at least grain items */
    if (threads > useful) threads = (int)useful;
    if (threads <= 1) {
        body(ctx, 0, n);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
        /* contiguous ranges, the first n % team one item longer: each item is done exactly once */
        idx_t team = omp_get_num_threads(), t = omp_get_thread_num();
        idx_t lo = n / team * t + FNN_MIN(t, n % team);
        idx_t hi = lo + n / team + (t < n % team);
        if (lo < hi) body(ctx, lo, hi);
    }
#else
    body(ctx, 0, n);
#endif
}
