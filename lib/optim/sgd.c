/* SGD:  p ← p − lr·g */
#include "optim_impl.h"

static void sgd_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                     tl_real s, size_t lo, size_t hi)
{
    const tl_real lr = (tl_real)o->cfg.lr;
    for (size_t i = lo; i < hi; i++)
        p[i] -= lr * (s * g[i]);
}

const tl_optim_ops tl_optim_sgd_ops = {
    .name = "sgd",
    .defaults = {.kind = TL_OPTIM_SGD, .lr = 0.01},
    .zero_is_noop = true,
    .step = sgd_step,
};
