/* The blocked GEMM driver (the BLIS loop nest): pack B into kc x NR panels, read A in place or pack it
   into mc x kc blocks, and sweep the micro-kernel over the tiles. It knows no instruction set: the
   micro-kernels and block sizes come from fnn_gemm_active_config().

   Every path keeps the canonical order of gemm_internal.h: the K blocks come from k and kc alone
   (make_plan), each is summed by a micro-kernel chain and added to C in block order, the bias after the
   last and then the activation. Threads split C along M or N, or, when both are small, take whole K
   blocks and add their sums to C in block order (gemm_parallel_depth), so the bits never depend on
   the thread count, on m, or on whether the one-row kernel or the tile kernel ran. */
#include <pthread.h>
#include <stdlib.h>
#include "gemm_internal.h"

typedef struct {
    int trans_a, trans_b;
    const float *a, *b;
    idx_t lda, ldb, k;
    float *c;
    idx_t ldc;
    int accumulate, act;
    float alpha;
    const float *bias;
} gemm_problem;

/* How one call runs: the micro-kernel and blocks, which operands are read in place, the height of a
   block of A (mc) and the K blocks (k_blocks of k_step; k = 0 still takes one, empty, so that bias,
   activation and accumulate apply to an empty sum). */
typedef struct {
    const fnn_gemm_config *cfg;
    int direct_a, direct_b;
    idx_t mc, k_step, k_blocks;
} gemm_plan;

/* ---- scratch memory: per thread, grown on demand, freed when the thread ends ---- */

typedef struct {
    float *data;
    size_t capacity;
} pack_buffer;

enum { A_BUFFER, B_BUFFER, PARTIAL_BUFFER, BUFFER_KINDS };

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_made;

static void free_scratch(void *scratch) {
    pack_buffer *buffers = scratch;
    for (int i = 0; i < BUFFER_KINDS; i++) free(buffers[i].data);
    free(buffers);
}

static void make_scratch_key(void) { scratch_key_made = pthread_key_create(&scratch_key, free_scratch) == 0; }

/* The calling thread's buffer of one kind with room for `floats`, or NULL. The key's destructor frees
   a thread's buffers when it exits, so threads that come and go leave nothing behind. */
static float *thread_buffer(int kind, size_t floats) {
    pthread_once(&scratch_once, make_scratch_key);
    if (!scratch_key_made) return NULL;
    pack_buffer *buffers = pthread_getspecific(scratch_key);
    if (!buffers) {
        buffers = calloc(BUFFER_KINDS, sizeof(pack_buffer));
        if (!buffers) return NULL;
        if (pthread_setspecific(scratch_key, buffers) != 0) {
            free(buffers);
            return NULL;
        }
    }
    pack_buffer *buffer = &buffers[kind];
    if (floats > buffer->capacity) {
        size_t bytes = ((floats * sizeof(float) + FNN_ALIGN - 1) / FNN_ALIGN) * FNN_ALIGN;
        float *grown = aligned_alloc(FNN_ALIGN, bytes);
        if (!grown) return NULL;
        free(buffer->data);
        buffer->data = grown;
        buffer->capacity = bytes / sizeof(float);
    }
    return buffer->data;
}

/* ---- packing ----
   A block of an operand becomes panels of `width` lanes (MR rows of A or NR columns of B) by kc steps,
   step-major: lane j of step p goes to panel[p * width + j]; lanes past the operand's edge are zero.
   When the operand's steps are its rows (B, or A transposed) the block is copied step by step, each
   row read in one sweep (rows read a panel's width at a time, far apart, defeat the prefetchers);
   when its lanes are its rows (A, or B transposed) each panel is a transposition, done by the
   config's pack_strided. */

/* Steps are copied this many at a time, panel by panel: the reads follow this many rows at once (few
   enough streams for the prefetchers) and each panel gets a contiguous run of writes. */
#define PACK_STEP_GROUP 8

// rows [0, steps) of `panels` panels: step s of panel q from src[s * ld + q * width] to dst[q * panel_stride + s * width]
static inline void copy_panels(float *dst, const float *src, idx_t ld, idx_t steps, idx_t panels, idx_t panel_stride,
                               const idx_t width) {
    for (idx_t q = 0; q < panels; q++)
        for (idx_t s = 0; s < steps; s++)
            for (idx_t j = 0; j < width; j++) dst[q * panel_stride + s * width + j] = src[s * ld + q * width + j];
}

// steps [p0, p1) of lanes [0, count), lane j of step p at src[p * ld + j], into panels of `width` lanes
// by kc steps: dst is (ceil(count / width) panels, kc, width)
static void pack_steps(float *dst, const float *src, idx_t ld, idx_t kc, idx_t p0, idx_t p1, idx_t count,
                       idx_t width) {
    idx_t full = count / width, rest = count % width, panel_stride = width * kc;
    for (idx_t p = p0; p < p1; p += PACK_STEP_GROUP) {
        idx_t steps = FNN_MIN(PACK_STEP_GROUP, p1 - p);
        const float *src_p = src + p * ld;
        float *dst_p = dst + p * width;
        /* the tile widths of the kernels, as constants, so each copy is straight vector moves */
        switch (width) {
        case 4: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, 4); break;
        case 6: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, 6); break;
        case 8: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, 8); break;
        case 12: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, 12); break;
        case 16: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, 16); break;
        case 32: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, 32); break;
        default: copy_panels(dst_p, src_p, ld, steps, full, panel_stride, width); break;
        }
        for (idx_t s = 0; s < steps && rest; s++) {
            float *tail = dst_p + full * panel_stride + s * width;
            for (idx_t j = 0; j < rest; j++) tail[j] = src_p[s * ld + full * width + j];
            for (idx_t j = rest; j < width; j++) tail[j] = 0.0f;
        }
    }
}

// a block op(A)[i0:i0+mc, p0:p0+kc] into panels of MR rows: dst is (mc/MR panels, kc, MR)
static void pack_a(const gemm_problem *pr, const fnn_gemm_config *cfg, idx_t i0, idx_t mc, idx_t p0, idx_t kc,
                   float *dst) {
    if (pr->trans_a) {
        pack_steps(dst, pr->a + p0 * pr->lda + i0, pr->lda, kc, 0, kc, mc, cfg->mr);
        return;
    }
    for (idx_t ir = 0; ir < mc; ir += cfg->mr)
        cfg->pack_strided(dst + ir * kc, pr->a + (i0 + ir) * pr->lda + p0, pr->lda, kc, FNN_MIN(cfg->mr, mc - ir),
                          cfg->mr);
}

static idx_t round_up(idx_t x, idx_t to) { return (x + to - 1) / to * to; }

/* ---- the plan ---- */

/* Problems up to this many multiply-adds skip packing A (and B, when it is not transposed): they are
   read once or twice, so copying them costs more than the strided reads it saves. */
#define FNN_GEMM_DIRECT_MAX_WORK (64 * 64 * 64)

/* Operands whose rows lie a multiple of 4 KiB apart are packed: read in place, the rows a
   micro-kernel steps through together would all compete for the same few L1 sets. */
#define FNN_GEMM_ALIASING_STRIDE 1024

/* Bytes of memory the rows of a block of A read in place may span. */
#define FNN_GEMM_DIRECT_A_SPAN (2 << 20)

/* With at most this many rows, each panel of B serves few tiles, so B (when not transposed) is read
   in place rather than packed, when it is small enough to stay in L2 (larger, its rows far apart
   miss the TLB in place, and packing it block by block is 20-30 % faster). */
#define FNN_GEMM_DIRECT_B_MAX_M 64
#define FNN_GEMM_DIRECT_B_MAX_BYTES (1 << 20)

static gemm_plan make_plan(const fnn_gemm_config *cfg, int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
                           idx_t lda, idx_t ldb) {
    gemm_plan plan = {cfg, 0, 0, cfg->mc, 1, 1};
    int small = (double)m * n * k <= FNN_GEMM_DIRECT_MAX_WORK;
    /* A not transposed is read in place at any size: each micro-kernel row walks a contiguous stretch
       of its row, which the prefetchers follow as well as a packed panel, and skipping the copy saves
       5-15 % of a mid-size product. Its blocks then span fewer rows, so that the pages they touch stay
       within the TLB (packed, they are contiguous). */
    plan.direct_a = small || (!trans_a && lda % FNN_GEMM_ALIASING_STRIDE != 0);
    if (plan.direct_a && !trans_a)
        plan.mc = FNN_MAX(cfg->mr, FNN_MIN(cfg->mc, FNN_GEMM_DIRECT_A_SPAN / (FNN_MAX(lda, 1) * 4) / cfg->mr * cfg->mr));
    plan.direct_b = !trans_b && (small || (m <= FNN_GEMM_DIRECT_B_MAX_M && ldb % FNN_GEMM_ALIASING_STRIDE != 0 &&
                                           (double)k * n * sizeof(float) <= FNN_GEMM_DIRECT_B_MAX_BYTES));
    /* Equal K blocks of at most kc, from k and kc alone (the canonical order): 784 splits as
       3 x 262 rather than 256 + 256 + 256 + 16. */
    idx_t k_blocks = (k + cfg->kc - 1) / cfg->kc;
    if (k_blocks > 0) {
        plan.k_step = (k + k_blocks - 1) / k_blocks;
        plan.k_blocks = (k + plan.k_step - 1) / plan.k_step;
    }
    return plan;
}

/* ---- the loop nest ---- */

/* Part `part` of `parts` of the block op(B)[pc:pc+kc, jc:jc+nc] into dst (panel q at dst + q * NR * kc):
   the parts split the steps when B's steps are its rows, the panels when B is transposed. When B is
   read in place only a last, partial panel is packed. */
static void pack_b_part(const gemm_problem *pr, const gemm_plan *plan, idx_t pc, idx_t kc, idx_t jc, idx_t nc,
                        idx_t part, idx_t parts, float *dst) {
    const fnn_gemm_config *cfg = plan->cfg;
    const idx_t NR = cfg->nr;
    if (pr->trans_b) {
        idx_t panels = (nc + NR - 1) / NR;
        for (idx_t q = part * panels / parts; q < (part + 1) * panels / parts; q++)
            cfg->pack_strided(dst + q * NR * kc, pr->b + (jc + q * NR) * pr->ldb + pc, pr->ldb, kc,
                              FNN_MIN(NR, nc - q * NR), NR);
        return;
    }
    idx_t in_place = plan->direct_b ? nc / NR * NR : 0;
    if (in_place < nc)
        pack_steps(dst + in_place * kc, pr->b + pc * pr->ldb + jc + in_place, pr->ldb, kc, part * kc / parts,
                   (part + 1) * kc / parts, nc - in_place, NR);
}

/* Rows [i0, i1) of C[:, jc:jc+nc] gain the K block [pc, pc+kc): A is packed block by block into
   a_packed (unless read in place), B comes packed in b_packed (or in place, see pack_b_part). */
static void gemm_rows(const gemm_problem *pr, const gemm_plan *plan, float *a_packed, const float *b_packed,
                      idx_t i0, idx_t i1, idx_t jc, idx_t nc, idx_t pc, idx_t kc) {
    const fnn_gemm_config *cfg = plan->cfg;
    const idx_t MR = cfg->mr, NR = cfg->nr;
    const idx_t rsa = pr->trans_a ? 1 : pr->lda, csa = pr->trans_a ? pr->lda : 1;
    int last = pc + kc >= pr->k, load_c = pr->accumulate || pc > 0;
    int act = last ? pr->act : FNN_ACTIVATION_LINEAR;
    /* blocks of equal height, in whole tiles: 1030 rows run as 516 + 514, not 1020 + 10 */
    idx_t blocks = (i1 - i0 + plan->mc - 1) / plan->mc, height = round_up((i1 - i0 + blocks - 1) / blocks, MR);
    for (idx_t ic = i0; ic < i1; ic += height) {
        idx_t mc = FNN_MIN(height, i1 - ic);
        if (!plan->direct_a) pack_a(pr, cfg, ic, mc, pc, kc, a_packed);
        for (idx_t jr = 0; jr < nc; jr += NR) {
            idx_t nr = FNN_MIN(NR, nc - jr);
            const float *bias = last && pr->bias ? pr->bias + jc + jr : NULL;
            const float *b_panel = b_packed + jr * kc;
            idx_t rsb = NR;
            if (plan->direct_b && nr == NR) {
                b_panel = pr->b + pc * pr->ldb + jc + jr;
                rsb = pr->ldb;
            }
            for (idx_t ir = 0; ir < mc; ir += MR) {
                idx_t mr = FNN_MIN(MR, mc - ir);
                float *c_tile = pr->c + (ic + ir) * pr->ldc + jc + jr;
                if (plan->direct_a)
                    cfg->kernel(kc, pr->a + (ic + ir) * rsa + pc * csa, rsa, csa, b_panel, rsb,
                                c_tile, pr->ldc, mr, nr, load_c, bias);
                else
                    cfg->kernel(kc, a_packed + ir * kc, 1, MR, b_panel, rsb, c_tile, pr->ldc, mr, nr,
                                load_c, bias);
                if (act != FNN_ACTIVATION_LINEAR) cfg->activate(act, pr->alpha, c_tile, pr->ldc, mr, nr);
            }
        }
    }
}

/* The K blocks [first, last) of C[m0:m1, n0:n1] on one thread, with its own buffers. */
static void gemm_range(const gemm_problem *pr, const gemm_plan *plan, float *a_packed, float *b_packed,
                       idx_t m0, idx_t m1, idx_t n0, idx_t n1, idx_t first, idx_t last) {
    const fnn_gemm_config *cfg = plan->cfg;
    for (idx_t jc = n0; jc < n1; jc += cfg->nc) {
        idx_t nc = FNN_MIN(cfg->nc, n1 - jc);
        for (idx_t block = first; block < last; block++) {
            idx_t pc = block * plan->k_step, kc = FNN_MIN(plan->k_step, pr->k - pc);
            pack_b_part(pr, plan, pc, kc, jc, nc, 0, 1, b_packed);
            gemm_rows(pr, plan, a_packed, b_packed, m0, m1, jc, nc, pc, kc);
        }
    }
}

/* One row of C: columns [n0, n1) through the one-row kernel, K block after K block. B is read in
   place, or (transposed) packed a block at a time into b_packed. */
static void gemm_one_row(const gemm_problem *pr, const gemm_plan *plan, float *b_packed, idx_t n0, idx_t n1) {
    const fnn_gemm_config *cfg = plan->cfg;
    const idx_t csa = pr->trans_a ? pr->lda : 1;
    for (idx_t jc = n0; jc < n1; jc += cfg->nc) {
        idx_t nc = FNN_MIN(cfg->nc, n1 - jc);
        for (idx_t block = 0; block < plan->k_blocks; block++) {
            idx_t pc = block * plan->k_step, kc = FNN_MIN(plan->k_step, pr->k - pc);
            const float *bias = pc + kc >= pr->k && pr->bias ? pr->bias + jc : NULL;
            int load_c = pr->accumulate || pc > 0;
            if (pr->trans_b) {
                pack_b_part(pr, plan, pc, kc, jc, nc, 0, 1, b_packed);
                cfg->row_kernel(kc, pr->a + pc * csa, csa, b_packed, cfg->nr, cfg->nr * kc, pr->c + jc, nc,
                                load_c, bias);
            } else {
                cfg->row_kernel(kc, pr->a + pc * csa, csa, pr->b + pc * pr->ldb + jc, pr->ldb, cfg->nr,
                                pr->c + jc, nc, load_c, bias);
            }
        }
        if (pr->act != FNN_ACTIVATION_LINEAR) cfg->activate(pr->act, pr->alpha, pr->c + jc, nc, 1, nc);
    }
}

/* Sizes in floats of the A and B pack buffers for an (m, n, k) problem. */
static size_t a_buffer_floats(const gemm_plan *plan, idx_t m) {
    return (size_t)(plan->k_step * round_up(FNN_MIN(plan->mc, m), plan->cfg->mr)) + 16;
}

static size_t b_buffer_floats(const gemm_plan *plan, idx_t n) {
    return (size_t)(plan->k_step * round_up(FNN_MIN(plan->cfg->nc, n), plan->cfg->nr)) + 16;
}

/* ---- threads ---- */

/* Called by every thread of a team with whether it got its buffers: all go on or, if any failed, none
   does, so that a failure leaves C untouched. */
static int team_has_buffers(int ok, int *failed) {
    if (!ok) {
#pragma omp atomic write
        *failed = 1;
    }
#pragma omp barrier
    int any_failed;
#pragma omp atomic read
    any_failed = *failed;
    return !any_failed;
}

/* Along M, threads take chunks of rows in turn: at most this many a thread, of at least this many
   rows (a chunk reads every panel of the shared B, so it should use each many times). */
#define FNN_GEMM_CHUNKS_PER_THREAD 4
#define FNN_GEMM_MIN_ROW_CHUNK 48

/* Along M the team packs up to this many floats of B (several K blocks) between two meetings at a
   barrier: a thread the OS delays then holds the others up rarely, and the shared B stays near the
   size of L3. */
#define FNN_GEMM_SHARED_B_FLOATS (2 << 20)

/* The team packs each K block of the shared B in this many parts, taken as threads come free. */
#define FNN_GEMM_PACK_PARTS 8

/* Splitting along M: for each round of K blocks of B, the team packs their panels into the caller's
   buffer, then takes chunks of rows as threads come free, each packing its own A and running the
   round's K blocks in order. A thread the OS delays costs its share of chunks, not the whole call.
   Returns -1 (C untouched) if a buffer cannot be had. */
static int gemm_parallel_rows(const gemm_problem *pr, const gemm_plan *plan, idx_t m, idx_t n, int threads,
                              idx_t chunk_rows) {
    const fnn_gemm_config *cfg = plan->cfg;
    const idx_t k = pr->k, k_step = plan->k_step, k_blocks = plan->k_blocks;
    idx_t block_floats = k_step * round_up(FNN_MIN(cfg->nc, n), cfg->nr);
    idx_t round_blocks = FNN_MAX(1, FNN_MIN(k_blocks, FNN_GEMM_SHARED_B_FLOATS / FNN_MAX(block_floats, 1)));
    float *b_shared = thread_buffer(B_BUFFER, (size_t)(round_blocks * block_floats) + 16);
    if (!b_shared) return -1;
    size_t a_floats = a_buffer_floats(plan, FNN_MIN(m, chunk_rows));
    idx_t chunks = (m + chunk_rows - 1) / chunk_rows;
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        float *a_packed = thread_buffer(A_BUFFER, a_floats);
        int go = team_has_buffers(a_packed != NULL, &failed);
        for (idx_t jc = 0; jc < n && go; jc += cfg->nc) {
            idx_t nc = FNN_MIN(cfg->nc, n - jc);
            for (idx_t first = 0; first < k_blocks; first += round_blocks) {
                idx_t blocks = FNN_MIN(round_blocks, k_blocks - first);
                /* the barriers closing these loops keep B whole while any thread reads it */
#pragma omp for schedule(dynamic, 1)
                for (idx_t task = 0; task < blocks * FNN_GEMM_PACK_PARTS; task++) {
                    idx_t block = task / FNN_GEMM_PACK_PARTS, pc = (first + block) * k_step;
                    pack_b_part(pr, plan, pc, FNN_MIN(k_step, k - pc), jc, nc, task % FNN_GEMM_PACK_PARTS,
                                FNN_GEMM_PACK_PARTS, b_shared + block * block_floats);
                }
#pragma omp for schedule(dynamic, 1)
                for (idx_t chunk = 0; chunk < chunks; chunk++) {
                    idx_t lo = chunk * chunk_rows, hi = FNN_MIN(m, lo + chunk_rows);
                    for (idx_t block = 0; block < blocks; block++) {
                        idx_t pc = (first + block) * k_step;
                        gemm_rows(pr, plan, a_packed, b_shared + block * block_floats, lo, hi, jc, nc, pc,
                                  FNN_MIN(k_step, k - pc));
                    }
                }
            }
        }
    }
    return failed ? -1 : 0;
}

/* Splitting along N: chunks of columns, each run through the whole loop nest (or, for one row,
   through the one-row kernel) by one thread with its own buffers. */
static int gemm_parallel_columns(const gemm_problem *pr, const gemm_plan *plan, idx_t m, idx_t n, int threads,
                                 idx_t chunk_columns) {
    size_t a_floats = plan->direct_a ? 0 : a_buffer_floats(plan, m);
    size_t b_floats = b_buffer_floats(plan, chunk_columns);
    idx_t chunks = (n + chunk_columns - 1) / chunk_columns;
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        float *a_packed = a_floats ? thread_buffer(A_BUFFER, a_floats) : NULL;
        float *b_packed = thread_buffer(B_BUFFER, b_floats);
        int go = team_has_buffers(b_packed != NULL && (a_packed != NULL || !a_floats), &failed);
#pragma omp for schedule(dynamic, 1)
        for (idx_t chunk = 0; chunk < chunks; chunk++) {
            idx_t lo = chunk * chunk_columns, hi = FNN_MIN(n, lo + chunk_columns);
            if (!go) continue;
            if (m == 1)
                gemm_one_row(pr, plan, b_packed, lo, hi);
            else
                gemm_range(pr, plan, a_packed, b_packed, 0, m, lo, hi, 0, plan->k_blocks);
        }
    }
    return failed ? -1 : 0;
}

/* Splitting along K, for products whose M and N are both too small to share: threads take whole K
   blocks in turn, each computes its block's sums into its own (m, n) buffer, and the sums are added
   to C strictly in block order (ordered), exactly as one thread would add them. Returns -1 (C
   untouched) if a buffer cannot be had. */
static int gemm_parallel_depth(const gemm_problem *pr, const gemm_plan *plan, idx_t m, idx_t n, int threads) {
    size_t a_floats = a_buffer_floats(plan, m), b_floats = b_buffer_floats(plan, n);
    int failed = 0;
#pragma omp parallel num_threads(threads)
    {
        float *a_packed = thread_buffer(A_BUFFER, a_floats);
        float *b_packed = thread_buffer(B_BUFFER, b_floats);
        float *sums = thread_buffer(PARTIAL_BUFFER, (size_t)(m * n));
        int go = team_has_buffers(a_packed && b_packed && sums, &failed);
#pragma omp for ordered schedule(dynamic, 1)
        for (idx_t block = 0; block < plan->k_blocks; block++) {
            /* the block as a product of its own, into sums: c = acc, no bias, no activation */
            idx_t pc = block * plan->k_step, kc = FNN_MIN(plan->k_step, pr->k - pc);
            gemm_problem block_pr = *pr;
            block_pr.a += pr->trans_a ? pc * pr->lda : pc;
            block_pr.b += pr->trans_b ? pc : pc * pr->ldb;
            block_pr.k = kc, block_pr.c = sums, block_pr.ldc = n, block_pr.accumulate = 0;
            block_pr.bias = NULL, block_pr.act = FNN_ACTIVATION_LINEAR;
            gemm_plan block_plan = *plan;
            block_plan.k_step = kc, block_plan.k_blocks = 1;
            if (go) gemm_range(&block_pr, &block_plan, a_packed, b_packed, 0, m, 0, n, 0, 1);
#pragma omp ordered
            if (go) {
                int first = block == 0 && !pr->accumulate, last = block == plan->k_blocks - 1;
                for (idx_t i = 0; i < m; i++) {
                    float *c_i = pr->c + i * pr->ldc;
                    const float *sums_i = sums + i * n;
                    for (idx_t j = 0; j < n; j++) c_i[j] = first ? sums_i[j] : c_i[j] + sums_i[j];
                    if (last && pr->bias)
                        for (idx_t j = 0; j < n; j++) c_i[j] = c_i[j] + pr->bias[j];
                    if (last) plan->cfg->activate(pr->act, pr->alpha, c_i, n, 1, n);
                }
            }
        }
    }
    return failed ? -1 : 0;
}

/* Whole tiles per chunk of rows so that each thread gets up to FNN_GEMM_CHUNKS_PER_THREAD chunks of
   at least FNN_GEMM_MIN_ROW_CHUNK rows (one chunk a thread when M is short). */
static idx_t row_chunk(idx_t m, idx_t tile, int threads) {
    idx_t tiles = (m + tile - 1) / tile;
    idx_t per_thread = FNN_MAX(1, FNN_MIN(FNN_GEMM_CHUNKS_PER_THREAD, m / threads / FNN_GEMM_MIN_ROW_CHUNK));
    return (tiles + threads * per_thread - 1) / (threads * per_thread) * tile;
}

/* Below this many multiply-adds a second thread costs more to wake than it saves. */
#define FNN_GEMM_PARALLEL_MIN_WORK (96 * 96 * 96)
/* Multiply-adds a thread should have before the one-row product splits its columns. */
#define FNN_GEMM_ROW_PARALLEL_MIN_WORK 65536

int fnn_sgemm(int trans_a, int trans_b, idx_t m, idx_t n, idx_t k,
              const float *a, idx_t lda, const float *b, idx_t ldb,
              float *c, idx_t ldc, int accumulate, const float *bias, int act, float alpha) {
    if (m <= 0 || n <= 0) return 0;
    gemm_problem pr = {trans_a, trans_b, a, b, lda, ldb, k, c, ldc, accumulate, act, alpha, bias};
    gemm_plan plan = make_plan(fnn_gemm_active_config(), trans_a, trans_b, m, n, k, lda, ldb);
    const fnn_gemm_config *cfg = plan.cfg;
    double work = (double)m * n * FNN_MAX(k, 1);
    idx_t tiles_m = (m + cfg->mr - 1) / cfg->mr, panels_n = (n + cfg->nr - 1) / cfg->nr;
    int threads = fnn_get_num_threads();
    if (m == 1) {
        /* One row: B streams past once through the one-row kernel; threads take whole panels. */
        idx_t useful = FNN_MIN(panels_n, (idx_t)(work / FNN_GEMM_ROW_PARALLEL_MIN_WORK));
        if (threads > useful) threads = (int)FNN_MAX(useful, 1);
        if (threads > 1)
            return gemm_parallel_columns(&pr, &plan, m, n, threads, (panels_n + threads - 1) / threads * cfg->nr);
        float *b_packed = trans_b ? thread_buffer(B_BUFFER, b_buffer_floats(&plan, n)) : NULL;
        if (trans_b && !b_packed) return -1;
        gemm_one_row(&pr, &plan, b_packed, 0, n);
        return 0;
    }
    if (work < FNN_GEMM_PARALLEL_MIN_WORK) threads = 1;
    if (threads > 1) {
        /* Tall products split M and share each packed block of B. Otherwise, while there are panels
           enough, N: each thread packs only its own columns of B, and reads A (the smaller operand) in
           place or packs all of it, which costs a thread about 1/n of its work but needs no barrier
           and no B from the other core (64x4096x1024: 150 against 105 GFLOP/s on two AVX-512 cores).
           When M and N are both small, deep products split K. */
        if (tiles_m >= 2 * threads && (m > n || panels_n < 2 * threads))
            return gemm_parallel_rows(&pr, &plan, m, n, threads, row_chunk(m, cfg->mr, threads));
        if (panels_n >= 2 * threads)
            return gemm_parallel_columns(&pr, &plan, m, n, threads, (panels_n + threads - 1) / threads * cfg->nr);
        if (plan.k_blocks >= 2 * threads) return gemm_parallel_depth(&pr, &plan, m, n, threads);
    }
    float *a_packed = plan.direct_a ? NULL : thread_buffer(A_BUFFER, a_buffer_floats(&plan, m));
    float *b_packed = thread_buffer(B_BUFFER, b_buffer_floats(&plan, n));
    if ((!plan.direct_a && !a_packed) || !b_packed) return -1;
    gemm_range(&pr, &plan, a_packed, b_packed, 0, m, 0, n, 0, plan.k_blocks);
    return 0;
}
