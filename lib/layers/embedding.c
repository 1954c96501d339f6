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
#include "timelayers/threads.h"

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

/* The scatter-add of the rows whose ids lie in a part of [0, V): each row is
 * one part's, added to in the order of r, so the sum is the same bits for
 * any number of threads. In a model the table's gradient starts each step
 * as pages given back to the system (tl_model_zero_grad); the part's pages
 * are mapped in runs before its rows are written (tl_prefault_rows), which
 * on a virtual machine with shadow page tables costs about 7 us a page
 * instead of the 11 us of a page fault (config C: about 1,050 pages a step). */
typedef struct {
    const tl_tensor *x, *dy;
    tl_real *dw;
    size_t V, D;
} scatter;

static void scatter_part(void *ctx, int part, int parts)
{
    const scatter *s = ctx;
    size_t lo = s->V * (size_t)part / (size_t)parts, hi = s->V * (size_t)(part + 1) / (size_t)parts;
    tl_prefault_rows(s->dw, s->D * sizeof(tl_real), s->x->ids, s->x->size, lo, hi);
    for (size_t r = 0; r < s->x->size; r++) {
        size_t id = (size_t)s->x->ids[r];
        if (id < lo || id >= hi)
            continue;
        tl_real *g = s->dw + id * s->D;
        const tl_real *d = s->dy->data + r * s->D;
        for (size_t j = 0; j < s->D; j++)
            g[j] += d[j];
    }
}

static tl_status embedding_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    embedding *e = (embedding *)l;
    size_t D = (size_t)l->out_width;
    if (!e->x)
        return tl_fail(TL_ERR_STATE, "TimeEmbedding: backward called before a successful forward");
    if (!tl_tensor_same_shape(dy, &e->y))
        return tl_fail_shape("TimeEmbedding backward", "dy", dy, "the shape of the last output");

    scatter s = {e->x, dy, e->params[W].grad.data, (size_t)e->params[W].value.shape[0], D};
    tl_parallel_run(tl_get_num_threads(), scatter_part, &s);
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
