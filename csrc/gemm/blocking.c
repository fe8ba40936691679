/* Cache blocks from the CPU's cache geometry, after the analytical model of BLIS (Low, Igual, Smith
   and Quintana-Orti, "Analytical modeling is enough for high-performance BLIS", 2016), and the config
   in use. The driver walks jc (nc columns), pc (kc steps), ic (mc rows), jr (nr-wide panels of B), ir
   (mr-tall panels of A): the kc x nr panel of B is reused by every tile of a column, so it should stay
   in L1 while the panels of A stream past it; the mc x kc block of A is reused by every panel, so it
   should stay in L2 while B and C stream past it; the kc x nc block of B serves every row block from
   L3. */
#include <pthread.h>
#include "gemm_internal.h"

#define FLOAT_BYTES 4

/* Bounds on the derived blocks: a K block shorter than kc_min spends too much of its time loading and
   storing C; a B block wider than nc_max is more of L3 than a core's share on any common CPU. */
#define KC_MIN 128
#define KC_MAX 1024
#define NC_MAX 4096

static idx_t way_bytes(const fnn_cache_level *c) { return c->sets * c->line; }

static int known(const fnn_cache_level *c) { return c->size > 0 && c->ways > 1 && c->line > 0 && c->sets > 0; }

static idx_t round_down(idx_t x, idx_t to) { return x / to * to; }

fnn_gemm_config fnn_gemm_blocking(const fnn_gemm_config *base, const fnn_cache_level caches[3]) {
    fnn_gemm_config cfg = *base;
    const fnn_cache_level *l1 = &caches[0], *l2 = &caches[1], *l3 = &caches[2];
    if (known(l1)) {
        /* One way of L1 holds C; the rest is split between a panel of A (mr x kc) and one of B
           (kc x nr) in proportion to their sizes, whole ways each, so that LRU evicts A before B. */
        idx_t a_ways = (l1->ways - 1) * cfg.mr / (cfg.mr + cfg.nr);
        idx_t kc = round_down(FNN_MAX(a_ways, 1) * way_bytes(l1) / (cfg.mr * FLOAT_BYTES), 8);
        cfg.kc = FNN_MIN(FNN_MAX(kc, KC_MIN), KC_MAX);
    }
    if (known(l2)) {
        /* The block of A takes the ways of L2 left by a B panel and one for C, at most half of them:
           C streams through L2 too, a panel's worth (mc x nr) per panel of B. */
        idx_t b_ways = (cfg.kc * cfg.nr * FLOAT_BYTES + way_bytes(l2) - 1) / way_bytes(l2);
        idx_t a_ways = FNN_MIN(l2->ways - 1 - b_ways, l2->ways / 2);
        idx_t mc = round_down(FNN_MAX(a_ways, 1) * way_bytes(l2) / (cfg.kc * FLOAT_BYTES), cfg.mr);
        cfg.mc = FNN_MAX(mc, cfg.mr);
    }
    if (known(l3)) {
        /* The block of B takes half of L3 less the A block, which also passes through it. */
        idx_t a_ways = (cfg.mc * cfg.kc * FLOAT_BYTES + way_bytes(l3) - 1) / way_bytes(l3);
        idx_t b_ways = FNN_MAX(l3->ways / 2 - a_ways, 1);
        idx_t nc = round_down(b_ways * way_bytes(l3) / (cfg.kc * FLOAT_BYTES), cfg.nr);
        cfg.nc = FNN_MIN(FNN_MAX(nc, cfg.nr), round_down(NC_MAX, cfg.nr));
    }
    return cfg;
}

static fnn_gemm_config configs[3];
static fnn_cache_level detected[3];
static int cache_source;
static pthread_once_t configs_once = PTHREAD_ONCE_INIT;

static void derive_configs(void) {
    cache_source = fnn_cpu_caches(detected);
    configs[FNN_SIMD_SCALAR] = fnn_gemm_blocking(&fnn_gemm_scalar_config, detected);
#ifdef FASTNN_X86
    configs[FNN_SIMD_AVX2] = fnn_gemm_blocking(&fnn_gemm_avx2_config, detected);
    configs[FNN_SIMD_AVX512] = fnn_gemm_blocking(&fnn_gemm_avx512_config, detected);
#endif
}

const fnn_gemm_config *fnn_gemm_active_config(void) {
    pthread_once(&configs_once, derive_configs);
    return &configs[fnn_simd_get()];
}

int fnn_gemm_blocking_info(const char **kernel, idx_t blocks[5], fnn_cache_level caches[3]) {
    const fnn_gemm_config *cfg = fnn_gemm_active_config();
    *kernel = cfg->name;
    blocks[0] = cfg->mr, blocks[1] = cfg->nr, blocks[2] = cfg->mc, blocks[3] = cfg->kc, blocks[4] = cfg->nc;
    for (int i = 0; i < 3; i++) caches[i] = detected[i];
    return cache_source;
}
