/* The library's own GEMM (tl_sgemm) against the BLAS's cblas_sgemm on the
 * products the layers of the bench's configurations make, in GFLOP/s.
 *
 *   timelayers-gemm-bench [--threads T] [--reps R] [--config A,B,C] [--level avx512|avx2|portable]
 *
 * For each shape the two run alternately R times on the same operands
 * (beta = 1, as the layers accumulate, so C is reused); the figures are the
 * best and the median of the R wall times, and the best CPU time per thread
 * (process CPU time / T), which on a shared machine is the speed while the
 * product has the cores. Names: fwd/dx/dW of the output layer (a block of
 * 175 rows, the fused pass's for R = 700 rows), xW of the recurrent layer's
 * input projection over N·T rows (LSTM: 4H columns), dWx/dWh/dx of its
 * backward, one window of rows at a time. OpenBLAS runs as under
 * timelayers-bench (cli_fix_openblas_env: better kernels on a CPU it does not
 * know, OPENBLAS_THREAD_TIMEOUT=4 unless set), so that its idle threads do
 * not spin next to the own kernel's between the alternating products.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../lib/kernels/kernels.h"
#include "timelayers/threads.h"
#include "../cli/blas_core.h"

typedef struct {
    const char *config, *name;
    bool ta, tb;
    int M, N, K;
} shape;

/* (N, T, D, H, V) of A, B, C: rows = N·T; the output layer in blocks of
 * at most 7 MB of scores when V is large (A, C: 4 blocks of 175 of the 700
 * rows; B: one block of all 2048 rows); the recurrent layer's backward
 * products per window of steps (A, C: 12 steps, 240 rows; B: 8 steps, 256
 * rows; dWx and dWh are the same product when D = H). */
static const shape shapes[] = {
    {"A", "out fwd", false, false, 175, 10000, 100},
    {"A", "out dx", false, true, 175, 100, 10000},
    {"A", "out dW", true, false, 100, 10000, 175},
    {"A", "xW", false, false, 700, 400, 100},
    {"A", "dW", true, false, 100, 400, 240},
    {"A", "dx", false, true, 240, 100, 400},
    {"B", "out fwd", false, false, 2048, 65, 512},
    {"B", "out dx", false, true, 2048, 512, 65},
    {"B", "out dW", true, false, 512, 65, 2048},
    {"B", "xW", false, false, 2048, 2048, 64},
    {"B", "dWx", true, false, 64, 2048, 256},
    {"B", "dWh", true, false, 512, 2048, 256},
    {"B", "dx", false, true, 256, 64, 2048},
    {"C", "out fwd", false, false, 175, 10000, 650},
    {"C", "out dx", false, true, 175, 650, 10000},
    {"C", "out dW", true, false, 650, 10000, 175},
    {"C", "xW", false, false, 700, 2600, 650},
    {"C", "dW", true, false, 650, 2600, 240},
    {"C", "dx", false, true, 240, 650, 2600},
};

static double now(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *randoms(size_t n)
{
    float *p = malloc(n * sizeof *p);
    if (!p) {
        fprintf(stderr, "timelayers-gemm-bench: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    return p;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One timed product: own kernel or BLAS; wall and CPU seconds. */
static void run(bool own, const shape *s, const float *A, const float *B, float *C, double *wall,
                double *cpu)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (own)
        tl_sgemm(s->ta, s->tb, s->M, s->N, s->K, 1, A, lda, B, ldb, 1, C, s->N);
    else
        cblas_sgemm(CblasRowMajor, s->ta ? CblasTrans : CblasNoTrans,
                    s->tb ? CblasTrans : CblasNoTrans, s->M, s->N, s->K, 1, A, lda, B, ldb, 1,
                    C, s->N);
    *wall = now(CLOCK_MONOTONIC) - w0;
    *cpu = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
}

int main(int argc, char **argv)
{
    cli_fix_openblas_env(argv);
    int threads = 1, reps = 9;
    const char *configs = "A,B,C", *level = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            configs = argv[++i];
        else if (!strcmp(argv[i], "--level") && i + 1 < argc)
            level = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--threads T] [--reps R] [--config A,B,C] "
                            "[--level avx512|avx2|portable]\n", argv[0]);
            return !strcmp(argv[i], "--help") ? 0 : 2;
        }
    }
    if (reps < 1 || reps > 1000 || tl_set_num_threads(threads) != TL_OK) {
        fprintf(stderr, "timelayers-gemm-bench: --reps in [1, 1000], --threads in [1, 64]\n");
        return 2;
    }
    if (level)
        tl_simd_limit(!strcmp(level, "portable") ? TL_SIMD_NONE
                      : !strcmp(level, "avx2")   ? TL_SIMD_AVX2
                                                 : TL_SIMD_AVX512);
    static const char *names[] = {"portable", "AVX2", "AVX-512"};
    printf("# own kernel at %s, %d thread(s), %d alternating reps; GFLOP/s: best wall, median "
           "wall, best CPU per thread\n", names[tl_simd_active()], threads, reps);
    printf("%-6s %-8s %2s %5s %5s %5s | %7s %7s %7s | %7s %7s %7s | %5s\n", "config", "product",
           "op", "M", "N", "K", "own", "med", "cpu", "blas", "med", "cpu", "ratio");
    double *t = malloc(4 * (size_t)reps * sizeof *t);
    if (!t)
        return 1;
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const shape *s = &shapes[i];
        if (!strstr(configs, s->config))
            continue;
        float *A = randoms((size_t)s->M * s->K), *B = randoms((size_t)s->K * s->N);
        float *C = randoms((size_t)s->M * s->N);
        double *wo = t, *wb = t + reps, *co = t + 2 * reps, *cb = t + 3 * reps, dummy;
        run(true, s, A, B, C, &dummy, &dummy);   /* warm-up: buffers, pages, threads */
        run(false, s, A, B, C, &dummy, &dummy);
        for (int r = 0; r < reps; r++) {
            bool own_first = r % 2 == 0;
            run(own_first, s, A, B, C, own_first ? &wo[r] : &wb[r], own_first ? &co[r] : &cb[r]);
            run(!own_first, s, A, B, C, own_first ? &wb[r] : &wo[r], own_first ? &cb[r] : &co[r]);
        }
        for (int k = 0; k < 4; k++)
            qsort(t + k * reps, (size_t)reps, sizeof *t, cmp);
        double gf = 2e-9 * s->M * s->N * s->K;
        printf("%-6s %-8s %c%c %5d %5d %5d | %7.1f %7.1f %7.1f | %7.1f %7.1f %7.1f | %5.2f\n",
               s->config, s->name, s->ta ? 'T' : 'N', s->tb ? 'T' : 'N', s->M, s->N, s->K,
               gf / wo[0], gf / wo[reps / 2], gf * threads / co[0], gf / wb[0],
               gf / wb[reps / 2], gf * threads / cb[0], wb[reps / 2] / wo[reps / 2]);
        fflush(stdout);
        free(A);
        free(B);
        free(C);
    }
    free(t);
    return 0;
}
