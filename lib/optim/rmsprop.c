/* RMSprop:  h ← ρ·h + (1−ρ)·g²;  p ← p − lr·g / (√h + eps).
 *
 * The reference's formula (decay_rate = ρ) with eps = 1e-7; equal to
 * torch.optim.RMSprop with alpha = ρ, no momentum, not centered. */
#include "optim_impl.h"

static void rmsprop_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                         tl_real s, size_t lo, size_t hi)
{
    const tl_real lr = (tl_real)o->cfg.lr, rho = (tl_real)o->cfg.rho, eps = (tl_real)o->cfg.eps;
    tl_real *restrict h = o->state[0];
    for (size_t i = lo; i < hi; i++) {
        const tl_real gi = s * g[i];
        h[i] = rho * h[i] + (1 - rho) * gi * gi;
        p[i] -= lr * gi / (TL_SQRT(h[i]) + eps);
    }
}

const tl_optim_ops tl_optim_rmsprop_ops = {
    .name = "rmsprop",
    .defaults = {.kind = TL_OPTIM_RMSPROP, .lr = 0.01, .rho = 0.99, .eps = 1e-7},
    .uses = TL_USES_RHO | TL_USES_EPS,
    .nstate = 1,
    .state_names = {"h"},
    .step = rmsprop_step,
};
