/* One output row of a GEMM, c = alpha · a·B + beta · c with B (K, n)
 * row-major: the product of batch-1 generation (the affine layer over the
 * vocabulary, a recurrent layer's input and recurrent projections).
 *
 * Each weight is read once per call and used once, so the product runs at
 * the speed B streams from memory (config C's affine layer is 26 MB). The
 * kernel walks B in blocks of ROWS = 8 rows, all eight rows side by side
 * (eight sequential streams, which the hardware prefetchers follow), and
 * adds their contribution to c at once:
 *
 *   c[j] = c[j] + Σ_{i<8} (alpha·a[k+i])·B[k+i, j]
 *
 * as two interleaved partial sums (rows 0,2,4,6 on c, rows 1,3,5,7 on a
 * second register) joined at the end of the block, one chunk of columns at a
 * time (all of B's rows for a chunk, then the next); the first block starts
 * from beta·c (from 0 when beta = 0, without reading c); leftover rows one
 * at a time. Every column goes through the same operations in the same
 * order whatever chunk it is in. The AVX-512 (16 lanes) and AVX2 (8 lanes)
 * versions use fused multiply-adds and masked loads for the last columns;
 * the portable one is the same loop in C. OpenBLAS's sgemv did the same
 * work about 20 % slower here (measured on Zen 5, 650 x 10000).
 *
 * B is float (tl_gemv_rows) or bf16 (tl_gemv_rows_bf16: half the bytes to
 * stream, for generation with bf16 weights). The kernels are written once
 * (DEFINE_* below) over how a vector of B is loaded: a bf16 value is the
 * upper half of a float, so widening it to 32 bits and shifting it left by
 * 16 gives that float exactly, and everything after the load is the float
 * kernel's arithmetic.
 */
#include <stdatomic.h>
#include <stdint.h>
#include "kernels.h"
#include "../internal.h"
#include "timelayers/threads.h"

#ifndef TL_REAL_DOUBLE

#ifdef TL_HAVE_AVX2
#include <immintrin.h>
#endif

enum { ROWS = 8, CHUNK = 1024 };

typedef struct {
    int n, K;
    float alpha, beta;
    const float *a;
    int inc;
    const void *B;  /* float or uint16_t (bf16), as the kernel expects */
    int ldb;
    float *c;
    bool reversed;  /* walk the chunks (and a thread's parts) from the last */
} gemv_job;

/* Columns [j0, j1) of the job. */
typedef void (*gemv_fn)(const gemv_job *g, int j0, int j1);

#define GET_F32(p) (*(p))
#define GET_BF16(p) tl_bf16_to_float(*(p))

#define DEFINE_PORTABLE(NAME, BT, GET)                                                     \
    static void NAME(const gemv_job *g, int j0, int j1)                                    \
    {                                                                                      \
        int K = g->K, ldb = g->ldb;                                                        \
        float *c = g->c;                                                                   \
        if (g->beta == 0)                                                                  \
            for (int j = j0; j < j1; j++)                                                  \
                c[j] = 0;                                                                  \
        else if (g->beta != 1)                                                             \
            for (int j = j0; j < j1; j++)                                                  \
                c[j] *= g->beta;                                                           \
        int k = 0;                                                                         \
        for (; k + ROWS <= K; k += ROWS) {                                                 \
            float x[ROWS];                                                                 \
            for (int i = 0; i < ROWS; i++)                                                 \
                x[i] = g->alpha * g->a[(size_t)(k + i) * g->inc];                          \
            const BT *w = (const BT *)g->B + (size_t)k * ldb;                              \
            for (int j = j0; j < j1; j++) {                                                \
                float s = c[j] + x[0] * GET(w + j), t = x[1] * GET(w + ldb + j);           \
                s += x[2] * GET(w + 2 * ldb + j);                                          \
                t += x[3] * GET(w + 3 * ldb + j);                                          \
                s += x[4] * GET(w + 4 * ldb + j);                                          \
                t += x[5] * GET(w + 5 * ldb + j);                                          \
                s += x[6] * GET(w + 6 * ldb + j);                                          \
                t += x[7] * GET(w + 7 * ldb + j);                                          \
                c[j] = s + t;                                                              \
            }                                                                              \
        }                                                                                  \
        for (; k < K; k++) {                                                               \
            float x = g->alpha * g->a[(size_t)k * g->inc];                                 \
            const BT *w = (const BT *)g->B + (size_t)k * ldb;                              \
            for (int j = j0; j < j1; j++)                                                  \
                c[j] += x * GET(w + j);                                                    \
        }                                                                                  \
    }

DEFINE_PORTABLE(gemv_portable, float, GET_F32)
DEFINE_PORTABLE(gemv_bf16_portable, uint16_t, GET_BF16)

#ifdef TL_HAVE_AVX2
#define AVX2_T __attribute__((target("avx2,fma")))
#define AVX512_T __attribute__((target("avx512f,avx512vl,avx512bw,fma")))

/* One vector of columns [j, j + lanes) under mask m: the block's update. */
#define BLOCK_BODY(V, LOAD, FMA, MUL, ADD, STORE)                                  \
    do {                                                                           \
        V s = FMA(x0, LOAD(w + j), cj);                                            \
        V t = MUL(x1, LOAD(w + ldb + j));                                          \
        s = FMA(x2, LOAD(w + 2 * (size_t)ldb + j), s);                             \
        t = FMA(x3, LOAD(w + 3 * (size_t)ldb + j), t);                             \
        s = FMA(x4, LOAD(w + 4 * (size_t)ldb + j), s);                             \
        t = FMA(x5, LOAD(w + 5 * (size_t)ldb + j), t);                             \
        s = FMA(x6, LOAD(w + 6 * (size_t)ldb + j), s);                             \
        t = FMA(x7, LOAD(w + 7 * (size_t)ldb + j), t);                             \
        STORE(c + j, ADD(s, t));                                                   \
    } while (0)

/* Loads of 16 (AVX-512) or 8 (AVX2) columns of B, and of the first `tail`
 * of them (mask m); the others are 0. */
#define F32_512(p) _mm512_loadu_ps(p)
#define F32_512_TAIL(p) _mm512_maskz_loadu_ps(m, p)
#define BF16_WIDEN_512(v) _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16))
#define BF16_512(p) BF16_WIDEN_512(_mm256_loadu_si256((const __m256i *)(p)))
#define BF16_512_TAIL(p) BF16_WIDEN_512(_mm256_maskz_loadu_epi16(m, p))
#define F32_256(p) _mm256_loadu_ps(p)
#define F32_256_TAIL(p) _mm256_maskload_ps(p, m)
#define BF16_WIDEN_256(v) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(v), 16))
#define BF16_256(p) BF16_WIDEN_256(_mm_loadu_si128((const __m128i *)(p)))
#define BF16_256_TAIL(p) BF16_WIDEN_256(bf16_tail_128(p, tail))

/* AVX2 has no 16-bit masked load: the last columns go through a copy. */
static AVX2_T __m128i bf16_tail_128(const uint16_t *p, int tail)
{
    uint16_t v[8] = {0};
    memcpy(v, p, (size_t)tail * sizeof *v);
    return _mm_loadu_si128((const __m128i *)v);
}

#define DEFINE_AVX512(NAME, BT, LOAD, LOAD_TAIL)                                           \
    static AVX512_T void NAME(const gemv_job *g, int j0, int j1)                           \
    {                                                                                      \
        int K = g->K, ldb = g->ldb;                                                        \
        float *c = g->c;                                                                   \
        __m512 beta = _mm512_set1_ps(g->beta);                                             \
        int tail = (j1 - j0) % 16, jend = j1 - tail;                                       \
        __mmask16 m = (__mmask16)((1u << tail) - 1);                                       \
        if (g->beta != 1) {                                                                \
            for (int j = j0; j < jend; j += 16)                                            \
                _mm512_storeu_ps(c + j, g->beta == 0 ? _mm512_setzero_ps()                 \
                                 : _mm512_mul_ps(beta, _mm512_loadu_ps(c + j)));           \
            if (tail)                                                                      \
                _mm512_mask_storeu_ps(c + jend, m, g->beta == 0 ? _mm512_setzero_ps()      \
                                      : _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(m,       \
                                                                                c + jend))); \
        }                                                                                  \
        int k = 0;                                                                         \
        for (; k + ROWS <= K; k += ROWS) {                                                 \
            const float *a = g->a + (size_t)k * g->inc;                                    \
            size_t inc = (size_t)g->inc;                                                   \
            float al = g->alpha;                                                           \
            __m512 x0 = _mm512_set1_ps(al * a[0]), x1 = _mm512_set1_ps(al * a[inc]);       \
            __m512 x2 = _mm512_set1_ps(al * a[2 * inc]), x3 = _mm512_set1_ps(al * a[3 * inc]); \
            __m512 x4 = _mm512_set1_ps(al * a[4 * inc]), x5 = _mm512_set1_ps(al * a[5 * inc]); \
            __m512 x6 = _mm512_set1_ps(al * a[6 * inc]), x7 = _mm512_set1_ps(al * a[7 * inc]); \
            const BT *w = (const BT *)g->B + (size_t)k * ldb;                              \
            int j = j0;                                                                    \
            for (; j < jend; j += 16) {                                                    \
                __m512 cj = _mm512_loadu_ps(c + j);                                        \
                BLOCK_BODY(__m512, LOAD, _mm512_fmadd_ps, _mm512_mul_ps, _mm512_add_ps,    \
                           _mm512_storeu_ps);                                              \
            }                                                                              \
            if (tail) {                                                                    \
                __m512 cj = _mm512_maskz_loadu_ps(m, c + j);                               \
                BLOCK_BODY(__m512, LOAD_TAIL, _mm512_fmadd_ps, _mm512_mul_ps,              \
                           _mm512_add_ps, STORE_512_TAIL);                                 \
            }                                                                              \
        }                                                                                  \
        for (; k < K; k++) {                                                               \
            __m512 x = _mm512_set1_ps(g->alpha * g->a[(size_t)k * g->inc]);                \
            const BT *w = (const BT *)g->B + (size_t)k * ldb;                              \
            int j = j0;                                                                    \
            for (; j < jend; j += 16)                                                      \
                _mm512_storeu_ps(c + j, _mm512_fmadd_ps(x, LOAD(w + j),                    \
                                                        _mm512_loadu_ps(c + j)));          \
            if (tail)                                                                      \
                _mm512_mask_storeu_ps(c + j, m, _mm512_fmadd_ps(x, LOAD_TAIL(w + j),       \
                                                                _mm512_maskz_loadu_ps(m, c + j))); \
        }                                                                                  \
    }
#define STORE_512_TAIL(p, v) _mm512_mask_storeu_ps(p, m, v)

#define DEFINE_AVX2(NAME, BT, LOAD, LOAD_TAIL)                                             \
    static AVX2_T void NAME(const gemv_job *g, int j0, int j1)                             \
    {                                                                                      \
        int K = g->K, ldb = g->ldb;                                                        \
        float *c = g->c;                                                                   \
        __m256 beta = _mm256_set1_ps(g->beta);                                             \
        int tail = (j1 - j0) % 8, jend = j1 - tail;                                        \
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail),                            \
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));         \
        if (g->beta != 1) {                                                                \
            for (int j = j0; j < jend; j += 8)                                             \
                _mm256_storeu_ps(c + j, g->beta == 0 ? _mm256_setzero_ps()                 \
                                 : _mm256_mul_ps(beta, _mm256_loadu_ps(c + j)));           \
            if (tail)                                                                      \
                _mm256_maskstore_ps(c + jend, m, g->beta == 0 ? _mm256_setzero_ps()        \
                                    : _mm256_mul_ps(beta, _mm256_maskload_ps(c + jend, m))); \
        }                                                                                  \
        int k = 0;                                                                         \
        for (; k + ROWS <= K; k += ROWS) {                                                 \
            const float *a = g->a + (size_t)k * g->inc;                                    \
            size_t inc = (size_t)g->inc;                                                   \
            float al = g->alpha;                                                           \
            __m256 x0 = _mm256_set1_ps(al * a[0]), x1 = _mm256_set1_ps(al * a[inc]);       \
            __m256 x2 = _mm256_set1_ps(al * a[2 * inc]), x3 = _mm256_set1_ps(al * a[3 * inc]); \
            __m256 x4 = _mm256_set1_ps(al * a[4 * inc]), x5 = _mm256_set1_ps(al * a[5 * inc]); \
            __m256 x6 = _mm256_set1_ps(al * a[6 * inc]), x7 = _mm256_set1_ps(al * a[7 * inc]); \
            const BT *w = (const BT *)g->B + (size_t)k * ldb;                              \
            int j = j0;                                                                    \
            for (; j < jend; j += 8) {                                                     \
                __m256 cj = _mm256_loadu_ps(c + j);                                        \
                BLOCK_BODY(__m256, LOAD, _mm256_fmadd_ps, _mm256_mul_ps, _mm256_add_ps,    \
                           _mm256_storeu_ps);                                              \
            }                                                                              \
            if (tail) {                                                                    \
                __m256 cj = _mm256_maskload_ps(c + j, m);                                  \
                BLOCK_BODY(__m256, LOAD_TAIL, _mm256_fmadd_ps, _mm256_mul_ps,              \
                           _mm256_add_ps, STORE_256_TAIL);                                 \
            }                                                                              \
        }                                                                                  \
        for (; k < K; k++) {                                                               \
            __m256 x = _mm256_set1_ps(g->alpha * g->a[(size_t)k * g->inc]);                \
            const BT *w = (const BT *)g->B + (size_t)k * ldb;                              \
            int j = j0;                                                                    \
            for (; j < jend; j += 8)                                                       \
                _mm256_storeu_ps(c + j, _mm256_fmadd_ps(x, LOAD(w + j),                    \
                                                        _mm256_loadu_ps(c + j)));          \
            if (tail)                                                                      \
                _mm256_maskstore_ps(c + j, m, _mm256_fmadd_ps(x, LOAD_TAIL(w + j),         \
                                                              _mm256_maskload_ps(c + j, m))); \
        }                                                                                  \
    }
#define STORE_256_TAIL(p, v) _mm256_maskstore_ps(p, m, v)

DEFINE_AVX512(gemv_avx512, float, F32_512, F32_512_TAIL)
DEFINE_AVX512(gemv_bf16_avx512, uint16_t, BF16_512, BF16_512_TAIL)
DEFINE_AVX2(gemv_avx2, float, F32_256, F32_256_TAIL)
DEFINE_AVX2(gemv_bf16_avx2, uint16_t, BF16_256, BF16_256_TAIL)
#endif

/* The kernel of the active SIMD level for float (bf16 = false) or bf16 B.
 * The bf16 AVX-512 kernel's masked 16-bit loads need AVX-512 BW as well
 * (every AVX-512 CPU since Skylake-SP has it); without it the AVX2 one runs. */
static gemv_fn kernel(bool bf16)
{
#ifdef TL_HAVE_AVX2
    switch (tl_simd_active()) {
    case TL_SIMD_AVX512:
        if (!bf16)
            return gemv_avx512;
        if (__builtin_cpu_supports("avx512bw"))
            return gemv_bf16_avx512;
        return gemv_bf16_avx2;
    case TL_SIMD_AVX2: return bf16 ? gemv_bf16_avx2 : gemv_avx2;
    default: break;
    }
#endif
    return bf16 ? gemv_bf16_portable : gemv_portable;
}

/* Columns [j0, j1) in chunks of CHUNK columns, all rows of B per chunk: the
 * chunk of c (4 KB) stays in L1 while B streams (100 x 10000: 51 -> 45 us
 * alone). A reversed pass takes the same chunks from the last. */
static void run_columns(gemv_fn fn, const gemv_job *g, int j0, int j1)
{
    int chunks = (j1 - j0 + CHUNK - 1) / CHUNK;
    for (int i = 0; i < chunks; i++) {
        int j = j0 + (g->reversed ? chunks - 1 - i : i) * CHUNK;
        fn(g, j, j1 - j > CHUNK ? j + CHUNK : j1);
    }
}

/* Generation multiplies by the same B at every token. Zen 5's L2 holds 1 MB
 * a core, less than a thread's share of config A's or B's weights (2-4 MB):
 * read in the same order every time, each pass evicts what the next one
 * needs first, and all of B comes from L3. So every other pass over a given
 * B runs backwards (its thread's parts, and the chunks within each part,
 * from the last) and starts on what the previous pass left in L2: one
 * thread, 100 x 10000 55 -> 50 us, 512 x 2048 62 -> 60 (docs/performance.md,
 * "Generation at batch 1: the passes alternate"). Every column is computed
 * by the same operations either way, and the row split's partial rows are
 * summed in the same order: the bits do not depend on the direction. One
 * bit per B, hashed from its address: a collision costs only the
 * alternation. */
static _Atomic uint64_t direction;

static bool next_reversed(const void *B)
{
    uint64_t bit = 1ull << ((uint64_t)((uintptr_t)B >> 6) * 0x9e3779b97f4a7c15ull >> 58);
    return atomic_fetch_xor_explicit(&direction, bit, memory_order_relaxed) & bit;
}

/* The part to run for claim `part` of `parts`: itself, or in a reversed pass
 * its mirror within the block of parts that tl_parallel_run_homed gives its
 * thread ([parts·b/threads, parts·(b+1)/threads) to thread b), so that each
 * thread takes its own share of B from the end. */
static int homed_part(const gemv_job *g, int part, int parts)
{
    if (!g->reversed)
        return part;
    int threads = tl_get_num_threads(), b = 0;
    while (b + 1 < threads && (long long)parts * (b + 1) / threads <= part)
        b++;
    int lo = (int)((long long)parts * b / threads);
    int hi = (int)((long long)parts * (b + 1) / threads);
    return lo + hi - 1 - part;
}

/* Two ways to share a large product between the threads of the pool
 * (tl_parallel_run_homed: each thread takes the same block of parts at every
 * call, so its share of B stays in its own caches from token to token; a
 * late worker's parts are taken by the others), both with the same bits for
 * any thread count:
 *
 * - by rows, for B up to ROW_SPLIT_N columns and ROW_SPLIT_K rows or more
 *   (the recurrent projections): SEGS segments of whole 8-row blocks, each
 *   a contiguous stretch of B that its thread streams from start to end.
 *   Segment 0 adds into beta·c, segment s > 0 into its own partial row
 *   (from 0, on the caller's stack), and c += partial 1, += partial 2, ...
 *   in that order at the end. The segments are a function of the shape
 *   alone, so one thread runs the same operations in turn.
 * - by columns, for wider or shorter B (the affine layer over a
 *   vocabulary, a small input projection): about PER_THREAD parts per
 *   thread of at least PART_MIN columns, a multiple of 16 (whole vectors,
 *   whole cache lines of c). Every column goes through the same operations
 *   whichever thread runs it.
 *
 * Only products of SPLIT_MIN multiply-adds or more are split. The row split
 * reads B in long sequential runs; a column part reads one run per row of
 * B, which the prefetchers follow worse when it is short (512 x 2048 on 2
 * threads, best of 400: by rows 34-36 us, by columns in parts of 1,024
 * 36-42, of 256 59-65, one thread 49-57; docs/performance.md, "Generation
 * at batch 1 on two threads"). */
enum {
    SPLIT_MIN = 1 << 16, PART_MIN = 1024, PER_THREAD = 4,
    ROW_SPLIT_N = 4096, ROW_SPLIT_K = 256, SEGS = 4
};

typedef struct {
    gemv_fn fn;
    const gemv_job *g;
    int width;         /* by columns: columns per part */
    int rows;          /* by rows: rows per segment, a multiple of ROWS */
    size_t esize;      /* bytes per element of B */
    float *partial;    /* by rows: SEGS - 1 rows of n */
} split;

static void run_columns_part(void *ctx, int part, int parts)
{
    const split *s = ctx;
    part = homed_part(s->g, part, parts);
    int j0 = part * s->width, j1 = s->g->n - j0 > s->width ? j0 + s->width : s->g->n;
    run_columns(s->fn, s->g, j0, j1);
}

static void run_rows_part(void *ctx, int part, int parts)
{
    const split *s = ctx;
    part = homed_part(s->g, part, parts);
    gemv_job g = *s->g;
    int k0 = part * s->rows;
    g.K = g.K - k0 > s->rows ? s->rows : g.K - k0;
    g.a += (size_t)k0 * g.inc;
    g.B = (const char *)g.B + (size_t)k0 * g.ldb * s->esize;
    if (part) {
        g.beta = 0;
        g.c = s->partial + (size_t)(part - 1) * g.n;
    }
    run_columns(s->fn, &g, 0, g.n);
}

/* The row split, with the partial rows on this thread's stack. */
static void run_rows(gemv_fn fn, const gemv_job *g, size_t esize)
{
    float partial[(SEGS - 1) * ROW_SPLIT_N];
    int rows = ((g->K + SEGS - 1) / SEGS + ROWS - 1) / ROWS * ROWS;
    int segs = (g->K + rows - 1) / rows;
    split s = {fn, g, 0, rows, esize, partial};
    tl_parallel_run_homed(segs, run_rows_part, &s);
    for (int p = 0; p + 1 < segs; p++) {
        const float *q = partial + (size_t)p * g->n;
        for (int j = 0; j < g->n; j++)
            g->c[j] += q[j];
    }
}

static void run(gemv_job g, bool bf16)
{
    gemv_fn fn = kernel(bf16);
    g.reversed = next_reversed(g.B);
    bool large = (size_t)g.n * (size_t)g.K >= SPLIT_MIN;
    if (large && g.n <= ROW_SPLIT_N && g.K >= ROW_SPLIT_K) {
        run_rows(fn, &g, bf16 ? sizeof(uint16_t) : sizeof(float));
        return;
    }
    int threads = tl_get_num_threads();
    if (large && threads > 1 && g.n >= 2 * PART_MIN) {
        int parts = threads * PER_THREAD < g.n / PART_MIN ? threads * PER_THREAD
                                                          : g.n / PART_MIN;
        int width = ((g.n + parts - 1) / parts + 15) / 16 * 16;
        split s = {fn, &g, width, 0, 0, NULL};
        tl_parallel_run_homed((g.n + width - 1) / width, run_columns_part, &s);
        return;
    }
    run_columns(fn, &g, 0, g.n);
}

void tl_gemv_rows(int n, int K, float alpha, const float *a, int inc, const float *B, int ldb,
                  float beta, float *c)
{
    run((gemv_job){n, K, alpha, beta, a, inc, B, ldb, c, false}, false);
}

void tl_gemv_rows_bf16(int n, int K, float alpha, const float *a, int inc, const uint16_t *B,
                       int ldb, float beta, float *c)
{
    run((gemv_job){n, K, alpha, beta, a, inc, B, ldb, c, false}, true);
}
#endif
