/* Momentum, the reference's form:  v ← μ·v − lr·g;  p ← p + v.
 *
 * torch.optim.SGD(momentum=μ) keeps b ← μ·b + g and steps p ← p − lr·b. From
 * v = b = 0 and with a constant lr, v = −lr·b after every step, so both move
 * the parameters identically; only a change of lr tells them apart (here the
 * velocity built so far keeps its old scale). */
#include "optim_impl.h"

static void momentum_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                          tl_real s, size_t lo, size_t hi)
{
    const tl_real lr = (tl_real)o->cfg.lr, mu = (tl_real)o->cfg.momentum;
    tl_real *restrict v = o->state[0];
    for (size_t i = lo; i < hi; i++) {
        const tl_real gi = s * g[i];
        v[i] = mu * v[i] - lr * gi;
        p[i] += v[i];
    }
}

const tl_optim_ops tl_optim_momentum_ops = {
    .name = "momentum",
    .defaults = {.kind = TL_OPTIM_MOMENTUM, .lr = 0.01, .momentum = 0.9},
    .uses = TL_USES_MOMENTUM,
    .nstate = 1,
    .state_names = {"v"},
    .step = momentum_step,
};
