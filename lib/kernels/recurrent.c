/* The per-step recurrent products of a time layer, on packed weights.
 *
 * Per time step a layer needs A[:, cols] += h·Wh[:, cols] (forward) and
 * dh[:, units] += dA·Whᵀ[:, units] (backward) with only N (<= ~32) rows.
 * BLAS re-packs the whole Wh on every such call, which costs about as much as
 * the product itself; here Wh is packed once per pass instead:
 *
 *   forward  panel (q, p): Wh[k, q·H + 16p + c]   k < H,   c < 16
 *   backward panel p:      Wh[16p + c, k]          k < G·H, c < 16
 *
 * each panel K-major (16 consecutive floats per k, one 64-byte line), zero
 * beyond the last unit. The micro-kernel keeps an MR x 16·NP block of C in
 * registers and per k loads NP panel lines and broadcasts MR elements of the
 * A rows. The same C source is compiled for AVX2+FMA (MR 6, NP 1: 12 ymm
 * accumulators of 16 available) and for AVX-512 (MR 8, NP 2: 16 zmm of 32)
 * through GCC vector types (8 and 16 floats); the CPU picks at run time. A unit range handed to
 * these functions starts on a panel boundary (tl_rec_split), so threads can
 * own disjoint units of every gate.
 *
 * Without a packed path (double build, no AVX2, short passes) the same calls
 * go to BLAS on the unpacked weights.
 */
#include <string.h>
#include "../internal.h"
#include "kernels.h"
#include "timelayers/threads.h"

enum { PANEL = 16 };

#ifdef TL_HAVE_AVX2
#define TL_PACKED 1

typedef float v8 __attribute__((vector_size(32)));
typedef float v16 __attribute__((vector_size(64)));

/* C[r, 0..w) += Σ_k A[r, k]·B[k, ·] for mr rows and nv vectors of L floats
 * per row: vector j reads line k at B + j·vstride + 16k and covers columns
 * j·L .. j·L + L-1 of C, of which w are valid in all. Always inlined with
 * constant mr and nv into the ISA-specific callers below, so acc lives in
 * registers (one v16 on AVX2 would be two ymm halves kept in memory). */
#define DEFINE_MICRO(name, V, L)                                                            \
    static inline __attribute__((always_inline)) void name(int mr, int nv, int K,           \
                                                           const float *A, int lda,         \
                                                           const float *B, size_t vstride,  \
                                                           float *C, int ldc, int w)        \
    {                                                                                        \
        V acc[8][2] = {{{0}}};                                                               \
        const float *B1 = B + vstride;                                                       \
        /* C's rows (a step's slice of the gate buffer, filled by the input                  \
         * projection long before) are usually out of cache: fetch them while                \
         * the k loop runs rather than stall on them at its end. */                          \
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)                                 \
        {                                                                                    \
            __builtin_prefetch(C + (size_t)r * ldc, 1);                                      \
            __builtin_prefetch(C + (size_t)r * ldc + L * nv - 1, 1);                         \
        }                                                                                    \
        for (int k = 0; k < K; k++) {                                                        \
            V b0 = *(const V *)(B + (size_t)PANEL * k);                                      \
            V b1 = nv == 2 ? *(const V *)(B1 + (size_t)PANEL * k) : b0;                      \
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)                             \
            {                                                                                \
                float a = A[(size_t)r * lda + k];                                            \
                acc[r][0] += a * b0;                                                         \
                if (nv == 2)                                                                 \
                    acc[r][1] += a * b1;                                                     \
            }                                                                                \
        }                                                                                    \
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++)                                 \
            _Pragma("GCC unroll 2") for (int j = 0; j < nv; j++)                             \
            {                                                                                \
                float *c = C + (size_t)r * ldc + L * j;                                      \
                int wj = w - L * j < L ? w - L * j : L;                                      \
                if (wj == L) {                                                               \
                    V old;                                                                   \
                    memcpy(&old, c, sizeof old);                                             \
                    old += acc[r][j];                                                        \
                    memcpy(c, &old, sizeof old);                                             \
                } else {                                                                     \
                    float tmp[L];                                                            \
                    memcpy(tmp, &acc[r][j], sizeof tmp);                                     \
                    for (int q = 0; q < wj; q++)                                             \
                        c[q] += tmp[q];                                                      \
                }                                                                            \
            }                                                                                \
    }
DEFINE_MICRO(micro8, v8, 8)
DEFINE_MICRO(micro16, v16, 16)

/* The leftover rows (fewer than MR): one constant-size instance per count. */
#define DEFINE_ROWS(name, target, micro, MR)                                                \
    static target void name##_rows(int mr, int nv, int K, const float *A, int lda,           \
                                   const float *B, size_t vstride, float *C, int ldc, int w) \
    {                                                                                        \
        _Static_assert(MR <= 8, "micro keeps at most 8 rows");                               \
        switch (mr * 2 + (nv - 1)) {                                                         \
        case 2: micro(1, 1, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 3: micro(1, 2, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 4: micro(2, 1, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 5: micro(2, 2, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 6: micro(3, 1, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 7: micro(3, 2, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 8: micro(4, 1, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 9: micro(4, 2, K, A, lda, B, vstride, C, ldc, w); break;                        \
        case 10: micro(5, 1, K, A, lda, B, vstride, C, ldc, w); break;                       \
        case 11: micro(5, 2, K, A, lda, B, vstride, C, ldc, w); break;                       \
        case 12: micro(6, 1, K, A, lda, B, vstride, C, ldc, w); break;                       \
        case 13: micro(6, 2, K, A, lda, B, vstride, C, ldc, w); break;                       \
        case 14: micro(7, 1, K, A, lda, B, vstride, C, ldc, w); break;                       \
        default: micro(7, 2, K, A, lda, B, vstride, C, ldc, w); break;                       \
        }                                                                                    \
    }

/* C[:, 0..w) += A · (npanels consecutive panels, bstride floats apart), N
 * rows: blocks of PPB panels (two vectors of L floats per row: one panel on
 * AVX2, two on AVX-512), MR rows at a time, then the remaining rows. */
#define DEFINE_PANELS(name, target, micro, MR, L, PPB)                                      \
    static target void name(int N, int K, const float *A, int lda, const float *B,          \
                            size_t bstride, int npanels, float *C, int ldc, int w)           \
    {                                                                                        \
        size_t vstride = PPB == 1 ? (size_t)L : bstride;                                     \
        for (int p = 0; p < npanels; p += PPB) {                                             \
            int np = npanels - p >= PPB ? PPB : 1, nv = np * PANEL / L;                      \
            int wp = w - PANEL * p < PANEL * np ? w - PANEL * p : PANEL * np;                \
            const float *Bp = B + bstride * (size_t)p;                                       \
            float *Cp = C + PANEL * p;                                                       \
            int r = 0, full = N / MR * MR;                                                   \
            /* AVX2: a last block of 1 or 2 rows keeps 2 or 4 accumulators,                  \
             * too few to cover the multiply-add latency; it and the last                    \
             * full block run as 4 + 3 or 4 + 4 rows instead (N = 20, 32:                   \
             * 4 + 4 after 12 or 24 rows). Each row's sums are the same. */                  \
            if (MR == 6 && full >= MR && N - full <= 2)                                      \
                full -= MR;                                                                  \
            for (; r < full; r += MR)                                                        \
                if (nv == 2)                                                                 \
                    micro(MR, 2, K, A + (size_t)r * lda, lda, Bp, vstride,                   \
                          Cp + (size_t)r * ldc, ldc, wp);                                    \
                else                                                                         \
                    micro(MR, 1, K, A + (size_t)r * lda, lda, Bp, vstride,                   \
                          Cp + (size_t)r * ldc, ldc, wp);                                    \
            if (N - r > MR) {                                                                \
                name##_rows(4, nv, K, A + (size_t)r * lda, lda, Bp, vstride,                 \
                            Cp + (size_t)r * ldc, ldc, wp);                                  \
                r += 4;                                                                      \
            }                                                                                \
            if (r < N)                                                                       \
                name##_rows(N - r, nv, K, A + (size_t)r * lda, lda, Bp, vstride,             \
                            Cp + (size_t)r * ldc, ldc, wp);                                  \
        }                                                                                    \
    }

#define AVX2_T __attribute__((target("avx2,fma")))
#define AVX512_T __attribute__((target("avx512f,avx512vl,fma")))
DEFINE_ROWS(panels_avx2, AVX2_T, micro8, 6)
DEFINE_PANELS(panels_avx2, AVX2_T, micro8, 6, 8, 1)
DEFINE_ROWS(panels_avx512, AVX512_T, micro16, 8)
DEFINE_PANELS(panels_avx512, AVX512_T, micro16, 8, 16, 2)

static void run_panels(int N, int K, const float *A, int lda, const float *B, size_t bstride,
                       int npanels, float *C, int ldc, int w)
{
    if (tl_simd_active() == TL_SIMD_AVX512)
        panels_avx512(N, K, A, lda, B, bstride, npanels, C, ldc, w);
    else
        panels_avx2(N, K, A, lda, B, bstride, npanels, C, ldc, w);
}

#endif

static int panels_of(int H) { return (H + PANEL - 1) / PANEL; }

/* A single row is a matrix-vector product, which reads Wh once either way:
 * BLAS (gemv) does it without the cost of packing. Generation runs so. The
 * choice depends on N alone, so that a sequence fed in chunks gives the same
 * bits as fed whole. */
static bool use_packed(int N)
{
#ifdef TL_PACKED
    return N >= 2 && tl_simd_active() >= TL_SIMD_AVX2;
#else
    (void)N;
    return false;
#endif
}

#ifdef TL_PACKED
typedef struct {
    const tl_rec *r;
    float *pack;
    bool backward;
} pack_job;

/* Panels [P·part/parts, P·(part+1)/parts) of the layout of the pass. */
static void pack_part(void *ctx, int part, int parts)
{
    const pack_job *job = ctx;
    const float *Wh = job->r->Wh;
    int H = job->r->H, G = job->r->G, P = panels_of(H), W = G * H;
    int p0 = (int)((long long)P * part / parts), p1 = (int)((long long)P * (part + 1) / parts);
    if (job->backward) {
        /* panel p, line k: Wh[16p + c, k] */
        for (int p = p0; p < p1; p++)
            for (int k = 0; k < W; k++) {
                float *line = job->pack + ((size_t)p * W + k) * PANEL;
                for (int c = 0; c < PANEL; c++) {
                    int u = p * PANEL + c;
                    line[c] = u < H ? Wh[(size_t)u * W + k] : 0;
                }
            }
        return;
    }
    /* panel (q, p), line k: Wh[k, q·H + 16p + c] */
    for (int q = 0; q < G; q++)
        for (int p = p0; p < p1; p++)
            for (int k = 0; k < H; k++) {
                float *line = job->pack + (((size_t)q * P + p) * H + k) * PANEL;
                int u0 = p * PANEL, w = H - u0 < PANEL ? H - u0 : PANEL;
                memcpy(line, Wh + (size_t)k * W + (size_t)q * H + u0, (size_t)w * sizeof *line);
                memset(line + w, 0, (size_t)(PANEL - w) * sizeof *line);
            }
}
#endif

/* Both layouts hold P panels of W = G·H lines (forward: G blocks of P panels
 * of H lines), so one size serves both passes. */
size_t tl_rec_pack_floats(int H, int G, int N)
{
    return use_packed(N) ? (size_t)panels_of(H) * PANEL * (size_t)G * (size_t)H : 0;
}

void tl_rec_prepare(tl_rec *r, const tl_real *Wh, int H, int G, bool backward, int N,
                    float *pack)
{
    *r = (tl_rec){.Wh = Wh, .H = H, .G = G, .packed = use_packed(N), .pack = pack};
#ifdef TL_PACKED
    if (!r->packed)
        return;
    /* Packing copies all of Wh (4 MB for H = 512, a millisecond): on the
     * pool, by panels, unless it is small. */
    pack_job job = {r, pack, backward};
    size_t floats = tl_rec_pack_floats(H, G, N);
    tl_parallel_run(floats >= 65536 ? 2 * tl_get_num_threads() : 1, pack_part, &job);
#else
    (void)backward;
#endif
}

int tl_rec_parts(const tl_rec *r, int N)
{
    /* Below 2e6 flops a step the hand-over costs more than it saves: config
     * A's steps (N = 20, H = 100: 1.6e6 flops for the LSTM, 1.2e6 for the
     * GRU, 4e5 for the RNN) run faster on one thread (Zen 5, 2 threads: the
     * LSTM's forward 1.27-1.32 -> 0.96-1.02 ms per training step, its
     * backward 1.90-2.21 -> 1.68-1.70 ms; docs/performance.md). Up to
     * four parts per thread, whole panels each. The layers run them homed
     * (tl_parallel_run_homed: each thread keeps the same units, and so the
     * same panels and state, from step to step) and a thread that is done
     * takes the others' last parts, so one held up (a busy machine) delays
     * the step by a part rather than by half of it. */
    int P = panels_of(r->H), threads = tl_get_num_threads();
    if (!r->packed || threads == 1 || 2.0 * N * r->H * r->G * r->H < 2e6)
        return 1;
    int per_part = (P + 4 * threads - 1) / (4 * threads);
    return (P + per_part - 1) / per_part;
}

void tl_rec_split(const tl_rec *r, int part, int parts, int *u0, int *u1)
{
    int P = panels_of(r->H);
    int p0 = (int)((long long)P * part / parts), p1 = (int)((long long)P * (part + 1) / parts);
    *u0 = p0 * PANEL;
    *u1 = p1 * PANEL < r->H ? p1 * PANEL : r->H;
}

void tl_rec_forward(const tl_rec *r, int N, const tl_real *h, int ldh, int u0, int u1,
                    tl_real *a, int lda)
{
    int H = r->H, W = r->G * H;
    if (u0 >= u1)
        return;
#ifdef TL_PACKED
    if (r->packed) {
        int P = panels_of(H), p0 = u0 / PANEL, np = panels_of(u1) - p0;
        size_t bstride = (size_t)H * PANEL;
        for (int q = 0; q < r->G; q++)
            run_panels(N, H, h, ldh, r->pack + ((size_t)q * P + p0) * bstride, bstride, np,
                       a + (size_t)q * H + u0, lda, u1 - u0);
        return;
    }
#endif
    if (u0 == 0 && u1 == H) {
        tl_gemm(false, false, N, W, H, 1, h, ldh, r->Wh, W, 1, a, lda);
        return;
    }
    for (int q = 0; q < r->G; q++)
        tl_gemm(false, false, N, u1 - u0, H, 1, h, ldh, r->Wh + (size_t)q * H + u0, W, 1,
                a + (size_t)q * H + u0, lda);
}

void tl_rec_backward(const tl_rec *r, int N, const tl_real *dA, int ldda, int u0, int u1,
                     tl_real *dh, int lddh)
{
    int H = r->H, W = r->G * H;
    if (u0 >= u1)
        return;
#ifdef TL_PACKED
    if (r->packed) {
        size_t bstride = (size_t)W * PANEL;
        run_panels(N, W, dA, ldda, r->pack + (size_t)(u0 / PANEL) * bstride, bstride,
                   panels_of(u1) - u0 / PANEL, dh + u0, lddh, u1 - u0);
        return;
    }
#endif
    tl_gemm(false, true, N, u1 - u0, W, 1, dA, ldda, r->Wh + (size_t)u0 * W, W, 1, dh + u0, lddh);
}
