/* Read bandwidth against working-set size, on 1 and on 2 threads: where the
 * caches end on this machine, and how much the second core adds at each
 * level (docs/performance.md, "Why 70% of the two-thread FMA bound is out of
 * reach on this machine").
 *
 * Each thread sums its own buffer of the given size over and over (64-bit
 * integer adds, which the compiler vectorises: unlike float adds they are
 * associative), after one untimed pass that brings it into the caches. A
 * size's figure is the total bytes read by all threads from the first
 * thread's start to the last one's end, best of RUNS. On a virtual machine
 * the sizes where the rate falls tell how much of the host's L3 cache the
 * machine has in practice, which the CPUID figures do not.
 *
 * Usage: timelayers-membw-bench [--threads N] [--max-mb M]
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { RUNS = 3 };
/* Bytes each thread reads per timed run: enough for ~10 ms at DRAM speed. */
#define READ_BYTES 4e8

typedef struct {
    const uint64_t *buf;
    size_t n;      /* 64-bit words */
    int reps;
    pthread_barrier_t *start;
    double t0, t1; /* this thread's own start and end */
    uint64_t sum;  /* kept so that the loop is not optimised away */
} reader;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One vector accumulator is enough: an integer add has a latency of one
 * cycle. Compiled for each of the listed instruction sets and picked at run
 * time (GCC's function multiversioning), so that the loop outruns the L2
 * cache on any x86-64 CPU; elsewhere the compiler's baseline. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static uint64_t sum_words(const uint64_t *p, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static void *read_loop(void *arg)
{
    reader *r = arg;
    r->sum = sum_words(r->buf, r->n);
    pthread_barrier_wait(r->start);
    r->t0 = now();
    for (int k = 0; k < r->reps; k++)
        r->sum += sum_words(r->buf, r->n);
    r->t1 = now();
    return NULL;
}

/* GB/s of `threads` threads each reading its own `bytes`, or -1. */
static double measure(int threads, size_t bytes)
{
    reader r[64];
    pthread_t tid[64];
    pthread_barrier_t start;
    double best = -1;
    int made = 0;
    if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1))
        return -1;
    for (; made < threads; made++) {
        void *p = aligned_alloc(64, bytes);
        if (!p)
            goto done;
        memset(p, made + 1, bytes);
        r[made] = (reader){.buf = p, .n = bytes / 8, .start = &start};
        r[made].reps = (int)(READ_BYTES / (double)bytes) + 1;
    }
    for (int run = 0; run < RUNS; run++) {
        int started = 0;
        for (; started < threads; started++)
            if (pthread_create(&tid[started], NULL, read_loop, &r[started]))
                break;
        if (started < threads) {   /* the started threads wait at the barrier: end here */
            fprintf(stderr, "timelayers-membw-bench: cannot start a thread\n");
            exit(1);
        }
        pthread_barrier_wait(&start);
        for (int i = 0; i < threads; i++)
            pthread_join(tid[i], NULL);
        /* The threads' own clocks: the caller may not run between the
         * barrier and the joins on a machine with as many cores as threads. */
        double t0 = r[0].t0, t1 = r[0].t1, gb = 0;
        for (int i = 0; i < threads; i++) {
            t0 = r[i].t0 < t0 ? r[i].t0 : t0;
            t1 = r[i].t1 > t1 ? r[i].t1 : t1;
            gb += (double)bytes * r[i].reps / 1e9;
        }
        double sec = t1 - t0;
        if (gb / sec > best)
            best = gb / sec;
    }
done:
    for (int i = 0; i < made; i++)
        free((void *)r[i].buf);
    pthread_barrier_destroy(&start);
    return best;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: timelayers-membw-bench [--threads N] [--max-mb M]\n"
               "Read bandwidth (GB/s, all threads together, wall time, best of %d) for\n"
               "per-thread working sets from 256 KB to M MB (default 256), on 1 to N\n"
               "threads (default 2, at most 64). Each thread reads its own buffer.\n",
            RUNS);
}

int main(int argc, char **argv)
{
    int threads = 2, max_mb = 256;
    for (int i = 1; i < argc; i += 2) {   /* options come as pairs */
        if (!strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        }
        char *end = NULL;
        long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : 0;
        bool ok = end && *end == 0;
        if (!strcmp(argv[i], "--threads") && ok && v >= 1 && v <= 64)
            threads = (int)v;
        else if (!strcmp(argv[i], "--max-mb") && ok && v >= 1 && v <= 65536)
            max_mb = (int)v;
        else {
            usage(stderr);
            return 2;
        }
    }
    printf("per-thread set MB");
    for (int t = 1; t <= threads; t++)
        printf("  %d thread%s GB/s", t, t > 1 ? "s" : " ");
    printf("\n");
    for (size_t kb = 256; kb <= (size_t)max_mb * 1024; kb *= 2) {
        printf("%17.2f", kb / 1024.0);
        for (int t = 1; t <= threads; t++) {
            double gbs = measure(t, kb * 1024);
            if (gbs < 0) {
                fprintf(stderr, "timelayers-membw-bench: no memory or barrier for %zu KB x %d\n",
                        kb, t);
                return 1;
            }
            printf("  %15.1f", gbs);
        }
        printf("\n");
        fflush(stdout);
    }
    return 0;
}
