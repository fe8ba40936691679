/* Memory traffic of kernels over arrays larger than the caches.

   Streaming stores: a plain store first reads the line it writes (read for ownership), so a kernel
   that reads one array and writes one moves three lines per line of output; a streaming store skips
   that read and sends the line past the caches. Kernels compute a block into an L1 buffer and copy it
   out with fnn_stream_copy; only outputs of at least fnn_stream_min_floats() are streamed, so smaller
   ones stay in cache for their consumer. The AVX2 and AVX-512 builds stream; the portable build stores
   plainly. Either way the values are the same: streaming changes where the bytes go, not what they are.

   Prefetching ahead: a kernel that computes an exp or a division per element waits on memory in
   bursts unless its inputs are asked for well before it reaches them; the hardware prefetcher alone
   leaves it 10-20 % slower than the same kernel with software prefetches FNN_PREFETCH_AHEAD floats
   ahead (sigmoid, tanh, gelu, softplus forward on 16M floats, 1 and 2 threads, Sapphire Rapids; on a
   Zen 3, whose prefetcher keeps up, 0.90-1.00x forward and 1.02-1.19x backward). Kernels
   over inputs of at least fnn_prefetch_min_floats() go in pieces of FNN_PREFETCH_PIECE, requesting
   the lines of the piece that far ahead before computing one. Not every streaming kernel gains: the
   pointwise losses over 4M x 1 ran 0.86-1.03x as fast prefetched (binary crossentropy from logits
   0.93-0.96x), the optimizer updates 0.85-0.99x (Zen 3, and Nadam or AMSGrad on Sapphire Rapids). */
#ifndef FASTNN_STREAM_STORE_H
#define FASTNN_STREAM_STORE_H

#include <stdint.h>
#include <string.h>
#include "common.h"
#if defined(__AVX2__)
#include <immintrin.h>
#endif

/* Floats a kernel computes into its L1 buffer before they are streamed out: 1 KiB, 16 lines, whose
   stores drain while the next block is computed. A block of 2048 floats sent 128 lines in a burst that
   stalled the kernel (16M floats, streamed / plain, 2 threads: backwards 1.26-1.32x with 2048 floats,
   1.39-1.47x with 256). */
#define FNN_STREAM_BLOCK 256
#define FNN_STREAM_LINE_FLOATS 16

/* floats from p to the next 64-byte line boundary */
static inline idx_t fnn_stream_misalignment(const float *p) {
    idx_t floats_in = (idx_t)(((uintptr_t)p % 64) / sizeof(float));
    return (FNN_STREAM_LINE_FLOATS - floats_in) % FNN_STREAM_LINE_FLOATS;
}

/* dst[0, n) = src[0, n). dst starts on a line boundary (callers store their head plainly); the
   whole lines go out with streaming stores, a part line at the end with plain ones. */
static inline void fnn_stream_copy(float *dst, const float *src, idx_t n) {
    idx_t j = 0;
#if defined(__AVX512F__)
    for (; j + 16 <= n; j += 16) _mm512_stream_ps(dst + j, _mm512_loadu_ps(src + j));
#elif defined(__AVX2__)
    for (; j + 16 <= n; j += 16) {
        _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
        _mm256_stream_ps(dst + j + 8, _mm256_loadu_ps(src + j + 8));
    }
#endif
    memcpy(dst + j, src + j, (size_t)(n - j) * sizeof(float));
}

#define FNN_PREFETCH_PIECE 256
#define FNN_PREFETCH_AHEAD 1024

/* Requests into L1 the lines of v[i + FNN_PREFETCH_AHEAD, + n) that lie before end (v's length);
   prefetches never fault, the bound only keeps the pointer within the array. */
static inline void fnn_prefetch_ahead(const float *v, idx_t i, idx_t n, idx_t end) {
    idx_t from = i + FNN_PREFETCH_AHEAD, to = FNN_MIN(from + n, end);
    for (idx_t j = from; j < to; j += FNN_STREAM_LINE_FLOATS) __builtin_prefetch(v + j, 0, 3);
}

/* fnn_prefetch_ahead over each array of v[0, count) that is not NULL, all of length end */
static inline void fnn_prefetch_arrays(const float *const *v, int count, idx_t i, idx_t n, idx_t end) {
    for (int k = 0; k < count; k++)
        if (v[k]) fnn_prefetch_ahead(v[k], i, n, end);
}

/* Streaming stores are weakly ordered: a kernel fences them before it returns, so whoever reads
   the output next (another thread after the parallel region's barrier) sees them. */
static inline void fnn_stream_fence(void) {
#if defined(__AVX2__)
    _mm_sfence();
#endif
}

#endif
