/* The vector micro-kernels, written once over a vector type: a kernel_<isa>.c file defines the tile
   (MR, NR), the vector type and its operations, then includes this file, which defines that ISA's
   tile kernel, one-row kernel, tile activation, peak loop and config. Both kernels keep the chain of
   gemm_internal.h: acc = 0, acc = fma(a_p, b_p, acc) in p order, then c = [c +] acc [+ bias].

   The including file defines:
     MR, NR, LANES         register tile rows and columns, floats per vector (NR is 2 * LANES)
     vec                   the vector type; vec_zero(), vec_load(p), vec_set1(x), vec_fma(a, b, c),
                           vec_add(a, b), vec_store(p, v)
     load_lanes(p, n)      the first n lanes from p (n clamped to [0, LANES]); the rest zero, not read
     store_lanes(p, n, v)  the first n lanes of v to p (n clamped likewise); the rest untouched
     transpose(r)          transposes the LANES x LANES floats of vec r[LANES] in registers
     KERNEL_NAME, KERNEL_CONFIG, DEFAULT_MC, DEFAULT_KC, DEFAULT_NC  the config and its default blocks */

/* c = [c +] acc [+ bias] on the first nr columns of one row of vectors: an edge column gets the same
   arithmetic as an interior one. */
static inline void store_row(const int vectors, const vec acc[2], float *c, idx_t nr, int load_c,
                             const vec bias[2]) {
#pragma GCC unroll 2
    for (int v = 0; v < vectors; v++) {
        idx_t n = nr - v * LANES;
        vec sum = acc[v];
        if (load_c) sum = vec_add(n >= LANES ? vec_load(c + v * LANES) : load_lanes(c + v * LANES, n), sum);
        if (bias) sum = vec_add(sum, bias[v]);
        if (n >= LANES)
            vec_store(c + v * LANES, sum);
        else
            store_lanes(c + v * LANES, n, sum);
    }
}

/* acc[0:rows] += A rows @ B over k steps. A packed panel (rsa = 1) is read through one pointer at fixed
   offsets (one_pointer), A in place through a pointer a row. */
static inline __attribute__((always_inline)) void accumulate(const int rows, const int vectors,
                                                             const int one_pointer, vec acc[MR][2], idx_t k,
                                                             const float *a, idx_t rsa, idx_t csa,
                                                             const float *b, idx_t rsb) {
    const float *a_row[MR];
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) a_row[r] = a + r * rsa;
#pragma GCC unroll 4
    for (idx_t p = 0; p < k; p++) {
        vec b0 = vec_load(b + p * rsb);
        vec b1 = vectors > 1 ? vec_load(b + p * rsb + LANES) : b0;
#pragma GCC unroll 12
        for (int r = 0; r < rows; r++) {
            vec a_r = vec_set1(one_pointer ? a[p * csa + r] : a_row[r][p * csa]);
            acc[r][0] = vec_fma(a_r, b0, acc[r][0]);
            if (vectors > 1) acc[r][1] = vec_fma(a_r, b1, acc[r][1]);
        }
    }
}

/* One rows x (LANES * vectors) tile; rows and vectors are constants after inlining, so every tile
   height and width runs only its own rows and vectors. */
static inline __attribute__((always_inline)) void tile(const int rows, const int vectors, idx_t k,
                                                       const float *a, idx_t rsa, idx_t csa, const float *b,
                                                       idx_t rsb, float *c, idx_t ldc, idx_t nr, int load_c,
                                                       const float *bias) {
    vec acc[MR][2];
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) {
        /* the tile of C is read and written after the k loop: start fetching it now */
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + nr - 1), _MM_HINT_T0);
        acc[r][0] = acc[r][1] = vec_zero();
    }
    if (rsa == 1)
        accumulate(rows, vectors, 1, acc, k, a, rsa, csa, b, rsb);
    else
        accumulate(rows, vectors, 0, acc, k, a, rsa, csa, b, rsb);
    vec bias_v[2] = {vec_zero(), vec_zero()};
    if (bias)
        for (int v = 0; v < vectors; v++) bias_v[v] = load_lanes(bias + v * LANES, nr - v * LANES);
#pragma GCC unroll 12
    for (int r = 0; r < rows; r++) store_row(vectors, acc[r], c + r * ldc, nr, load_c, bias ? bias_v : NULL);
}

#define TILE_CASE(rows)                                                                                  \
    case rows:                                                                                           \
        if (nr > LANES) tile(rows, 2, k, a, rsa, csa, b, rsb, c, ldc, nr, load_c, bias);                \
        else tile(rows, 1, k, a, rsa, csa, b, rsb, c, ldc, nr, load_c, bias);                           \
        break;

// a is (mr, k) with strides (rsa, csa), b is (k, NR) with row stride rsb, c is (mr, nr) of an (., ldc) matrix
static void tile_kernel(idx_t k, const float *a, idx_t rsa, idx_t csa, const float *b, idx_t rsb, float *c,
                        idx_t ldc, idx_t mr, idx_t nr, int load_c, const float *bias) {
    switch (mr) {
#if MR > 6
        TILE_CASE(12) TILE_CASE(11) TILE_CASE(10) TILE_CASE(9) TILE_CASE(8) TILE_CASE(7)
#endif
        TILE_CASE(6) TILE_CASE(5) TILE_CASE(4) TILE_CASE(3) TILE_CASE(2) TILE_CASE(1)
    }
}

/* The one-row kernel takes this many vectors of columns (four panels) a pass: eight independent FMA
   chains keep both FMA units busy through the four-cycle latency. */
#define ROW_VECTORS 8

/* c[0:LANES * vectors] (the first n columns) of a one-row product over one K block. Vector v of step p
   starts at b + (v / 2) * panel_stride + (v % 2) * LANES + p * rsb; with `masked`, lanes past n are
   neither read nor written. */
static inline __attribute__((always_inline)) void row_group(const int vectors, const int masked, idx_t k,
                                                            const float *a, idx_t csa, const float *b, idx_t rsb,
                                                            idx_t panel_stride, float *c, idx_t n, int load_c,
                                                            const float *bias) {
    vec acc[ROW_VECTORS];
    const float *b_v[ROW_VECTORS];
#pragma GCC unroll 8
    for (int v = 0; v < vectors; v++) {
        acc[v] = vec_zero();
        b_v[v] = b + (v / 2) * panel_stride + (v % 2) * LANES;
    }
#pragma GCC unroll 2
    for (idx_t p = 0; p < k; p++) {
        vec a_p = vec_set1(a[p * csa]);
#pragma GCC unroll 8
        for (int v = 0; v < vectors; v++) {
            vec b_p = masked ? load_lanes(b_v[v] + p * rsb, n - v * LANES) : vec_load(b_v[v] + p * rsb);
            acc[v] = vec_fma(a_p, b_p, acc[v]);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < vectors; v++) {
        vec sum = acc[v];
        if (load_c) sum = vec_add(load_lanes(c + v * LANES, n - v * LANES), sum);
        if (bias) sum = vec_add(sum, load_lanes(bias + v * LANES, n - v * LANES));
        store_lanes(c + v * LANES, n - v * LANES, sum);
    }
}

#define ROW_CASE(vectors)                                                                                \
    case vectors:                                                                                        \
        row_group(vectors, 1, k, a, csa, b, rsb, panel_stride, c, n, load_c, bias);                      \
        break;

// a is (1, k) with stride csa, b is (k, n) in panels (see fnn_row_kernel), c and bias are (n,)
static void row_kernel(idx_t k, const float *a, idx_t csa, const float *b, idx_t rsb, idx_t panel_stride, float *c,
                       idx_t n, int load_c, const float *bias) {
    const idx_t group = ROW_VECTORS * LANES, panels = group / NR;
    for (; n >= group; n -= group, b += panels * panel_stride, c += group, bias = bias ? bias + group : NULL)
        row_group(ROW_VECTORS, 0, k, a, csa, b, rsb, panel_stride, c, group, load_c, bias);
    switch ((n + LANES - 1) / LANES) {
        ROW_CASE(8) ROW_CASE(7) ROW_CASE(6) ROW_CASE(5) ROW_CASE(4) ROW_CASE(3) ROW_CASE(2) ROW_CASE(1)
    }
}

/* Lane j of step p, at src[j * ld + p], to panel[p * width + j] (fnn_pack_kernel): LANES lanes by
   LANES steps at a time, each lane read along its steps and turned into steps in registers. */
static void pack_strided(float *panel, const float *src, idx_t ld, idx_t kc, idx_t valid, idx_t width) {
    for (idx_t g = 0; g < width; g += LANES) {
        idx_t lanes = FNN_MIN(LANES, width - g), rows = FNN_MIN(FNN_MAX(valid - g, 0), LANES);
        for (idx_t p0 = 0; p0 < kc; p0 += LANES) {
            idx_t steps = FNN_MIN(LANES, kc - p0);
            vec r[LANES];
            for (int i = 0; i < LANES; i++) {
                const float *lane = src + (g + i) * ld + p0;
                r[i] = i >= rows ? vec_zero() : steps == LANES ? vec_load(lane) : load_lanes(lane, steps);
            }
            transpose(r);
            for (idx_t s = 0; s < steps; s++) store_lanes(panel + (p0 + s) * width + g, lanes, r[s]);
        }
    }
}

/* Twelve independent accumulators: more than the FMA latency times the two FMA units. */
static double peak_loop(idx_t iterations) {
    vec acc[12], scale = vec_set1(0.999999f), step = vec_set1(1e-6f);
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++) acc[i] = vec_set1((float)i);
    for (idx_t it = 0; it < iterations; it++) {
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) acc[i] = vec_fma(acc[i], scale, step);
    }
    float lanes[LANES], total = 0.0f;
    for (int i = 1; i < 12; i++) acc[0] = vec_add(acc[0], acc[i]);
    vec_store(lanes, acc[0]);
    for (int j = 0; j < LANES; j++) total += lanes[j];
    fnn_peak_sink = total;
    return (double)iterations * 12 * LANES * 2;
}

FNN_DEFINE_TILE_ACTIVATION(activate_tile)

const fnn_gemm_config KERNEL_CONFIG = {KERNEL_NAME, tile_kernel, activate_tile, MR, NR,
                                       DEFAULT_MC, DEFAULT_KC, DEFAULT_NC, row_kernel, pack_strided, peak_loop};
