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
 * one micro-kernel serves every case. (op(A) = A with alpha = 1 is read in
 * place instead, see run_block.) The micro-kernel keeps an MR x NR tile
 * of C in registers: per k it loads one row of the B panel (NR floats) and
 * broadcasts MR values of the A panel into MR·NR/L fused multiply-adds (L
 * lanes). The A block (MC x KC, MC = 192 rows whatever MR: 192 KB) stays
 * in L2; a B panel (KC x NR, 32 KB at KC = 256, NR = 32) stays in L1 while
 * the A panels of the block pass under it; the B block (KC x NC, 1 MB) in
 * L2/L3. (The AVX2 kernel had blocks of 96 rows, 16 of its panels, until
 * 2026-12-07: 192 was 1.1-1.25x faster on the output layer's products of
 * A and C and on C's input projection, Zen 5 at its AVX2 level.)
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
 * bit of the result. A last panel of at most NR/4 columns with op(A) = A and
 * op(B) = Bᵀ is not tiled but computed as dot products along K (gemm_isa),
 * each element again by the same operations wherever it lies.
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

enum { KC = 256, MC = 192, NC = 1024, MAX_MR = 12, MAX_NR = 32, MAX_PARTS = 64 };
/* pack_b fetches the row of B this many rows below the one it copies. */
enum { PACK_AHEAD = 4 };
/* Below this many multiply-adds a product stays on the calling thread. */
#define SMALL_PRODUCT 65536.0

/* acc(h x w) = Σ_k A(r, k)·b[k·ldb + j]; C = acc + beta·C (acc when beta =
 * 0); row r of C at c + r·ldc. A(r, k) is a[k·h + r] in a packed panel and
 * a[r·lda + k] read in place (the "direct" kernels). b is a packed panel
 * (ldb = w) or op(B) = B read in place (ldb = B's). */
typedef void (*tile_fn)(int kc, const float *a, size_t lda, const float *b, size_t ldb,
                        float *c, size_t ldc, float beta);

/* c[r·ldc + j] = alpha·Σ_k a[r·lda + k]·b[j·ldb + k] + beta·c[r·ldc + j]
 * (alpha times the sum alone when beta = 0: C is not read) for a few rows r
 * of A and rows j of B, both read in place along k: the dot-product kernels
 * of a narrow last panel (below). */
typedef void (*dot_fn)(int kc, const float *a, size_t lda, const float *b, size_t ldb,
                       float *c, size_t ldc, float alpha, float beta);

/* The full tile is mr x nr. An edge tile uses the smallest of the smaller
 * kernels that covers it: h rows, a multiple of the row quantum rq, and w =
 * nr or nr/2 columns (tiles[h/rq - 1][w/(nr/2) - 1]). The last index:
 * packed A (0) or A read in place (1).
 *
 * A last panel of at most dot_max columns is not a tile when op(A) = A and
 * op(B) = Bᵀ (both contiguous along K): its columns are dot products over
 * K, vectors along k summed across their lanes at the end of each K slice,
 * dot_rows rows of A (or one) by up to DOT_W rows of B per call
 * (dots[rows > 1][w - 1]). Config A's dx products (N = D = 100) computed
 * 112 columns for 100, the last 4 in a 12 x 16 tile (4 of its 16 lanes
 * used, and more loads than multiply-adds): 0.88x the time now on AVX-512,
 * 0.96x on AVX2 (docs/performance.md). Wider last panels (config C's D =
 * 650 ends in 10 columns) keep their tile. For any other product a narrow
 * panel is packed and tiled, and a copy of op(B) packed whole
 * (tl_sgemm_pack_b) never holds it. */
enum { DOT_W = 4 };
typedef struct {
    int mr, nr, rq;
    tile_fn tiles[3][2][2];
    int dot_rows, dot_max;
    dot_fn dots[2][DOT_W];
} gemm_isa;

/* One dot product's end: the lanes' sum s (their order fixed per kernel
 * family) onto C. */
static inline void dot_store(float *c, float s, float alpha, float beta)
{
    s *= alpha;
    *c = beta == 0 ? s : s + beta * *c;
}

#define DEFINE_PORTABLE(name, MR, NR, DIRECT)                                                \
    static void name(int kc, const float *a, size_t lda, const float *b, size_t ldb,         \
                     float *c, size_t ldc, float beta)                                       \
    {                                                                                        \
        float acc[MR][NR] = {{0}};                                                           \
        for (int k = 0; k < kc; k++, b += ldb)                                               \
            for (int r = 0; r < MR; r++)                                                     \
                for (int j = 0; j < NR; j++)                                                 \
                    acc[r][j] += (DIRECT ? a[r * lda + k] : a[k * MR + r]) * b[j];           \
        for (int r = 0; r < MR; r++)   /* C is not read when beta = 0 */                   \
            for (int j = 0; j < NR; j++)                                                     \
                if (beta == 0)                                                               \
                    c[r * ldc + j] = acc[r][j];                                              \
                else                                                                         \
                    c[r * ldc + j] = acc[r][j] + beta * c[r * ldc + j];                      \
    }
#define DEFINE_PORTABLE2(name, MR, NR)                                                       \
    DEFINE_PORTABLE(name##p, MR, NR, 0)                                                      \
    DEFINE_PORTABLE(name##d, MR, NR, 1)

DEFINE_PORTABLE2(tile_p2x8, 2, 8)
DEFINE_PORTABLE2(tile_p4x8, 4, 8)
DEFINE_PORTABLE2(tile_p6x8, 6, 8)
DEFINE_PORTABLE2(tile_p2x16, 2, 16)
DEFINE_PORTABLE2(tile_p4x16, 4, 16)
DEFINE_PORTABLE2(tile_p6x16, 6, 16)

/* The portable dot products: 8 lanes along k, summed in a_hsum's order. */
#define DEFINE_DOT_PORTABLE(name, R, W)                                                       \
    static void name(int kc, const float *a, size_t lda, const float *b, size_t ldb,         \
                     float *c, size_t ldc, float alpha, float beta)                          \
    {                                                                                        \
        float acc[R][W][8] = {{{0}}};                                                        \
        int k = 0;                                                                           \
        for (; k + 8 <= kc; k += 8)                                                          \
            for (int r = 0; r < R; r++)                                                      \
                for (int j = 0; j < W; j++)                                                  \
                    for (int l = 0; l < 8; l++)                                              \
                        acc[r][j][l] += a[r * lda + k + l] * b[j * ldb + k + l];             \
        for (int l = 0; k + l < kc; l++)                                                     \
            for (int r = 0; r < R; r++)                                                      \
                for (int j = 0; j < W; j++)                                                  \
                    acc[r][j][l] += a[r * lda + k + l] * b[j * ldb + k + l];                 \
        for (int r = 0; r < R; r++)                                                          \
            for (int j = 0; j < W; j++) {                                                    \
                const float *x = acc[r][j];                                                  \
                float s = ((x[0] + x[4]) + (x[2] + x[6])) + ((x[1] + x[5]) + (x[3] + x[7])); \
                dot_store(c + r * ldc + j, s, alpha, beta);                                  \
            }                                                                                \
    }
#define DEFINE_DOTS(DEF, pre, R)                                                            \
    DEF(pre##1x1, 1, 1) DEF(pre##1x2, 1, 2) DEF(pre##1x3, 1, 3) DEF(pre##1x4, 1, 4)          \
    DEF(pre##R##x1, R, 1) DEF(pre##R##x2, R, 2) DEF(pre##R##x3, R, 3) DEF(pre##R##x4, R, 4)
#define DOTS(pre, R)                                                                        \
    {{pre##1x1, pre##1x2, pre##1x3, pre##1x4}, {pre##R##x1, pre##R##x2, pre##R##x3, pre##R##x4}}

DEFINE_DOTS(DEFINE_DOT_PORTABLE, dot_p, 2)

/* The table of an ISA whose kernels are named prefix<h>x<w>{p,d}. */
#define TILES(pre, r1, r2, r3, w1, w2)                                                      \
    {{{pre##r1##x##w1##p, pre##r1##x##w1##d}, {pre##r1##x##w2##p, pre##r1##x##w2##d}},      \
     {{pre##r2##x##w1##p, pre##r2##x##w1##d}, {pre##r2##x##w2##p, pre##r2##x##w2##d}},      \
     {{pre##r3##x##w1##p, pre##r3##x##w1##d}, {pre##r3##x##w2##p, pre##r3##x##w2##d}}}

static const gemm_isa isa_portable = {6, 16, 2, TILES(tile_p, 2, 4, 6, 8, 16), 2, 4,
                                      DOTS(dot_p, 2)};

#ifdef TL_HAVE_AVX2
typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

/* One source for both ISAs: an MR x NV·L tile as MR·NV vectors of L lanes.
 * The tile's lines of C are prefetched first: with K of about 100 (config
 * A) they would otherwise be waited for at the end of every tile. A row of
 * the tile need not start on a cache line (C's rows are ldc floats apart),
 * so its last float is fetched too: fetching only from its start left the
 * row's last line out, and the AVX2 kernel waited for it (Zen 5, AVX2,
 * 650 x 10000 x 175, Aᵀ·B: 78 -> 95 GFLOP/s). */
#define DEFINE_TILE(name, target, V, L, MR, NV, DIRECT)                                      \
    static target void name(int kc, const float *a, size_t lda, const float *b, size_t ldb,  \
                            float *c, size_t ldc, float beta)                                \
    {                                                                                        \
        V acc0[MR], acc1[MR];                                                                \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                \
        {                                                                                    \
            acc0[r] = acc1[r] = (V){0};                                                      \
            _Pragma("GCC unroll 4") for (int o = 0; o < NV * L; o += 16)                     \
                __builtin_prefetch(c + r * ldc + o, 1);                                      \
            __builtin_prefetch(c + r * ldc + NV * L - 1, 1);                                 \
        }                                                                                    \
        for (int k = 0; k < kc; k++, b += ldb) {                                             \
            V b0, b1;                                                                        \
            memcpy(&b0, b, sizeof b0);                                                       \
            if (NV == 2)                                                                     \
                memcpy(&b1, b + L, sizeof b1);                                               \
            else                                                                             \
                b1 = b0;                                                                     \
            _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                            \
            {                                                                                \
                float x = DIRECT ? a[r * lda + k] : a[k * MR + r];                           \
                acc0[r] += x * b0;                                                           \
                if (NV == 2)                                                                 \
                    acc1[r] += x * b1;                                                       \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 16") for (int r = 0; r < MR; r++)                                \
        {                                                                                    \
            float *cr = c + r * ldc;                                                         \
            if (beta != 0) {                                                                 \
                V o;                                                                         \
                memcpy(&o, cr, sizeof o);                                                    \
                acc0[r] += beta * o;                                                         \
                if (NV == 2) {                                                               \
                    memcpy(&o, cr + L, sizeof o);                                            \
                    acc1[r] += beta * o;                                                     \
                }                                                                            \
            }                                                                                \
            memcpy(cr, &acc0[r], sizeof acc0[r]);                                            \
            if (NV == 2)                                                                     \
                memcpy(cr + L, &acc1[r], sizeof acc1[r]);                                    \
        }                                                                                    \
    }
#define DEFINE_TILE2(name, target, V, L, MR, NV)                                            \
    DEFINE_TILE(name##p, target, V, L, MR, NV, 0)                                            \
    DEFINE_TILE(name##d, target, V, L, MR, NV, 1)

#define AVX2_T __attribute__((target("avx2,fma")))
#define AVX512_T __attribute__((target("avx512f,avx512vl,fma")))
DEFINE_TILE2(tile_a2x8, AVX2_T, v8, 8, 2, 1)
DEFINE_TILE2(tile_a4x8, AVX2_T, v8, 8, 4, 1)
DEFINE_TILE2(tile_a6x8, AVX2_T, v8, 8, 6, 1)
DEFINE_TILE2(tile_a2x16, AVX2_T, v8, 8, 2, 2)
DEFINE_TILE2(tile_a4x16, AVX2_T, v8, 8, 4, 2)
DEFINE_TILE2(tile_a6x16, AVX2_T, v8, 8, 6, 2)
DEFINE_TILE2(tile_z4x16, AVX512_T, v16, 16, 4, 1)
DEFINE_TILE2(tile_z8x16, AVX512_T, v16, 16, 8, 1)
DEFINE_TILE2(tile_z12x16, AVX512_T, v16, 16, 12, 1)
DEFINE_TILE2(tile_z4x32, AVX512_T, v16, 16, 4, 2)
DEFINE_TILE2(tile_z8x32, AVX512_T, v16, 16, 8, 2)
DEFINE_TILE2(tile_z12x32, AVX512_T, v16, 16, 12, 2)

/* The dot products at either level: vectors of L lanes along k, the last
 * one masked (a masked lane reads nothing and adds a zero product), the
 * lanes summed in the order of P##_hsum. R rows by W rows: R + W loads per
 * R·W multiply-adds. */
#define DEFINE_DOT(name, target, P, L, R, W)                                                 \
    static target void name(int kc, const float *a, size_t lda, const float *b, size_t ldb,  \
                            float *c, size_t ldc, float alpha, float beta)                   \
    {                                                                                        \
        P##_v acc[R][W];                                                                     \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                  \
            _Pragma("GCC unroll 4") for (int j = 0; j < W; j++)                              \
                acc[r][j] = P##_zero();                                                      \
        int k = 0;                                                                           \
        for (; k + L <= kc; k += L) {                                                        \
            P##_v y[W];                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < W; j++)                              \
                y[j] = P##_load(b + j * ldb + k);                                            \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                              \
            {                                                                                \
                P##_v x = P##_load(a + r * lda + k);                                         \
                _Pragma("GCC unroll 4") for (int j = 0; j < W; j++)                          \
                    acc[r][j] = P##_fma(x, y[j], acc[r][j]);                                 \
            }                                                                                \
        }                                                                                    \
        if (k < kc) {                                                                        \
            P##_m m = P##_mask(kc - k);                                                      \
            P##_v y[W];                                                                      \
            _Pragma("GCC unroll 4") for (int j = 0; j < W; j++)                              \
                y[j] = P##_loadm(b + j * ldb + k, m);                                        \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                              \
            {                                                                                \
                P##_v x = P##_loadm(a + r * lda + k, m);                                     \
                _Pragma("GCC unroll 4") for (int j = 0; j < W; j++)                          \
                    acc[r][j] = P##_fma(x, y[j], acc[r][j]);                                 \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                  \
            _Pragma("GCC unroll 4") for (int j = 0; j < W; j++)                              \
                dot_store(c + r * ldc + j, P##_hsum(acc[r][j]), alpha, beta);                \
    }

typedef __m256 a_v;
typedef __m256i a_m;
static inline AVX2_T a_v a_zero(void) { return _mm256_setzero_ps(); }
static inline AVX2_T a_v a_load(const float *p) { return _mm256_loadu_ps(p); }
static inline AVX2_T a_m a_mask(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline AVX2_T a_v a_loadm(const float *p, a_m m) { return _mm256_maskload_ps(p, m); }
static inline AVX2_T a_v a_fma(a_v x, a_v y, a_v acc) { return _mm256_fmadd_ps(x, y, acc); }
static inline AVX2_T float a_hsum(a_v v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

typedef __m512 z_v;
typedef __mmask16 z_m;
static inline AVX512_T z_v z_zero(void) { return _mm512_setzero_ps(); }
static inline AVX512_T z_v z_load(const float *p) { return _mm512_loadu_ps(p); }
static inline AVX512_T z_m z_mask(int n) { return (z_m)((1u << n) - 1); }
static inline AVX512_T z_v z_loadm(const float *p, z_m m) { return _mm512_maskz_loadu_ps(m, p); }
static inline AVX512_T z_v z_fma(z_v x, z_v y, z_v acc) { return _mm512_fmadd_ps(x, y, acc); }
static inline AVX512_T float z_hsum(z_v v) { return _mm512_reduce_add_ps(v); }

/* AVX2 has 16 registers: 2 x 4 takes 8 accumulators, 4 B vectors and one of
 * A; AVX-512's 32 take 4 x 4. */
#define DEFINE_DOT_A(name, R, W) DEFINE_DOT(name, AVX2_T, a, 8, R, W)
#define DEFINE_DOT_Z(name, R, W) DEFINE_DOT(name, AVX512_T, z, 16, R, W)
DEFINE_DOTS(DEFINE_DOT_A, dot_a, 2)
DEFINE_DOTS(DEFINE_DOT_Z, dot_z, 4)

static const gemm_isa isa_avx2 = {6, 16, 2, TILES(tile_a, 2, 4, 6, 8, 16), 2, 4, DOTS(dot_a, 2)};
static const gemm_isa isa_avx512 = {12, 32, 4, TILES(tile_z, 4, 8, 12, 16, 32), 4, 8,
                                    DOTS(dot_z, 4)};
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

/* The height of a panel of `rows` rows and the width of one of `cols`
 * columns (rows <= mr, cols <= nr). */
static int panel_h(const gemm_isa *isa, int rows) { return (rows + isa->rq - 1) / isa->rq * isa->rq; }
static int panel_w(const gemm_isa *isa, int cols) { return cols <= isa->nr / 2 ? isa->nr / 2 : isa->nr; }

/* The width of N's last panel if it is narrow enough for the dot products
 * (gemm_isa), else 0. */
static int narrow_tail(const gemm_isa *isa, int N)
{
    int t = N % isa->nr;
    return t <= isa->dot_max ? t : 0;
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
    bool b_in_place_ok;    /* op(B) = B with a row stride the L1 cache spreads */
    const float *Bp;       /* op(B) packed whole (tl_sgemm_pack_b), or NULL */
    size_t npad;           /* its width: packed_width */
    int parts;             /* part p: tiles [bound[p], bound[p + 1]) along the split */
    int bound[MAX_PARTS + 1];
} gemm_job;

/* Rows [i0, i0 + mc) and columns [k0, k0 + kc) of alpha·op(A) into panels
 * of mr rows (the last one h = panel_h rows): panel p at dst + p·mr·kc,
 * element (r, k) at k·h + r. */
static void pack_a(const gemm_job *g, int i0, int mc, int k0, int kc, float *dst)
{
    int mr = g->isa->mr;
    float alpha = g->alpha;
    for (int p = 0; p < mc; p += mr, dst += (size_t)mr * kc) {
        int rows = mc - p < mr ? mc - p : mr, h = panel_h(g->isa, rows);
        if (!g->ta)
            for (int r = 0; r < rows; r++) {
                const float *s = g->A + (size_t)(i0 + p + r) * g->lda + k0;
                for (int k = 0; k < kc; k++)
                    dst[(size_t)k * h + r] = alpha * s[k];
            }
        else
            for (int k = 0; k < kc; k++) {
                const float *s = g->A + (size_t)(k0 + k) * g->lda + i0 + p;
                for (int r = 0; r < rows; r++)
                    dst[(size_t)k * h + r] = alpha * s[r];
            }
        for (int k = 0; rows < h && k < kc; k++)
            for (int r = rows; r < h; r++)
                dst[(size_t)k * h + r] = 0;
    }
}

#ifdef TL_HAVE_AVX2
/* Columns [0, cols) of a panel of op(B) = Bᵀ, B's rows ldb apart at s, 8
 * rows (columns of the panel) at a time: 8 x 8 blocks transposed in
 * registers (unpack, shuffle, swap of halves) instead of one float at a
 * time. Returns the columns done, a multiple of 8. */
static AVX2_T int pack_t8(const float *s, size_t ldb, int cols, int kc, float *d, int w)
{
    int c = 0;
    for (; c + 8 <= cols; c += 8) {
        const float *r = s + (size_t)c * ldb;
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            __m256 x[8], t[8];
            for (int i = 0; i < 8; i++)
                x[i] = _mm256_loadu_ps(r + i * ldb + k);
            for (int i = 0; i < 8; i += 2) {
                t[i] = _mm256_unpacklo_ps(x[i], x[i + 1]);
                t[i + 1] = _mm256_unpackhi_ps(x[i], x[i + 1]);
            }
            for (int i = 0; i < 8; i += 4) {
                x[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
                x[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
                x[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
                x[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
            }
            for (int i = 0; i < 4; i++) {
                _mm256_storeu_ps(d + (size_t)(k + i) * w + c,
                                 _mm256_permute2f128_ps(x[i], x[i + 4], 0x20));
                _mm256_storeu_ps(d + (size_t)(k + i + 4) * w + c,
                                 _mm256_permute2f128_ps(x[i], x[i + 4], 0x31));
            }
        }
        for (; k < kc; k++)
            for (int i = 0; i < 8; i++)
                d[(size_t)k * w + c + i] = r[i * ldb + k];
    }
    return c;
}
#endif

/* Rows [k0, k0 + kc) and columns [j0, j0 + nc) of op(B) into panels of nr
 * columns (the last one w = panel_w columns): panel q at dst + q·kc (q a
 * multiple of nr), element (k, c) at k·w + c. */
static void pack_b(const gemm_job *g, int j0, int nc, int k0, int kc, float *dst)
{
    int nr = g->isa->nr;
    if (!g->tb) {
        /* Row by row of B, which the prefetchers follow within a row; each
         * row starts a new page for them (B's rows are 8 KB apart in
         * config B), so the row PACK_AHEAD rows below is fetched along
         * (Zen 5, 64 x 2048 x 2048 Aᵀ·B: AVX2 65-77 -> 72-87 GFLOP/s,
         * AVX-512 100-133 -> 129-156; 512 x 2048 x 2048 about 5% at
         * either level; 2 or 8 rows ahead paid less). */
        for (int k = 0; k < kc; k++) {
            const float *s = g->B + (size_t)(k0 + k) * g->ldb + j0;
            for (int q = 0; q < nc; q += nr) {
                int cols = nc - q < nr ? nc - q : nr, w = panel_w(g->isa, cols);
                float *d = dst + (size_t)q * kc + (size_t)k * w;
                for (int o = 0; o < cols; o += 16)   /* a prefetch never faults */
                    __builtin_prefetch(s + PACK_AHEAD * (size_t)g->ldb + q + o);
                if (cols == 32)   /* copies of a known size, inlined */
                    memcpy(d, s + q, 32 * sizeof *d);
                else if (cols == 16)
                    memcpy(d, s + q, 16 * sizeof *d);
                else {
                    memcpy(d, s + q, (size_t)cols * sizeof *d);
                    memset(d + cols, 0, (size_t)(w - cols) * sizeof *d);
                }
            }
        }
        return;
    }
    for (int q = 0; q < nc; q += nr) {
        int cols = nc - q < nr ? nc - q : nr, w = panel_w(g->isa, cols), c = 0;
        float *d = dst + (size_t)q * kc;
#ifdef TL_HAVE_AVX2
        if (g->isa != &isa_portable)
            c = pack_t8(g->B + (size_t)(j0 + q) * g->ldb + k0, (size_t)g->ldb, cols, kc, d, w);
#endif
        for (; c < cols; c++) {
            const float *s = g->B + (size_t)(j0 + q + c) * g->ldb + k0;
            for (int k = 0; k < kc; k++)
                d[(size_t)k * w + c] = s[k];
        }
        for (int k = 0; cols < w && k < kc; k++)
            memset(d + (size_t)k * w + cols, 0, (size_t)(w - cols) * sizeof *d);
    }
}

/* ---- The loops around the micro-kernel ---- */

/* One tile at C (rows x cols valid) from the panel b and the rows of A at a:
 * a packed panel (lda = 0) or lda apart in place; a tile smaller than its
 * kernel goes through a scratch tile. */
static void run_tile(const gemm_isa *isa, int kc, const float *a, size_t lda, const float *b,
                     size_t ldb, float *c, size_t ldc, int rows, int cols, float beta)
{
    int h = panel_h(isa, rows), w = panel_w(isa, cols);
    tile_fn tile = isa->tiles[h / isa->rq - 1][w / (isa->nr / 2) - 1][lda != 0];
    if (rows == h && cols == w) {
        tile(kc, a, lda, b, ldb, c, ldc, beta);
        return;
    }
    /* With beta = 0 the kernel only writes the scratch tile; otherwise its
     * part outside C is zeros. */
    _Alignas(64) float t[MAX_MR * MAX_NR];
    if (beta != 0) {
        memset(t, 0, (size_t)h * w * sizeof *t);
        for (int r = 0; r < rows; r++)
            memcpy(t + r * w, c + r * ldc, (size_t)cols * sizeof *t);
    }
    tile(kc, a, lda, b, ldb, t, (size_t)w, beta);
    for (int r = 0; r < rows; r++)
        memcpy(c + r * ldc, t + r * w, (size_t)cols * sizeof *t);
}

static int k_slices(int K) { return (K + KC - 1) / KC; }

/* C[i0 .. i0 + rows, j0 .. j0 + cols) over the K slice [k0, k0 + kc) by dot
 * products: op(A) = A and op(B) = Bᵀ read in place (both along k), rows of
 * A taken dot_rows at a time while they are in L1 for every column. Each
 * element gets the same operations whichever call computes it. */
static void run_dots(const gemm_job *g, int i0, int rows, int j0, int cols, int k0, int kc,
                     float beta)
{
    const gemm_isa *isa = g->isa;
    for (int r = 0; r < rows;) {
        int h = rows - r >= isa->dot_rows ? isa->dot_rows : 1;
        const float *a = g->A + (size_t)(i0 + r) * g->lda + k0;
        float *c = g->C + (size_t)(i0 + r) * g->ldc + j0;
        for (int j = 0; j < cols; j += DOT_W) {
            int w = cols - j < DOT_W ? cols - j : DOT_W;
            isa->dots[h > 1][w - 1](kc, a, (size_t)g->lda, g->B + (size_t)(j0 + j) * g->ldb + k0,
                                    (size_t)g->ldb, c + j, (size_t)g->ldc, g->alpha, beta);
        }
        r += h;
    }
}

/* C[m0:m1, n0:n1] of the job, on this thread. op(A) = A with alpha = 1 (all
 * the layers' forward and dx products) is read in place, rows lda apart,
 * except in a last panel whose rows no kernel height fits: packing it would
 * cost a transposition per element (as many floats as multiply-adds per k
 * for a narrow C) and the kernel's broadcasts read A's rows as they are.
 * op(B) = B is read in place too when the rows of C fit one block of A
 * (MC rows): a packed B panel would then serve at most MC / mr tiles,
 * and packing it (a copy of all of B per product: W in the output layer's
 * forward, the scores in its dW) costs about as much as the tiles save by
 * reading it contiguously; a last panel narrower than its kernel is packed.
 * Either way every tile gets the same numbers in the same order. */
static void run_block(const gemm_job *g, int m0, int m1, int n0, int n1)
{
    const gemm_isa *isa = g->isa;
    int mr = isa->mr, nr = isa->nr, mcmax = MC / mr * mr, nk = k_slices(g->K);
    int kcmax = (g->K + nk - 1) / nk;
    int mspan = m1 - m0 < mcmax ? m1 - m0 : mcmax, nspan = n1 - n0 < NC ? n1 - n0 : NC;
    bool direct = !g->ta && g->alpha == 1, b_in_place = g->b_in_place_ok && m1 - m0 <= mcmax;
    size_t na = (size_t)((mspan + mr - 1) / mr * mr) * kcmax;
    size_t nb = (size_t)(b_in_place || g->Bp ? nr : (nspan + nr - 1) / nr * nr) * kcmax;
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
        /* Panels [packed_from, packed_to) are packed per K slice, those
         * before read in place or from Bp, the narrow last one of N
         * (narrow > 0) computed by dot products when dots. In place, only a
         * last panel narrower than its kernel is packed; Bp lacks a narrow
         * last panel. */
        int last = (nc - 1) / nr * nr, packed_from = nc, packed_to = nc;
        int narrow = jc + nc == g->N ? narrow_tail(isa, g->N) : 0;
        bool dots = narrow && g->tb && !g->ta;
        if (g->Bp)
            packed_from = narrow ? last : nc;
        else if (!b_in_place)
            packed_from = 0;
        else if (nc - last != panel_w(isa, nc - last))
            packed_from = last;
        if (dots)
            packed_to = last;
        for (int q = 0; q < nk; q++) {
            int k0 = (int)((long long)g->K * q / nk), kc = (int)((long long)g->K * (q + 1) / nk) - k0;
            float beta = q == 0 ? g->beta : 1;
            if (packed_from < packed_to)
                pack_b(g, jc + packed_from, packed_to - packed_from, k0, kc, w->b);
            for (int ic = m0; ic < m1; ic += mcmax) {
                int mc = m1 - ic < mcmax ? m1 - ic : mcmax, tail = mc % mr;
                /* In place: only a last panel of a height no kernel has. */
                int a_packed_from = !direct ? 0 : tail % isa->rq ? mc - tail : mc;
                if (a_packed_from < mc)
                    pack_a(g, ic + a_packed_from, mc - a_packed_from, k0, kc, w->a);
                for (int jr = 0; jr < nc; jr += nr) {
                    int cols = nc - jr < nr ? nc - jr : nr;
                    if (dots && jr == last) {
                        run_dots(g, ic, mc, jc + jr, cols, k0, kc, beta);
                        break;
                    }
                    bool b_direct = !g->Bp && jr < packed_from, b_packed = jr >= packed_from;
                    const float *b = b_packed   ? w->b + (size_t)(jr - packed_from) * kc
                                     : b_direct ? g->B + (size_t)k0 * g->ldb + jc + jr
                                                : g->Bp + (size_t)k0 * g->npad + (size_t)(jc + jr) * kc;
                    size_t ldb = b_direct ? (size_t)g->ldb : (size_t)panel_w(isa, cols);
                    /* The next panel read in place, a share of its rows per
                     * tile: its rows lie a page or more apart, where the
                     * hardware prefetchers do not follow, and the first
                     * tile would wait for each of them. */
                    bool fetch = b_direct && jr + nr < packed_from;
                    const float *next = b + nr;
                    for (int ir = 0, t = 0, tiles = (mc + mr - 1) / mr; ir < mc; ir += mr, t++) {
                        for (int k = kc * t / tiles; fetch && k < kc * (t + 1) / tiles; k++) {
                            const float *row = next + (size_t)k * ldb;
                            __builtin_prefetch(row, 0, 2);
                            __builtin_prefetch(row + nr / 2, 0, 2);
                            __builtin_prefetch(row + nr - 1, 0, 2);
                        }
                        bool in_place = ir < a_packed_from;
                        const float *a = in_place ? g->A + (size_t)(ic + ir) * g->lda + k0
                                                  : w->a + (size_t)(ir - a_packed_from) * kc;
                        run_tile(isa, kc, a, in_place ? (size_t)g->lda : 0, b, ldb,
                                 g->C + (size_t)(ic + ir) * g->ldc + jc + jr, (size_t)g->ldc,
                                 mc - ir < mr ? mc - ir : mr, cols, beta);
                    }
                }
            }
        }
    }
}

/* Part p of the job's parts (run_job's plan). */
static void run_part(void *ctx, int part, int parts)
{
    const gemm_job *g = ctx;
    (void)parts;
    int unit = g->split_n ? g->isa->nr : g->isa->mr, len = g->split_n ? g->N : g->M;
    int lo = g->bound[part] * unit, hi = g->bound[part + 1] * unit < len ? g->bound[part + 1] * unit : len;
    if (lo >= hi)
        return;
    if (g->split_n)
        run_block(g, 0, g->M, lo, hi);
    else
        run_block(g, lo, hi, 0, g->N);
}

/* TL_GEMM=own: tl_gemm always comes here, at any SIMD level (the portable
 * kernel too); TL_GEMM=blas: never. Otherwise where this kernel was measured
 * faster than the BLAS (docs/performance.md, "The library's own GEMM" and
 * "The own GEMM at the AVX2 level"; Zen 5): at the AVX-512 level, whatever
 * kernels OpenBLAS runs. Against its AVX2 kernels (Haswell) it is 1.23-2.18x
 * on every product of configs A, B, C; against its AVX-512 kernels
 * (Cooperlake) 0.79-1.28x per product on one thread, but training steps
 * with 2 threads took 1.4-5x less wall time (A, B, C): OpenBLAS's threads
 * sleep after each product and a product waits for the later of them, where
 * the library's pool spins and hands out parts dynamically. And at the AVX2
 * level, against OpenBLAS's AVX2 kernels: training steps of A, B, C paired
 * in one process took 0.80-0.97x the time on 2 threads and 0.92-1.00x on
 * one. Measured on Zen 5 held to its AVX2 kernels, a stand-in for an
 * AVX2-only CPU (Zen 3), not on one. Without AVX2 the BLAS stays. */
typedef enum { GEMM_AUTO, GEMM_OWN, GEMM_BLAS } gemm_choice;
static gemm_choice choice;
static pthread_once_t choice_once = PTHREAD_ONCE_INIT;

static void read_choice(void)
{
    const char *env = getenv("TL_GEMM");
    choice = !env ? GEMM_AUTO : !strcmp(env, "own") ? GEMM_OWN : !strcmp(env, "blas") ? GEMM_BLAS
                                                                                     : GEMM_AUTO;
}

bool tl_sgemm_chosen(void)
{
    pthread_once(&choice_once, read_choice);
    if (choice != GEMM_AUTO)
        return choice == GEMM_OWN;
    return tl_simd_active() >= TL_SIMD_AVX2;
}

/* C = beta·C without a product (K = 0 or alpha = 0). */
static void scale_c(int M, int N, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            C[(size_t)i * ldc + j] = beta == 0 ? 0 : beta * C[(size_t)i * ldc + j];
}

/* The job split over the pool. Splitting the columns makes every part pack
 * all of op(A) (M x K), splitting the rows all of op(B) (K x N): split
 * along the longer side.
 *
 * The pool hands parts out as the threads come for them, so a thread that
 * starts late (a worker woken from its sleep) or runs slower (a core shared
 * with other work) takes fewer. With one part per thread the other waited
 * for the rest of its half; with equal parts the threads still finish up to
 * a part apart. Parts therefore shrink as the product goes (each a
 * 1/(2·threads) share of the tiles left, as in guided self-scheduling),
 * down to a 1/(16·threads) share of all tiles and at least MIN_PART
 * multiply-adds, so the threads end within a small part of each other.
 * Split by rows with op(B) read in place, a part spans at most one block of
 * A (MC / mr tiles), the height up to which run_block reads B in place.
 * Where each part packs the operand the others pack too (op(A) unless read
 * in place; op(B) unless read in place or packed once), a part is at least
 * REPACK_SPAN columns or rows (run_block packs op(A) once per NC columns
 * anyway), and a product too small for 4 such parts per thread keeps one
 * equal part per thread. Parts are ranges of whole tiles, so the plan
 * changes no bit. */
enum { GUIDED_MIN = 16, REPACK_SPAN = NC };
#define MIN_PART 1048576.0
static double min_part = MIN_PART;

void tl__sgemm_min_part(double fmas) { min_part = fmas > 0 ? fmas : MIN_PART; }

static void plan_parts(gemm_job *g, int threads, int tiles)
{
    double fmas = (double)g->M * g->N * g->K;
    int unit = g->split_n ? g->isa->nr : g->isa->mr, most = tiles;
    bool shared_pack;
    if (g->split_n)
        shared_pack = g->ta || g->alpha != 1;
    else {
        shared_pack = !g->Bp && !g->b_in_place_ok;
        if (g->b_in_place_ok && !g->Bp)
            most = MC / g->isa->mr;
    }
    int least = (tiles + GUIDED_MIN * threads - 1) / (GUIDED_MIN * threads);
    int by_work = (int)(min_part / (fmas / tiles)) + 1;
    least = least > by_work ? least : by_work;
    if (shared_pack && least < (REPACK_SPAN + unit - 1) / unit)
        least = (REPACK_SPAN + unit - 1) / unit;
    least = least < most ? least : most;
    g->parts = 0;
    g->bound[0] = 0;
    if (fmas < SMALL_PRODUCT || threads < 2 || tiles < 2 || tiles < 4 * threads * least) {
        int parts = fmas < SMALL_PRODUCT || threads < 2 ? 1 : tiles < threads ? tiles : threads;
        for (int p = 1; p <= parts; p++)
            g->bound[p] = (int)((long long)tiles * p / parts);
        g->parts = parts;
        return;
    }
    for (int t0 = 0; t0 < tiles;) {
        int left = tiles - t0, n = (left + 2 * threads - 1) / (2 * threads);
        n = n < least ? least : n > most ? most : n;
        if (g->parts == MAX_PARTS - 1 || (left - n < least && left <= most))
            n = left;   /* no tail part smaller than the least */
        t0 += n;
        g->bound[++g->parts] = t0;
    }
}

static void run_job(gemm_job *g)
{
    int threads = tl_get_num_threads();
    int ntiles = (g->N + g->isa->nr - 1) / g->isa->nr, mtiles = (g->M + g->isa->mr - 1) / g->isa->mr;
    g->split_n = g->N >= g->M ? ntiles >= 2 : mtiles < 2;
    plan_parts(g, threads > MAX_PARTS ? MAX_PARTS : threads, g->split_n ? ntiles : mtiles);
    tl_parallel_run(g->parts, run_part, g);
}

void tl_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    /* B's rows a multiple of 64 floats apart would crowd into a fraction of
     * the L1 sets: B read in place only with another stride. */
    gemm_job g = {.ta = trans_a, .tb = trans_b, .M = M, .N = N, .K = K, .alpha = alpha,
                  .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb, .C = C, .ldc = ldc,
                  .isa = active_isa(), .b_in_place_ok = !trans_b && ldb % 64 != 0};
    run_job(&g);
}

/* ---- op(B) packed once for several products ---- */

/* The width of op(B) packed whole: its full panels and the last one unless
 * that one is narrow (run_block packs it per K slice if no dot products
 * take it). */
static size_t packed_width(const gemm_isa *isa, int N)
{
    int last = (N - 1) / isa->nr * isa->nr;
    return narrow_tail(isa, N) ? (size_t)last : (size_t)last + (size_t)panel_w(isa, N - last);
}

size_t tl_sgemm_packed_size(int K, int N)
{
    return K <= 0 || N <= 0 ? 0 : packed_width(active_isa(), N) * (size_t)K;
}

/* Part p packs its share of the K slices. */
static void pack_part(void *ctx, int part, int parts)
{
    const gemm_job *g = ctx;
    int nk = k_slices(g->K);
    for (int q = nk * part / parts; q < nk * (part + 1) / parts; q++) {
        int k0 = (int)((long long)g->K * q / nk), kc = (int)((long long)g->K * (q + 1) / nk) - k0;
        pack_b(g, 0, (int)g->npad < g->N ? (int)g->npad : g->N, k0, kc,
               (float *)g->Bp + (size_t)k0 * g->npad);
    }
}

/* Slice q of K (rows k0 .. k0 + kc) at dst + k0·npad: the panels pack_b
 * makes of all N columns, the one starting at column j at + j·kc. */
void tl_sgemm_pack_b(bool trans_b, int K, int N, const float *B, int ldb, float *dst)
{
    if (K <= 0 || N <= 0)
        return;
    gemm_job g = {.tb = trans_b, .N = N, .K = K, .B = B, .ldb = ldb, .isa = active_isa(),
                  .Bp = dst};
    g.npad = packed_width(g.isa, N);
    if (!g.npad)
        return;
    int nk = k_slices(K), threads = tl_get_num_threads();
    int parts = (double)K * N < SMALL_PRODUCT ? 1 : nk < threads * 4 ? nk : threads * 4;
    tl_parallel_run(parts, pack_part, &g);
}

void tl_sgemm_prepacked(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                        const float *A, int lda, const float *B, int ldb, const float *Bp,
                        float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0)
        return;
    if (K <= 0 || alpha == 0) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    gemm_job g = {.ta = trans_a, .tb = trans_b, .M = M, .N = N, .K = K, .alpha = alpha,
                  .beta = beta, .A = A, .B = B, .lda = lda, .ldb = ldb, .C = C, .ldc = ldc,
                  .isa = active_isa(), .Bp = Bp};
    g.npad = packed_width(g.isa, N);
    run_job(&g);
}
#endif
