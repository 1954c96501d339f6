/* TimeAffine: a dense layer applied to every time step at once.
 *
 *   forward:  y = x·W + b            x: (R, D) with R = N·T, W: (D, M)
 *   backward: dx = dy·Wᵀ, dW += xᵀ·dy, db += Σ_rows dy
 *
 * Tied (tl_time_affine_create_tied): W = Eᵀ for an embedding's table E
 * (M, D), borrowed with its gradient:
 *   forward:  y = x·Eᵀ + b;   backward: dx = dy·E, dE += dyᵀ·x, db += Σ_rows dy
 *
 * The (N, T, D) input is viewed as R = N·T rows, so each pass is one GEMM.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "output.h"
#include "timelayers/affine.h"

enum { W, B, NPARAMS };

static const tl_layer_ops affine_ops;

typedef struct {
    tl_layer base;
    tl_param params[NPARAMS];  /* tied: params[W] is unused (empty) */
    tl_param *w;               /* the weight in use: &params[W] or the embedding's table */
    const tl_layer *tied;      /* the embedding lent its table (W = Eᵀ), or NULL */
    const tl_tensor *x;        /* borrowed from the caller until backward */
    tl_tensor y, dx;
} affine;

static tl_status affine_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    affine *a = (affine *)l;
    int D = l->in_width, M = l->out_width, rows;
    bool wt = a->tied != NULL;
    TL_TRY(tl_rows_of("TimeAffine", x, D, &rows));
    int shape[3] = {x->shape[0], x->shape[1], M};
    shape[x->ndim - 1] = M;
    TL_TRY(tl_tensor_resize(&a->y, TL_REAL, x->ndim, shape));

    tl_real *out = a->y.data;
    for (int r = 0; r < rows; r++)
        memcpy(out + (size_t)r * M, a->params[B].value.data, (size_t)M * sizeof(tl_real));
    tl_gemm(false, wt, rows, M, D, 1, x->data, D, a->w->value.data, wt ? D : M, 1, out, M);
    a->x = x;
    *y = &a->y;
    return TL_OK;
}

static tl_status affine_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    affine *a = (affine *)l;
    int D = l->in_width, M = l->out_width, rows;
    if (!a->x)
        return tl_fail(TL_ERR_STATE, "TimeAffine: backward called before forward");
    if (!tl_tensor_same_shape(dy, &a->y))
        return tl_fail_shape("TimeAffine backward", "dy", dy, "the shape of the last output");
    TL_TRY(tl_rows_of("TimeAffine", a->x, D, &rows));
    TL_TRY(tl_tensor_resize(&a->dx, TL_REAL, a->x->ndim, a->x->shape));

    tl_real *Wv = a->w->value.data, *dW = a->w->grad.data;
    if (a->tied) {
        tl_gemm(false, false, rows, D, M, 1, dy->data, M, Wv, D, 0, a->dx.data, D);
        tl_gemm(true, false, M, D, rows, 1, dy->data, M, a->x->data, D, 1, dW, D);
    } else {
        tl_gemm(false, true, rows, D, M, 1, dy->data, M, Wv, M, 0, a->dx.data, D);
        tl_gemm(true, false, D, M, rows, 1, a->x->data, D, dy->data, M, 1, dW, M);
    }
    tl_add_column_sums(rows, M, dy->data, M, a->params[B].grad.data);
    *dx = &a->dx;
    return TL_OK;
}

bool tl_affine_view_of(tl_layer *l, tl_affine_view *v)
{
    if (!l || l->ops != &affine_ops)
        return false;
    affine *a = (affine *)l;
    *v = (tl_affine_view){.D = l->in_width, .M = l->out_width,
                          .W = a->w->value.data, .b = a->params[B].value.data,
                          .W_transposed = a->tied != NULL,
                          .dW = a->w->grad.data, .db = a->params[B].grad.data,
                          .scratch = &a->y, .dx = &a->dx, .x = &a->x};
    return true;
}

/* A tied layer lists only b: the table is the embedding's parameter, so a
 * model holds it once (flat buffers, optimizer, clipping, checkpoints). */
static tl_param *affine_params(tl_layer *l, int *count)
{
    affine *a = (affine *)l;
    *count = a->tied ? 1 : NPARAMS;
    return a->tied ? &a->params[B] : a->params;
}

static tl_status affine_config(const tl_layer *l, tl_layer_config *cfg)
{
    const affine *a = (const affine *)l;
    cfg->in_dim = l->in_width;
    cfg->out_dim = l->out_width;
    return a->tied ? tl_config_set_layer(cfg, "tied", a->tied) : TL_OK;
}

static void affine_destroy(tl_layer *l)
{
    affine *a = (affine *)l;
    tl_params_free(a->params, NPARAMS);
    tl_tensor_free(&a->y);
    tl_tensor_free(&a->dx);
    tl_free(a);
}

static const tl_layer_ops affine_ops = {
    .type = "TimeAffine",
    .forward = affine_forward,
    .backward = affine_backward,
    .params = affine_params,
    .config = affine_config,
    .destroy = affine_destroy,
};

/* The layer with its bias; W is created unless the layer is tied. */
static tl_status create(tl_layer **out, int in_dim, int out_dim, const tl_layer *tied,
                        tl_rng *rng)
{
    affine *a;
    TL_TRY(tl_calloc((void **)&a, 1, sizeof *a, "TimeAffine"));
    a->base = (tl_layer){.ops = &affine_ops, .in_dtype = TL_REAL, .in_width = in_dim,
                         .out_width = out_dim, .output_scratch = true};
    a->tied = tied;
    a->w = &a->params[W];
    tl_status st = tied ? TL_OK
                        : tl_param_init(&a->params[W], "W", 2, (int[]){in_dim, out_dim}, rng,
                                        1.0 / sqrt((double)in_dim));
    if (!st)
        st = tl_param_init(&a->params[B], "b", 1, (int[]){out_dim}, NULL, 0);
    if (st) {
        affine_destroy(&a->base);
        return st;
    }
    *out = &a->base;
    return TL_OK;
}

tl_status tl_time_affine_create(tl_layer **out, int in_dim, int out_dim, tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_affine_create: out is NULL");
    *out = NULL;
    if (in_dim <= 0 || out_dim <= 0)
        return tl_fail(TL_ERR_ARG, "TimeAffine: sizes must be positive (got D=%d, M=%d)",
                       in_dim, out_dim);
    return create(out, in_dim, out_dim, NULL, rng);
}

tl_status tl_time_affine_create_tied(tl_layer **out, tl_layer *embedding)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_affine_create_tied: out is NULL");
    *out = NULL;
    int n;
    tl_param *p = tl_layer_params(embedding, &n);
    if (!embedding || strcmp(tl_layer_type(embedding), "TimeEmbedding") != 0 || n != 1 ||
        p[0].value.ndim != 2)
        return tl_fail(TL_ERR_ARG, "TimeAffine: can only be tied to a TimeEmbedding, not %s",
                       tl_layer_type(embedding));
    int V = p[0].value.shape[0], D = p[0].value.shape[1];
    TL_TRY(create(out, D, V, embedding, NULL));
    ((affine *)*out)->w = &p[0];
    return TL_OK;
}

tl_status tl_time_affine_weight(const tl_layer *l, const tl_tensor **w, bool *transposed,
                                const tl_layer **tied)
{
    if (!l || l->ops != &affine_ops || !w)
        return tl_fail(TL_ERR_ARG, "tl_time_affine_weight: not a TimeAffine layer");
    const affine *a = (const affine *)l;
    *w = &a->w->value;
    if (transposed)
        *transposed = a->tied != NULL;
    if (tied)
        *tied = a->tied;
    return TL_OK;
}
