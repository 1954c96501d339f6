/* Adam, PyTorch's form (torch.optim.Adam), t = the step number from 1:
 *
 *   m ← β1·m + (1−β1)·g;   v ← β2·v + (1−β2)·g²
 *   p ← p − lr/(1−β1^t) · m / (√v / √(1−β2^t) + eps)
 *
 * eps is added to the bias-corrected √v̂ as PyTorch does; the reference adds
 * it to √v after folding both corrections into lr, which differs while v is
 * small. The corrections depend on t only, so they are computed once per
 * step in double. */
#include "optim_impl.h"

static void adam_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                      tl_real s, size_t lo, size_t hi)
{
    const tl_optim_config *c = &o->cfg;
    const double t = (double)o->steps;
    const tl_real b1 = (tl_real)c->beta1, b2 = (tl_real)c->beta2, eps = (tl_real)c->eps;
    const tl_real step = (tl_real)(c->lr / (1 - pow(c->beta1, t)));
    const tl_real inv_sqrt_bc2 = (tl_real)(1 / sqrt(1 - pow(c->beta2, t)));
    tl_real *restrict m = o->state[0], *restrict v = o->state[1];
    for (size_t i = lo; i < hi; i++) {
        const tl_real gi = s * g[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= step * m[i] / (TL_SQRT(v[i]) * inv_sqrt_bc2 + eps);
    }
}

const tl_optim_ops tl_optim_adam_ops = {
    .name = "adam",
    .defaults = {.kind = TL_OPTIM_ADAM, .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
    .uses = TL_USES_BETAS | TL_USES_EPS,
    .nstate = 2,
    .state_names = {"m", "v"},
    .step = adam_step,
};
