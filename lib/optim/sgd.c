/* SGD:  p ← p − lr·g
 *
 * A gradient of +0 leaves p as it is (p − lr·(s·(+0)) is p for every p), so
 * a block of them is passed over without writing p: the pages of an
 * embedding table's gradient that tl_zero_pages cleared in place and no row
 * of the step reached (a -0 is not +0's bits, and moves -0 to +0). */
#include <stdint.h>
#include <string.h>
#include "optim_impl.h"

static void sgd_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                     tl_real s, size_t lo, size_t hi)
{
#ifdef TL_REAL_DOUBLE
    typedef uint64_t bits;
#else
    typedef uint32_t bits;
#endif
    enum { BLOCK = 64 };
    const tl_real lr = (tl_real)o->cfg.lr;
    for (size_t i = lo; i < hi;) {
        size_t e = hi - i < BLOCK ? hi : i + BLOCK;
        bits any = 0;
        for (size_t k = i; k < e; k++) {
            bits u;
            memcpy(&u, g + k, sizeof u);
            any |= u;
        }
        if (any)
            for (size_t k = i; k < e; k++)
                p[k] -= lr * (s * g[k]);
        i = e;
    }
}

const tl_optim_ops tl_optim_sgd_ops = {
    .name = "sgd",
    .defaults = {.kind = TL_OPTIM_SGD, .lr = 0.01},
    .zero_is_noop = true,
    .step = sgd_step,
};
