/* The sequential model: a chain of layers, a loss layer, and the flat
 * parameter/gradient buffers that optimizers and clipping work on. */
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include "internal.h"
#include "param.h"
#include "workspace.h"
#include "layers/output.h"
#include "timelayers/affine.h"
#include "timelayers/model.h"

struct tl_model {
    _Atomic(const void *) user; /* the thread inside a guarded call (the address of its
                                   thread-local `me`), NULL when none: see guard() */
    tl_layer **layers;
    int nlayers, cap;
    tl_layer *loss;
    int width;                 /* output width of the chain so far (0 = unknown) */

    bool built;                /* flat buffers exist; no more layers */
    tl_real *values, *grads;   /* flat buffers, nflat elements each */
    size_t nflat;
    size_t sparse_off, nsparse; /* the gradients written at a few rows a step: see zero_grad */
    tl_named_param *params;
    int nparams;

    bool forward_done;         /* a forward ran since the last backward */
    bool evaluating;           /* not training (a new model trains) */
    uint64_t seed, step;       /* key of the layers' random masks */
    tl_workspace workspace;    /* lent to every layer (workspace.h) */
};

tl_status tl_model_create(tl_model **out)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_model_create: out is NULL");
    return tl_calloc((void **)out, 1, sizeof **out, "tl_model_create");
}

static tl_status refuse(tl_layer *l, tl_status st)
{
    tl_layer_destroy(l);
    return st;
}

tl_status tl_model_add(tl_model *m, tl_layer *l)
{
    if (!m || !l)
        return refuse(l, tl_fail(TL_ERR_ARG, "tl_model_add: model or layer is NULL"));
    if (m->built)
        return refuse(l, tl_fail(TL_ERR_STATE, "tl_model_add: the model is already in use; "
                                               "add every layer before the first forward"));
    if (tl_layer_is_loss(l))
        return refuse(l, tl_fail(TL_ERR_ARG, "tl_model_add: %s is a loss layer; use "
                                             "tl_model_set_loss", tl_layer_type(l)));
    if (m->nlayers > 0) {
        const tl_layer *prev = m->layers[m->nlayers - 1];
        if (l->in_dtype != TL_REAL)
            return refuse(l, tl_fail(TL_ERR_SHAPE, "layer %d (%s) takes token ids, but only the "
                                     "first layer can", m->nlayers, tl_layer_type(l)));
        if (l->in_width && m->width && l->in_width != m->width)
            return refuse(l, tl_fail(TL_ERR_SHAPE,
                                     "layer %d (%s) expects input width %d, but layer %d (%s) "
                                     "produces width %d", m->nlayers, tl_layer_type(l),
                                     l->in_width, m->nlayers - 1, tl_layer_type(prev), m->width));
    }
    if (m->nlayers == m->cap) {
        int cap = m->cap ? 2 * m->cap : 8;
        tl_status st = tl_realloc((void **)&m->layers, (size_t)cap, sizeof *m->layers,
                                  "tl_model_add");
        if (st)
            return refuse(l, st);
        m->cap = cap;
    }
    m->layers[m->nlayers++] = l;
    l->workspace = &m->workspace;
    if (l->out_width)
        m->width = l->out_width;
    else if (l->in_width)
        m->width = l->in_width;
    return TL_OK;
}

tl_status tl_model_set_loss(tl_model *m, tl_layer *loss)
{
    if (!m || !loss)
        return refuse(loss, tl_fail(TL_ERR_ARG, "tl_model_set_loss: model or layer is NULL"));
    if (!tl_layer_is_loss(loss))
        return refuse(loss, tl_fail(TL_ERR_ARG, "tl_model_set_loss: %s is not a loss layer",
                                    tl_layer_type(loss)));
    if (loss->in_width && m->width && loss->in_width != m->width)
        return refuse(loss, tl_fail(TL_ERR_SHAPE,
                                    "loss layer (%s) expects %d scores, but layer %d (%s) "
                                    "produces width %d", tl_layer_type(loss), loss->in_width,
                                    m->nlayers - 1, tl_layer_type(m->layers[m->nlayers - 1]),
                                    m->width));
    tl_layer_destroy(m->loss);
    m->loss = loss;
    return TL_OK;
}

/* The table of a TimeEmbedding (the first layer, if any) gets gradient only at
 * the rows of a step's ids: config C writes at most 700 of its 10,000 rows.
 * Tied to an output layer, it gets a gradient everywhere. */
static void find_sparse(tl_model *m)
{
    tl_affine_view out;
    const tl_tensor *w;
    const tl_layer *tied = NULL;
    if (strcmp(tl_layer_type(m->layers[0]), "TimeEmbedding") != 0)
        return;
    for (int i = 1; i < m->nlayers; i++)
        if (tl_affine_view_of(m->layers[i], &out) &&
            !tl_time_affine_weight(m->layers[i], &w, NULL, &tied) && tied == m->layers[0])
            return;
    for (int i = 0; i < m->nparams; i++)
        if (m->params[i].layer == 0) {
            m->sparse_off = m->params[i].offset;
            m->nsparse = m->params[i].param->grad.size;
        }
}

/* Move every parameter into the flat buffers (once). */
static tl_status build(tl_model *m)
{
    if (m->built)
        return TL_OK;
    if (m->nlayers == 0)
        return tl_fail(TL_ERR_STATE, "model has no layers");
    int count = 0;
    for (int i = 0; i < m->nlayers; i++) {
        int np;
        tl_layer_params(m->layers[i], &np);
        count += np;
    }
    tl_param **ps = NULL;
    tl_status st = tl_calloc((void **)&m->params, (size_t)count + 1, sizeof *m->params,
                             "model params");
    if (!st)
        st = tl_calloc((void **)&ps, (size_t)count + 1, sizeof *ps, "model params");
    int idx = 0;
    for (int i = 0; !st && i < m->nlayers; i++) {
        int np;
        tl_param *p = tl_layer_params(m->layers[i], &np);
        for (int k = 0; k < np; k++, idx++) {
            tl_named_param *mp = &m->params[idx];
            ps[idx] = mp->param = &p[k];
            mp->layer = i;
            snprintf(mp->name, sizeof mp->name, "layers.%d.%s", i, p[k].name);
        }
    }
    if (!st)
        st = tl_params_flatten(ps, count, &m->values, &m->grads, &m->nflat);
    tl_free(ps);
    if (st) {
        tl_free(m->params);
        m->params = NULL;
        return st;
    }
    for (int i = 0; i < count; i++)
        m->params[i].offset = (size_t)(m->params[i].param->value.data - m->values);
    m->nparams = count;
    find_sparse(m);
    m->built = true;
    return TL_OK;
}

/* Forward through layers [0, n) in training or evaluation mode. */
static tl_status run_layers(tl_model *m, bool training, const tl_tensor *xs, int n,
                            const tl_tensor **out)
{
    if (!m || !xs || !out)
        return tl_fail(TL_ERR_ARG, "model forward: model, input or output is NULL");
    TL_TRY(build(m));
    for (int i = 0; i < m->nlayers; i++)
        tl_layer_set_mode(m->layers[i], &(tl_layer_mode){training, m->seed, m->step, i});
    const tl_tensor *h = xs;
    for (int i = 0; i < n; i++) {
        tl_status st = tl_layer_forward(m->layers[i], h, &h);
        if (st == TL_ERR_NOMEM) /* "tensor: out of memory ..." alone does not say whose */
            return tl_fail(st, "layer %d (%s) forward: %s", i, m->layers[i]->ops->type,
                           tl_last_error());
        if (st)
            return st;
    }
    *out = h;
    return TL_OK;
}

static tl_status model_forward_unguarded(tl_model *m, const tl_tensor *xs, const tl_tensor *ts,
                                        double *loss)
{
    const tl_tensor *scores = NULL;
    if (!m || !ts || !loss)
        return tl_fail(TL_ERR_ARG, "tl_model_forward: model, targets or loss pointer is NULL");
    TL_TRY(tl_tensor_check(ts, "tl_model_forward", "targets"));
    if (!m->loss)
        return tl_fail(TL_ERR_STATE, "tl_model_forward: the model has no loss layer");
    m->forward_done = false;
    TL_TRY(run_layers(m, !m->evaluating, xs, m->nlayers, &scores));
    /* Nothing else sees the last layer's output before the next forward: when
     * the layer allows it, the loss overwrites it with dscores. */
    if (m->layers[m->nlayers - 1]->output_scratch)
        TL_TRY(tl_loss_in_place(m->loss, (tl_tensor *)scores, ts, loss));
    else
        TL_TRY(tl_layer_loss(m->loss, scores, ts, loss));
    m->forward_done = true;
    m->step += !m->evaluating;
    return TL_OK;
}

/* Backward through layers [0, n) from d. */
static tl_status back_layers(tl_model *m, int n, const tl_tensor *d)
{
    for (int i = n - 1; i >= 0 && d; i--) {
        tl_status st = tl_layer_backward(m->layers[i], d, &d);
        if (st == TL_ERR_NOMEM)
            return tl_fail(st, "layer %d (%s) backward: %s", i, m->layers[i]->ops->type,
                           tl_last_error());
        TL_TRY(st);
    }
    return TL_OK;
}

static tl_status model_backward_unguarded(tl_model *m)
{
    if (!m)
        return tl_fail(TL_ERR_ARG, "tl_model_backward: model is NULL");
    if (!m->forward_done)
        return tl_fail(TL_ERR_STATE, "tl_model_backward: no successful tl_model_forward to "
                                     "differentiate");
    const tl_tensor *d;
    m->forward_done = false;
    TL_TRY(tl_layer_backward(m->loss, NULL, &d));
    return back_layers(m, m->nlayers, d);
}

static tl_status model_forward_backward_unguarded(tl_model *m, const tl_tensor *xs,
                                                 const tl_tensor *ts, double *loss)
{
    tl_affine_view out;
    if (!m || !ts || !loss)
        return tl_fail(TL_ERR_ARG, "tl_model_forward_backward: model, targets or loss pointer "
                                   "is NULL");
    TL_TRY(tl_tensor_check(ts, "tl_model_forward_backward", "targets"));
    int L = m->nlayers;
    /* One-hot targets (real) go the plain way: the loss layer maps them to ids. */
    if (!m->loss || L == 0 || !tl_affine_view_of(m->layers[L - 1], &out) ||
        !tl_is_softmax_loss(m->loss) || ts->dtype != TL_INT32) {
        TL_TRY(model_forward_unguarded(m, xs, ts, loss));
        return model_backward_unguarded(m);
    }
    /* The output layer and the loss in one pass (layers/affine_loss.c). */
    const tl_tensor *h = NULL, *d;
    m->forward_done = false;
    TL_TRY(run_layers(m, !m->evaluating, xs, L - 1, &h));
    TL_TRY(tl_affine_loss_fused(m->layers[L - 1], m->loss, h, ts, loss, &d));
    m->step += !m->evaluating;
    /* The pass may leave its last dW product running alongside (its
     * workspace lent to it): finished before dW is read, whatever happens. */
    tl_status st = back_layers(m, L - 1, d);
    tl_workspace_finish(&m->workspace);
    return st;
}

static tl_status model_predict_unguarded(tl_model *m, const tl_tensor *xs,
                                        const tl_tensor **scores)
{
    if (m)
        m->forward_done = false;
    return run_layers(m, false, xs, m ? m->nlayers : 0, scores);
}

void tl_model_set_training(tl_model *m, bool training)
{
    if (m)
        m->evaluating = !training;
}

bool tl_model_is_training(const tl_model *m) { return m && !m->evaluating; }

void tl_model_set_seed(tl_model *m, uint64_t seed)
{
    if (m)
        m->seed = seed;
}

void tl_model_set_step(tl_model *m, uint64_t step)
{
    if (m)
        m->step = step;
}

uint64_t tl_model_seed(const tl_model *m) { return m ? m->seed : 0; }

uint64_t tl_model_step(const tl_model *m) { return m ? m->step : 0; }

void tl_model_reset_state(tl_model *m)
{
    for (int i = 0; m && i < m->nlayers; i++)
        tl_layer_reset_state(m->layers[i]);
}

/* The dense gradients' part of elements [lo, hi) of the flat buffer. */
static bool zero_dense(void *ctx, int part, size_t lo, size_t hi)
{
    (void)part;
    const tl_model *m = ctx;
    size_t a = m->sparse_off, b = a + m->nsparse;
    if (lo < a)
        memset(m->grads + lo, 0, ((hi < a ? hi : a) - lo) * sizeof(tl_real));
    if (hi > b) {
        size_t from = lo > b ? lo : b;
        memset(m->grads + from, 0, (hi - from) * sizeof(tl_real));
    }
    return true;
}

void tl_model_zero_grad(tl_model *m)
{
    if (!m)
        return;
    if (m->built) {
        /* The embedding table's gradient is given back to the system rather
         * than written (tl_zero_pages, while the step wrote at most a quarter
         * of its pages): config C's 26 MB then holds only the pages of the
         * next step's rows (about 4 MB) instead of all of them, and clipping
         * and SGD leave the others out. The rest is cleared on the pool. */
        tl_zero_pages(m->grads + m->sparse_off, m->nsparse * sizeof(tl_real));
        tl_pass(m->grads, m->nflat, sizeof(tl_real), false, zero_dense, m);
    } else
        for (int i = 0; i < m->nlayers; i++)
            tl_layer_zero_grad(m->layers[i]);
}

int tl_model_num_layers(const tl_model *m) { return m ? m->nlayers : 0; }

tl_layer *tl_model_layer(const tl_model *m, int i)
{
    return (m && i >= 0 && i < m->nlayers) ? m->layers[i] : NULL;
}

tl_layer *tl_model_loss_layer(const tl_model *m) { return m ? m->loss : NULL; }

tl_status tl_model_layer_config(const tl_model *m, int i, tl_layer_config *cfg)
{
    if (!m || !cfg || i < 0 || i > m->nlayers || (i == m->nlayers && !m->loss))
        return tl_fail(TL_ERR_ARG, "tl_model_layer_config: NULL argument or no layer %d", i);
    TL_TRY(tl_layer_get_config(i < m->nlayers ? m->layers[i] : m->loss, cfg));
    for (int k = 0; k < cfg->nfields; k++) {
        tl_config_field *f = &cfg->fields[k];
        if (f->kind != TL_FIELD_LAYER || !f->layer)
            continue;
        f->i = -1;
        for (int j = 0; j < i && f->i < 0; j++)
            if (m->layers[j] == f->layer)
                f->i = j;
        if (f->i < 0)
            return tl_fail(TL_ERR_STATE, "layer %d (%s): field '%s' refers to a layer that is "
                           "not an earlier layer of the model", i, cfg->type, f->name);
    }
    return TL_OK;
}

tl_status tl_model_param_count(tl_model *m, int *count)
{
    if (!m || !count)
        return tl_fail(TL_ERR_ARG, "tl_model_param_count: NULL argument");
    TL_TRY(build(m));
    *count = m->nparams;
    return TL_OK;
}

tl_status tl_model_param(tl_model *m, int i, tl_named_param *p)
{
    if (!m || !p)
        return tl_fail(TL_ERR_ARG, "tl_model_param: NULL argument");
    TL_TRY(build(m));
    if (i < 0 || i >= m->nparams)
        return tl_fail(TL_ERR_RANGE, "tl_model_param: index %d outside [0, %d)", i, m->nparams);
    *p = m->params[i];
    return TL_OK;
}

tl_status tl_model_flat(tl_model *m, tl_real **values, tl_real **grads, size_t *n)
{
    if (!m)
        return tl_fail(TL_ERR_ARG, "tl_model_flat: model is NULL");
    TL_TRY(build(m));
    if (values)
        *values = m->values;
    if (grads)
        *grads = m->grads;
    if (n)
        *n = m->nflat;
    return TL_OK;
}

void tl_model_destroy(tl_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nlayers; i++)
        tl_layer_destroy(m->layers[i]);
    tl_layer_destroy(m->loss);
    tl_free(m->layers);
    tl_free(m->values);
    tl_free_pages(m->grads, m->nflat, sizeof(tl_real));
    tl_free(m->params);
    tl_workspace_free(&m->workspace);
    tl_free(m);
}

/* One model, one thread at a time: a forward writes every layer's buffers and
 * state, so two threads inside one model corrupt each other (and crashed).
 * A compare-and-swap on entry turns that into TL_ERR_STATE for the second
 * thread at the cost of two atomic operations per call; the thread holding
 * the model may re-enter it (forward_backward calls forward). */
static _Thread_local char me;

static tl_status guard_enter(tl_model *m, const char *fn, bool *entered)
{
    const void *none = NULL;
    *entered = false;
    if (atomic_compare_exchange_strong(&m->user, &none, (const void *)&me))
        return *entered = true, TL_OK;
    if (none == &me)
        return TL_OK;   /* re-entered by the thread that holds it */
    return tl_fail(TL_ERR_STATE, "%s: the model is in use by another thread; a model serves "
                   "one thread at a time (give each thread its own copy, or lock)", fn);
}

static tl_status guard_leave(tl_model *m, bool entered, tl_status st)
{
    if (entered)
        atomic_store(&m->user, NULL);
    return st;
}

#define GUARDED(fn, call)                                       \
    do {                                                        \
        bool entered_;                                          \
        if (!m)                                                 \
            return call;                                        \
        TL_TRY(guard_enter(m, fn, &entered_));                  \
        return guard_leave(m, entered_, call);                  \
    } while (0)

tl_status tl_model_forward(tl_model *m, const tl_tensor *xs, const tl_tensor *ts, double *loss)
{
    GUARDED("tl_model_forward", model_forward_unguarded(m, xs, ts, loss));
}

tl_status tl_model_backward(tl_model *m)
{
    GUARDED("tl_model_backward", model_backward_unguarded(m));
}

tl_status tl_model_forward_backward(tl_model *m, const tl_tensor *xs, const tl_tensor *ts,
                                    double *loss)
{
    GUARDED("tl_model_forward_backward", model_forward_backward_unguarded(m, xs, ts, loss));
}

tl_status tl_model_predict(tl_model *m, const tl_tensor *xs, const tl_tensor **scores)
{
    GUARDED("tl_model_predict", model_predict_unguarded(m, xs, scores));
}
