/* Convolution as implicit GEMM on the GEMM's micro-kernels (the BLIS loop nest, as oneDNN's brgemm
   drivers run it over NHWC): the patch matrix, one row per output pixel and one column per (kernel
   tap, input channel), is never formed whole. Each thread copies one cache block of it at a time
   into a packed block that the micro-kernel reads as its A operand.

     forward          y  = patches(x) @ W             (pixels, K) @ (K, F), W packed once per call
     data gradient    dx = col2im(dy @ W^T)            each block of dy @ W^T is added into dx
     filter gradient  dW = patches(x)^T @ dy           and db = ones^T @ dy: a column of ones is one
                                                       more column of the packed patches

   Extra memory is the packed weights plus one block per thread, never pixels x K.

   Determinism: every output element sums its terms in an order the shape alone fixes. The forward
   splits K into the GEMM's K blocks, which depend on K only, so an image's output does not depend
   on the batch it is in. The data gradient is split by rows of dx: each thread recomputes the few
   rows of dy @ W^T its band shares with the next, and every dx element gains its terms in (column
   block, block of pixels of its image, tap, pixel) order whichever thread owns it. The filter
   gradient sums fixed chunks of pixels into separate partial sums and adds those in chunk order. */
#include <string.h>
#include "../gemm/gemm_internal.h"
#include "image_kernels.h"

/* Below this many multiply-adds a second thread costs more to wake than it saves. */
#define CONV_PARALLEL_MIN_WORK (64 * 64 * 64)
/* Patch columns one filter-gradient block packs (a multiple of every kernel's MR). */
#define DW_COLS 192
/* The filter gradient aims at this many work items (chunks x column blocks), each chunk of at least
   DW_MIN_CHUNK_PIXELS pixels, with at most DW_PARTIAL_FLOATS floats of partial sums (or one set). */
#define DW_TARGET_ITEMS 16
#define DW_MIN_CHUNK_PIXELS 512
#define DW_PARTIAL_FLOATS (1 << 20)
/* Columns of dy @ W^T one data-gradient block holds (a multiple of every kernel's NR). */
#define DX_COLS 512

/* The active micro-kernel with its default blocks (not fnn_gemm_active_config()'s cache-derived ones):
   conv2d_scratch_floats sizes scratch from these same configs for every path (all_configs below), so a
   call never needs more than the size reported. */
static const fnn_gemm_config *conv_gemm_config(void) {
#ifdef FASTNN_X86
    switch (fnn_simd_get()) {
    case FNN_SIMD_AVX512: return &fnn_gemm_avx512_config;
    case FNN_SIMD_AVX2: return &fnn_gemm_avx2_config;
    }
#endif
    return &fnn_gemm_scalar_config;
}

static const fnn_gemm_config *const all_configs[] = {
    &fnn_gemm_scalar_config,
#ifdef FASTNN_X86
    &fnn_gemm_avx2_config, &fnn_gemm_avx512_config,
#endif
};

static idx_t round_up(idx_t x, idx_t to) { return (x + to - 1) / to * to; }
static idx_t ceil_div(idx_t a, idx_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

/* Row stride of a packed block of `cols` columns: whole cache lines, and never a multiple of 4 KiB
   (rows the micro-kernel reads together would compete for the same L1 sets). */
static idx_t block_ld(idx_t cols) {
    idx_t ld = round_up(cols, 16);
    return ld % 1024 == 0 ? ld + 16 : ld;
}

/* k split as the GEMM splits its K: equal blocks of at most kc. */
static void split_k(idx_t k, idx_t kc, idx_t *step, idx_t *blocks) {
    *blocks = (k + kc - 1) / kc;
    *step = (k + *blocks - 1) / *blocks;
    *blocks = (k + *step - 1) / *step;
}

typedef struct {
    const fnn_conv_shape *s;
    const fnn_gemm_config *cfg;
    const fnn_image_kernels *img;
    idx_t cg, fg, k, pixels; /* channels and filters per group, patch columns per group, output pixels */
} conv_dims;

static conv_dims dims_of(const fnn_conv_shape *s, const fnn_gemm_config *cfg) {
    conv_dims d = {s, cfg, fnn_image_kernels_active(), s->c / s->groups, s->f / s->groups, 0, 0};
    d.k = s->kh * s->kw * d.cg;
    d.pixels = s->n * s->out_h * s->out_w;
    return d;
}

/* A 1x1 convolution whose output pixels are its input pixels: a plain GEMM. */
static int is_pointwise(const fnn_conv_shape *s) {
    return s->kh == 1 && s->kw == 1 && s->stride_h == 1 && s->stride_w == 1 && s->pad_top == 0 &&
           s->pad_left == 0 && s->out_h == s->h && s->out_w == s->w;
}

static int is_depthwise(const fnn_conv_shape *s) { return s->groups > 1 && s->groups == s->c; }

/* A pass's scratch: `shared` floats for all threads, then `per_thread` for each. */
typedef struct {
    idx_t shared, per_thread;
} scratch_plan;

/* How many threads the scratch and the work allow (0: not even one). */
static int threads_for(scratch_plan plan, idx_t scratch_floats, double work, idx_t items) {
    if (scratch_floats < plan.shared + plan.per_thread) return 0;
    idx_t room = plan.per_thread > 0 ? (scratch_floats - plan.shared) / plan.per_thread : items;
    idx_t threads = work < CONV_PARALLEL_MIN_WORK ? 1 : fnn_get_num_threads();
    return (int)FNN_MAX(1, FNN_MIN(threads, FNN_MIN(items, room)));
}

typedef void (*conv_item_fn)(const void *args, idx_t item, float *mine);

/* Runs prep(args, task) for tasks [0, prep_tasks) (the shared packing), then body(args, item, the
   thread's scratch) for items [0, items) as threads come free. */
static void run_items(int threads, const void *args, idx_t prep_tasks, conv_item_fn prep, idx_t items,
                      conv_item_fn body, float *per_thread_base, idx_t per_thread) {
    if (threads <= 1) {
        for (idx_t t = 0; t < prep_tasks; t++) prep(args, t, NULL);
        for (idx_t i = 0; i < items; i++) body(args, i, per_thread_base);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        float *mine = per_thread_base + fnn_thread_id() * per_thread;
#pragma omp for schedule(static)
        for (idx_t t = 0; t < prep_tasks; t++) prep(args, t, NULL);
#pragma omp for schedule(dynamic, 1)
        for (idx_t i = 0; i < items; i++) body(args, i, mine);
    }
}

/* ---- forward: y = act(patches(x) @ W + bias) ---- */

typedef struct {
    conv_dims d;
    const float *x, *w, *bias;
    int act;
    float alpha;
    float *y;
    float *packed;    /* (groups, panels, k, NR): W's columns in NR-wide panels */
    idx_t panels, k_step, k_blocks, lda, blocks, parts;
    idx_t band_rows, bands; /* the padded-rows path: output rows per band, bands per image */
} forward_args;

/* The padded-rows path reads each kernel row's run of kw * c patch columns straight from a zero-padded
   copy of the input rows (stride and dilation 1 along w, one group): an output row's pixels are then
   rows of A c floats apart, and the block copies each input float about once instead of kh * kw times
   (im2col's copy was 10-20 % of a pass at 14x14 32->64). K is cut at kernel rows, the same for every
   pixel. Runs shorter than ROWS_MIN_RUN would load and store the C tiles too often, and the padded
   rows of a band stay within ROWS_MAX_SLAB floats (half of a 2 MiB L2). */
#define ROWS_MIN_RUN 64
#define ROWS_MAX_SLAB (1 << 18)

static idx_t slab_row_floats(const fnn_conv_shape *s) { return (s->out_w + s->kw - 1) * s->c; }

static idx_t slab_floats(const fnn_conv_shape *s, idx_t band_rows) {
    return ((band_rows - 1) * s->stride_h + (s->kh - 1) * s->dil_h + 1) * slab_row_floats(s);
}

/* Output rows per band of the padded-rows path (about one block of mc pixels), or 0 when the shape
   does not take it: tiles split an output row evenly, so rows narrower than half a tile waste lanes. */
static idx_t rows_path_band(const conv_dims *d) {
    const fnn_conv_shape *s = d->s;
    if (s->groups != 1 || s->stride_w != 1 || s->dil_w != 1 || (s->kh == 1 && s->kw == 1)) return 0;
    if (s->kw * s->c < ROWS_MIN_RUN || 2 * s->out_w < d->cfg->mr) return 0;
    idx_t band_rows = FNN_MIN(FNN_MAX(1, d->cfg->mc / s->out_w), s->out_h);
    return slab_floats(s, band_rows) <= ROWS_MAX_SLAB ? band_rows : 0;
}

static scratch_plan forward_plan(const conv_dims *d) {
    const fnn_gemm_config *cfg = d->cfg;
    idx_t k_step, k_blocks, band_rows = rows_path_band(d);
    split_k(d->k, cfg->kc, &k_step, &k_blocks);
    scratch_plan plan = {d->s->groups * d->k * round_up(d->fg, cfg->nr),
                         band_rows ? slab_floats(d->s, band_rows) : cfg->mc * block_ld(k_step)};
    return plan;
}

// panel task = (group, panel): packed[g][p] is (k, NR), lane j = filter g * fg + p * NR + j (0 past fg)
static void pack_weight_panel(const void *args, idx_t task, float *unused) {
    (void)unused;
    const forward_args *a = args;
    const idx_t NR = a->d.cfg->nr, f = a->d.s->f, g = task / a->panels, p = task % a->panels;
    const idx_t j0 = g * a->d.fg + p * NR, lanes = FNN_MIN(NR, a->d.fg - p * NR);
    float *dst = a->packed + task * a->d.k * NR;
    for (idx_t kk = 0; kk < a->d.k; kk++) {
        for (idx_t j = 0; j < lanes; j++) dst[kk * NR + j] = a->w[kk * f + j0 + j];
        for (idx_t j = lanes; j < NR; j++) dst[kk * NR + j] = 0.0f;
    }
}

// item = (group, block of mc output pixels, part of the filter panels)
static void forward_item(const void *args, idx_t item, float *a_block) {
    const forward_args *a = args;
    const fnn_gemm_config *cfg = a->d.cfg;
    const idx_t MR = cfg->mr, NR = cfg->nr, f = a->d.s->f, fg = a->d.fg, k = a->d.k;
    idx_t per_group = a->blocks / a->d.s->groups;
    idx_t g = item / (per_group * a->parts), block = item / a->parts % per_group, part = item % a->parts;
    idx_t m0 = block * cfg->mc, rows = FNN_MIN(cfg->mc, a->d.pixels - m0);
    idx_t p0 = fnn_part_start(a->panels, a->parts, part), p1 = fnn_part_start(a->panels, a->parts, part + 1);
    for (idx_t kb = 0; kb < a->k_blocks; kb++) {
        idx_t pc = kb * a->k_step, kc = FNN_MIN(a->k_step, k - pc);
        int last = kb == a->k_blocks - 1;
        a->d.img->pack_patch_rows(a->d.s, a->d.cg, k, a->x + g * a->d.cg, m0, rows, pc, kc, a_block, a->lda);
        for (idx_t p = p0; p < p1; p++) {
            idx_t jr = g * fg + p * NR, nr = FNN_MIN(NR, fg - p * NR);
            const float *b_panel = a->packed + ((g * a->panels + p) * k + pc) * NR;
            const float *bias = last && a->bias ? a->bias + jr : NULL;
            for (idx_t ir = 0; ir < rows; ir += MR) {
                idx_t mr = FNN_MIN(MR, rows - ir);
                float *c = a->y + (m0 + ir) * f + jr;
                cfg->kernel(kc, a_block + ir * a->lda, a->lda, 1, b_panel, NR, c, f, mr, nr, kb > 0, bias);
                if (last && a->act != FNN_ACTIVATION_LINEAR) cfg->activate(a->act, a->alpha, c, f, mr, nr);
            }
        }
    }
}

/* slab row q = input row ih0 + q of image n at columns [-pad_left, out_w + kw - 1 - pad_left), zero
   outside the image */
static void fill_slab(const forward_args *a, idx_t n, idx_t ih0, idx_t rows, float *slab) {
    const fnn_conv_shape *s = a->d.s;
    const idx_t c = s->c, cols = s->out_w + s->kw - 1;
    const idx_t lo = FNN_MIN(s->pad_left, cols), hi = FNN_MAX(lo, FNN_MIN(s->w + s->pad_left, cols));
    for (idx_t q = 0; q < rows; q++) {
        float *dst = slab + q * cols * c;
        idx_t ih = ih0 + q;
        if (ih < 0 || ih >= s->h) {
            memset(dst, 0, sizeof(float) * cols * c);
            continue;
        }
        memset(dst, 0, sizeof(float) * lo * c);
        if (hi > lo)
            memcpy(dst + lo * c, a->x + ((n * s->h + ih) * s->w + lo - s->pad_left) * c, sizeof(float) * (hi - lo) * c);
        memset(dst + hi * c, 0, sizeof(float) * (cols - hi) * c);
    }
}

// item = (image, band of output rows, part of the filter panels): the padded-rows path
static void forward_rows_item(const void *args, idx_t item, float *slab) {
    const forward_args *a = args;
    const fnn_conv_shape *s = a->d.s;
    const fnn_gemm_config *cfg = a->d.cfg;
    const idx_t NR = cfg->nr, f = s->f, c = s->c, run = s->kw * c, slab_row = slab_row_floats(s);
    idx_t n = item / (a->bands * a->parts), band = item / a->parts % a->bands, part = item % a->parts;
    idx_t oh0 = fnn_part_start(s->out_h, a->bands, band), oh1 = fnn_part_start(s->out_h, a->bands, band + 1);
    idx_t p0 = fnn_part_start(a->panels, a->parts, part), p1 = fnn_part_start(a->panels, a->parts, part + 1);
    idx_t tiles = ceil_div(s->out_w, cfg->mr), blocks = s->kh * a->k_blocks;
    fill_slab(a, n, oh0 * s->stride_h - s->pad_top, (oh1 - oh0 - 1) * s->stride_h + (s->kh - 1) * s->dil_h + 1, slab);
    for (idx_t kb = 0; kb < blocks; kb++) {
        idx_t i = kb / a->k_blocks, pc = kb % a->k_blocks * a->k_step, kc = FNN_MIN(a->k_step, run - pc);
        int last = kb == blocks - 1;
        for (idx_t oh = oh0; oh < oh1; oh++) {
            const float *a_row = slab + ((oh - oh0) * s->stride_h + i * s->dil_h) * slab_row + pc;
            float *y_row = a->y + (n * s->out_h + oh) * s->out_w * f;
            for (idx_t t = 0; t < tiles; t++) {
                idx_t ow0 = fnn_part_start(s->out_w, tiles, t), mr = fnn_part_start(s->out_w, tiles, t + 1) - ow0;
                for (idx_t p = p0; p < p1; p++) {
                    idx_t jr = p * NR, nr = FNN_MIN(NR, f - jr);
                    const float *b_panel = a->packed + (p * a->d.k + i * run + pc) * NR;
                    float *out = y_row + ow0 * f + jr;
                    cfg->kernel(kc, a_row + ow0 * c, c, 1, b_panel, NR, out, f, mr, nr, kb > 0,
                                last && a->bias ? a->bias + jr : NULL);
                    if (last && a->act != FNN_ACTIVATION_LINEAR) cfg->activate(a->act, a->alpha, out, f, mr, nr);
                }
            }
        }
    }
}

int fnn_conv2d_forward(const fnn_conv_shape *s, const float *x, const float *w, const float *bias, int act,
                       float alpha, float *y, float *scratch, idx_t scratch_floats) {
    if (is_depthwise(s)) return fnn_depthwise_conv2d_forward(s, x, w, bias, act, alpha, y, scratch, scratch_floats);
    conv_dims d = dims_of(s, conv_gemm_config());
    /* fnn_sgemm's one-row path sums in another order than its tiles: a single pixel goes through
       the loop nest below, which sums as the tiles do, so it matches the same pixel in a batch. */
    if (is_pointwise(s) && d.pixels > 1) {
        for (idx_t g = 0; g < s->groups; g++)
            if (fnn_sgemm(0, 0, d.pixels, d.fg, d.cg, x + g * d.cg, s->c, w + g * d.fg, s->f, y + g * d.fg, s->f, 0,
                          bias ? bias + g * d.fg : NULL, act, alpha))
                return -1;
        return 0;
    }
    forward_args a = {d, x, w, bias, act, alpha, y, scratch, round_up(d.fg, d.cfg->nr) / d.cfg->nr};
    a.band_rows = rows_path_band(&d);
    conv_item_fn body = a.band_rows ? forward_rows_item : forward_item;
    if (a.band_rows) {
        split_k(s->kw * s->c, d.cfg->kc, &a.k_step, &a.k_blocks);
        a.bands = ceil_div(s->out_h, a.band_rows);
        a.blocks = s->n * a.bands;
    } else {
        split_k(d.k, d.cfg->kc, &a.k_step, &a.k_blocks);
        a.lda = block_ld(a.k_step);
        a.blocks = s->groups * ceil_div(d.pixels, d.cfg->mc);
    }
    scratch_plan plan = forward_plan(&d);
    double work = (double)d.pixels * d.k * s->f;
    /* Split the panels too when there are fewer pixel blocks than threads want (one small image). */
    int want = fnn_get_num_threads();
    a.parts = FNN_MAX(1, FNN_MIN(a.panels, (2 * want + a.blocks - 1) / a.blocks));
    idx_t items = a.blocks * a.parts;
    int threads = threads_for(plan, scratch_floats, work, items);
    if (threads == 0) return -1;
    run_items(threads, &a, s->groups * a.panels, pack_weight_panel, items, body, scratch + plan.shared,
              plan.per_thread);
    return 0;
}

/* ---- filter gradient: dW = patches(x)^T @ dy and db = ones^T @ dy ---- */

typedef struct {
    conv_dims d;
    const float *x, *dy;
    float *dw, *db;
    float *partial;    /* (chunks, groups, cols, fg): each chunk's sums; row k of a group is db */
    idx_t cols;        /* patch columns per group: k, and the column of ones when db is wanted */
    idx_t chunks, col_blocks, lda;
} filter_args;

/* Chunks of the pixel sum: enough work items for the threads to share, each chunk big enough to
   fill the micro-kernel, and their partial sums within budget. A function of the shape only. */
static idx_t filter_chunks(const conv_dims *d, idx_t cols, idx_t col_blocks) {
    idx_t set = d->s->groups * cols * d->fg;
    idx_t chunks = (DW_TARGET_ITEMS + d->s->groups * col_blocks - 1) / (d->s->groups * col_blocks);
    chunks = FNN_MIN(chunks, d->pixels / DW_MIN_CHUNK_PIXELS);
    chunks = FNN_MIN(chunks, DW_PARTIAL_FLOATS / set);
    return FNN_MAX(chunks, 1);
}

static scratch_plan filter_plan(const conv_dims *d, idx_t cols, idx_t *chunks, idx_t *col_blocks) {
    *col_blocks = (d->k + DW_COLS - 1) / DW_COLS;
    *chunks = filter_chunks(d, cols, *col_blocks);
    idx_t block_cols = FNN_MIN(cols, DW_COLS + 1);
    scratch_plan plan = {*chunks * d->s->groups * cols * d->fg,
                         d->cfg->kc * (block_ld(block_cols) + round_up(d->fg, d->cfg->nr))};
    return plan;
}

/* dst = panels of NR filters by `steps` pixels (zero past fg), from rows [m0, m0 + steps) of the
   group's dy: read in place, the micro-kernel's B rows would lie f floats apart, and at f = 64 a
   K block's rows crowd into half of L1's sets and miss (its micro-kernels took about 20 % longer at
   N32 14x14 32->64, 1 thread). */
static void pack_dy_panels(const filter_args *a, idx_t g, idx_t m0, idx_t steps, float *dst) {
    const idx_t NR = a->d.cfg->nr, f = a->d.s->f, fg = a->d.fg;
    for (idx_t p = 0; p < steps; p++) {
        const float *dy_p = a->dy + (m0 + p) * f + g * fg;
        for (idx_t jr = 0; jr < fg; jr += NR) {
            float *panel_p = dst + jr * steps + p * NR;
            idx_t nr = FNN_MIN(NR, fg - jr);
            for (idx_t j = 0; j < nr; j++) panel_p[j] = dy_p[jr + j];
            for (idx_t j = nr; j < NR; j++) panel_p[j] = 0.0f;
        }
    }
}

// item = (group, chunk, column block): the chunk's sums for those columns, into its partial block
static void filter_item(const void *args, idx_t item, float *mine) {
    const filter_args *a = args;
    const fnn_gemm_config *cfg = a->d.cfg;
    const idx_t MR = cfg->mr, NR = cfg->nr, fg = a->d.fg;
    idx_t g = item / (a->chunks * a->col_blocks), chunk = item / a->col_blocks % a->chunks;
    idx_t cb = item % a->col_blocks;
    idx_t c0 = cb * DW_COLS, c1 = cb == a->col_blocks - 1 ? a->cols : c0 + DW_COLS;
    idx_t q0 = fnn_part_start(a->d.pixels, a->chunks, chunk), q1 = fnn_part_start(a->d.pixels, a->chunks, chunk + 1);
    idx_t step, blocks;
    split_k(q1 - q0, cfg->kc, &step, &blocks);
    float *part = a->partial + (chunk * a->d.s->groups + g) * a->cols * fg;
    float *a_block = mine, *b_block = mine + cfg->kc * a->lda;
    for (idx_t pb = 0; pb < blocks; pb++) {
        idx_t m0 = q0 + pb * step, steps = FNN_MIN(step, q1 - m0);
        a->d.img->pack_patch_rows(a->d.s, a->d.cg, a->d.k, a->x + g * a->d.cg, m0, steps, c0, c1 - c0, a_block,
                                  a->lda);
        pack_dy_panels(a, g, m0, steps, b_block);
        for (idx_t jr = 0; jr < fg; jr += NR)
            for (idx_t ir = 0; ir < c1 - c0; ir += MR)
                cfg->kernel(steps, a_block + ir, 1, a->lda, b_block + jr * steps, NR, part + (c0 + ir) * fg + jr, fg,
                            FNN_MIN(MR, c1 - c0 - ir), FNN_MIN(NR, fg - jr), pb > 0, NULL);
    }
}

typedef struct {
    const filter_args *a;
} filter_sum_args;

// rows [lo, hi) of the (groups * cols) partial rows: dw and db = the chunk sums added in chunk order
static void sum_filter_chunks(void *ctx, idx_t lo, idx_t hi) {
    const filter_args *a = ((const filter_sum_args *)ctx)->a;
    const idx_t fg = a->d.fg, f = a->d.s->f, set = a->d.s->groups * a->cols * fg;
    for (idx_t row = lo; row < hi; row++) {
        idx_t g = row / a->cols, kk = row % a->cols;
        float *out = kk < a->d.k ? a->dw + kk * f + g * fg : a->db + g * fg;
        const float *first = a->partial + row * fg;
        for (idx_t j = 0; j < fg; j++) out[j] = first[j];
        for (idx_t chunk = 1; chunk < a->chunks; chunk++)
            for (idx_t j = 0; j < fg; j++) out[j] += first[chunk * set + j];
    }
}

int fnn_conv2d_backward_filter(const fnn_conv_shape *s, const float *x, const float *dy, float *dw, float *db,
                               float *scratch, idx_t scratch_floats) {
    if (is_depthwise(s)) return fnn_depthwise_conv2d_backward_filter(s, x, dy, dw, db, scratch, scratch_floats);
    conv_dims d = dims_of(s, conv_gemm_config());
    if (!dw) {
        if (db) fnn_bias_grad(d.pixels, s->f, dy, db);
        return 0;
    }
    filter_args a = {d, x, dy, dw, db, scratch, d.k + (db != NULL)};
    scratch_plan plan = filter_plan(&d, a.cols, &a.chunks, &a.col_blocks);
    a.lda = block_ld(FNN_MIN(a.cols, DW_COLS + 1));
    idx_t items = s->groups * a.chunks * a.col_blocks;
    int threads = threads_for(plan, scratch_floats, (double)d.pixels * a.cols * s->f, items);
    if (threads == 0) return -1;
    run_items(threads, &a, 0, NULL, items, filter_item, scratch + plan.shared, plan.per_thread);
    filter_sum_args sum = {&a};
    idx_t rows = s->groups * a.cols;
    fnn_parallel_for(rows, FNN_MAX(1, FNN_ELEMENTWISE_GRAIN / (a.chunks * d.fg)), sum_filter_chunks, &sum);
    return 0;
}

/* ---- data gradient: dx = col2im(dy @ W^T), and the transposed convolution act(dx + bias) ---- */

typedef struct {
    conv_dims d;
    const float *dy, *w, *bias;
    int act;
    float alpha;
    float *dx;
    float *packed;   /* (groups, k panels, fg, NR): W^T's columns (patch columns) in NR-wide panels */
    idx_t k_panels, bands, ldp, col_blocks;
} data_args;

/* With stride 1 the data gradient is itself a convolution: of dy, padded by (k - 1) * dil - pad,
   with the kernel turned half a turn and its two channel axes swapped. As a forward it sums each dx
   element in registers, with no block of dy @ W^T to write and add back, and it is taken whenever
   its tiles waste no more lanes than col2im's (a few input channels fill few of the NR lanes, so a
   first layer keeps col2im, whose lanes are the k patch columns). */
static int data_by_forward(const conv_dims *d) {
    const fnn_conv_shape *s = d->s;
    idx_t NR = d->cfg->nr;
    if (s->stride_h != 1 || s->stride_w != 1) return 0;
    if (s->pad_top > (s->kh - 1) * s->dil_h || s->pad_left > (s->kw - 1) * s->dil_w) return 0;
    return d->cg * round_up(d->k, NR) >= d->k * round_up(d->cg, NR);
}

static fnn_conv_shape turned_shape(const fnn_conv_shape *s) {
    fnn_conv_shape t = *s;
    t.h = s->out_h, t.w = s->out_w, t.c = s->f, t.f = s->c, t.out_h = s->h, t.out_w = s->w;
    t.pad_top = (s->kh - 1) * s->dil_h - s->pad_top;
    t.pad_left = (s->kw - 1) * s->dil_w - s->pad_left;
    return t;
}

// w is (kh, kw, c / groups, f); turned is (kh, kw, f / groups, c): tap (i, j) from tap (kh-1-i, kw-1-j)
static void turn_kernel(const conv_dims *d, const float *w, float *turned) {
    const fnn_conv_shape *s = d->s;
    for (idx_t t = 0; t < s->kh * s->kw; t++) {
        const float *w_t = w + (s->kh * s->kw - 1 - t) * d->cg * s->f;
        float *turned_t = turned + t * d->fg * s->c;
        for (idx_t g = 0; g < s->groups; g++)
            for (idx_t q = 0; q < d->fg; q++)
                for (idx_t ch = 0; ch < d->cg; ch++)
                    turned_t[q * s->c + g * d->cg + ch] = w_t[ch * s->f + g * d->fg + q];
    }
}

static scratch_plan data_plan(const conv_dims *d) {
    const fnn_gemm_config *cfg = d->cfg;
    if (data_by_forward(d)) {
        fnn_conv_shape t = turned_shape(d->s);
        conv_dims turned = dims_of(&t, cfg);
        scratch_plan plan = {0, fnn_depthwise_conv2d_scratch_floats(&t, FNN_CONV_FORWARD, 1)};
        if (!is_depthwise(&t)) plan = forward_plan(&turned);
        plan.shared += d->k * d->s->f;
        return plan;
    }
    idx_t k_panels = round_up(d->k, cfg->nr) / cfg->nr;
    scratch_plan plan = {d->s->groups * k_panels * cfg->nr * d->fg,
                         cfg->mc * block_ld(FNN_MIN(DX_COLS, k_panels * cfg->nr))};
    return plan;
}

// panel task = (group, panel): packed[g][p] is (fg, NR), lane j = patch column p * NR + j (0 past k)
static void pack_transposed_panel(const void *args, idx_t task, float *unused) {
    (void)unused;
    const data_args *a = args;
    const idx_t NR = a->d.cfg->nr, f = a->d.s->f, fg = a->d.fg, g = task / a->k_panels, p = task % a->k_panels;
    const idx_t lanes = FNN_MIN(NR, a->d.k - p * NR);
    const float *w_p = a->w + p * NR * f + g * fg;
    float *dst = a->packed + task * fg * NR;
    for (idx_t q = 0; q < fg; q++) {
        for (idx_t j = 0; j < lanes; j++) dst[q * NR + j] = w_p[j * f + q];
        for (idx_t j = lanes; j < NR; j++) dst[q * NR + j] = 0.0f;
    }
}

/* dp (rows, ldp) = dy[m0 : m0 + rows, group g] @ W^T[:, columns [c0, c1)], dy read in place. */
static void data_block_product(const data_args *a, idx_t g, idx_t m0, idx_t rows, idx_t c0, idx_t c1, float *dp) {
    const fnn_gemm_config *cfg = a->d.cfg;
    const idx_t MR = cfg->mr, NR = cfg->nr, f = a->d.s->f, fg = a->d.fg;
    idx_t k_step, k_blocks;
    split_k(fg, cfg->kc, &k_step, &k_blocks);
    for (idx_t kb = 0; kb < k_blocks; kb++) {
        idx_t pc = kb * k_step, kc = FNN_MIN(k_step, fg - pc);
        for (idx_t col = c0; col < c1; col += NR) {
            const float *b_panel = a->packed + ((g * a->k_panels + col / NR) * fg + pc) * NR;
            for (idx_t ir = 0; ir < rows; ir += MR)
                cfg->kernel(kc, a->dy + (m0 + ir) * f + g * fg + pc, f, 1, b_panel, NR, dp + ir * a->ldp + col - c0,
                            a->ldp, FNN_MIN(MR, rows - ir), FNN_MIN(NR, c1 - col), kb > 0, NULL);
        }
    }
}

/* One band of dx: rows [r0, r1) of the n * h image rows, started at the bias (or 0), then every
   block of dy @ W^T whose patches reach the band added into it, then the activation. */
static void data_band(const void *args, idx_t band, float *dp) {
    const data_args *a = args;
    const fnn_conv_shape *s = a->d.s;
    const idx_t row_floats = s->w * s->c, mc = a->d.cfg->mc;
    idx_t r0 = fnn_part_start(s->n * s->h, a->bands, band), r1 = fnn_part_start(s->n * s->h, a->bands, band + 1);
    for (idx_t px = r0 * s->w; px < r1 * s->w; px++) {
        float *dx_px = a->dx + px * s->c;
        for (idx_t ch = 0; ch < s->c; ch++) dx_px[ch] = a->bias ? a->bias[ch] : 0.0f;
    }
    for (idx_t n = r0 / s->h; n < s->n && n * s->h < r1; n++) {
        idx_t h0 = FNN_MAX(r0 - n * s->h, 0), h1 = FNN_MIN(r1 - n * s->h, s->h);
        /* the rows of dy whose taps reach input rows [h0, h1) */
        idx_t oh0 = FNN_MAX(ceil_div(h0 + s->pad_top - (s->kh - 1) * s->dil_h, s->stride_h), 0);
        idx_t oh1 = FNN_MIN((h1 - 1 + s->pad_top) / s->stride_h + 1, s->out_h);
        if (oh1 <= oh0) continue;
        /* blocks of mc pixels counted from the image's first, whatever the band: the order in which
           a dx element gains its terms is then the band's, the batch's and the thread count's alike */
        idx_t q0 = oh0 * s->out_w, q1 = oh1 * s->out_w, image = n * s->out_h * s->out_w;
        for (idx_t g = 0; g < s->groups; g++)
            for (idx_t cb = 0; cb < a->col_blocks; cb++) {
                idx_t c0 = cb * DX_COLS, c1 = FNN_MIN(c0 + DX_COLS, a->d.k);
                for (idx_t b = q0 / mc; b * mc < q1; b++) {
                    idx_t lo = FNN_MAX(q0, b * mc), rows = FNN_MIN(q1, (b + 1) * mc) - lo;
                    data_block_product(a, g, image + lo, rows, c0, c1, dp);
                    a->d.img->scatter_patch_rows(s, a->d.cg, a->d.k, a->dx + g * a->d.cg, image + lo, rows, c0,
                                                 c1 - c0, dp, a->ldp, r0, r1);
                }
            }
    }
    if (a->act != FNN_ACTIVATION_LINEAR)
        fnn_activate_span(a->act, a->alpha, (r1 - r0) * row_floats, a->dx + r0 * row_floats, a->dx + r0 * row_floats);
}

int fnn_conv2d_backward_data(const fnn_conv_shape *s, const float *dy, const float *w, const float *bias,
                             int act, float alpha, float *dx, float *scratch, idx_t scratch_floats) {
    if (is_depthwise(s))
        return fnn_depthwise_conv2d_backward_data(s, dy, w, bias, act, alpha, dx, scratch, scratch_floats);
    conv_dims d = dims_of(s, conv_gemm_config());
    if (is_pointwise(s)) {
        for (idx_t g = 0; g < s->groups; g++)
            if (fnn_sgemm(0, 1, d.pixels, d.cg, d.fg, dy + g * d.fg, s->f, w + g * d.fg, s->f, dx + g * d.cg, s->c, 0,
                          bias ? bias + g * d.cg : NULL, act, alpha))
                return -1;
        return 0;
    }
    if (data_by_forward(&d)) {
        fnn_conv_shape t = turned_shape(s);
        idx_t kernel_floats = d.k * s->f;
        if (scratch_floats < kernel_floats) return -1;
        turn_kernel(&d, w, scratch);
        return fnn_conv2d_forward(&t, dy, scratch, bias, act, alpha, dx, scratch + kernel_floats,
                                  scratch_floats - kernel_floats);
    }
    scratch_plan plan = data_plan(&d);
    data_args a = {d, dy, w, bias, act, alpha, dx, scratch, round_up(d.k, d.cfg->nr) / d.cfg->nr};
    a.ldp = block_ld(FNN_MIN(DX_COLS, a.k_panels * d.cfg->nr));
    a.col_blocks = (d.k + DX_COLS - 1) / DX_COLS;
    a.bands = FNN_MIN(fnn_get_num_threads(), s->n * s->h);
    int threads = threads_for(plan, scratch_floats, (double)d.pixels * d.k * s->f, a.bands);
    if (threads == 0) return -1;
    a.bands = threads;
    run_items(threads, &a, s->groups * a.k_panels, pack_transposed_panel, a.bands, data_band, scratch + plan.shared,
              plan.per_thread);
    return 0;
}

/* ---- scratch ---- */

static scratch_plan pass_plan(const fnn_conv_shape *s, const fnn_gemm_config *cfg, int pass) {
    conv_dims d = dims_of(s, cfg);
    idx_t chunks, col_blocks;
    scratch_plan none = {0, 0};
    switch (pass) {
    case FNN_CONV_FORWARD: return is_pointwise(s) && d.pixels > 1 ? none : forward_plan(&d);
    case FNN_CONV_BACKWARD_DATA: return is_pointwise(s) ? none : data_plan(&d);
    default: return filter_plan(&d, d.k + 1, &chunks, &col_blocks);
    }
}

idx_t fnn_conv2d_scratch_floats(const fnn_conv_shape *s, int pass, int threads) {
    if (is_depthwise(s)) return fnn_depthwise_conv2d_scratch_floats(s, pass, threads);
    idx_t most = 0;
    for (size_t i = 0; i < sizeof(all_configs) / sizeof(all_configs[0]); i++) {
        scratch_plan plan = pass_plan(s, all_configs[i], pass);
        most = FNN_MAX(most, plan.shared + threads * plan.per_thread);
    }
    return most;
}
