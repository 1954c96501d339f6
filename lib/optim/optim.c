/* Public wrappers around the optimizer ops tables: configuration checks,
 * state allocation, and the step counter. The update formulas live in one
 * file per kind (sgd.c, momentum.c, ...). */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "timelayers/clip.h"
#include "optim_impl.h"

static const tl_optim_ops *const kinds[] = {
    [TL_OPTIM_SGD] = &tl_optim_sgd_ops,
    [TL_OPTIM_MOMENTUM] = &tl_optim_momentum_ops,
    [TL_OPTIM_NESTEROV] = &tl_optim_nesterov_ops,
    [TL_OPTIM_ADAGRAD] = &tl_optim_adagrad_ops,
    [TL_OPTIM_RMSPROP] = &tl_optim_rmsprop_ops,
    [TL_OPTIM_ADAM] = &tl_optim_adam_ops,
};
enum { NKINDS = sizeof kinds / sizeof kinds[0] };

static const tl_optim_ops *ops_of(tl_optim_kind kind)
{
    return (unsigned)kind < NKINDS ? kinds[kind] : NULL;
}

tl_optim_config tl_optim_defaults(tl_optim_kind kind)
{
    const tl_optim_ops *ops = ops_of(kind);
    return ops ? ops->defaults : (tl_optim_config){.kind = kind};
}

const char *tl_optim_name(tl_optim_kind kind)
{
    const tl_optim_ops *ops = ops_of(kind);
    return ops ? ops->name : "unknown";
}

tl_status tl_optim_kind_from_name(const char *name, tl_optim_kind *kind)
{
    if (!name || !kind)
        return tl_fail(TL_ERR_ARG, "tl_optim_kind_from_name: name or kind is NULL");
    for (int k = 0; k < NKINDS; k++)
        if (strcmp(name, kinds[k]->name) == 0) {
            *kind = (tl_optim_kind)k;
            return TL_OK;
        }
    return tl_fail(TL_ERR_ARG, "unknown optimizer \"%s\" (valid: sgd, momentum, nesterov, "
                               "adagrad, rmsprop, adam)", name);
}

static tl_status check_lr(const char *who, double lr)
{
    if (lr > 0 && isfinite(lr))
        return TL_OK;
    return tl_fail(TL_ERR_ARG, "%s optimizer: lr must be positive and finite (got %g)", who, lr);
}

/* Decay factors: μ, ρ, β1, β2 in [0, 1) (NaN fails the comparison). */
static tl_status check_unit(const char *who, const char *what, double v)
{
    if (v >= 0 && v < 1)
        return TL_OK;
    return tl_fail(TL_ERR_ARG, "%s optimizer: %s must lie in [0, 1) (got %g)", who, what, v);
}

static tl_status check_config(const tl_optim_config *c)
{
    const tl_optim_ops *ops = ops_of(c->kind);
    if (!ops)
        return tl_fail(TL_ERR_ARG, "tl_optim_create: unknown optimizer kind %d", (int)c->kind);
    TL_TRY(check_lr(ops->name, c->lr));
    if (ops->uses & TL_USES_MOMENTUM)
        TL_TRY(check_unit(ops->name, "momentum", c->momentum));
    if (ops->uses & TL_USES_RHO)
        TL_TRY(check_unit(ops->name, "rho", c->rho));
    if (ops->uses & TL_USES_BETAS) {
        TL_TRY(check_unit(ops->name, "beta1", c->beta1));
        TL_TRY(check_unit(ops->name, "beta2", c->beta2));
    }
    if ((ops->uses & TL_USES_EPS) && !(c->eps > 0 && isfinite(c->eps)))
        return tl_fail(TL_ERR_ARG, "%s optimizer: eps must be positive and finite (got %g)",
                       ops->name, c->eps);
    return TL_OK;
}

tl_status tl_optim_create(tl_optim **out, const tl_optim_config *cfg, size_t nparams)
{
    if (!out || !cfg)
        return tl_fail(TL_ERR_ARG, "tl_optim_create: out or cfg is NULL");
    *out = NULL;
    TL_TRY(check_config(cfg));
    tl_optim *o;
    TL_TRY(tl_calloc((void **)&o, 1, sizeof *o, "tl_optim_create"));
    o->ops = ops_of(cfg->kind);
    o->cfg = *cfg;
    o->n = nparams;
    for (int i = 0; i < o->ops->nstate; i++) {
        void *p;
        tl_status st = tl_calloc(&p, nparams, sizeof(tl_real), "optimizer state");
        if (st) {
            tl_optim_destroy(o);
            return st;
        }
        o->state[i] = p;
    }
    *out = o;
    return TL_OK;
}

static bool overlap(const tl_real *a, const tl_real *b, size_t n)
{
    uintptr_t x = (uintptr_t)a, y = (uintptr_t)b, bytes = n * sizeof(tl_real);
    return x < y + bytes && y < x + bytes;
}

typedef struct {
    const tl_optim *o;
    tl_real *p;
    const tl_real *g;
    tl_real s;
} step_pass;

static bool step_on(void *ctx, int part, size_t lo, size_t hi)
{
    (void)part;
    const step_pass *s = ctx;
    s->o->ops->step(s->o, s->p, s->g, s->s, lo, hi);
    return true;
}

static tl_status check_step(const tl_optim *o, const tl_real *values, const tl_real *grads,
                            size_t n)
{
    if (!o)
        return tl_fail(TL_ERR_ARG, "tl_optim_step: optimizer is NULL");
    if (n != o->n)
        return tl_fail(TL_ERR_SHAPE, "%s optimizer: step on %zu parameters, created for %zu",
                       o->ops->name, n, o->n);
    if (n && (!values || !grads))
        return tl_fail(TL_ERR_ARG, "%s optimizer: values or grads is NULL", o->ops->name);
    if (n && overlap(values, grads, n))
        return tl_fail(TL_ERR_ARG, "%s optimizer: values and grads overlap", o->ops->name);
    return TL_OK;
}

/* The update on the pool; a stateless kind whose zero gradient changes
 * nothing (sgd) leaves out the gradient's untouched zero pages. */
static void step(tl_optim *o, tl_real *values, const tl_real *grads, size_t n, tl_real s)
{
    o->steps++;
    tl_pass(grads, n, sizeof *grads, o->ops->zero_is_noop, step_on,
            &(step_pass){o, values, grads, s});
}

tl_status tl_optim_step(tl_optim *o, tl_real *values, const tl_real *grads, size_t n)
{
    TL_TRY(check_step(o, values, grads, n));
    /* A NaN or infinite gradient would poison the weights and, for the
     * adaptive optimizers, the state for good: refuse it, changing nothing. */
    size_t bad = tl_grad_first_nonfinite(grads, n);
    if (bad != SIZE_MAX)
        return tl_fail(TL_ERR_NUMERIC, "%s optimizer: gradient %zu of %zu is %g; nothing "
                       "changed", o->ops->name, bad, n, (double)grads[bad]);
    step(o, values, grads, n, 1);
    return TL_OK;
}

tl_status tl_optim_step_clip_norm(tl_optim *o, tl_real *values, const tl_real *grads, size_t n,
                                  double max_norm, double *norm)
{
    TL_TRY(check_step(o, values, grads, n));
    tl_real s;
    TL_TRY(tl__clip_factor("tl_optim_step_clip_norm", grads, n, max_norm, norm, &s));
    step(o, values, grads, n, s);
    return TL_OK;
}

tl_status tl_optim_get_config(const tl_optim *o, tl_optim_config *cfg)
{
    if (!o || !cfg)
        return tl_fail(TL_ERR_ARG, "tl_optim_get_config: optimizer or cfg is NULL");
    *cfg = o->cfg;
    return TL_OK;
}

double tl_optim_lr(const tl_optim *o) { return o ? o->cfg.lr : 0; }

tl_status tl_optim_set_lr(tl_optim *o, double lr)
{
    if (!o)
        return tl_fail(TL_ERR_ARG, "tl_optim_set_lr: optimizer is NULL");
    TL_TRY(check_lr(o->ops->name, lr));
    o->cfg.lr = lr;
    return TL_OK;
}

uint64_t tl_optim_steps(const tl_optim *o) { return o ? o->steps : 0; }

size_t tl_optim_nparams(const tl_optim *o) { return o ? o->n : 0; }

tl_status tl_optim_set_steps(tl_optim *o, uint64_t steps)
{
    if (!o)
        return tl_fail(TL_ERR_ARG, "tl_optim_set_steps: optimizer is NULL");
    o->steps = steps;
    return TL_OK;
}

int tl_optim_state_count(const tl_optim *o) { return o ? o->ops->nstate : 0; }

tl_status tl_optim_state(tl_optim *o, int i, const char **name, tl_real **buf, size_t *n)
{
    if (!o)
        return tl_fail(TL_ERR_ARG, "tl_optim_state: optimizer is NULL");
    if (i < 0 || i >= o->ops->nstate)
        return tl_fail(TL_ERR_RANGE, "%s optimizer: state %d requested, it has %d", o->ops->name,
                       i, o->ops->nstate);
    if (name)
        *name = o->ops->state_names[i];
    if (buf)
        *buf = o->state[i];
    if (n)
        *n = o->n;
    return TL_OK;
}

void tl_optim_destroy(tl_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < TL_OPTIM_MAX_STATE; i++)
        tl_free(o->state[i]);
    tl_free(o);
}
