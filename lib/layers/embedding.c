/* TimeEmbedding: row lookup in W (V, D) for every token id.
 *
 *   forward:  y[r,:] = W[x[r],:]          r over the N·T ids
 *   backward: dW[x[r],:] += dy[r,:]       scatter-add: repeated ids add up
 *
 * A gather and a scatter, no arithmetic beyond the additions. Ids index
 * memory directly, so all of them are validated before the first row moves.
 */
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../param.h"
#include "timelayers/embedding.h"

enum { W, NPARAMS };

typedef struct {
    tl_layer base;
    tl_param params[NPARAMS];
    const tl_tensor *x;   /* borrowed ids until backward; NULL = no forward */
    tl_tensor y;
} embedding;

static tl_status embedding_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    embedding *e = (embedding *)l;
    int V = e->params[W].value.shape[0], D = l->out_width;
    if (x->ndim < 1 || x->ndim > 2)
        return tl_fail_shape("TimeEmbedding", "input", x, "(N, T) or (N,) token ids");
    TL_TRY(tl_check_ids("TimeEmbedding", "id", x, V, false));
    e->x = NULL;
    int shape[3] = {x->shape[0], x->shape[1], D};
    shape[x->ndim] = D;
    TL_TRY(tl_tensor_resize(&e->y, TL_REAL, x->ndim + 1, shape));

    const tl_real *w = e->params[W].value.data;
    for (size_t r = 0; r < x->size; r++)
        memcpy(e->y.data + r * D, w + (size_t)x->ids[r] * D, (size_t)D * sizeof(tl_real));
    e->x = x;
    *y = &e->y;
    return TL_OK;
}

static tl_status embedding_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    embedding *e = (embedding *)l;
    size_t D = (size_t)l->out_width;
    if (!e->x)
        return tl_fail(TL_ERR_STATE, "TimeEmbedding: backward called before a successful forward");
    if (!tl_tensor_same_shape(dy, &e->y))
        return tl_fail_shape("TimeEmbedding backward", "dy", dy, "the shape of the last output");

    tl_real *dw = e->params[W].grad.data;
    for (size_t r = 0; r < e->x->size; r++) {
        tl_real *g = dw + (size_t)e->x->ids[r] * D;
        const tl_real *d = dy->data + r * D;
        for (size_t j = 0; j < D; j++)
            g[j] += d[j];
    }
    *dx = NULL;
    return TL_OK;
}

static tl_param *embedding_params(tl_layer *l, int *count)
{
    *count = NPARAMS;
    return ((embedding *)l)->params;
}

static tl_status embedding_config(const tl_layer *l, tl_layer_config *cfg)
{
    cfg->in_dim = ((const embedding *)l)->params[W].value.shape[0];
    cfg->out_dim = l->out_width;
    return TL_OK;
}

static void embedding_destroy(tl_layer *l)
{
    embedding *e = (embedding *)l;
    tl_params_free(e->params, NPARAMS);
    tl_tensor_free(&e->y);
    tl_free(e);
}

static const tl_layer_ops embedding_ops = {
    .type = "TimeEmbedding",
    .forward = embedding_forward,
    .backward = embedding_backward,
    .params = embedding_params,
    .config = embedding_config,
    .destroy = embedding_destroy,
};

tl_status tl_time_embedding_create(tl_layer **out, int vocab, int dim, tl_rng *rng)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_embedding_create: out is NULL");
    *out = NULL;
    if (vocab <= 0 || dim <= 0)
        return tl_fail(TL_ERR_ARG, "TimeEmbedding: sizes must be positive (got V=%d, D=%d)",
                       vocab, dim);
    embedding *e;
    TL_TRY(tl_calloc((void **)&e, 1, sizeof *e, "TimeEmbedding"));
    e->base = (tl_layer){.ops = &embedding_ops, .in_dtype = TL_INT32, .in_width = 0,
                         .out_width = dim};
    tl_status st = tl_param_init(&e->params[W], "W", 2, (int[]){vocab, dim}, rng, 0.01);
    if (st) {
        embedding_destroy(&e->base);
        return st;
    }
    *out = &e->base;
    return TL_OK;
}
