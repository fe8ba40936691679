/* The recurrent layers' threads: a sequence is a list of phases (pack the recurrent kernel, then each
   step), each cut into pieces (unit blocks) that may run in any order; a phase opens once every piece
   of the one before is done. A piece's result never depends on which thread does it, so any thread
   count gives the same bits.

   One OpenMP region runs the whole list. Each thread has its own share of every phase's pieces (the
   same units each step, so its part of the recurrent kernel stays in its core's caches) and its own
   counters, on a cache line of their own: a phase boundary costs a thread one read of each other
   thread's line. A thread that finds the next phase not yet open waits itself, instead of at an
   OpenMP barrier: fastnn loads libgomp with the passive wait policy (fastnn/__init__.py), under which
   each barrier sleeps and costs a wake-up longer than a whole step's work (a batch-32 LSTM step is
   ~20 us on one core, a one-row step ~3 us). It spins briefly (WAIT_SPIN_NS), then sleeps on a futex
   (yields elsewhere) until the piece it waits for is done.

   When another process holds a core: a thread kept waiting (STEAL_NS) for pieces of another's share
   that nobody has started takes them itself, so a descheduled thread does not hold up the steps; and
   a team member whose piece took far longer than its fastest (it was descheduled in the middle, while
   the others waited for that piece) leaves its share to the others for the rest of the run. The
   calling thread never leaves, so the run always ends. Still, the region's closing barrier waits for
   every member to arrive, and a member the scheduler keeps off its core arrives late. So when other
   threads did more than a quarter of a run's pieces for its members, the following runs of the next
   SOLO_NS are done by the calling thread alone; then a team is tried again. */
/* syscall (futex) and clock_gettime are outside strict C11 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdint.h>
#include <time.h>
#include "rnn_team.h"
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__unix__)
#include <sched.h>
#endif

/* How long a waiting thread spins before it sleeps: several steps' work, well under a scheduler slice. */
#define WAIT_SPIN_NS 50000
/* How long a thread waits for another's unstarted pieces before it takes them: longer than a phase
   boundary between running threads takes, shorter than a step. */
#define STEAL_NS 5000
/* A piece that took this long, and RETIRE_FACTOR times its thread's fastest, was descheduled. */
#define RETIRE_MIN_NS 200000
#define RETIRE_FACTOR 8
/* How long runs stay on the calling thread after a run whose members were mostly away. */
#define SOLO_NS 100000000

static int64_t solo_until_ns;

/* One thread's share: pieces [first, first + count) of every phase; its j-th piece is piece
   first + j % count of phase j / count. */
typedef struct {
    int first, count;
    int claimed;   /* pieces of the share taken, by its thread or another */
    int done;      /* pieces of the share finished */
    int left;      /* its thread has left the run */
} __attribute__((aligned(64))) team_share;

typedef struct {
    int threads, phases;
    rnn_piece_fn piece;
    void *ctx;
    int sleepers __attribute__((aligned(64)));  /* threads asleep on some share's done */
    int taken;                                   /* pieces done for another thread's share */
    team_share share[FNN_MAX_THREADS];
} team_state;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Sleeps while *word == value (may return early). */
static void sleep_while(int *word, int value) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#elif defined(__unix__)
    (void)word, (void)value;
    sched_yield();
#else
    (void)word, (void)value;
    cpu_relax();
#endif
}

static void wake_sleepers(int *word) {
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

/* Adds n finished pieces to share u's count, waking sleepers. */
static void publish(team_state *team, int u, int n) {
    if (n == 0) return;
    /* a finisher raises done before it reads sleepers, and a sleeper raises sleepers before it reads
       done again: one of the two sees the other, so no wake-up is lost */
    __atomic_add_fetch(&team->share[u].done, n, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&team->sleepers, __ATOMIC_SEQ_CST)) wake_sleepers(&team->share[u].done);
}

/* Takes share u's next piece if it is below `limit` and nobody has taken it, and does it (the caller
   publishes it). */
static int take_piece(team_state *team, int u, int limit) {
    team_share *sh = &team->share[u];
    int j = __atomic_load_n(&sh->claimed, __ATOMIC_RELAXED);
    if (j >= limit || !__atomic_compare_exchange_n(&sh->claimed, &j, j + 1, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return 0;
    team->piece(team->ctx, j / sh->count, sh->first + j % sh->count);
    return 1;
}

/* Returns once every share has finished its pieces of phases before `phase` (acquiring what they
   wrote), doing unstarted ones of a share that keeps it waiting. */
static void wait_phase(team_state *team, int phase) {
    for (int u = 0; u < team->threads; u++) {
        team_share *sh = &team->share[u];
        const int target = phase * sh->count;
        if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) >= target) continue;
        int64_t start = now_ns();
        for (int spins = 1;; spins++) {
            cpu_relax();
            if (__atomic_load_n(&sh->done, __ATOMIC_ACQUIRE) >= target) break;
            if (spins % 64) continue;
            int64_t waited = now_ns() - start;
            if (waited > STEAL_NS || __atomic_load_n(&sh->left, __ATOMIC_RELAXED)) {
                if (take_piece(team, u, target)) {
                    publish(team, u, 1);
                    __atomic_add_fetch(&team->taken, 1, __ATOMIC_RELAXED);
                    start = now_ns();
                    continue;
                }
            }
            if (waited > WAIT_SPIN_NS) {
                __atomic_add_fetch(&team->sleepers, 1, __ATOMIC_SEQ_CST);
                int seen = __atomic_load_n(&sh->done, __ATOMIC_SEQ_CST);
                /* what it waits for is started (take_piece found nothing): its thread wakes this one */
                if (seen < target && __atomic_load_n(&sh->claimed, __ATOMIC_SEQ_CST) >= target)
                    sleep_while(&sh->done, seen);
                __atomic_sub_fetch(&team->sleepers, 1, __ATOMIC_SEQ_CST);
                start = now_ns();
            }
        }
    }
}

static void member(team_state *team, int t) {
    team_share *own = &team->share[t];
    const int total = team->phases * own->count;
    int64_t fastest = INT64_MAX;
    int unpublished = 0;  /* own pieces finished: published once a phase, one cache-line write */
    for (int phase = -1;;) {
        int j = __atomic_load_n(&own->claimed, __ATOMIC_RELAXED);
        if (j >= total) break;
        if (j / own->count != phase) {
            publish(team, t, unpublished);
            unpublished = 0;
            phase = j / own->count;
            wait_phase(team, phase);
        }
        int64_t start = now_ns();
        /* only a piece of the phase waited for: another thread may have taken the rest of it */
        if (!take_piece(team, t, (phase + 1) * own->count)) continue;
        unpublished++;
        int64_t took = now_ns() - start;
        if (t != 0 && took > RETIRE_MIN_NS && took / RETIRE_FACTOR > fastest) {
            publish(team, t, unpublished);
            __atomic_store_n(&own->left, 1, __ATOMIC_RELAXED);
            return;
        }
        if (took < fastest) fastest = took;
    }
    publish(team, t, unpublished);
    /* the caller leaves the region only after every piece: waiting here spins (and takes what a
       descheduled thread left), where the region's closing barrier would sleep */
    if (t == 0) wait_phase(team, team->phases);
}

void rnn_run_phases(int threads, idx_t phases, idx_t pieces, rnn_piece_fn piece, void *ctx) {
    if (threads > pieces) threads = (int)pieces;
    if (threads > FNN_MAX_THREADS) threads = FNN_MAX_THREADS;
    if (phases <= 0 || pieces <= 0) return;
#ifdef _OPENMP
    if (threads > 1 && phases <= INT_MAX / pieces && now_ns() >= __atomic_load_n(&solo_until_ns, __ATOMIC_RELAXED)) {
        team_state team = {.threads = threads, .phases = (int)phases, .piece = piece, .ctx = ctx};
        for (int u = 0; u < threads; u++) {
            team.share[u].first = (int)(pieces / threads * u + FNN_MIN(u, pieces % threads));
            team.share[u].count = (int)(pieces / threads + (u < pieces % threads));
        }
#pragma omp parallel num_threads(threads)
        {
            /* a smaller team than asked (nested, or limited): its absent members' shares are taken */
            int t = fnn_thread_id();
            if (t == 0)
                for (int u = omp_get_num_threads(); u < threads; u++) team.share[u].left = 1;
            member(&team, t);
        }
        if ((int64_t)team.taken * 4 > (int64_t)phases * pieces)
            __atomic_store_n(&solo_until_ns, now_ns() + SOLO_NS, __ATOMIC_RELAXED);
        return;
    }
#endif
    (void)threads;
    for (idx_t phase = 0; phase < phases; phase++)
        for (idx_t p = 0; p < pieces; p++) piece(ctx, phase, p);
}
