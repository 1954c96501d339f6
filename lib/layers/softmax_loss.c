/* TimeSoftmaxWithLoss: softmax over the last dimension and cross-entropy with
 * integer targets, for all N·T rows at once.
 *
 *   row r with target t ≠ −1, m = max_j x[j]:
 *     e[j] = exp(x[j] − m),   s = Σ_j e[j],   −log p[t] = m + log s − x[t]
 *   loss:      scale · Σ_r −log p_r[t_r],     scale = 1/count (mean) or 1/N (CS231n)
 *   backward:  dx_r = dloss · scale · (e_r / s_r − onehot(t_r)),   0 on ignored rows
 *
 * With V = 10,000 this is the hot spot of a language-model step after the
 * GEMMs. loss() is fused: it computes the gradient for dloss = 1 along with
 * the loss, walking each row three times while it sits in cache (maximum;
 * exp, store and sum; scale and subtract the one-hot), so backward with
 * dloss = 1 (what a model does) is free, and no buffer of probabilities is
 * kept besides the gradient itself. Another dloss is written to a second
 * buffer, made only then, so backward may be repeated with any dloss. s and
 * log s are taken in double: the float build then loses nothing to 10,000
 * additions (tl_vexp_sum's partial sums run over blocks of 512 values in
 * float lanes), and −log p[t] never cancels catastrophically. Rows with an ignored target are never read.
 */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../internal.h"
#include "../kernels/kernels.h"
#include "../param.h"
#include "output.h"
#include "timelayers/softmax_loss.h"

typedef struct {
    tl_layer base;
    tl_loss_norm norm;

    /* What backward needs from the last successful loss call. */
    bool ready;
    tl_tensor grad;      /* scores' shape: dscores for dloss = 1 (owned, or the
                            scores themselves after tl_loss_in_place) */
    tl_tensor dx;        /* dscores for another dloss (made on demand) */
    tl_tensor onehot_ids; /* the ids of one-hot targets (made on demand) */
} softmax_loss;

static const tl_layer_ops softmax_loss_ops;


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

/* One counted row: g = scale · (softmax(s) − onehot(t)) with s = x, or
 * s = x + bias when bias is given (the fused output pass adds the affine
 * layer's bias here rather than copying it into every row of scores
 * first); returns −log softmax(s)[t] = max s + log Σ e − s[t], which is
 * not finite when s holds a NaN or an infinity (NaN and +inf turn the sum
 * into NaN; lo catches −inf). Three passes over the row (vmath.c): the bias
 * with the maximum and minimum, the exponential with its sum, the scaling
 * with the bias gradient. The exponential's pass also fetches next, the
 * row after (NULL: none), into the cache: in the fused output pass a row
 * comes from the L3 cache or memory, where the GEMM left it, and the first
 * pass waited on it. g may be x itself: every element is read before
 * it is written. With a bias, s is written to g and the rest works on g:
 * x + b rounds exactly as the GEMM's beta = 1 onto bias rows did. acc, when
 * not NULL, gets the row's gradient (first) or adds it: the part's share of
 * the bias gradient. */
static double row_fused(const tl_real *x, const tl_real *bias, int V, int t, double scale,
                        tl_real *g, tl_real *acc, bool first, const tl_real *next)
{
    tl_real lo, m = tl_vadd_max(V, x, bias, g, &lo);
    if (bias)
        x = g;
    const tl_real xt = x[t];   /* read before g (maybe x itself) is overwritten */
    double sum = tl_vexp_sum_ahead(V, x, m, g, next);   /* >= 1: exp(0) for the maximum */
    double nll = (double)m + log(sum) - xt;
    if (!isfinite(lo) || !isfinite(nll))
        return NAN;
    tl_vscale_acc(V, (tl_real)(scale / sum), g, acc, first);
    g[t] -= (tl_real)scale;
    if (acc)
        acc[t] -= (tl_real)scale;
    return nll;
}

/* The rows of one fused pass and, per part, the sum of its rows' losses, its
 * first non-finite row (-1: none) and whether it wrote its db partial. */
typedef struct {
    const tl_real *x, *bias;
    tl_real *g, *db_parts;
    const int32_t *ids;
    int V, rows;
    double scale;
    double part_nll[TL_LOSS_PARTS];
    int part_bad[TL_LOSS_PARTS];
    bool part_db[TL_LOSS_PARTS];
} rows_job;

static void loss_rows(void *ctx, int part, int parts)
{
    rows_job *j = ctx;
    int r0 = (int)((long long)j->rows * part / parts);
    int r1 = (int)((long long)j->rows * (part + 1) / parts);
    double total = 0;
    tl_real *acc = j->db_parts ? j->db_parts + (size_t)part * j->V : NULL;
    j->part_bad[part] = -1;
    j->part_db[part] = false;
    for (int r = r0; r < r1; r++) {
        size_t off = (size_t)r * j->V;
        if (j->ids[r] == TL_IGNORE_INDEX) {
            memset(j->g + off, 0, (size_t)j->V * sizeof(tl_real));
            continue;
        }
        const tl_real *next = r + 1 < r1 ? j->x + off + j->V : NULL;
        double nll = row_fused(j->x + off, j->bias, j->V, j->ids[r], j->scale, j->g + off, acc,
                               !j->part_db[part], next);
        if (!isfinite(nll)) {
            j->part_bad[part] = r;
            break;
        }
        total += nll;
        j->part_db[part] = acc != NULL;
    }
    j->part_nll[part] = total;
}

/* Real targets of the scores' shape (one-hot rows): *ids becomes the index
 * of each row's first maximum, NumPy's argmax, as in the textbook's loss. */
static tl_status onehot_to_ids(softmax_loss *s, const tl_tensor *x, const tl_tensor *t,
                               const tl_tensor **ids)
{
    bool same = t->ndim == x->ndim;
    for (int d = 0; same && d < x->ndim; d++)
        same = t->shape[d] == x->shape[d];
    if (!same || x->ndim < 2) {
        char got[48], expected[80];
        snprintf(expected, sizeof expected, "the shape of scores %s",
                 tl_tensor_shape_str(x, got, sizeof got));
        return tl_fail_shape("TimeSoftmaxWithLoss", "one-hot targets", t, expected);
    }
    int V = x->shape[x->ndim - 1];
    TL_TRY(tl_tensor_resize(&s->onehot_ids, TL_INT32, x->ndim - 1, x->shape));
    for (size_t r = 0; r < s->onehot_ids.size; r++) {
        const tl_real *row = t->data + r * (size_t)V;
        int best = 0;
        for (int j = 0; j < V; j++) {
            if (isnan(row[j])) {
                char at[80];
                return tl_fail(TL_ERR_NUMERIC, "TimeSoftmaxWithLoss: one-hot target row %s "
                               "holds a NaN", tl_index_str(&s->onehot_ids, r, at, sizeof at));
            }
            if (row[j] > row[best])
                best = j;
        }
        s->onehot_ids.ids[r] = best;
    }
    *ids = &s->onehot_ids;
    return TL_OK;
}

static double loss_scale(const softmax_loss *s, const tl_tensor *t, int N)
{
    size_t count = 0;
    for (size_t r = 0; r < t->size; r++)
        count += t->ids[r] != TL_IGNORE_INDEX;
    return s->norm == TL_LOSS_CS231N ? 1.0 / N : count ? 1.0 / (double)count : 0;
}

bool tl_is_softmax_loss(const tl_layer *l) { return l && l->ops == &softmax_loss_ops; }

tl_status tl_softmax_loss_scale(const tl_layer *l, const tl_tensor *t, int N, int V,
                                double *scale)
{
    TL_TRY(tl_check_ids("TimeSoftmaxWithLoss", "target", t, V, true));
    *scale = loss_scale((const softmax_loss *)l, t, N);
    return TL_OK;
}

/* Rows are independent: parts of them run on the library's threads. The
 * parts depend only on the row count and their sums (of the losses and of
 * the db partials) are added in order, so the loss and db are the same bits
 * for any number of threads. */
tl_status tl_softmax_loss_rows(const tl_tensor *t, size_t row0, int rows, int V, double scale,
                               const tl_real *x, const tl_real *bias, tl_real *g,
                               tl_real *db_parts, tl_real *db, double *nll)
{
    rows_job job = {.x = x, .bias = bias, .g = g, .db_parts = db ? db_parts : NULL,
                    .ids = t->ids + row0, .V = V, .rows = rows, .scale = scale};
    int parts = rows < TL_LOSS_PARTS ? rows : TL_LOSS_PARTS;
    tl_parallel_run(parts, loss_rows, &job);
    double total = 0;
    int bad = -1;
    for (int p = 0; p < parts; p++) {
        total += job.part_nll[p];
        if (bad < 0)
            bad = job.part_bad[p];
    }
    if (bad >= 0) {
        char at[80];
        return tl_fail(TL_ERR_NUMERIC, "TimeSoftmaxWithLoss: scores row %s holds a NaN or "
                       "an infinity", tl_index_str(t, row0 + (size_t)bad, at, sizeof at));
    }
    for (int p = 0; db && p < parts; p++)
        if (job.part_db[p])
            tl_add_column_sums(1, V, db_parts + (size_t)p * V, V, db);
    *nll = total;
    return TL_OK;
}

/* The loss, with the gradient for dloss = 1 written to `out` (the scores
 * themselves) or, when out is NULL, to the layer's own buffer. */
static tl_status fused_loss(softmax_loss *s, const tl_tensor *x, const tl_tensor *t,
                            tl_real *out, double *loss)
{
    if (t->dtype == TL_REAL)
        TL_TRY(onehot_to_ids(s, x, t, &t));
    TL_TRY(check_shapes(s, x, t));
    int V = x->shape[x->ndim - 1], rows = (int)t->size;
    TL_TRY(tl_check_ids("TimeSoftmaxWithLoss", "target", t, V, true));
    s->ready = false;
    if (out) {
        tl_tensor_free(&s->grad);
        s->grad = tl_tensor_wrap(out, x->ndim, x->shape);
    } else {
        if (!s->grad.owned)
            s->grad = (tl_tensor){0};
        TL_TRY(tl_tensor_resize(&s->grad, TL_REAL, x->ndim, x->shape));
    }

    double scale = loss_scale(s, t, x->shape[0]), total;
    TL_TRY(tl_softmax_loss_rows(t, 0, rows, V, scale, x->data, NULL, s->grad.data, NULL, NULL,
                                &total));
    s->ready = true;
    *loss = total * scale;
    return TL_OK;
}

static tl_status softmax_loss_loss(tl_layer *l, const tl_tensor *x, const tl_tensor *t,
                                   double *loss)
{
    return fused_loss((softmax_loss *)l, x, t, NULL, loss);
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
    tl_real dloss = dy ? dy->data[0] : 1;
    if (dloss == 1) {
        *dx = &s->grad;
        return TL_OK;
    }
    TL_TRY(tl_tensor_resize(&s->dx, TL_REAL, s->grad.ndim, s->grad.shape));
    for (size_t i = 0; i < s->grad.size; i++)
        s->dx.data[i] = dloss * s->grad.data[i];
    *dx = &s->dx;
    return TL_OK;
}

static tl_status softmax_loss_config(const tl_layer *l, tl_layer_config *cfg)
{
    cfg->in_dim = l->in_width;
    return tl_config_set_int(cfg, "norm", (int)((const softmax_loss *)l)->norm);
}

static void softmax_loss_destroy(tl_layer *l)
{
    softmax_loss *s = (softmax_loss *)l;
    tl_tensor_free(&s->grad);
    tl_tensor_free(&s->dx);
    tl_tensor_free(&s->onehot_ids);
    tl_free(s);
}

static const tl_layer_ops softmax_loss_ops = {
    .type = "TimeSoftmaxWithLoss",
    .loss = softmax_loss_loss,
    .backward = softmax_loss_backward,
    .config = softmax_loss_config,
    .destroy = softmax_loss_destroy,
};

tl_status tl_loss_in_place(tl_layer *l, tl_tensor *scores, const tl_tensor *t, double *loss)
{
    if (!l || l->ops != &softmax_loss_ops || !scores || scores->dtype != TL_REAL || !t ||
        (t->dtype != TL_INT32 && t->dtype != TL_REAL) || (t->size && !t->ids))
        return tl_layer_loss(l, scores, t, loss);
    return fused_loss((softmax_loss *)l, scores, t, scores->data, loss);
}

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
