/* TimeAffine: a dense layer applied to every time step at once.
 *
 *   forward:  y = x·W + b            x: (R, D) with R = N·T, W: (D, M)
 *   backward: dx = dy·Wᵀ, dW += xᵀ·dy, db += Σ_rows dy
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
    tl_param params[NPARAMS];
    const tl_tensor *x;   /* borrowed from the caller until backward */
    tl_tensor y, dx;
} affine;

static tl_status affine_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    affine *a = (affine *)l;
    int D = l->in_width, M = l->out_width, rows;
    TL_TRY(tl_rows_of("TimeAffine", x, D, &rows));
    int shape[3] = {x->shape[0], x->shape[1], M};
    shape[x->ndim - 1] = M;
    TL_TRY(tl_tensor_resize(&a->y, TL_REAL, x->ndim, shape));

    tl_real *out = a->y.data;
    for (int r = 0; r < rows; r++)
        memcpy(out + (size_t)r * M, a->params[B].value.data, (size_t)M * sizeof(tl_real));
    tl_gemm(false, false, rows, M, D, 1, x->data, D, a->params[W].value.data, M, 1, out, M);
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

    tl_gemm(false, true, rows, D, M, 1, dy->data, M, a->params[W].value.data, M, 0, a->dx.data, D);
    tl_gemm(true, false, D, M, rows, 1, a->x->data, D, dy->data, M, 1, a->params[W].grad.data, M);
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
                          .W = a->params[W].value.data, .b = a->params[B].value.data,
                          .W_transposed = false,
                          .dW = a->params[W].grad.data, .db = a->params[B].grad.data,
                          .scratch = &a->y, .dx = &a->dx, .x = &a->x};
    return true;
}

static tl_param *affine_params(tl_layer *l, int *count)
{
    *count = NPARAMS;
    return ((affine *)l)->params;
}

static tl_status affine_config(const tl_layer *l, tl_layer_config *cfg)
{
    cfg->in_dim = l->in_width;
    cfg->out_dim = l->out_width;
    return TL_OK;
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

tl_status tl_time_affine_create(tl_layer **out, int in_dim, int out_dim, tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_affine_create: out is NULL");
    *out = NULL;
    if (in_dim <= 0 || out_dim <= 0)
        return tl_fail(TL_ERR_ARG, "TimeAffine: sizes must be positive (got D=%d, M=%d)",
                       in_dim, out_dim);
    affine *a;
    TL_TRY(tl_calloc((void **)&a, 1, sizeof *a, "TimeAffine"));
    a->base = (tl_layer){.ops = &affine_ops, .in_dtype = TL_REAL, .in_width = in_dim,
                         .out_width = out_dim, .output_scratch = true};
    tl_status st = tl_param_init(&a->params[W], "W", 2, (int[]){in_dim, out_dim}, rng,
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
