/* Gradient clipping on a flat buffer.
 *
 *   by norm   ‖g‖ = √(Σ g²) in double;  c = max_norm / (‖g‖ + 1e-6);  if c < 1: g ← c·g
 *   by value  g ← min(max(g, −c), c)
 *
 * Both refuse bad gradients before writing anything, so a failed call leaves
 * the buffer as backward produced it for the caller to inspect. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include "internal.h"
#include "timelayers/clip.h"

/* Every optimizer step runs this over all gradients (config C: 16.4M). A
 * loop of isfinite with an early exit stays scalar (5.4 ms there on Zen 5);
 * a block at a time, the test on the exponent bits (all ones: infinite or
 * NaN) has no branch and is vectorised (2.1 ms), and only a block with a
 * bad value is searched again for its first one. */
static size_t first_nonfinite(const tl_real *g, size_t n)
{
#ifdef TL_REAL_DOUBLE
    typedef uint64_t bits;
    const bits exponent = 0x7ff0000000000000u;
#else
    typedef uint32_t bits;
    const bits exponent = 0x7f800000u;
#endif
    enum { BLOCK = 1024 };
    size_t i = 0;
    for (; i < n; i += BLOCK) {
        size_t m = n - i < BLOCK ? n - i : BLOCK;
        bits bad = 0;
        for (size_t k = 0; k < m; k++) {
            bits u;
            memcpy(&u, g + i + k, sizeof u);
            bad |= (u & exponent) == exponent;
        }
        if (bad)
            break;
    }
    for (; i < n; i++)
        if (!isfinite(g[i]))
            return i;
    return SIZE_MAX;
}

/* Each pass runs on the pool (tl_pass) and visits only the parts of the
 * buffer tl_each_touched returns: an embedding gradient cleared by
 * tl_model_zero_grad is mostly pages given back to the system (zeros, 22 MB
 * of config C's 26), which reading would map again and writing would fill.
 * Leaving zeros out changes no result: they add nothing to a norm, are
 * finite, and stay zero when scaled or clamped. */
typedef struct {
    tl_real *g;
    size_t n;
    tl_real s, lo, hi;
    size_t found[TL_PASS_MAX_PARTS];
    double acc[TL_PASS_MAX_PARTS][8];
} pass;

/* The smallest index a part found, SIZE_MAX if none did. */
static size_t first_found(const pass *P)
{
    size_t len, k = SIZE_MAX;
    for (int i = 0, parts = tl_pass_parts(P->n, &len); i < parts; i++)
        k = P->found[i] < k ? P->found[i] : k;
    return k;
}

static void not_found(pass *P)
{
    for (int i = 0; i < TL_PASS_MAX_PARTS; i++)
        P->found[i] = SIZE_MAX;
}

static bool find_nonfinite(void *ctx, int part, size_t lo, size_t hi)
{
    pass *P = ctx;
    size_t k = first_nonfinite(P->g + lo, hi - lo);
    if (k == SIZE_MAX)
        return true;
    P->found[part] = lo + k;
    return false;
}

size_t tl_grad_first_nonfinite(const tl_real *g, size_t n)
{
    pass p = {.g = (tl_real *)g, .n = n};
    not_found(&p);
    tl_pass(g, n, sizeof *g, true, find_nonfinite, &p);
    return first_found(&p);
}

/* Σ g² in double over 8 independent lanes: one running sum would be a chain
 * of dependent additions (4 cycles each) and cannot be vectorised without
 * reordering, which lanes make explicit. Element i goes to lane i mod 8 (the
 * last n mod 8 to lane 0) of its part (tl_pass: a multiple of 8 elements
 * long), whichever stretches the part comes in; lane k of the whole is the
 * sum of the parts' lanes k in part order, and the norm the sum of the lanes
 * in order. So the bits depend on n only, not on the threads; within one
 * part (2^16 elements or fewer) this is the same sum as a single pass. */
static bool add_squares(void *ctx, int part, size_t i, size_t e)
{
    enum { LANES = 8 };
    pass *P = ctx;
    const tl_real *g = P->g;
    size_t whole = P->n - P->n % LANES;
    double acc[LANES];
    for (int k = 0; k < LANES; k++)
        acc[k] = P->acc[part][k];
    for (; i < e && i % LANES && i < whole; i++)
        acc[i % LANES] += (double)g[i] * g[i];
    for (; i + LANES <= e && i + LANES <= whole; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += (double)g[i + k] * g[i + k];
    for (; i < e; i++)
        acc[i < whole ? i % LANES : 0] += (double)g[i] * g[i];
    for (int k = 0; k < LANES; k++)
        P->acc[part][k] = acc[k];
    return true;
}

static bool scale(void *ctx, int part, size_t i, size_t e)
{
    (void)part;
    pass *P = ctx;
    for (; i < e; i++)
        P->g[i] *= P->s;
    return true;
}

static bool find_nan(void *ctx, int part, size_t i, size_t e)
{
    pass *P = ctx;
    for (; i < e; i++)
        if (isnan(P->g[i])) {
            P->found[part] = i;
            return false;
        }
    return true;
}

static bool clamp(void *ctx, int part, size_t i, size_t e)
{
    (void)part;
    pass *P = ctx;
    for (; i < e; i++) {
        tl_real x = P->g[i];
        P->g[i] = x < P->lo ? P->lo : x > P->hi ? P->hi : x;
    }
    return true;
}

double tl__grad_norm(const tl_real *grads, size_t n)
{
    pass p = {.g = (tl_real *)grads, .n = n};
    size_t len;
    int parts = tl_pass_parts(n, &len);
    tl_pass(grads, n, sizeof *grads, true, add_squares, &p);
    double sum = 0;
    for (int k = 0; k < 8; k++) {
        double lane = 0;
        for (int i = 0; i < parts; i++)
            lane += p.acc[i][k];
        sum += lane;
    }
    return sqrt(sum);
}

tl_status tl__clip_factor(const char *who, const tl_real *grads, size_t n, double max_norm,
                          double *norm, tl_real *s)
{
    if (n && !grads)
        return tl_fail(TL_ERR_ARG, "%s: grads is NULL", who);
    if (!(max_norm > 0))
        return tl_fail(TL_ERR_ARG, "%s: max_norm must be positive (got %g)", who, max_norm);
    double total = tl__grad_norm(grads, n);
    if (norm)
        *norm = total;
    if (!isfinite(total)) {
        size_t bad = tl_grad_first_nonfinite(grads, n);
        if (bad == SIZE_MAX)
            return tl_fail(TL_ERR_NUMERIC, "%s: the norm of %zu finite gradients overflows", who,
                           n);
        return tl_fail(TL_ERR_NUMERIC, "%s: gradient norm is %g; gradient %zu of %zu is %g", who,
                       total, bad, n, (double)grads[bad]);
    }
    double coef = max_norm / (total + 1e-6);
    *s = coef < 1 ? (tl_real)coef : 1;
    return TL_OK;
}

tl_status tl_clip_grad_norm(tl_real *grads, size_t n, double max_norm, double *norm)
{
    pass p = {.g = grads, .n = n};
    TL_TRY(tl__clip_factor("tl_clip_grad_norm", grads, n, max_norm, norm, &p.s));
    if (p.s != 1)
        tl_pass(grads, n, sizeof *grads, true, scale, &p);
    return TL_OK;
}

tl_status tl_clip_grad_value(tl_real *grads, size_t n, double c)
{
    if (n && !grads)
        return tl_fail(TL_ERR_ARG, "tl_clip_grad_value: grads is NULL");
    if (!(c > 0))
        return tl_fail(TL_ERR_ARG, "tl_clip_grad_value: the bound must be positive (got %g)", c);
    pass p = {.g = grads, .n = n, .lo = (tl_real)-c, .hi = (tl_real)c};
    not_found(&p);
    if (!tl_pass(grads, n, sizeof *grads, true, find_nan, &p))
        return tl_fail(TL_ERR_NUMERIC, "tl_clip_grad_value: gradient %zu of %zu is NaN",
                       first_found(&p), n);
    tl_pass(grads, n, sizeof *grads, true, clamp, &p);
    return TL_OK;
}
