/* Perplexity evaluation (see eval.h): the reference's batched mode and a
 * stream mode that scores every target. */
#include <math.h>
#include <stdlib.h>
#include "internal.h"
#include "eval_internal.h"
#include "timelayers/batcher.h"
#include "timelayers/eval.h"
#include "timelayers/softmax_loss.h"

enum { REF_BATCH = 10, REF_TIME = 35 };

/* Sum of the per-token losses of one batch. Scores come from predict, which
 * also tells the model there is no forward to differentiate (a backward
 * after evaluation is refused instead of reading freed batches). The loss
 * layer's normalisation is undone: a mean over the N·T tokens, or the
 * CS231n sum divided by N. */
static tl_status batch_loss_sum(tl_model *m, const tl_tensor *x, const tl_tensor *t,
                                double *sum)
{
    const tl_tensor *scores;
    tl_layer_config c;
    double loss;
    tl_layer *lossl = tl_model_loss_layer(m);
    if (!lossl)
        return tl_fail(TL_ERR_STATE, "tl_eval_perplexity: the model has no loss layer");
    TL_TRY(tl_model_predict(m, x, &scores));
    TL_TRY(tl_layer_loss(lossl, scores, t, &loss));
    int norm;
    TL_TRY(tl_layer_get_config(lossl, &c));
    TL_TRY(tl_config_int(&c, "norm", TL_LOSS_MEAN, &norm));
    *sum += loss * (norm == TL_LOSS_CS231N ? x->shape[0] : (double)x->size);
    return TL_OK;
}

/* Sum of per-token losses over the reference's batches, which are exactly the
 * first epoch of a fresh training batcher (see batcher.h); of each batch only
 * member rank of size scores its rows (possibly none: size may exceed 10). */
static tl_status eval_reference(tl_model *m, const int32_t *ids, size_t len, int rank, int size,
                                double *sum, size_t *count)
{
    tl_batcher b;
    TL_TRY(tl_batcher_init(&b, ids, len, REF_BATCH, REF_TIME));
    int first = rank * REF_BATCH / size, rows = (rank + 1) * REF_BATCH / size - first;
    if (!rows)
        return TL_OK;
    TL_TRY(tl_batcher_set_rows(&b, first, rows));
    int32_t xs[REF_BATCH * REF_TIME], ts[REF_BATCH * REF_TIME];
    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){rows, REF_TIME});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){rows, REF_TIME});
    size_t iters = tl_batcher_iters_per_epoch(&b);
    for (size_t it = 0; it < iters; it++) {
        tl_batcher_next(&b, xs, ts);
        TL_TRY(batch_loss_sum(m, &x, &t, sum));
    }
    *count = iters * (size_t)rows * REF_TIME;
    return TL_OK;
}

/* Sum of per-token losses over the whole stream at batch 1. The inputs and
 * targets are views into ids, shifted by one. */
static tl_status eval_stream(tl_model *m, const int32_t *ids, size_t len, int time, double *sum,
                             size_t *count)
{
    for (size_t pos = 0; pos + 1 < len; pos += (size_t)time) {
        int n = (int)(len - 1 - pos < (size_t)time ? len - 1 - pos : (size_t)time);
        tl_tensor x = tl_tensor_wrap_ids((int32_t *)ids + pos, 2, (int[]){1, n});
        tl_tensor t = tl_tensor_wrap_ids((int32_t *)ids + pos + 1, 2, (int[]){1, n});
        TL_TRY(batch_loss_sum(m, &x, &t, sum));
    }
    *count = len - 1;
    return TL_OK;
}

tl_status tl_eval_shard(tl_model *m, const int32_t *ids, size_t len, tl_eval_mode mode,
                        int time, int rank, int size, double *sum, size_t *count)
{
    *sum = 0;
    *count = 0;
    if (!m || !ids)
        return tl_fail(TL_ERR_ARG, "tl_eval_perplexity: model or ids is NULL");
    if (mode != TL_EVAL_REFERENCE && mode != TL_EVAL_STREAM)
        return tl_fail(TL_ERR_ARG, "tl_eval_perplexity: unknown mode %d", (int)mode);
    if (time < 0)
        return tl_fail(TL_ERR_ARG, "tl_eval_perplexity: time must be >= 0 (got %d)", time);
    if (len < 2)
        return tl_fail(TL_ERR_ARG, "tl_eval_perplexity: need at least 2 tokens (got %zu)", len);
    tl_model_reset_state(m);
    tl_status st = TL_OK;
    if (mode == TL_EVAL_REFERENCE)
        st = eval_reference(m, ids, len, rank, size, sum, count);
    else if (rank == 0)
        st = eval_stream(m, ids, len, time ? time : 35, sum, count);
    tl_model_reset_state(m);
    return st;
}

tl_status tl_eval_finish(double sum, size_t count, double *mean_loss, double *ppl)
{
    double mean = sum / (double)count;
    if (!isfinite(mean))
        return tl_fail(TL_ERR_NUMERIC, "tl_eval_perplexity: the mean loss is %g", mean);
    if (mean_loss)
        *mean_loss = mean;
    if (ppl)
        *ppl = exp(mean);
    return TL_OK;
}

tl_status tl_eval_perplexity(tl_model *m, const int32_t *ids, size_t len, tl_eval_mode mode,
                             int time, double *mean_loss, double *ppl)
{
    double sum;
    size_t count;
    TL_TRY(tl_eval_shard(m, ids, len, mode, time, 0, 1, &sum, &count));
    return tl_eval_finish(sum, count, mean_loss, ppl);
}
