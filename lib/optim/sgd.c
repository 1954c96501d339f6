/* SGD:  p ← p − lr·g */
#include "optim_impl.h"

static void sgd_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g, size_t n)
{
    const tl_real lr = (tl_real)o->cfg.lr;
    for (size_t i = 0; i < n; i++)
        p[i] -= lr * g[i];
}

const tl_optim_ops tl_optim_sgd_ops = {
    .name = "sgd",
    .defaults = {.kind = TL_OPTIM_SGD, .lr = 0.01},
    .zero_is_noop = true,
    .step = sgd_step,
};
