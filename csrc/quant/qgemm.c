/* The int8 GEMM driver: packing of B, the choice of micro-kernel, and the split of the output into
   tiles (up to config mr rows x 64 columns) that threads own. Each finished int32 tile goes to a sink:
   a copy into C (fnn_qgemm_u8s8) or the dense layer's dequantizing epilogue (qdense.c). */
#include "qgemm_internal.h"

/* Threads get at least this many multiply-adds each, so small problems run inline. */
#define QGEMM_GRAIN_MACS (1 << 17)

static idx_t steps_of(idx_t k) { return (k + 3) / 4; }
static idx_t panels_of(idx_t n) { return (n + FNN_QGEMM_PANEL - 1) / FNN_QGEMM_PANEL; }

idx_t fnn_qgemm_packed_size(idx_t k, idx_t n) { return panels_of(n) * steps_of(k) * 4 * FNN_QGEMM_PANEL; }

// b is (k, n) int8 row-major (row stride ldb), packed is fnn_qgemm_packed_size(k, n) bytes
void fnn_qgemm_pack_b(idx_t k, idx_t n, const int8_t *b, idx_t ldb, int8_t *packed) {
    idx_t steps = steps_of(k), panels = panels_of(n);
    for (idx_t p = 0; p < panels; p++)
        for (idx_t s = 0; s < steps; s++)
            for (idx_t j = 0; j < FNN_QGEMM_PANEL; j++)
                for (idx_t i = 0; i < 4; i++) {
                    idx_t row = 4 * s + i, col = p * FNN_QGEMM_PANEL + j;
                    *packed++ = row < k && col < n ? b[row * ldb + col] : 0;
                }
}

static int has_avx512_vnni = -1;

const fnn_qgemm_config *fnn_qgemm_active_config(void) {
#ifdef FASTNN_X86
    switch (fnn_simd_get()) {
    case FNN_SIMD_AVX512:
        if (has_avx512_vnni < 0) has_avx512_vnni = fnn_cpu_has_avx512_vnni();
        if (has_avx512_vnni) return &fnn_qgemm_avx512_config;
        return &fnn_qgemm_avx2_config;
    case FNN_SIMD_AVX2:
        return &fnn_qgemm_avx2_config;
    default:
        break;
    }
#endif
    return &fnn_qgemm_scalar_config;
}

const char *fnn_qgemm_kernel_name(void) { return fnn_qgemm_active_config()->name; }

typedef struct {
    const fnn_qgemm_config *cfg;
    idx_t m, n, steps, row_blocks, panels, panel_stride;
    const uint8_t *a;
    idx_t lda;
    const int8_t *packed;
    int a_7bit;
    fnn_qgemm_sink sink;
    void *sink_ctx;
} qgemm_problem;

/* Work items are (column group, row block) pairs, column-group-major: a thread's contiguous range keeps
   one group of B in cache while it walks the rows. */
static void run_tiles(void *ctx, idx_t lo, idx_t hi) {
    const qgemm_problem *pr = ctx;
    int32_t tile[FNN_QGEMM_MAX_MR * FNN_QGEMM_GROUP_COLS] __attribute__((aligned(64)));
    for (idx_t item = lo; item < hi; item++) {
        idx_t group = item / pr->row_blocks, row0 = item % pr->row_blocks * pr->cfg->mr;
        idx_t mr = FNN_MIN(pr->cfg->mr, pr->m - row0), col0 = group * FNN_QGEMM_GROUP_COLS;
        idx_t panels = FNN_MIN(FNN_QGEMM_GROUP_PANELS, pr->panels - group * FNN_QGEMM_GROUP_PANELS);
        pr->cfg->kernel(pr->steps, pr->a + row0 * pr->lda, pr->lda, mr,
                        pr->packed + group * FNN_QGEMM_GROUP_PANELS * pr->panel_stride, pr->panel_stride, panels,
                        tile, pr->a_7bit);
        pr->sink(pr->sink_ctx, row0, col0, mr, FNN_MIN(FNN_QGEMM_GROUP_COLS, pr->n - col0), tile);
    }
}

void fnn_qgemm_drive(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *packed, int a_7bit,
                     fnn_qgemm_sink sink, void *sink_ctx) {
    if (m <= 0 || n <= 0) return;
    qgemm_problem pr = {.cfg = fnn_qgemm_active_config(), .m = m, .n = n, .steps = steps_of(k),
                        .panels = panels_of(n), .a = a, .lda = lda, .packed = packed, .a_7bit = a_7bit,
                        .sink = sink, .sink_ctx = sink_ctx};
    pr.row_blocks = (m + pr.cfg->mr - 1) / pr.cfg->mr;
    pr.panel_stride = pr.steps * 4 * FNN_QGEMM_PANEL;
    idx_t groups = (pr.panels + FNN_QGEMM_GROUP_PANELS - 1) / FNN_QGEMM_GROUP_PANELS;
    idx_t item_macs = FNN_MIN(m, pr.cfg->mr) * FNN_MAX(pr.steps * 4, 1) * FNN_QGEMM_GROUP_COLS;
    fnn_parallel_for(groups * pr.row_blocks, (QGEMM_GRAIN_MACS + item_macs - 1) / item_macs, run_tiles, &pr);
}

typedef struct {
    int32_t *c;
    idx_t ldc;
} copy_sink;

static void copy_tile(void *ctx, idx_t row0, idx_t col0, idx_t mr, idx_t nc, const int32_t *tile) {
    const copy_sink *out = ctx;
    for (idx_t r = 0; r < mr; r++)
        memcpy(out->c + (row0 + r) * out->ldc + col0, tile + r * FNN_QGEMM_GROUP_COLS, nc * sizeof(int32_t));
}

// a is (m, k) u8 (row stride lda, readable to round_up(k, 4)), packed is B (k, n) packed, c is (m, n) int32
void fnn_qgemm_u8s8(idx_t m, idx_t n, idx_t k, const uint8_t *a, idx_t lda, const int8_t *packed, int32_t *c,
                    idx_t ldc, int a_7bit) {
    copy_sink out = {c, ldc};
    fnn_qgemm_drive(m, n, k, a, lda, packed, a_7bit, copy_tile, &out);
}
