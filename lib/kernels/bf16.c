/* bf16 weights for the one-row products of generation: the rounding from
 * float, and the set of copies that stand in for a model's float weights
 * while tl_generate_bf16 runs (kernels.h has the contract).
 *
 * Why a substitution looked up by tl_gemm rather than a bf16 path in every
 * layer: the layers' forward code stays the one statement of each cell's
 * math, and generation changes only where the weights of its one-row
 * products are read from. The lookup is a thread-local pointer, NULL
 * outside tl_generate_bf16, so other products pay one test. Generation's
 * one-row products are called on the generating thread (a step of one row
 * is one part, which tl_parallel_run runs in place) and look their copy up
 * there, before gemv.c splits a large one over the pool; so a thread-local
 * set reaches all of them and two threads generating from two models do not
 * see each other's.
 */
#include "../internal.h"
#include "kernels.h"

#ifndef TL_REAL_DOUBLE

/* The rounding on the bits, without branches, so that the copying loops
 * below vectorise (a weight matrix is millions of values, converted at
 * every tl_generate_bf16 call). */
static inline uint16_t round_bits(uint32_t u)
{
    /* Round to nearest, ties to even: add just under half a unit of the
     * kept part, plus one when the kept part is odd. A carry into the
     * exponent is the correct rounding (up to infinity past the largest). */
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    /* A NaN keeps its sign and upper payload with the quiet bit set, so
     * that neither truncation nor the carry can make it an infinity. */
    uint32_t nan = (u >> 16) | 0x0040u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

uint16_t tl_bf16_from_float(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return round_bits(u);
}

/* dst[j] = bf16 of src[j·stride] for j < n. */
TL_MULTIVERSION
static void round_run(const float *src, size_t stride, int n, uint16_t *dst)
{
    for (int j = 0; j < n; j++) {
        uint32_t u;
        memcpy(&u, src + (size_t)j * stride, sizeof u);
        dst[j] = round_bits(u);
    }
}

/* dst (K x N row-major) = bf16 of op(W). Transposed, in blocks of TILE
 * columns of dst, so that each row of W read serves TILE stores that fill
 * whole cache lines of dst. */
enum { TILE = 32 };

static void round_copy(const float *W, bool trans, int K, int N, int ld, uint16_t *dst)
{
    if (!trans) {
        for (int k = 0; k < K; k++)
            round_run(W + (size_t)k * ld, 1, N, dst + (size_t)k * N);
        return;
    }
    for (int j0 = 0; j0 < N; j0 += TILE) {
        int j1 = N - j0 < TILE ? N : j0 + TILE;
        for (int k = 0; k < K; k++)
            round_run(W + (size_t)j0 * ld + k, (size_t)ld, j1 - j0, dst + (size_t)k * N + j0);
    }
}

tl_status tl_bf16_set_add(tl_bf16_set *s, const float *W, bool trans, int K, int N, int ld)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 8;
        tl_bf16_weight *w;
        TL_TRY(tl_alloc((void **)&w, (size_t)cap, sizeof *w, "bf16 weights"));
        if (s->n)
            memcpy(w, s->w, (size_t)s->n * sizeof *w);
        tl_free(s->w);
        s->w = w;
        s->cap = cap;
    }
    uint16_t *copy;
    TL_TRY(tl_alloc((void **)&copy, (size_t)K * (size_t)N, sizeof *copy, "bf16 weights"));
    round_copy(W, trans, K, N, ld, copy);
    s->w[s->n++] = (tl_bf16_weight){W, trans, K, N, ld, copy};
    return TL_OK;
}

void tl_bf16_set_free(tl_bf16_set *s)
{
    for (int i = 0; i < s->n; i++)
        tl_free(s->w[i].copy);
    tl_free(s->w);
    *s = (tl_bf16_set){0};
}

static _Thread_local const tl_bf16_set *in_use;

void tl_bf16_use(const tl_bf16_set *s) { in_use = s; }

const uint16_t *tl_bf16_find(const float *B, bool trans, int K, int N, int ldb)
{
    const tl_bf16_set *s = in_use;
    for (int i = 0; s && i < s->n; i++) {
        const tl_bf16_weight *w = &s->w[i];
        if (w->W == B && w->trans == trans && w->K == K && w->N == N && w->ld == ldb)
            return w->copy;
    }
    return NULL;
}
#endif
