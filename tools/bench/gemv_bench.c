/* The one-row products of batch-1 generation: the library's kernel on float
 * weights (tl_gemv_rows), on bf16 weights (tl_gemv_rows_bf16) and the
 * BLAS's cblas_sgemv, in microseconds per product.
 *
 *   timelayers-gemv-bench [--reps R] [--level avx512|avx2|portable] [--threads N]
 *
 * Shapes K x n: the affine layer (H x V) and the recurrent projections
 * (D x 3H, H x 3H for a GRU) of the bench's configurations. The three run
 * alternately R times on the same operands (beta = 1); the figures are the
 * best and the median of the R wall times, and the bytes of B streamed per
 * microsecond at the best time (GB/s). --threads sets the library's thread
 * count (tl_set_num_threads, OpenBLAS's too): the library's kernel splits a
 * large product by columns over its pool. OpenBLAS runs as under
 * timelayers-bench (cli_fix_openblas_env: better kernels on a CPU it does not
 * know, OPENBLAS_THREAD_TIMEOUT=4 unless set).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../../lib/kernels/kernels.h"
#include "timelayers/status.h"
#include "timelayers/threads.h"
#include "../cli/blas_core.h"

typedef struct {
    const char *what;
    int K, n;
} shape;

static const shape shapes[] = {
    {"C affine", 650, 10000}, {"C-GRU Wx, Wh", 650, 1950}, {"C Wx, Wh", 650, 2600},
    {"A affine", 100, 10000}, {"A Wx, Wh", 100, 400},      {"B Wh", 512, 2048},
    {"B Wx", 64, 2048},       {"B affine", 512, 65},       {"B-GRU Wh", 512, 1536},
    {"B-GRU Wx", 64, 1536},
};

enum { KINDS = 3 };
static const char *const kinds[KINDS] = {"float", "bf16", "sgemv"};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    cli_fix_openblas_env(argv);
    int reps = 100;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--level") && i + 1 < argc) {
            const char *l = argv[++i];
            if (strcmp(l, "avx512") && strcmp(l, "avx2") && strcmp(l, "portable")) {
                fprintf(stderr, "timelayers-gemv-bench: --level is avx512, avx2 or portable\n");
                return 2;
            }
            tl_simd_limit(!strcmp(l, "avx512") ? TL_SIMD_AVX512
                          : !strcmp(l, "avx2") ? TL_SIMD_AVX2 : TL_SIMD_NONE);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (tl_set_num_threads(atoi(argv[++i]))) {
                fprintf(stderr, "timelayers-gemv-bench: %s\n", tl_last_error());
                return 2;
            }
        } else {
            fprintf(stderr, "usage: timelayers-gemv-bench [--reps R] "
                            "[--level avx512|avx2|portable] [--threads N]\n");
            return 2;
        }
    }
    if (reps < 1 || reps > 1000000) {
        fprintf(stderr, "timelayers-gemv-bench: --reps must be 1 to 1000000\n");
        return 2;
    }
    tl_simd level = tl_simd_active();
    printf("SIMD level %s, %d thread(s), %d alternating repetitions, microseconds per product "
           "(best / median; GB/s of B at the best)\n",
           level == TL_SIMD_AVX512 ? "AVX-512" : level == TL_SIMD_AVX2 ? "AVX2" : "portable",
           tl_get_num_threads(), reps);
    printf("%-14s %5s %6s", "shape", "K", "n");
    for (int k = 0; k < KINDS; k++)
        printf("  %22s", kinds[k]);
    printf("\n");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        int K = shapes[s].K, n = shapes[s].n;
        size_t kn = (size_t)K * n;
        float *B = malloc(kn * sizeof *B), *a = malloc((size_t)K * sizeof *a);
        float *c = malloc((size_t)n * sizeof *c);
        uint16_t *B16 = malloc(kn * sizeof *B16);
        double *t = malloc((size_t)KINDS * reps * sizeof *t);
        if (!B || !a || !c || !B16 || !t) {
            fprintf(stderr, "timelayers-gemv-bench: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < kn; i++) {
            B[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
            B16[i] = tl_bf16_from_float(B[i]);
        }
        for (int i = 0; i < K; i++)
            a[i] = (float)(i % 13) * 0.01f;
        memset(c, 0, (size_t)n * sizeof *c);
        for (int r = 0; r < reps; r++)
            for (int k = 0; k < KINDS; k++) {
                double t0 = now();
                if (k == 0)
                    tl_gemv_rows(n, K, 1, a, 1, B, n, 1, c);
                else if (k == 1)
                    tl_gemv_rows_bf16(n, K, 1, a, 1, B16, n, 1, c);
                else
                    cblas_sgemv(CblasRowMajor, CblasTrans, K, n, 1, B, n, a, 1, 1, c, 1);
                t[k * reps + r] = now() - t0;
            }
        printf("%-14s %5d %6d", shapes[s].what, K, n);
        for (int k = 0; k < KINDS; k++) {
            double *tk = t + (size_t)k * reps;
            qsort(tk, (size_t)reps, sizeof *tk, cmp);
            double bytes = (double)kn * (k == 1 ? 2 : 4);
            printf("  %7.1f / %7.1f %5.1f", tk[0] * 1e6, tk[reps / 2] * 1e6,
                   bytes / tk[0] * 1e-9);
        }
        printf("\n");
        free(B);
        free(a);
        free(c);
        free(B16);
        free(t);
    }
    return 0;
}
