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

/* Each pass visits only the parts of the buffer tl_each_touched returns: an
 * embedding gradient cleared by tl_model_zero_grad is mostly pages given back
 * to the system (zeros, 22 MB of config C's 26), which reading would map again
 * and writing would fill. Leaving zeros out changes no result: they add
 * nothing to a norm, are finite, and stay zero when scaled or clamped. */
typedef struct {
    tl_real *g;
    size_t n, found;
    tl_real s, lo, hi;
    double acc[8];
} pass;

static bool find_nonfinite(void *ctx, size_t off, size_t len)
{
    pass *P = ctx;
    size_t i = off / sizeof(tl_real), k = first_nonfinite(P->g + i, len / sizeof(tl_real));
    if (k == SIZE_MAX)
        return true;
    P->found = i + k;
    return false;
}

size_t tl_grad_first_nonfinite(const tl_real *g, size_t n)
{
    pass p = {.g = (tl_real *)g, .n = n, .found = SIZE_MAX};
    tl_each_touched(g, n * sizeof *g, find_nonfinite, &p);
    return p.found;
}

/* Σ g² in double over 8 independent lanes: one running sum would be a chain
 * of dependent additions (4 cycles each) and cannot be vectorised without
 * reordering, which lanes make explicit. Element i goes to lane i mod 8 (the
 * last n mod 8 to lane 0) whichever parts the buffer comes in. */
static bool add_squares(void *ctx, size_t off, size_t len)
{
    enum { LANES = 8 };
    pass *P = ctx;
    size_t i = off / sizeof(tl_real), e = i + len / sizeof(tl_real);
    const tl_real *g = P->g;
    size_t whole = P->n - P->n % LANES;
    double acc[LANES];
    for (int k = 0; k < LANES; k++)
        acc[k] = P->acc[k];
    for (; i < e && i % LANES && i < whole; i++)
        acc[i % LANES] += (double)g[i] * g[i];
    for (; i + LANES <= e && i + LANES <= whole; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += (double)g[i + k] * g[i + k];
    for (; i < e; i++)
        acc[i < whole ? i % LANES : 0] += (double)g[i] * g[i];
    for (int k = 0; k < LANES; k++)
        P->acc[k] = acc[k];
    return true;
}

static bool scale(void *ctx, size_t off, size_t len)
{
    pass *P = ctx;
    size_t i = off / sizeof(tl_real), e = i + len / sizeof(tl_real);
    for (; i < e; i++)
        P->g[i] *= P->s;
    return true;
}

static bool find_nan(void *ctx, size_t off, size_t len)
{
    pass *P = ctx;
    size_t i = off / sizeof(tl_real), e = i + len / sizeof(tl_real);
    for (; i < e; i++)
        if (isnan(P->g[i])) {
            P->found = i;
            return false;
        }
    return true;
}

static bool clamp(void *ctx, size_t off, size_t len)
{
    pass *P = ctx;
    size_t i = off / sizeof(tl_real), e = i + len / sizeof(tl_real);
    for (; i < e; i++) {
        tl_real x = P->g[i];
        P->g[i] = x < P->lo ? P->lo : x > P->hi ? P->hi : x;
    }
    return true;
}

tl_status tl_clip_grad_norm(tl_real *grads, size_t n, double max_norm, double *norm)
{
    if (n && !grads)
        return tl_fail(TL_ERR_ARG, "tl_clip_grad_norm: grads is NULL");
    if (!(max_norm > 0))
        return tl_fail(TL_ERR_ARG, "tl_clip_grad_norm: max_norm must be positive (got %g)",
                       max_norm);
    pass p = {.g = grads, .n = n};
    tl_each_touched(grads, n * sizeof *grads, add_squares, &p);
    double sum = 0;
    for (int k = 0; k < 8; k++)
        sum += p.acc[k];
    double total = sqrt(sum);
    if (norm)
        *norm = total;
    if (!isfinite(total)) {
        size_t bad = tl_grad_first_nonfinite(grads, n);
        if (bad == SIZE_MAX)
            return tl_fail(TL_ERR_NUMERIC, "tl_clip_grad_norm: the norm of %zu finite gradients "
                                           "overflows", n);
        return tl_fail(TL_ERR_NUMERIC, "tl_clip_grad_norm: gradient norm is %g; gradient %zu "
                                       "of %zu is %g", total, bad, n, (double)grads[bad]);
    }
    double coef = max_norm / (total + 1e-6);
    if (coef < 1) {
        p.s = (tl_real)coef;
        tl_each_touched(grads, n * sizeof *grads, scale, &p);
    }
    return TL_OK;
}

tl_status tl_clip_grad_value(tl_real *grads, size_t n, double c)
{
    if (n && !grads)
        return tl_fail(TL_ERR_ARG, "tl_clip_grad_value: grads is NULL");
    if (!(c > 0))
        return tl_fail(TL_ERR_ARG, "tl_clip_grad_value: the bound must be positive (got %g)", c);
    pass p = {.g = grads, .n = n, .found = SIZE_MAX, .lo = (tl_real)-c, .hi = (tl_real)c};
    if (!tl_each_touched(grads, n * sizeof *grads, find_nan, &p))
        return tl_fail(TL_ERR_NUMERIC, "tl_clip_grad_value: gradient %zu of %zu is NaN",
                       p.found, n);
    tl_each_touched(grads, n * sizeof *grads, clamp, &p);
    return TL_OK;
}
