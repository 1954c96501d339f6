/* TimeDropout: inverted dropout over time (dropout.h).
 *
 *   forward:  y = x ⊙ M        M = m / (1 − p), m ~ Bernoulli(1 − p)
 *   backward: dx = dy ⊙ M
 *
 * M holds the scaled mask itself, (N, T, D) for the standard kind and (N, D)
 * for the locked kind (broadcast over t), so both passes are one multiply per
 * element. Draw i of the mask is tl_rng_at(key, ·) of the element's flat
 * index i, key = tl_rng_key(seed, step, index, 0).
 */
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "timelayers/dropout.h"

typedef struct {
    tl_layer base;
    double p;
    tl_dropout_kind kind;
    tl_layer_mode mode;
    bool active;          /* the last forward applied a mask (training, p > 0) */
    const tl_tensor *x;   /* the last input; NULL = no forward */
    tl_tensor mask, y, dx;
} dropout;

/* y[r, t, :] = x[r, t, :] ⊙ M[r, (t), :] over rows r of T steps of width D,
 * where M has one row per (r, t) (steps = T) or per r (locked: steps = 1). */
static void apply(const tl_real *x, const tl_real *M, tl_real *y, size_t rows, int T, int D,
                  bool locked)
{
    for (size_t r = 0; r < rows; r++)
        for (int t = 0; t < T; t++) {
            const tl_real *xr = x + (r * (size_t)T + t) * D;
            const tl_real *mr = M + (locked ? r : r * (size_t)T + t) * D;
            tl_real *yr = y + (r * (size_t)T + t) * D;
            for (int d = 0; d < D; d++)
                yr[d] = xr[d] * mr[d];
        }
}

/* Rows and steps of x: (N, T, D) or (N, D) (one step). */
static void rows_steps(const tl_tensor *x, size_t *rows, int *T)
{
    *rows = (size_t)x->shape[0];
    *T = x->ndim == 3 ? x->shape[1] : 1;
}

static tl_status dropout_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    dropout *o = (dropout *)l;
    int D = l->in_width, rows_flat, T;
    size_t rows;
    TL_TRY(tl_rows_of("TimeDropout", x, D, &rows_flat));
    o->x = NULL;
    o->active = o->mode.training && o->p > 0;
    if (!o->active) {
        o->x = x;
        *y = x;
        return TL_OK;
    }
    rows_steps(x, &rows, &T);
    bool locked = o->kind == TL_DROPOUT_LOCKED;
    TL_TRY(tl_tensor_resize(&o->y, TL_REAL, x->ndim, x->shape));
    TL_TRY(tl_tensor_resize(&o->mask, TL_REAL, 2, (int[]){locked ? (int)rows : rows_flat, D}));
    tl_dropout_mask(o->mask.data, o->mask.size,
                    tl_rng_key(o->mode.seed, o->mode.step, (uint64_t)o->mode.index, 0), o->p);
    apply(x->data, o->mask.data, o->y.data, rows, T, D, locked);
    o->x = x;
    *y = &o->y;
    return TL_OK;
}

static tl_status dropout_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    dropout *o = (dropout *)l;
    if (!o->x)
        return tl_fail(TL_ERR_STATE, "TimeDropout: backward called before a successful forward");
    if (!tl_tensor_same_shape(dy, o->x))
        return tl_fail_shape("TimeDropout backward", "dy", dy, "the shape of the last output");
    if (!o->active) {
        *dx = dy;
        return TL_OK;
    }
    size_t rows;
    int T;
    rows_steps(dy, &rows, &T);
    TL_TRY(tl_tensor_resize(&o->dx, TL_REAL, dy->ndim, dy->shape));
    apply(dy->data, o->mask.data, o->dx.data, rows, T, l->in_width,
          o->kind == TL_DROPOUT_LOCKED);
    *dx = &o->dx;
    return TL_OK;
}

static void dropout_set_mode(tl_layer *l, const tl_layer_mode *mode)
{
    ((dropout *)l)->mode = *mode;
}

static tl_status dropout_config(const tl_layer *l, tl_layer_config *cfg)
{
    const dropout *o = (const dropout *)l;
    cfg->in_dim = cfg->out_dim = l->in_width;
    TL_TRY(tl_config_set_real(cfg, "p", o->p));
    return tl_config_set_bool(cfg, "locked", o->kind == TL_DROPOUT_LOCKED);
}

static void dropout_destroy(tl_layer *l)
{
    dropout *o = (dropout *)l;
    tl_tensor_free(&o->mask);
    tl_tensor_free(&o->y);
    tl_tensor_free(&o->dx);
    tl_free(o);
}

static const tl_layer_ops dropout_ops = {
    .type = "TimeDropout",
    .forward = dropout_forward,
    .backward = dropout_backward,
    .set_mode = dropout_set_mode,
    .config = dropout_config,
    .destroy = dropout_destroy,
};

tl_status tl_time_dropout_create(tl_layer **out, int width, double p, tl_dropout_kind kind)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_dropout_create: out is NULL");
    *out = NULL;
    if (width < 1 || !(p >= 0 && p < 1) || (kind != TL_DROPOUT_STANDARD &&
                                           kind != TL_DROPOUT_LOCKED))
        return tl_fail(TL_ERR_ARG, "TimeDropout: need width >= 1, 0 <= p < 1 and a known kind "
                       "(got width %d, p %g, kind %d)", width, p, (int)kind);
    dropout *o;
    TL_TRY(tl_calloc((void **)&o, 1, sizeof *o, "TimeDropout"));
    o->base = (tl_layer){.ops = &dropout_ops, .in_dtype = TL_REAL, .in_width = width,
                         .out_width = width};
    o->p = p;
    o->kind = kind;
    o->mode = (tl_layer_mode){.training = true};
    *out = &o->base;
    return TL_OK;
}

static const char *const kind_names[] = {"standard", "locked"};

tl_status tl_dropout_kind_from_name(const char *name, tl_dropout_kind *out)
{
    for (int k = 0; name && k < 2; k++)
        if (strcmp(name, kind_names[k]) == 0) {
            *out = (tl_dropout_kind)k;
            return TL_OK;
        }
    return tl_fail(TL_ERR_ARG, "unknown dropout kind '%s' (expected standard or locked)",
                   name ? name : "");
}

const char *tl_dropout_kind_name(tl_dropout_kind k)
{
    return (unsigned)k < 2 ? kind_names[k] : "unknown";
}
