/* TimeConcat: y = [s, x] along the feature axis at every step.
 *
 *   forward:  y[n,t,:Ds] = s[n,:] (broadcast side) or s[n,t,:] (per-step side);
 *             y[n,t,Ds:] = x[n,t,:]
 *   backward: dx = dy[:, :, Ds:];  ds = Σ_t dy[n,t,:Ds] (broadcast) or dy[:, :, :Ds]
 *
 * Copies only; the broadcast form's ds is the sum the peeky decoder's encoder
 * state collects from every step.
 */
#include <string.h>
#include "../internal.h"
#include "../param.h"
#include "timelayers/concat.h"

typedef struct {
    tl_layer base;
    int side_dim;
    const tl_tensor *side;     /* borrowed: set by set_side, used by the next forward */
    bool per_step;             /* the side of the last forward was (N, T, Ds) */
    const tl_tensor *x;
    tl_tensor y, dx, ds;
    bool backward_done;
} concat;

static const tl_layer_ops concat_ops;

static tl_status as_concat(tl_layer *l, const char *fn, concat **out)
{
    if (!l || l->ops != &concat_ops)
        return tl_fail(TL_ERR_ARG, "%s: layer is %s, not TimeConcat", fn, tl_layer_type(l));
    *out = (concat *)l;
    return TL_OK;
}

static tl_status concat_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    concat *c = (concat *)l;
    int D = l->in_width, Ds = c->side_dim, W = Ds + D;
    const tl_tensor *s = c->side;
    if (!s)
        return tl_fail(TL_ERR_STATE, "TimeConcat: forward before set_side");
    if (x->ndim != 3 || x->shape[2] != D || x->shape[0] < 1 || x->shape[1] < 1)
        return tl_fail_shape("TimeConcat", "input", x, "(N, T, D) with the layer's D");
    int N = x->shape[0], T = x->shape[1];
    bool per_step = s->ndim == 3;
    if (s->shape[0] != N || (per_step && s->shape[1] != T))
        return tl_fail(TL_ERR_SHAPE, "TimeConcat: side %s does not fit the input (%d, %d, %d)",
                       per_step ? "(N, T, Ds)" : "(N, Ds)", N, T, D);
    TL_TRY(tl_tensor_resize(&c->y, TL_REAL, 3, (int[]){N, T, W}));
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)n * T + t;
            const tl_real *src = s->data + (per_step ? r : (size_t)n) * Ds;
            memcpy(c->y.data + r * W, src, (size_t)Ds * sizeof(tl_real));
            memcpy(c->y.data + r * W + Ds, x->data + r * D, (size_t)D * sizeof(tl_real));
        }
    c->x = x;
    c->per_step = per_step;
    c->backward_done = false;
    *y = &c->y;
    return TL_OK;
}

static tl_status concat_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    concat *c = (concat *)l;
    if (!c->x)
        return tl_fail(TL_ERR_STATE, "TimeConcat: backward called before forward");
    if (!tl_tensor_same_shape(dy, &c->y))
        return tl_fail_shape("TimeConcat backward", "dy", dy, "the shape of the last output");
    int N = c->x->shape[0], T = c->x->shape[1], D = l->in_width, Ds = c->side_dim, W = Ds + D;
    TL_TRY(tl_tensor_resize(&c->dx, TL_REAL, 3, c->x->shape));
    if (c->per_step)
        TL_TRY(tl_tensor_resize(&c->ds, TL_REAL, 3, (int[]){N, T, Ds}));
    else
        TL_TRY(tl_tensor_zeros(&c->ds, TL_REAL, 2, (int[]){N, Ds}));
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T; t++) {
            size_t r = (size_t)n * T + t;
            const tl_real *g = dy->data + r * W;
            memcpy(c->dx.data + r * D, g + Ds, (size_t)D * sizeof(tl_real));
            if (c->per_step) {
                memcpy(c->ds.data + r * Ds, g, (size_t)Ds * sizeof(tl_real));
            } else {
                tl_real *d = c->ds.data + (size_t)n * Ds;
                for (int j = 0; j < Ds; j++)
                    d[j] += g[j];
            }
        }
    c->backward_done = true;
    *dx = &c->dx;
    return TL_OK;
}

tl_status tl_time_concat_set_side(tl_layer *l, const tl_tensor *s)
{
    concat *c = NULL;
    TL_TRY(as_concat(l, "tl_time_concat_set_side", &c));
    if (!s || s->dtype != TL_REAL || s->ndim < 2 || s->shape[s->ndim - 1] != c->side_dim ||
        (s->size && !s->data))
        return tl_fail_shape("TimeConcat", "side", s, "a real (N, Ds) or (N, T, Ds) tensor");
    c->side = s;
    return TL_OK;
}

tl_status tl_time_concat_side_grad(tl_layer *l, const tl_tensor **ds)
{
    concat *c = NULL;
    TL_TRY(as_concat(l, "tl_time_concat_side_grad", &c));
    if (!ds)
        return tl_fail(TL_ERR_ARG, "tl_time_concat_side_grad: ds is NULL");
    if (!c->backward_done)
        return tl_fail(TL_ERR_STATE, "TimeConcat: no backward since the last forward");
    *ds = &c->ds;
    return TL_OK;
}

static tl_param *concat_params(tl_layer *l, int *count)
{
    (void)l;
    *count = 0;
    return NULL;
}

static void concat_destroy(tl_layer *l)
{
    concat *c = (concat *)l;
    tl_tensor_free(&c->y);
    tl_tensor_free(&c->dx);
    tl_tensor_free(&c->ds);
    tl_free(c);
}

static const tl_layer_ops concat_ops = {
    .type = "TimeConcat",
    .forward = concat_forward,
    .backward = concat_backward,
    .params = concat_params,
    .destroy = concat_destroy,
};

tl_status tl_time_concat_create(tl_layer **out, int side_dim, int in_dim)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_concat_create: out is NULL");
    *out = NULL;
    if (side_dim <= 0 || in_dim <= 0 || side_dim > (1 << 30) - in_dim)
        return tl_fail(TL_ERR_ARG, "TimeConcat: widths must be positive (got Ds=%d, D=%d)",
                       side_dim, in_dim);
    concat *c = NULL;
    TL_TRY(tl_calloc((void **)&c, 1, sizeof *c, "TimeConcat"));
    c->base = (tl_layer){.ops = &concat_ops, .in_dtype = TL_REAL, .in_width = in_dim,
                         .out_width = side_dim + in_dim};
    c->side_dim = side_dim;
    *out = &c->base;
    return TL_OK;
}
