/* AdaGrad:  h ← h + g²;  p ← p − lr·g / (√h + eps).
 *
 * The reference's formula with eps = 1e-7; equal to torch.optim.Adagrad with
 * lr_decay 0 and initial_accumulator_value 0. With eps_inside the char-RNN
 * seed's (Karpathy's min-char-rnn): p ← p − lr·g / √(h + eps). */
#include "optim_impl.h"

static void adagrad_step(const tl_optim *o, tl_real *restrict p, const tl_real *restrict g,
                         tl_real s, size_t lo, size_t hi)
{
    const tl_real lr = (tl_real)o->cfg.lr, eps = (tl_real)o->cfg.eps;
    tl_real *restrict h = o->state[0];
    if (o->cfg.eps_inside) {
        for (size_t i = lo; i < hi; i++) {
            const tl_real gi = s * g[i];
            h[i] += gi * gi;
            p[i] -= lr * gi / TL_SQRT(h[i] + eps);
        }
        return;
    }
    for (size_t i = lo; i < hi; i++) {
        const tl_real gi = s * g[i];
        h[i] += gi * gi;
        p[i] -= lr * gi / (TL_SQRT(h[i]) + eps);
    }
}

const tl_optim_ops tl_optim_adagrad_ops = {
    .name = "adagrad",
    .defaults = {.kind = TL_OPTIM_ADAGRAD, .lr = 0.01, .eps = 1e-7},
    .uses = TL_USES_EPS,
    .nstate = 1,
    .state_names = {"h"},
    .step = adagrad_step,
};
