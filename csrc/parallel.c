/* The one way fastnn's elementwise kernels and fixed-chunk reductions go parallel.

   Entering an OpenMP region costs ~0.5 us even when an if() clause turns it off, which is more than
   a small kernel's whole work, so small work never reaches a pragma: the body runs inline.

   The range is cut into a few pieces per thread, taken as threads come free (dynamic schedule): when
   another process holds a core, the thread that shares it does fewer pieces instead of making the
   others wait for its statically assigned half. How [0, n) is cut never changes a result (see
   fastnn.h), so this stays bitwise independent of the thread count. */
#include "fastnn.h"

#define FNN_PIECES_PER_THREAD 4

void fnn_parallel_for(idx_t n, idx_t grain, fnn_range_fn body, void *ctx) {
    if (n <= 0) return;
    int threads = fnn_get_num_threads();
    idx_t useful = grain > 1 ? n / grain : n;  /* every piece gets at least grain items */
    if (threads > useful) threads = (int)useful;
    if (threads <= 1) {
        body(ctx, 0, n);
        return;
    }
#ifdef _OPENMP
    idx_t pieces = FNN_MIN(useful, (idx_t)threads * FNN_PIECES_PER_THREAD);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (idx_t p = 0; p < pieces; p++) {
        /* contiguous pieces, the first n % pieces one item longer: each item is done exactly once */
        idx_t lo = n / pieces * p + FNN_MIN(p, n % pieces);
        body(ctx, lo, lo + n / pieces + (p < n % pieces));
    }
#else
    body(ctx, 0, n);
#endif
}
