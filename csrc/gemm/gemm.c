/* The blocked GEMM driver (the BLIS loop nest): pack B into kc x NR panels that stay in L1/L3, pack
   A into mc x kc blocks that stay in L2, and sweep the micro-kernel over the tiles. It knows no
   instruction set: the micro-kernel and block sizes come from the config picked in cpu.c.

   Threads split the output C into chunks of whole tiles along M or N (never K), each thread running
   the sequential loop nest on the chunks it takes, with its own pack buffers. Every output element
   therefore sums its k terms in the same order whatever the thread count or chunk order. */
#include <stdlib.h>
#include "gemm_internal.h"

/* Threads take chunks of the split dimension in turn: at most this many a thread, of at least this
   many rows or columns. */
#define FNN_GEMM_CHUNKS_PER_THREAD 4
#define FNN_GEMM_MIN_CHUNK 96

/* Below this many multiply-adds a second thread costs more to wake than it saves. */
#define FNN_GEMM_PARALLEL_MIN_WORK (96 * 96 * 96)

typedef struct {
    int trans_a, trans_b;
    const float *a, *b;
    idx_t lda, ldb, k;
    float *c;
    idx_t ldc;
    int accumulate, act;
    const float *bias;
} gemm_problem;

static const fnn_gemm_config *active_config(void) {
#ifdef FASTNN_X86
    switch (fnn_simd_get()) {
    case FNN_SIMD_AVX512: return &fnn_gemm_avx512_config;
    case FNN_SIMD_AVX2: return &fnn_gemm_avx2_config;
    }
#endif
    return &fnn_gemm_scalar_config;
}

/* Per-thread pack buffers, grown on demand and kept for the life of the thread, so the hot path
   does not allocate. */
static _Thread_local float *pack_buffer;
static _Thread_local size_t pack_capacity;

static float *thread_pack_buffer(size_t floats) {
    if (floats > pack_capacity) {
        size_t bytes = ((floats * sizeof(float) + FNN_ALIGN - 1) / FNN_ALIGN) * FNN_ALIGN;
        float *grown = aligned_alloc(FNN_ALIGN, bytes);
        if (!grown) return NULL;
        free(pack_buffer);
        pack_buffer = grown;
        pack_capacity = bytes / sizeof(float);
    }
    return pack_buffer;
}

// a block op(A)[i0:i0+mc, p0:p0+kc] into panels of MR rows: dst is (mc/MR panels, kc, MR)
static void pack_a(const gemm_problem *pr, idx_t MR, idx_t i0, idx_t mc, idx_t p0, idx_t kc, float *dst) {
    for (idx_t ir = 0; ir < mc; ir += MR) {
        idx_t mr = FNN_MIN(MR, mc - ir);
        float *panel = dst + ir * kc;
        if (pr->trans_a) {
            for (idx_t p = 0; p < kc; p++) {
                const float *src = pr->a + (p0 + p) * pr->lda + i0 + ir;
                for (idx_t r = 0; r < mr; r++) panel[p * MR + r] = src[r];
                for (idx_t r = mr; r < MR; r++) panel[p * MR + r] = 0.0f;
            }
        } else {
            for (idx_t r = 0; r < mr; r++) {
                const float *src = pr->a + (i0 + ir + r) * pr->lda + p0;
                for (idx_t p = 0; p < kc; p++) panel[p * MR + r] = src[p];
            }
            for (idx_t r = mr; r < MR; r++)
                for (idx_t p = 0; p < kc; p++) panel[p * MR + r] = 0.0f;
        }
    }
}

// a block op(B)[p0:p0+kc, j0:j0+nc] into panels of NR columns: dst is (nc/NR panels, kc, NR)
static void pack_b(const gemm_problem *pr, idx_t NR, idx_t p0, idx_t kc, idx_t j0, idx_t nc, float *dst) {
    for (idx_t jr = 0; jr < nc; jr += NR) {
        idx_t nr = FNN_MIN(NR, nc - jr);
        float *panel = dst + jr * kc;
        if (!pr->trans_b) {
            for (idx_t p = 0; p < kc; p++) {
                const float *src = pr->b + (p0 + p) * pr->ldb + j0 + jr;
                for (idx_t j = 0; j < nr; j++) panel[p * NR + j] = src[j];
                for (idx_t j = nr; j < NR; j++) panel[p * NR + j] = 0.0f;
            }
        } else {
            for (idx_t j = 0; j < nr; j++) {
                const float *src = pr->b + (j0 + jr + j) * pr->ldb + p0;
                for (idx_t p = 0; p < kc; p++) panel[p * NR + j] = src[p];
            }
            for (idx_t j = nr; j < NR; j++)
                for (idx_t p = 0; p < kc; p++) panel[p * NR + j] = 0.0f;
        }
    }
}

static idx_t round_up(idx_t x, idx_t to) { return (x + to - 1) / to * to; }

/* Problems up to this many multiply-adds skip packing A (and B, when it is not transposed): they are
   read once or twice, so copying them costs more than the strided reads it saves. */
#define FNN_GEMM_DIRECT_MAX_WORK (64 * 64 * 64)

/* With at most this many rows, each panel of B serves few tiles, so B is read in place (when not
   transposed) rather than packed; except when its rows lie a multiple of 4 KiB apart, where a panel's
   rows would all compete for the same few cache sets. */
#define FNN_GEMM_DIRECT_B_MAX_M 64
#define FNN_GEMM_ALIASING_STRIDE 1024

/* Floats of pack buffer that any thread's range of an (m, n, k) problem needs. */
static size_t pack_floats(const fnn_gemm_config *cfg, idx_t m, idx_t n, idx_t k) {
    idx_t kc = FNN_MIN(cfg->kc, k), nc = round_up(FNN_MIN(cfg->nc, n), cfg->nr);
    idx_t mc = round_up(FNN_MIN(cfg->mc, m), cfg->mr);
    return (size_t)(kc * (nc + mc)) + 16;
}

/* The sequential loop nest over C[m0:m1, n0:n1], packing into buffer. With direct_a, A is read in
   place; with direct_b (B not transposed), so is every full-width panel of B, and only the last,
   partial panel is packed. */
static void gemm_range(const fnn_gemm_config *cfg, const gemm_problem *pr, float *buffer, int direct_a,
                       int direct_b, idx_t m0, idx_t m1, idx_t n0, idx_t n1) {
    const idx_t MR = cfg->mr, NR = cfg->nr, k = pr->k;
    const idx_t rsa = pr->trans_a ? 1 : pr->lda, csa = pr->trans_a ? pr->lda : 1;
    float *b_packed = buffer;
    float *a_packed = buffer + FNN_MIN(cfg->kc, k) * round_up(FNN_MIN(cfg->nc, n1 - n0), NR) + 16;
    /* Equal K blocks of at most cfg->kc: 784 splits as 3 x 262 rather than 256 + 256 + 256 + 16. */
    idx_t k_blocks = (k + cfg->kc - 1) / cfg->kc, k_step = k_blocks ? (k + k_blocks - 1) / k_blocks : 1;
    for (idx_t jc = n0; jc < n1; jc += cfg->nc) {
        idx_t nc = FNN_MIN(cfg->nc, n1 - jc);
        /* k = 0 still takes one pass, so that bias, activation and accumulate apply to an empty sum. */
        for (idx_t pc = 0; pc < k || (pc == 0 && k == 0); pc += k_step) {
            idx_t kc = FNN_MIN(k_step, k - pc);
            int last = pc + kc >= k, load_c = pr->accumulate || pc > 0;
            int act = last ? pr->act : FNN_ACT_NONE;
            if (!direct_b) pack_b(pr, NR, pc, kc, jc, nc, b_packed);
            for (idx_t ic = m0; ic < m1; ic += cfg->mc) {
                idx_t mc = FNN_MIN(cfg->mc, m1 - ic);
                if (!direct_a) pack_a(pr, MR, ic, mc, pc, kc, a_packed);
                for (idx_t jr = 0; jr < nc; jr += NR) {
                    idx_t nr = FNN_MIN(NR, nc - jr);
                    const float *bias = last && pr->bias ? pr->bias + jc + jr : NULL;
                    const float *b_panel = b_packed + jr * kc;
                    idx_t rsb = NR;
                    if (direct_b && nr == NR) {
                        b_panel = pr->b + pc * pr->ldb + jc + jr;
                        rsb = pr->ldb;
                    } else if (direct_b) {
                        pack_b(pr, NR, pc, kc, jc + jr, nr, b_packed);
                        b_panel = b_packed;
                    }
                    for (idx_t ir = 0; ir < mc; ir += MR) {
                        idx_t mr = FNN_MIN(MR, mc - ir);
                        float *c_tile = pr->c + (ic + ir) * pr->ldc + jc + jr;
                        if (direct_a)
                            cfg->kernel(kc, pr->a + (ic + ir) * rsa + pc * csa, rsa, csa, b_panel, rsb,
                                        c_tile, pr->ldc, mr, nr, load_c, bias, act);
                        else
                            cfg->kernel(kc, a_packed + ir * kc, 1, MR, b_panel, rsb,
                                        c_tile, pr->ldc, mr, nr, load_c, bias, act);
                    }
                }
            }
        }
    }
}

/* Columns one task of the one-row path computes; their sums stay in L1. */
#define GEMV_BLOCK 256
/* Independent partial sums of a dot product: they let the compiler vectorise it without
   reordering it, and fix the order whatever the thread count. */
#define GEMV_LANES 8

// a is (1, k) with element stride csa; op(b) is (k, n); c is (1, n); columns [j0, j1) of c
static void gemv_columns(const gemm_problem *pr, idx_t csa, idx_t j0, idx_t j1) {
    const idx_t k = pr->k;
    float sum[GEMV_BLOCK];
    for (idx_t jb = j0; jb < j1; jb += GEMV_BLOCK) {
        idx_t width = FNN_MIN(GEMV_BLOCK, j1 - jb);
        if (!pr->trans_b) {
            /* c += a_p * (row p of B), four rows a pass: B streams past once and the sums are
               loaded and stored a quarter as often */
            for (idx_t j = 0; j < width; j++) sum[j] = 0.0f;
            idx_t p = 0;
            for (; p + 4 <= k; p += 4) {
                const float a0 = pr->a[p * csa], a1 = pr->a[(p + 1) * csa];
                const float a2 = pr->a[(p + 2) * csa], a3 = pr->a[(p + 3) * csa];
                const float *b0 = pr->b + p * pr->ldb + jb, *b1 = b0 + pr->ldb, *b2 = b1 + pr->ldb, *b3 = b2 + pr->ldb;
                for (idx_t j = 0; j < width; j++) sum[j] += (a0 * b0[j] + a1 * b1[j]) + (a2 * b2[j] + a3 * b3[j]);
            }
            for (; p < k; p++) {
                const float a_p = pr->a[p * csa], *b_p = pr->b + p * pr->ldb + jb;
                for (idx_t j = 0; j < width; j++) sum[j] += a_p * b_p[j];
            }
        } else {
            /* B is stored (n, k): each output is a dot product of two contiguous rows */
            for (idx_t j = 0; j < width; j++) {
                const float *b_j = pr->b + (jb + j) * pr->ldb;
                float lane[GEMV_LANES] = {0.0f};
                idx_t p = 0;
                for (; p + GEMV_LANES <= k; p += GEMV_LANES)
                    for (int l = 0; l < GEMV_LANES; l++) lane[l] += pr->a[(p + l) * csa] * b_j[p + l];
                for (int l = 0; p < k; p++, l++) lane[l] += pr->a[p * csa] * b_j[p];
                float total = 0.0f;
                for (int l = 0; l < GEMV_LANES; l++) total += lane[l];
                sum[j] = total;
            }
        }
        float *c = pr->c + jb;
        for (idx_t j = 0; j < width; j++) {
            float v = pr->accumulate ? c[j] + sum[j] : sum[j];
            if (pr->bias) v += pr->bias[jb + j];
            c[j] = fnn_activate_scalar(v, pr->act);
        }
    }
}

typedef struct {
    const gemm_problem *pr;
    idx_t csa, n;
} gemv_task;

// blocks [lo, hi) of GEMV_BLOCK columns
static void gemv_blocks(void *ctx, idx_t lo, idx_t hi) {
    const gemv_task *task = ctx;
    gemv_columns(task->pr, task->csa, lo * GEMV_BLOCK, FNN_MIN(hi * GEMV_BLOCK, task->n));
}

/* Multiply-adds a thread should have before the one-row path splits its columns. */
#define GEMV_PARALLEL_MIN_WORK 65536

int fnn_sgemm(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
              const float *a, idx_t lda, const float *b, idx_t ldb,
              float *c, idx_t ldc, int accumulate, const float *bias, int act) {
    if (m <= 0 || n <= 0) return 0;
    const fnn_gemm_config *cfg = active_config();
    gemm_problem pr = {trans_a, trans_b, a, b, lda, ldb, k, c, ldc, accumulate, act, bias};
    if (m == 1) {
        /* One row: packing B would copy more than the product reads, so B streams past in place. */
        gemv_task task = {&pr, trans_a ? lda : 1, n};
        idx_t blocks = (n + GEMV_BLOCK - 1) / GEMV_BLOCK, block_work = GEMV_BLOCK * FNN_MAX(k, 1);
        fnn_parallel_for(blocks, (GEMV_PARALLEL_MIN_WORK + block_work - 1) / block_work, gemv_blocks, &task);
        return 0;
    }
    size_t buffer_floats = pack_floats(cfg, m, n, k);
    int direct_a = (double)m * n * k <= FNN_GEMM_DIRECT_MAX_WORK;
    int direct_b = !trans_b && (direct_a || (m <= FNN_GEMM_DIRECT_B_MAX_M && ldb % FNN_GEMM_ALIASING_STRIDE != 0));
    /* Split the side whose panels are cheaper to pack twice: along M each thread packs all of B. */
    int split_m = m >= n;
    idx_t tile = split_m ? cfg->mr : cfg->nr, extent = split_m ? m : n;
    idx_t tiles = (extent + tile - 1) / tile;
    int threads = fnn_get_num_threads();
    if ((double)m * n * (k > 0 ? k : 1) < FNN_GEMM_PARALLEL_MIN_WORK) threads = 1;
    if (threads > tiles) threads = (int)tiles;
    if (threads <= 1) {
        float *buffer = thread_pack_buffer(buffer_floats);
        if (!buffer) return -1;
        gemm_range(cfg, &pr, buffer, direct_a, direct_b, 0, m, 0, n);
        return 0;
    }
    /* The same number of chunks for every thread (up to FNN_GEMM_CHUNKS_PER_THREAD, each at least
       FNN_GEMM_MIN_CHUNK rows or columns so that packing the other operand once per chunk stays
       cheap), in equal whole-tile chunks. */
    idx_t per_thread = FNN_MAX(1, FNN_MIN(FNN_GEMM_CHUNKS_PER_THREAD, extent / threads / FNN_GEMM_MIN_CHUNK));
    idx_t chunk_tiles = (tiles + threads * per_thread - 1) / (threads * per_thread);
    idx_t chunks = (tiles + chunk_tiles - 1) / chunk_tiles;
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        /* Every thread gets its buffer before any writes to C, so a failure leaves C untouched. */
        float *buffer = thread_pack_buffer(buffer_floats);
        if (!buffer) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp barrier
        int give_up;
#pragma omp atomic read
        give_up = failed;
        /* Chunks are handed out as threads come free, so a thread the OS delays (another library's
           spinning workers, a busy core) costs its share of chunks, not the whole call. */
#pragma omp for schedule(dynamic, 1)
        for (idx_t chunk = 0; chunk < chunks; chunk++) {
            idx_t lo = chunk * chunk_tiles * tile, hi = FNN_MIN(extent, lo + chunk_tiles * tile);
            if (give_up) continue;
            if (split_m) gemm_range(cfg, &pr, buffer, direct_a, direct_b, lo, hi, 0, n);
            else gemm_range(cfg, &pr, buffer, direct_a, direct_b, 0, m, lo, hi);
        }
    }
    return failed ? -1 : 0;
}
