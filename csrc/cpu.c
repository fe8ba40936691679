/* CPUID feature and cache detection, the chosen SIMD path, and the thread setting. */
#include "fastnn.h"

static int simd_path = -1;
static int num_threads = 1;

#if defined(FASTNN_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

int fnn_cpu_supports(int simd) {
    unsigned int eax, ebx, ecx, edx;
    if (simd == FNN_SIMD_SCALAR) return 1;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    if (!(has_fma && has_osxsave && has_avx)) return 0;
    unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return 0;                /* the OS saves XMM and YMM state */
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    int has_avx2 = (ebx >> 5) & 1;
    if (simd == FNN_SIMD_AVX2) return has_avx2;
    int has_avx512f = (ebx >> 16) & 1, has_avx512dq = (ebx >> 17) & 1, has_avx512vl = (ebx >> 31) & 1;
    if (simd == FNN_SIMD_AVX512)
        return has_avx2 && has_avx512f && has_avx512dq && has_avx512vl && (xcr0 & 0xe6) == 0xe6;
    return 0;
}

int fnn_cpu_has_avx512_vnni(void) {
    unsigned int eax, ebx, ecx, edx;
    if (!fnn_cpu_supports(FNN_SIMD_AVX512) || !__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    return (ecx >> 11) & 1;
}

/* CPUID's deterministic cache parameters, subleaf by subleaf of `leaf` (4 on Intel, 0x8000001D on AMD):
   the same layout on both. Returns 1 when L1 and L2 data caches were found. */
static int caches_from_cpuid_leaf(unsigned int leaf, fnn_cache_level caches[3]) {
    unsigned int eax, ebx, ecx, edx;
    for (unsigned int sub = 0; sub < 16; sub++) {
        __cpuid_count(leaf, sub, eax, ebx, ecx, edx);
        unsigned int type = eax & 0x1f, level = (eax >> 5) & 0x7;
        if (type == 0) break;                          /* no more caches */
        if (type == 2 || level < 1 || level > 3) continue; /* instruction caches */
        fnn_cache_level *c = &caches[level - 1];
        c->line = (ebx & 0xfff) + 1;
        c->ways = ((ebx >> 22) & 0x3ff) + 1;
        c->sets = (idx_t)ecx + 1;
        c->size = c->ways * (((ebx >> 12) & 0x3ff) + 1) * c->line * c->sets;
    }
    return caches[0].size > 0 && caches[1].size > 0;
}

static int caches_from_cpuid(fnn_cache_level caches[3]) {
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return 0;
    unsigned int max_leaf = eax;
    int amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;     /* "AuthenticAMD" */
    int hygon = ebx == 0x6f677948 && edx == 0x6e65476e && ecx == 0x656e6975;   /* "HygonGenuine" */
    if (amd || hygon) {
        /* leaf 0x8000001D exists when CPUID 0x80000001 reports topology extensions (ECX bit 22) */
        if (!__get_cpuid(0x80000001, &eax, &ebx, &ecx, &edx) || !((ecx >> 22) & 1)) return 0;
        return caches_from_cpuid_leaf(0x8000001D, caches);
    }
    return max_leaf >= 4 && caches_from_cpuid_leaf(4, caches);
}
#else
int fnn_cpu_supports(int simd) { return simd == FNN_SIMD_SCALAR; }
int fnn_cpu_has_avx512_vnni(void) { return 0; }

static int caches_from_cpuid(fnn_cache_level caches[3]) {
    (void)caches;
    return 0;
}
#endif

#ifdef __linux__
#include <stdio.h>

/* The first number in a sysfs file (with a K or M suffix scaling it), or 0. */
static idx_t read_sysfs_number(int index, const char *name) {
    char path[96];
    snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/%s", index, name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long long value = 0;
    char unit = 0;
    int got = fscanf(f, "%lld%c", &value, &unit);
    fclose(f);
    if (got < 1 || value < 0) return 0;
    return (idx_t)value * (unit == 'K' ? 1024 : unit == 'M' ? 1024 * 1024 : 1);
}

static int caches_from_sysfs(fnn_cache_level caches[3]) {
    for (int index = 0; index < 8; index++) {
        char path[96], type[16] = "";
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/type", index);
        FILE *f = fopen(path, "r");
        if (!f) break;
        int got = fscanf(f, "%15s", type);
        fclose(f);
        idx_t level = read_sysfs_number(index, "level");
        if (got != 1 || type[0] == 'I' || level < 1 || level > 3) continue; /* "Instruction" */
        fnn_cache_level *c = &caches[level - 1];
        c->size = read_sysfs_number(index, "size");
        c->ways = read_sysfs_number(index, "ways_of_associativity");
        c->line = read_sysfs_number(index, "coherency_line_size");
        c->sets = read_sysfs_number(index, "number_of_sets");
    }
    return caches[0].size > 0 && caches[1].size > 0;
}
#else
static int caches_from_sysfs(fnn_cache_level caches[3]) {
    (void)caches;
    return 0;
}
#endif

int fnn_cpu_caches(fnn_cache_level caches[3]) {
    const fnn_cache_level unknown = {0, 0, 0, 0};
    for (int source = FNN_CACHES_CPUID; source <= FNN_CACHES_SYSFS; source++) {
        for (int i = 0; i < 3; i++) caches[i] = unknown;
        if (source == FNN_CACHES_CPUID ? caches_from_cpuid(caches) : caches_from_sysfs(caches)) return source;
    }
    for (int i = 0; i < 3; i++) caches[i] = unknown;
    return FNN_CACHES_UNKNOWN;
}

/* Thresholds in floats derived from a core's L2 on first use (0: not yet derived, or reset); every
   caller derives the same value, so a race between first uses is harmless. */
static idx_t stream_min_floats, prefetch_min_floats;

static idx_t l2_multiple(idx_t *threshold, idx_t multiple) {
    idx_t known = __atomic_load_n(threshold, __ATOMIC_RELAXED);
    if (known) return known;
    fnn_cache_level caches[3];
    fnn_cpu_caches(caches);
    idx_t l2_bytes = caches[1].size > 0 ? caches[1].size : 2 * 1024 * 1024;
    known = multiple * l2_bytes / (idx_t)sizeof(float);
    __atomic_store_n(threshold, known, __ATOMIC_RELAXED);
    return known;
}

idx_t fnn_stream_min_floats(void) { return l2_multiple(&stream_min_floats, 4); }
idx_t fnn_prefetch_min_floats(void) { return l2_multiple(&prefetch_min_floats, 1); }

void fnn_stream_set_min_floats(idx_t n) { __atomic_store_n(&stream_min_floats, n > 0 ? n : 0, __ATOMIC_RELAXED); }
void fnn_prefetch_set_min_floats(idx_t n) { __atomic_store_n(&prefetch_min_floats, n > 0 ? n : 0, __ATOMIC_RELAXED); }

int fnn_simd_best(void) {
    if (fnn_cpu_supports(FNN_SIMD_AVX512)) return FNN_SIMD_AVX512;
    if (fnn_cpu_supports(FNN_SIMD_AVX2)) return FNN_SIMD_AVX2;
    return FNN_SIMD_SCALAR;
}

void fnn_simd_set(int simd) { simd_path = simd; }

int fnn_simd_get(void) {
    if (simd_path < 0) simd_path = fnn_simd_best();
    return simd_path;
}

/* fastnn keeps its own count and passes it to each parallel region (num_threads clause), so it
   neither changes nor depends on the process-wide OpenMP setting that other libraries share.

   fork: libgomp's thread pool does not survive fork (the child has only the forking thread, and the
   next team waits at a barrier for threads that no longer exist). So once a kernel may have started a
   team, a forked child runs every kernel on one thread; the parent keeps its count. */
static int team_may_exist = 0;  /* a kernel was told it may use more than one thread */
static int forked_after_team = 0;

#if defined(_OPENMP) && defined(__unix__)
#include <pthread.h>

static void single_thread_in_child(void) {
    if (__atomic_load_n(&team_may_exist, __ATOMIC_RELAXED)) forked_after_team = 1;
}

static void install_fork_handler(void) { pthread_atfork(NULL, NULL, single_thread_in_child); }

static void fork_handler_once(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_fork_handler);
}
#else
static void fork_handler_once(void) {}
#endif

void fnn_set_num_threads(int n) {
    fork_handler_once();
    num_threads = n < 1 ? 1 : n > FNN_MAX_THREADS ? FNN_MAX_THREADS : n;
}

int fnn_get_num_threads(void) {
    if (forked_after_team) return 1;
    int n = num_threads;
    if (n > 1 && !__atomic_load_n(&team_may_exist, __ATOMIC_RELAXED))
        __atomic_store_n(&team_may_exist, 1, __ATOMIC_RELAXED);
    return n;
}

int fnn_forked_single_thread(void) { return forked_after_team; }

int fnn_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
