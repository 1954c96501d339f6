/* The library's own single-precision GEMM, C = alpha·op(A)·op(B) + beta·C
 * (row-major), in the structure of GotoBLAS and BLIS.
 *
 * Why our own: the layers' products are short and wide (the output layer of
 * config A is 128 x 10000 x 100 per block, its weight gradient has K = 128)
 * and OpenBLAS's kernels are picked by OPENBLAS_CORETYPE, which may give an
 * AVX-512 CPU its AVX2 kernels (half the multiply-add rate on Zen 5).
 *
 * Blocking. K is cut into nk = ceil(K/KC) nearly equal slices (the same cut
 * for any thread count). For a slice, a KC x NC block of op(B) is packed into
 * NR-column panels (row k of a panel: NR consecutive floats) and an MC x KC
 * block of alpha·op(A) into MR-row panels (column k: MR consecutive floats);
 * packing is where the transposes and the edges (zero padding) are handled, so
 * one micro-kernel serves every case. The micro-kernel keeps an MR x NR tile
 * of C in registers: per k it loads one row of the B panel (NR floats) and
 * broadcasts MR values of the A panel into MR·NR/L fused multiply-adds (L
 * lanes). The A block (MC x KC) stays in L2; a B panel (KC x NR, 32 KB at
 * KC = 256, NR = 32) stays in L1 while the A panels of the block pass under
 * it; the B block (KC x NC, 1 MB) in L2/L3.
 *
 *              MR  NR  registers (accumulators + 2 B rows)
 *   AVX-512    12  32  24 + 2 zmm of 32
 *   AVX2        6  16  12 + 2 ymm of 16
 *   portable    6  16  plain C loops, for the compiler to vectorise
 *
 * A tile's update: the first K slice does C = acc + beta·C (acc alone when
 * beta = 0: C is not read), every later slice C = acc + C. Edge tiles run the
 * same micro-kernel on a scratch copy of their part of C, so every element of
 * C gets the same operations in the same order wherever its tile lies, and
 * threads, which take disjoint ranges of MR-row or NR-column tiles, change no
 * bit of the result.
 *
 * Pack buffers belong to the calling thread (the pool's threads keep theirs),
 * grow when a larger product needs them and are freed when the thread exits.
 * They are outside tl_alloc's accounting on purpose: they outlive any one
 * call. When one cannot be had, that part of C is computed by cblas_sgemm.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "kernels.h"
#include "timelayers/threads.h"

#ifndef TL_REAL_DOUBLE

#ifdef TL_HAVE_AVX2
#include <immintrin.h>
#endif

enum { KC = 256, MC_PANELS = 16, NC = 1024, MAX_MR = 12, MAX_NR = 32 };
/* Below this many multiply-adds a product stays on the calling thread. */
#define SMALL_PRODUCT 65536.0

/* acc(MR x NR) = Σ_k a[k·MR + r]·b[k·NR + j]; C = acc + beta·C (acc when
 * beta = 0); row r of C at c + r·ldc. */
typedef void (*tile_fn)(int kc, const float *a, const float *b, float *c, size_t ldc,
                        float beta);

typedef struct {
    int mr, nr;
    tile_fn tile;
} gemm_isa;

static void tile_portable(int kc, const float *a, const float *b, float *c, size_t ldc,
                          float beta)
{
    enum { MR = 6, NR = 16 };
    float acc[MR][NR] = {{0}};
    for (int k = 0; k < kc; k++, a += MR, b += NR)
        for (int r = 0; r < MR; r++)
            for (int j = 0; j < NR; j++)
                acc[r][j] += a[r] * b[j];
    for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++)
            c[r * ldc + j] = beta == 0 ? acc[r][j] : acc[r][j] + beta * c[r * ldc + j];
}

static const gemm_isa isa_portable = {6, 16, tile_portable};

#ifdef TL_HAVE_AVX2
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

/* One source for both ISAs: an MR x 2L tile as 2·MR vectors of L lanes. */
#define DEFINE_TILE(name, target, V, L, MR)                                                  \
    static target void name(int kc, const float *a, const float *b, float *c, size_t ldc,    \
                            float beta)                                                      \
    {                                                                                        \
        V acc0[MR], acc1[MR];                                                                \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++) acc0[r] = acc1[r] = (V){0};    \
        for (int k = 0; k < kc; k++, a += MR, b += 2 * L) {                                  \
            V b0 = *(const V *)b, b1 = *(const V *)(b + L);                                  \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                            \
            {                                                                                \
                acc0[r] += a[r] * b0;                                                        \
                acc1[r] += a[r] * b1;                                                        \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                \
        {                                                                                    \
            float *cr = c + r * ldc;                                                         \
            if (beta != 0) {                                                                 \
                V o0, o1;                                                                    \
                memcpy(&o0, cr, sizeof o0);                                                  \
                memcpy(&o1, cr + L, sizeof o1);                                              \
                acc0[r] += beta * o0;                                                        \
                acc1[r] += beta * o1;                                                        \
            }                                                                                \
            memcpy(cr, &acc0[r], sizeof acc0[r]);                                            \
            memcpy(cr + L, &acc1[r], sizeof acc1[r]);                                        \
        }                                                                                    \
    }

DEFINE_TILE(tile_avx2, __attribute__((target("avx2,fma"))), v8, 8, 6)
DEFINE_TILE(tile_avx512, __attribute__((target("avx512f,avx512vl,fma"))), v16, 16, 12)

static const gemm_isa isa_avx2 = {6, 16, tile_avx2};
static const gemm_isa isa_avx512 = {12, 32, tile_avx512};
#endif

static const gemm_isa *active_isa(void)
{
#ifdef TL_HAVE_AVX2
    switch (tl_simd_active()) {
    case TL_SIMD_AVX512: return &isa_avx512;
    case TL_SIMD_AVX2: return &isa_avx2;
    default: break;
    }
#endif
    return &isa_portable;
}

/* ---- The calling thread's pack buffers ---- */

typedef struct {
    float *a, *b;
    size_t acap, bcap;   /* in floats */
} pack_bufs;

static pthread_key_t bufs_key;
static pthread_once_t bufs_once = PTHREAD_ONCE_INIT;
static bool bufs_key_ok;

static void bufs_free(void *p)
{
    pack_bufs *w = p;
    free(w->a);
    free(w->b);
    free(w);
}

static void bufs_init(void) { bufs_key_ok = pthread_key_create(&bufs_key, bufs_free) == 0; }

static bool grow(float **buf, size_t *cap, size_t n)
{
    if (n <= *cap)
        return true;
    void *p;
    if (n > SIZE_MAX / sizeof(float) || posix_memalign(&p, 64, n * sizeof(float)))
        return false;
    free(*buf);
    *buf = p;
    *cap = n;
    return true;
}

/* This thread's buffers with room for na and nb floats, or NULL. */
static pack_bufs *get_bufs(size_t na, size_t nb)
{
    pthread_once(&bufs_once, bufs_init);
    if (!bufs_key_ok)
        return NULL;
    pack_bufs *w = pthread_getspecific(bufs_key);
    if (!w) {
        if (!(w = calloc(1, sizeof *w)))
            return NULL;
        if (pthread_setspecific(bufs_key, w)) {
            free(w);
            return NULL;
        }
    }
    return grow(&w->a, &w->acap, na) && grow(&w->b, &w->bcap, nb) ? w : NULL;
}

/* ---- Packing ---- */

typedef struct {
    bool ta, tb;
    int M, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb;
    float *C;
    int ldc;
    const gemm_isa *isa;
    bool split_n;          /* parts take ranges of columns (else of rows) */
} gemm_job;

/* Rows [i0, i0 + mc) and columns [k0, k0 + kc) of alpha·op(A) into MR-row
 * panels: panel p at dst + p·mr·kc, element (r, k) at k·mr + r. */
static void pack_a(const gemm_job *g, int i0, int mc, int k0, int kc, float *dst)
{
    int mr = g->isa->mr;
    float alpha = g->alpha;
    for (int p = 0; p < mc; p += mr, dst += (size_t)mr * kc) {
        int rows = mc - p < mr ? mc - p : mr;
        if (!g->ta)
            for (int r = 0; r < rows; r++) {
                const float *s = g->A + (size_t)(i0 + p + r) * g->lda + k0;
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * mr + r] = alpha * s[k];
            }
        else
            for (int k = 0; k < kc; k++) {
                const float *s = g->A + (size_t)(k0 + k) * g->lda + i0 + p;
                for (int r = 0; r < rows; r++)
                    dst[(size_t)k * mr + r] = alpha * s[r];
            }
        for (int k = 0; rows < mr && k < kc; k++)
            for (int r = rows; r < mr; r++)
                dst[(size_t)k * mr + r] = 0;
    }
}

/* Rows [k0, k0 + kc) and columns [j0, j0 + nc) of op(B) into NR-column
 * panels: panel q at dst + q·nr·kc, element (k, c) at k·nr + c. */
static void pack_b(const gemm_job *g, int j0, int nc, int k0, int kc, float *dst)
{
    int nr = g->isa->nr;
    if (!g->tb) {
        /* Row by row of B, which the prefetchers follow. */
        for (int k = 0; k < kc; k++) {
            const float *s = g->B + (size_t)(k0 + k) * g->ldb + j0;
            for (int q = 0; q < nc; q += nr) {
                int cols = nc - q < nr ? nc - q : nr;
                float *d = dst + (size_t)q * kc + (size_t)k * nr;
                memcpy(d, s + q, (size_t)cols * sizeof *d);
                memset(d + cols, 0, (size_t)(nr - cols) * sizeof *d);
            }
        }
        return;
    }
    for (int q = 0; q < nc; q += nr) {
        int cols = nc - q < nr ? nc - q : nr;
        float *d = dst + (size_t)q * kc;
        for (int c = 0; c < cols; c++) {
            const float *s = g->B + (size_t)(j0 + q + c) * g->ldb + k0;
            for (int k = 0; k < kc; k++)
                d[(size_t)k * nr + c] = s[k];
        }
        for (int k = 0; cols < nr && k < kc; k++)
            memset(d + (size_t)k * nr + cols, 0, (size_t)(nr - cols) * sizeof *d);
    }
}

/* ---- The loops around the micro-kernel ---- */

/* One tile at C (rows x cols valid); edge tiles through a scratch tile. */
static void run_tile(const gemm_isa *isa, int kc, const float *a, const float *b, float *c,
                     size_t ldc, int rows, int cols, float beta)
{
    if (rows == isa->mr && cols == isa->nr) {
        isa->tile(kc, a, b, c, ldc, beta);
        return;
    }
    _Alignas(64) float t[MAX_MR * MAX_NR] = {0};
    size_t nr = (size_t)isa->nr;
    if (beta != 0)
        for (int r = 0; r < rows; r++)
            memcpy(t + r * nr, c + r * ldc, (size_t)cols * sizeof *t);
    isa->tile(kc, a, b, t, nr, beta);
    for (int r = 0; r < rows; r++)
        memcpy(c + r * ldc, t + r * nr, (size_t)cols * sizeof *t);
}

static int k_slices(int K) { return (K + KC - 1) / KC; }

/* C[m0:m1, n0:n1] of the job, on this thread. */
static void run_block(const gemm_job *g, int m0, int m1, int n0, int n1)
{
    const gemm_isa *isa = g->isa;
    int mr = isa->mr, nr = isa->nr, mcmax = mr * MC_PANELS, nk = k_slices(g->K);
    int kcmax = (g->K + nk - 1) / nk;
    int mspan = m1 - m0 < mcmax ? m1 - m0 : mcmax, nspan = n1 - n0 < NC ? n1 - n0 : NC;
    size_t na = (size_t)((mspan + mr - 1) / mr * mr) * kcmax;
    size_t nb = (size_t)((nspan + nr - 1) / nr * nr) * kcmax;
    pack_bufs *w = get_bufs(na, nb);
    if (!w) {
        const float *A = g->A + (g->ta ? (size_t)m0 : (size_t)m0 * g->lda);
        const float *B = g->B + (g->tb ? (size_t)n0 * g->ldb : (size_t)n0);
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
                    g->tb ? CblasTrans : CblasNoTrans, m1 - m0, n1 - n0, g->K, g->alpha, A,
                    g->lda, B, g->ldb, g->beta, g->C + (size_t)m0 * g->ldc + n0, g->ldc);
        return;
    }
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = n1 - jc < NC ? n1 - jc : NC;
        for (int q = 0; q < nk; q++) {
            int k0 = (int)((long long)g->K * q / nk), kc = (int)((long long)g->K * (q + 1) / nk) - k0;
            float beta = q == 0 ? g->beta : 1;
            pack_b(g, jc, nc, k0, kc, w->b);
            for (int ic = m0; ic < m1; ic += mcmax) {
                int mc = m1 - ic < mcmax ? m1 - ic : mcmax;
                pack_a(g, ic, mc, k0, kc, w->a);
                for (int jr = 0; jr < nc; jr += nr)
                    for (int ir = 0; ir < mc; ir += mr)
                        run_tile(isa, kc, w->a + (size_t)ir * kc, w->b + (size_t)jr * kc,
                                 g->C + (size_t)(ic + ir) * g->ldc + jc + jr, (size_t)g->ldc,
                                 mc - ir < mr ? mc - ir : mr, nc - jr < nr ? nc - jr : nr, beta);
            }
        }
    }
}

/* Part p of parts: an equal share of whole tiles along the split dimension. */
static void run_part(void *ctx, int part, int parts)
{
    const gemm_job *g = ctx;
    int unit = g->split_n ? g->isa->nr : g->isa->mr, len = g->split_n ? g->N : g->M;
    int tiles = (len + unit - 1) / unit;
    int t0 = (int)((long long)tiles * part / parts), t1 = (int)((long long)tiles * (part + 1) / parts);
    int lo = t0 * unit, hi = t1 * unit < len ? t1 * unit : len;
    if (lo >= hi)
        return;
    if (g->split_n)
        run_block(g, 0, g->M, lo, hi);
    else
        run_block(g, lo, hi, 0, g->N);
}

/* TL_GEMM=blas: tl_gemm never comes here; TL_GEMM=own: always, at any SIMD
 * level; otherwise where this kernel was measured at least as fast as
 * OpenBLAS (docs/performance.md, "The library's own GEMM"): nowhere yet. */
static bool chosen;
static pthread_once_t choice_once = PTHREAD_ONCE_INIT;

static void read_choice(void)
{
    const char *env = getenv("TL_GEMM");
    chosen = env && strcmp(env, "own") == 0;
}

bool tl_sgemm_chosen(void)
{
    pthread_once(&choice_once, read_choice);
    return chosen;
}

void tl_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++)
                C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
        return;
    }
    gemm_job g = {trans_a, trans_b, M, N, K, alpha, beta, A, B, lda, ldb, C, ldc,
                  active_isa(), false};
    /* Splitting the columns makes every part pack all of op(A) (M x K),
     * splitting the rows all of op(B) (K x N): split along the longer side. */
    int threads = tl_get_num_threads();
    int ntiles = (N + g.isa->nr - 1) / g.isa->nr, mtiles = (M + g.isa->mr - 1) / g.isa->mr;
    g.split_n = N >= M ? ntiles >= 2 : mtiles < 2;
    int tiles = g.split_n ? ntiles : mtiles;
    int parts = (double)M * N * K < SMALL_PRODUCT ? 1 : threads < tiles ? threads : tiles;
    tl_parallel_run(parts, run_part, &g);
}
#endif
