/* fastmlp's helper threads: one job at a time, cut into at most 32 chunks.
 *
 * The calling thread posts a job (a function, its context, the number of chunks) and
 * then works on it itself, claiming chunks from the front; helper threads claim them
 * from the back.  A chunk is claimed by clearing its bit in one 64-bit word that also
 * carries the job's generation, with a compare-and-swap, so a helper that read an
 * older job's function can never run one of a newer job's chunks.  The caller returns
 * when every chunk is done.
 *
 * Nothing waits for a helper to start: when the helpers are asleep or absent (a forked
 * child, a platform without these atomics), the caller claims every chunk and the job
 * runs on one thread, at one-thread speed.  A helper can, though, be descheduled in the
 * middle of a chunk when other processes keep the cores busy, and the caller then waits
 * for it.  A caller that waited longer than FM_LATE_NS and longer than its own chunks
 * took runs the next jobs alone for a while measured in time, not in jobs: `backoff`
 * times its wait (backoff 4, 8, ... FM_BACKOFF_MAX after late helpers in a row, halved
 * after FM_FORGIVE jobs with helpers on time), then tries the helpers again.  On a busy
 * machine the jobs so run at about one-thread speed and a retry costs a small share of
 * the time; on a quiet one a single hiccup of the helper's core costs a few of its
 * waits, whatever the size of the jobs (counted in jobs, a hiccup during small ones
 * had sent the next large ones, 1024 of them, to one thread: a 1024-4096-4096-1024
 * step at 1.9x its two-thread time, Zen 3).  fm_judge keeps this account.  A job posted
 * while a helper sleeps is not judged: a helper that joins it late was waking up, not
 * descheduled (in bench/step.py, whose blocks start after a 0.12 s pause, these wake-ups
 * were most of the late helpers, and each block's steps then ran alone).  With the
 * helpers awake, the front-and-back claiming gives each thread the same chunks call
 * after call, so each core keeps its share of a layer's weights in its own cache.
 * A helper that finds itself on the CPU its caller posted from moves to another of
 * its CPUs (fm_avoid_caller): two threads on one CPU run a job at one-thread speed.
 *
 * The helper threads are started from Python (threading.Thread) and spend their whole
 * life in fm_helper_loop without the GIL: they spin for a short while after each job
 * (FM_SPIN_NS), then poll with growing sleeps (up to FM_SLEEP_MAX_NS), and after
 * FM_DEEP_NS without a job they sleep until a caller wakes them (a futex on Linux;
 * elsewhere, sleeps of FM_DEEP_SLEEP_NS).  A helper that kept waking up every
 * millisecond slowed a training loop that runs OpenBLAS on every core by ~15%: each
 * wake-up took a core from one of its threads, which the others then waited for.
 */
#ifndef FASTMLP_WORKERS_H
#define FASTMLP_WORKERS_H

#include <stdint.h>

#if defined(__GNUC__) && !defined(_WIN32)
#define FM_HAVE_WORKERS 1
#include <sched.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FM_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define FM_PAUSE() __asm__ __volatile__("yield")
#else
#define FM_PAUSE() ((void)0)
#endif
#else
#define FM_HAVE_WORKERS 0
#endif

/* a module that only posts jobs (to another module's pool) uses neither of these */
#if defined(__GNUC__)
#define FM_MAYBE_UNUSED __attribute__((unused))
#else
#define FM_MAYBE_UNUSED
#endif

#define FM_MAX_CHUNKS 32
#define FM_SPIN_NS 300000          /* spin this long after the last job */
#define FM_SLEEP_MIN_NS 20000
#define FM_SLEEP_MAX_NS 1000000
#define FM_DEEP_NS 20000000        /* this long without a job: sleep until woken */
#define FM_DEEP_SLEEP_NS 50000000  /* the longest such sleep (a safety net) */
#define FM_YIELD_EVERY 32        /* idle spins (pauses) between two yields */
#define FM_LATE_NS 20000           /* a wait this long for a helper is "late" */
#define FM_BACKOFF_MIN 4          /* the first late helper: alone for 4 times its wait */
#define FM_BACKOFF_MAX 256
#define FM_SOLO_MAX_NS 1000000000 /* at most 1 s alone after one late helper */
#define FM_FORGIVE 64
#define FM_MOVE_EVERY_NS 1000000  /* a helper moves off the caller's CPU at most this often */

typedef void (*fm_task)(void *ctx, int chunk);

typedef struct {
    uint64_t word;        /* generation << 32 | bits of the unclaimed chunks */
    fm_task fn;
    void *ctx;
    int helpers_done;     /* chunks finished by helpers in this job */
    int joined;           /* helpers that took part in this job */
    int max_helpers;      /* how many may take part */
    int busy;             /* a caller has a job posted */
    int64_t solo_ns;      /* time still to run jobs without helpers after a late one */
    int backoff;          /* multiple of its wait the next late helper costs */
    int ontime;           /* jobs since the last late one in which helpers took part */
    int running;          /* helper threads in fm_helper_loop */
    int stop;
    int caller_cpu;       /* the CPU the caller of the current job posted it from */
    int sleepers;         /* helpers asleep until woken */
    int dozing;           /* helpers in any sleep (a job posted now waits for them) */
    uint32_t wake_seq;    /* bumped to wake them (the futex word) */
    /* counts for benchmarks (relaxed atomics): jobs posted to the helpers, their
       chunks, the chunks helpers ran; jobs run alone (none posted); the time callers
       waited for helpers after their own chunks, and how many jobs had a late helper */
    int64_t n_posted, n_chunks, n_helped, n_alone, waited_ns, n_late;
} fm_pool;

FM_MAYBE_UNUSED static fm_pool fm_the_pool;

static inline int fm_claim(uint64_t *word, uint64_t seen, int chunk)
{
#if FM_HAVE_WORKERS
    uint64_t want = seen & ~((uint64_t)1 << chunk);
    return __atomic_compare_exchange_n(word, &seen, want, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
#else
    (void)word; (void)seen; (void)chunk;
    return 0;
#endif
}

#if FM_HAVE_WORKERS
static inline int64_t fm_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void fm_sleep_ns(int64_t ns)
{
    struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    nanosleep(&t, NULL);
}

/* Sleep while *addr == seen (at most ns), and wake every such sleeper. */
static inline void fm_wait_while(uint32_t *addr, uint32_t seen, int64_t ns)
{
#if defined(__linux__)
    struct timespec t = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, seen, &t, NULL, 0);
#else
    (void)addr; (void)seen;
    fm_sleep_ns(ns);
#endif
}

static inline void fm_wake(fm_pool *p)
{
    __atomic_add_fetch(&p->wake_seq, 1, __ATOMIC_SEQ_CST);
#if defined(__linux__)
    syscall(SYS_futex, &p->wake_seq, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
#endif
}
#else
static inline void fm_wake(fm_pool *p) { (void)p; }
#endif

/* The CPU this thread runs on (-1 where that cannot be known), and a move of this
 * thread off CPU `cpu` to another of those it may run on (none where there is no
 * other).  A helper woken by a caller was at times placed on the caller's CPU and left
 * there while the other core idled: Linux in these 2-core VMs did not move it for 20
 * ms and more (blocks of 64-row predict at one-thread speed, the helper 20 ms of 24
 * waiting for that CPU).  The helper then moves itself: its CPU set without that CPU,
 * which migrates it at once, then the whole set again, which leaves it where it is. */
#if FM_HAVE_WORKERS && defined(__linux__) && defined(_GNU_SOURCE) && defined(CPU_SET)
static inline int fm_cpu(void) { return sched_getcpu(); }

FM_MAYBE_UNUSED static void fm_leave_cpu(int cpu)
{
    cpu_set_t all, others;
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof all, &all) != 0)
        return;
    others = all;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) > 0 && sched_setaffinity(0, sizeof others, &others) == 0)
        sched_setaffinity(0, sizeof all, &all);
}
#else
static inline int fm_cpu(void) { return -1; }
static inline void fm_leave_cpu(int cpu) { (void)cpu; }
#endif

/* The account of late helpers (workers.h's header), after a job shared with them: the
 * caller ran its own chunks in own_ns, then waited wait_ns for the helpers' chunks;
 * helped says whether a helper ran any.  Returns how long the next jobs run alone (0:
 * the helper was on time).  Only the caller that posted the job calls it. */
FM_MAYBE_UNUSED static int64_t fm_judge(fm_pool *p, int64_t own_ns, int64_t wait_ns,
                                        int helped)
{
    if (wait_ns > FM_LATE_NS && wait_ns > own_ns) {
        p->backoff = !p->backoff ? FM_BACKOFF_MIN
                     : p->backoff < FM_BACKOFF_MAX ? 2 * p->backoff : FM_BACKOFF_MAX;
        p->ontime = 0;
        return wait_ns < FM_SOLO_MAX_NS / p->backoff ? p->backoff * wait_ns : FM_SOLO_MAX_NS;
    }
    if (helped && ++p->ontime >= FM_FORGIVE && p->backoff) {
        p->backoff /= 2;             /* helpers on time in FM_FORGIVE jobs in a row */
        p->ontime = 0;
    }
    return 0;
}

/* Run fn(ctx, c) for c in [0, n): on this thread and on up to max_helpers helpers. */
static void fm_run(fm_pool *p, fm_task fn, void *ctx, int n, int max_helpers)
{
    int c;
#if FM_HAVE_WORKERS
    int mine = 0, expect = 0, awake;
    uint64_t w, bits, gen;
    int64_t t0, t1, t2, solo;
    if (n > 1 && max_helpers > 0 && n <= FM_MAX_CHUNKS
            && __atomic_load_n(&p->running, __ATOMIC_ACQUIRE) > 0
            && __atomic_load_n(&p->solo_ns, __ATOMIC_RELAXED) <= 0
            && __atomic_compare_exchange_n(&p->busy, &expect, 1, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED)) {
        __atomic_store_n(&p->fn, fn, __ATOMIC_RELAXED);
        __atomic_store_n(&p->ctx, ctx, __ATOMIC_RELAXED);
        __atomic_store_n(&p->helpers_done, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&p->joined, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&p->max_helpers, max_helpers, __ATOMIC_RELAXED);
        __atomic_store_n(&p->caller_cpu, fm_cpu(), __ATOMIC_RELAXED);
        gen = (__atomic_load_n(&p->word, __ATOMIC_RELAXED) >> 32) + 1;
        bits = ((uint64_t)1 << n) - 1;
        __atomic_store_n(&p->word, (gen << 32) | bits, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&p->sleepers, __ATOMIC_SEQ_CST) > 0)
            fm_wake(p);        /* they join a later job (this one is likely done first) */
        /* a helper still waking up when it joins is slow to start, not descheduled */
        awake = __atomic_load_n(&p->dozing, __ATOMIC_SEQ_CST) == 0;
        t0 = fm_now_ns();
        for (;;) {
            w = __atomic_load_n(&p->word, __ATOMIC_ACQUIRE);
            bits = w & 0xffffffffu;
            if (!bits)
                break;
            c = __builtin_ctzll(bits);
            if (fm_claim(&p->word, w, c)) {
                fn(ctx, c);
                mine++;
            }
        }
        t1 = t2 = fm_now_ns();
        while (__atomic_load_n(&p->helpers_done, __ATOMIC_ACQUIRE) < n - mine) {
            FM_PAUSE();
            t2 = fm_now_ns();
        }
        solo = awake ? fm_judge(p, t1 - t0, t2 - t1, mine < n) : 0;
        if (solo > 0) {
            __atomic_store_n(&p->solo_ns, solo, __ATOMIC_RELAXED);
            __atomic_fetch_add(&p->n_late, 1, __ATOMIC_RELAXED);
        }
        __atomic_fetch_add(&p->n_posted, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&p->n_chunks, n, __ATOMIC_RELAXED);
        __atomic_fetch_add(&p->n_helped, n - mine, __ATOMIC_RELAXED);
        __atomic_fetch_add(&p->waited_ns, t2 - t1, __ATOMIC_RELAXED);
        __atomic_store_n(&p->busy, 0, __ATOMIC_RELEASE);
        return;
    }
    __atomic_fetch_add(&p->n_alone, 1, __ATOMIC_RELAXED);
    if (__atomic_load_n(&p->solo_ns, __ATOMIC_RELAXED) > 0 && n > 1 && max_helpers > 0) {
        t0 = fm_now_ns();           /* alone because of a late helper: time it */
        for (c = 0; c < n; c++)
            fn(ctx, c);
        __atomic_sub_fetch(&p->solo_ns, fm_now_ns() - t0, __ATOMIC_RELAXED);
        return;
    }
#else
    (void)p; (void)max_helpers;
#endif
    for (c = 0; c < n; c++)
        fn(ctx, c);
}


/* A helper on the CPU of the pool's last caller moves off it (fm_leave_cpu), at most
 * once every FM_MOVE_EVERY_NS (where it cannot, it would otherwise try at every job);
 * *moved_at: when it last tried. */
#if FM_HAVE_WORKERS
FM_MAYBE_UNUSED static void fm_avoid_caller(fm_pool *p, int64_t *moved_at)
{
    int cpu = fm_cpu();
    int64_t now;
    if (cpu < 0 || cpu != __atomic_load_n(&p->caller_cpu, __ATOMIC_RELAXED))
        return;
    now = fm_now_ns();
    if (now - *moved_at >= FM_MOVE_EVERY_NS) {
        *moved_at = now;
        fm_leave_cpu(cpu);
    }
}
#endif

/* A helper thread's whole life (called without the GIL; returns when p->stop). */
FM_MAYBE_UNUSED static void fm_helper_loop(fm_pool *p)
{
#if FM_HAVE_WORKERS
    uint64_t w, bits, gen, skipped = 0;
    int64_t idle_since = fm_now_ns(), sleep_ns = FM_SLEEP_MIN_NS, moved_at = 0;
    unsigned spins = 0;
    int c;
    fm_task fn;
    void *ctx;
    __atomic_fetch_add(&p->running, 1, __ATOMIC_RELEASE);
    while (!__atomic_load_n(&p->stop, __ATOMIC_ACQUIRE)) {
        w = __atomic_load_n(&p->word, __ATOMIC_ACQUIRE);
        bits = w & 0xffffffffu;
        gen = w >> 32;
        if (bits && gen != skipped) {
            /* take part in this job only while it has room for one more helper */
            if (__atomic_add_fetch(&p->joined, 1, __ATOMIC_ACQ_REL)
                    > __atomic_load_n(&p->max_helpers, __ATOMIC_RELAXED)) {
                skipped = gen;
                continue;
            }
            fm_avoid_caller(p, &moved_at);
            fn = __atomic_load_n(&p->fn, __ATOMIC_RELAXED);
            ctx = __atomic_load_n(&p->ctx, __ATOMIC_RELAXED);
            for (;;) {
                /* the generation check inside fm_claim keeps fn/ctx those of w's job */
                if (!bits || (w >> 32) != gen)
                    break;
                c = 63 - __builtin_clzll(bits);
                if (fm_claim(&p->word, w, c)) {
                    fn(ctx, c);
                    __atomic_fetch_add(&p->helpers_done, 1, __ATOMIC_RELEASE);
                }
                w = __atomic_load_n(&p->word, __ATOMIC_ACQUIRE);
                bits = w & 0xffffffffu;
            }
            skipped = gen;
            idle_since = fm_now_ns();
            sleep_ns = FM_SLEEP_MIN_NS;
            continue;
        }
        /* mostly pause (a new job is seen within ~0.1 µs), every FM_YIELD_EVERY
           spins a yield: a thread waiting for this core (another process's, or the
           caller's own) gets it at once, not after this helper's time slice */
        if (++spins % FM_YIELD_EVERY) {
            FM_PAUSE();
        } else {
            fm_avoid_caller(p, &moved_at);
            sched_yield();
        }
        if (spins % 64 == 0 && fm_now_ns() - idle_since > FM_SPIN_NS) {
            if (fm_now_ns() - idle_since > FM_DEEP_NS) {
                /* announce the sleep, then look at the job word once more: a caller
                   that posted after this look sees sleepers > 0 and bumps wake_seq,
                   so the wait below does not miss its job (all seq_cst) */
                uint32_t seen = __atomic_load_n(&p->wake_seq, __ATOMIC_SEQ_CST);
                __atomic_add_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
                w = __atomic_load_n(&p->word, __ATOMIC_SEQ_CST);
                if (!((w & 0xffffffffu) && (w >> 32) != skipped)
                        && !__atomic_load_n(&p->stop, __ATOMIC_SEQ_CST)) {
                    __atomic_add_fetch(&p->dozing, 1, __ATOMIC_SEQ_CST);
                    fm_wait_while(&p->wake_seq, seen, FM_DEEP_SLEEP_NS);
                    __atomic_sub_fetch(&p->dozing, 1, __ATOMIC_SEQ_CST);
                }
                __atomic_sub_fetch(&p->sleepers, 1, __ATOMIC_SEQ_CST);
                idle_since = fm_now_ns() - FM_SPIN_NS;    /* poll, then sleep again */
                sleep_ns = FM_SLEEP_MIN_NS;
                continue;
            }
            __atomic_add_fetch(&p->dozing, 1, __ATOMIC_SEQ_CST);
            fm_sleep_ns(sleep_ns);
            __atomic_sub_fetch(&p->dozing, 1, __ATOMIC_SEQ_CST);
            if (sleep_ns < FM_SLEEP_MAX_NS)
                sleep_ns *= 2;
        }
    }
    __atomic_fetch_sub(&p->running, 1, __ATOMIC_RELEASE);
#else
    (void)p;
#endif
}

#endif
