/* TimeSoftmaxWithLoss: softmax over the last dimension and cross-entropy with
 * integer targets, for all N·T rows at once.
 *
 *   row r with target t ≠ −1, m = max_j x[j]:
 *     e[j] = exp(x[j] − m),   s = Σ_j e[j],   −log p[t] = m + log s − x[t]
 *   loss:      scale · Σ_r −log p_r[t_r],     scale = 1/count (mean) or 1/N (CS231n)
 *   backward:  dx_r = dloss · scale · (e_r / s_r − onehot(t_r)),   0 on ignored rows
 *
 * With V = 10,000 this is the hot spot of a language-model step. loss()
 * walks each row twice while it sits in cache (the maximum, then e, s and the
 * term together) and keeps e and 1/s, so backward is one multiply pass with
 * no exp and may be repeated. s and log s are taken in double: the float
 * build then loses nothing to 10,000 additions, and −log p[t] never cancels
 * catastrophically. Rows with an ignored target are never read.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../param.h"
#include "timelayers/softmax_loss.h"

#ifdef TL_REAL_DOUBLE
#define EXP exp
#else
#define EXP expf
#endif

typedef struct {
    tl_layer base;
    tl_loss_norm norm;

    /* What backward needs from the last successful loss call. */
    bool ready;
    double scale;        /* 1/count or 1/N; 0 when every target was ignored */
    tl_tensor targets;   /* a copy: (N, T) or (N,) */
    tl_tensor e;         /* scores' shape: exp(x − row max) on counted rows */
    tl_tensor inv_sum;   /* (rows,) 1 / Σ e on counted rows */

    tl_tensor dx;
} softmax_loss;

static tl_status check_shapes(const softmax_loss *s, const tl_tensor *x, const tl_tensor *t)
{
    int vocab = s->base.in_width, nd = x->ndim;
    bool ok = nd >= 2 && nd <= 3 && (!vocab || x->shape[nd - 1] == vocab);
    for (int d = 0; ok && d < nd; d++)
        ok = x->shape[d] >= 1;
    if (!ok) {
        char expected[64];
        if (vocab)
            snprintf(expected, sizeof expected, "(N, T, %d) or (N, %d) with N, T >= 1", vocab,
                     vocab);
        else
            snprintf(expected, sizeof expected, "(N, T, V) or (N, V) with N, T, V >= 1");
        return tl_fail_shape("TimeSoftmaxWithLoss", "scores", x, expected);
    }
    ok = t->ndim == nd - 1;
    for (int d = 0; ok && d < nd - 1; d++)
        ok = t->shape[d] == x->shape[d];
    if (!ok) {
        char got[48], expected[80];
        snprintf(expected, sizeof expected, "the leading dimensions of scores %s",
                 tl_tensor_shape_str(x, got, sizeof got));
        return tl_fail_shape("TimeSoftmaxWithLoss", "targets", t, expected);
    }
    if (t->size > INT_MAX)
        return tl_fail(TL_ERR_NOMEM, "TimeSoftmaxWithLoss: %zu rows exceed INT_MAX", t->size);
    return TL_OK;
}

/* One row: e = exp(x − max x) and *inv_sum = 1 / Σ e; returns −log softmax(x)[t]
 * = max x + log Σ e − x[t], which is not finite when x holds a NaN or an
 * infinity (NaN and +inf turn the sum into NaN; lo catches −inf). */
static double row_nll(const tl_real *x, int V, int t, tl_real *e, tl_real *inv_sum)
{
    tl_real hi = x[0], lo = x[0];
    for (int j = 1; j < V; j++) {
        hi = x[j] > hi ? x[j] : hi;
        lo = x[j] < lo ? x[j] : lo;
    }
    double sum = 0;   /* >= 1: the maximum contributes exp(0) */
    for (int j = 0; j < V; j++) {
        e[j] = EXP(x[j] - hi);
        sum += e[j];
    }
    *inv_sum = (tl_real)(1 / sum);
    return isfinite(lo) ? (double)hi + log(sum) - x[t] : NAN;
}

static tl_status softmax_loss_loss(tl_layer *l, const tl_tensor *x, const tl_tensor *t,
                                   double *loss)
{
    softmax_loss *s = (softmax_loss *)l;
    TL_TRY(check_shapes(s, x, t));
    int V = x->shape[x->ndim - 1], rows = (int)t->size;
    TL_TRY(tl_check_ids("TimeSoftmaxWithLoss", "target", t, V, true));
    s->ready = false;
    TL_TRY(tl_tensor_copy(&s->targets, t));
    TL_TRY(tl_tensor_resize(&s->e, TL_REAL, x->ndim, x->shape));
    TL_TRY(tl_tensor_resize(&s->inv_sum, TL_REAL, 1, &rows));

    double total = 0;
    int count = 0;
    for (int r = 0; r < rows; r++) {
        int target = t->ids[r];
        if (target == TL_IGNORE_INDEX)
            continue;
        size_t off = (size_t)r * V;
        double nll = row_nll(x->data + off, V, target, s->e.data + off, &s->inv_sum.data[r]);
        if (!isfinite(nll)) {
            char at[80];
            return tl_fail(TL_ERR_NUMERIC, "TimeSoftmaxWithLoss: scores row %s holds a NaN or "
                           "an infinity", tl_index_str(t, (size_t)r, at, sizeof at));
        }
        total += nll;
        count++;
    }
    if (s->norm == TL_LOSS_CS231N)
        s->scale = 1.0 / x->shape[0];
    else
        s->scale = count ? 1.0 / count : 0;
    s->ready = true;
    *loss = total * s->scale;
    return TL_OK;
}

static tl_status softmax_loss_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    softmax_loss *s = (softmax_loss *)l;
    if (!s->ready)
        return tl_fail(TL_ERR_STATE, "TimeSoftmaxWithLoss: backward called before a successful "
                                     "loss");
    if (dy && (dy->dtype != TL_REAL || dy->size != 1 || !dy->data))
        return tl_fail_shape("TimeSoftmaxWithLoss backward", "dy", dy,
                             "NULL or one real number (dloss)");
    double scale = s->scale * (dy ? (double)dy->data[0] : 1.0);
    TL_TRY(tl_tensor_resize(&s->dx, TL_REAL, s->e.ndim, s->e.shape));

    size_t V = (size_t)s->e.shape[s->e.ndim - 1];
    for (size_t r = 0; r < s->targets.size; r++) {
        int target = s->targets.ids[r];
        tl_real *d = s->dx.data + r * V;
        if (target == TL_IGNORE_INDEX) {
            memset(d, 0, V * sizeof *d);
            continue;
        }
        const tl_real *e = s->e.data + r * V;
        tl_real c = (tl_real)(scale * s->inv_sum.data[r]);
        for (size_t j = 0; j < V; j++)
            d[j] = c * e[j];
        d[target] -= (tl_real)scale;
    }
    *dx = &s->dx;
    return TL_OK;
}

static void softmax_loss_config(const tl_layer *l, tl_layer_config *cfg)
{
    cfg->in_dim = l->in_width;
    cfg->variant = (int)((const softmax_loss *)l)->norm;
}

static void softmax_loss_destroy(tl_layer *l)
{
    softmax_loss *s = (softmax_loss *)l;
    tl_tensor *owned[] = {&s->targets, &s->e, &s->inv_sum, &s->dx};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_free(s);
}

static const tl_layer_ops softmax_loss_ops = {
    .type = "TimeSoftmaxWithLoss",
    .loss = softmax_loss_loss,
    .backward = softmax_loss_backward,
    .config = softmax_loss_config,
    .destroy = softmax_loss_destroy,
};

tl_status tl_time_softmax_loss_create(tl_layer **out, int vocab, tl_loss_norm norm)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_time_softmax_loss_create: out is NULL");
    *out = NULL;
    if (vocab < 0)
        return tl_fail(TL_ERR_ARG, "TimeSoftmaxWithLoss: vocab must be >= 0 (0 = any), got %d",
                       vocab);
    if (norm != TL_LOSS_MEAN && norm != TL_LOSS_CS231N)
        return tl_fail(TL_ERR_ARG, "TimeSoftmaxWithLoss: unknown normalisation %d", (int)norm);
    softmax_loss *s;
    TL_TRY(tl_calloc((void **)&s, 1, sizeof *s, "TimeSoftmaxWithLoss"));
    s->base = (tl_layer){.ops = &softmax_loss_ops, .in_dtype = TL_REAL, .in_width = vocab,
                         .out_width = 0};
    s->norm = norm;
    *out = &s->base;
    return TL_OK;
}
