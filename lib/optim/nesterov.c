/* Nesterov momentum, PyTorch's form (torch.optim.SGD, nesterov=True, no
 * dampening):  b ← μ·b + g;  p ← p − lr·(g + μ·b).
 *
 * The reference's Nesterov class writes the look-ahead differently; we take
 * PyTorch's definition (semantics.md) so results can be checked against it. */
#include "optim_impl.h"

static void nesterov_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                          tl_real s, size_t lo, size_t hi)
{
    const tl_real lr = (tl_real)o->cfg.lr, mu = (tl_real)o->cfg.momentum;
    tl_real *restrict b = o->state[0];
    for (size_t i = lo; i < hi; i++) {
        const tl_real gi = s * g[i];
        b[i] = mu * b[i] + gi;
        p[i] -= lr * (gi + mu * b[i]);
    }
}

const tl_optim_ops tl_optim_nesterov_ops = {
    .name = "nesterov",
    .defaults = {.kind = TL_OPTIM_NESTEROV, .lr = 0.01, .momentum = 0.9},
    .uses = TL_USES_MOMENTUM,
    .nstate = 1,
    .state_names = {"b"},
    .step = nesterov_step,
};
