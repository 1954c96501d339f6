/* The trainer's parts of a batch (gradient accumulation) and its group
 * (data parallelism): see train.h "Groups" and docs/distributed.md.
 *
 * An update covers `rows` = K·B rows of one batcher; member r of P computes
 * rows [r·rows/P, (r+1)·rows/P) in K parts of `part` = B/P rows. Part k's
 * loss is the mean over the w_k targets it counts and its gradient g_k; the
 * update's gradient is that of the mean over all counted targets,
 *     g = Σ_k,r w_k,r · g_k,r / Σ_k,r w_k,r.
 * Backward adds g_k into the gradient buffer, so the buffer holds S / c_ref
 * with S = Σ w_k g_k over the parts so far: when a part's weight differs from
 * c_ref the buffer is rescaled first (never, when every part counts the same).
 * The reduction then multiplies by c_ref / W (W the group's total weight) and
 * sums over the members.
 */
#include <math.h>
#include <string.h>
#include "internal.h"
#include "timelayers/softmax_loss.h"
#include "train_internal.h"

static bool in_group(const tl_trainer *t) { return tl_comm_size(t->cfg.comm) > 1; }

/* Only a stateful layer carries its state into the next batch. */
static bool carries_state(tl_layer *l)
{
    tl_layer_config c;
    bool stateful = false;
    return tl_layer_has_state(l) && !tl_layer_get_config(l, &c) &&
           !tl_config_bool(&c, "stateful", false, &stateful) && stateful;
}

static void scale(tl_real *v, size_t n, double s)
{
    tl_real f = (tl_real)s;
    for (size_t i = 0; i < n; i++)
        v[i] *= f;
}

tl_status tl__group_init(tl_trainer *t)
{
    int P = tl_comm_size(t->cfg.comm);
    t->K = t->cfg.accumulate ? t->cfg.accumulate : 1;
    if ((long long)t->cfg.batch * t->K > (1 << 30))
        return tl_fail(TL_ERR_ARG, "tl_trainer_create: batch %d x accumulate %d is too large",
                       t->cfg.batch, t->K);
    if (t->cfg.batch % P)
        return tl_fail(TL_ERR_ARG, "batch %d cannot be split among %d processes: give a batch "
                       "divisible by %d", t->cfg.batch, P, P);
    t->rows = t->cfg.batch * t->K;
    t->local = t->rows / P;
    t->part = t->cfg.batch / P;
    if (t->K == 1)
        return TL_OK;
    /* Parts take turns in the model: each part's carried state waits here. */
    int L = tl_model_num_layers(t->m);
    TL_TRY(tl_calloc((void **)&t->states, 2 * (size_t)L, sizeof *t->states, "trainer states"));
    for (int i = 0; i < L; i++) {
        tl_layer *l = tl_model_layer(t->m, i);
        const tl_tensor *h, *c;
        if (!carries_state(l))
            continue;
        TL_TRY(tl_layer_get_state(l, &h, &c));
        int shape[2] = {t->local, l->out_width};
        TL_TRY(tl_tensor_zeros(&t->states[2 * i], TL_REAL, 2, shape));
        if (c) /* NULL for layers with a hidden state only */
            TL_TRY(tl_tensor_zeros(&t->states[2 * i + 1], TL_REAL, 2, shape));
    }
    return TL_OK;
}

void tl__group_free(tl_trainer *t)
{
    if (!t->states)
        return;
    for (int i = 0; i < 2 * tl_model_num_layers(t->m); i++)
        tl_tensor_free(&t->states[i]);
    tl_free(t->states);
    t->states = NULL;
}

void tl__group_reset_states(tl_trainer *t)
{
    for (int i = 0; t->states && i < 2 * tl_model_num_layers(t->m); i++)
        if (t->states[i].size)
            memset(t->states[i].data, 0, t->states[i].size * sizeof(tl_real));
}

/* Rows [k·part, (k+1)·part) of a (local, H) state. */
static tl_tensor part_rows(const tl_trainer *t, const tl_tensor *s, int k)
{
    int H = s->shape[1];
    return tl_tensor_wrap(s->data + (size_t)k * t->part * H, 2, (int[]){t->part, H});
}

tl_status tl__group_part_in(tl_trainer *t, int k, double weight)
{
    if (weight > 0) {
        if (t->c_ref > 0 && weight != t->c_ref)
            scale(t->grads, t->nparams, t->c_ref / weight);
        t->c_ref = weight;
    }
    for (int i = 0; t->states && i < tl_model_num_layers(t->m); i++) {
        if (!t->states[2 * i].size)
            continue;
        tl_tensor h = part_rows(t, &t->states[2 * i], k), c;
        if (t->states[2 * i + 1].size)
            c = part_rows(t, &t->states[2 * i + 1], k);
        TL_TRY(tl_layer_set_state(tl_model_layer(t->m, i), &h,
                                  t->states[2 * i + 1].size ? &c : NULL));
    }
    return TL_OK;
}

tl_status tl__group_part_out(tl_trainer *t, int k)
{
    for (int i = 0; t->states && i < tl_model_num_layers(t->m); i++) {
        const tl_tensor *st[2];
        if (!t->states[2 * i].size)
            continue;
        TL_TRY(tl_layer_get_state(tl_model_layer(t->m, i), &st[0], &st[1]));
        for (int j = 0; j < 2; j++) {
            if (!t->states[2 * i + j].size)
                continue;
            tl_tensor dst = part_rows(t, &t->states[2 * i + j], k);
            if (st[j] && st[j]->size == dst.size)
                memcpy(dst.data, st[j]->data, dst.size * sizeof(tl_real));
            else
                memset(dst.data, 0, dst.size * sizeof(tl_real));
        }
    }
    return TL_OK;
}

double tl__group_weight(const tl_trainer *t, const tl_tensor *targets)
{
    /* Alone with one part there is nothing to weigh against: the loss stays exact. */
    if (!in_group(t) && t->K == 1)
        return 1;
    tl_layer_config c;
    int norm = TL_LOSS_MEAN;
    if (!tl_layer_get_config(tl_model_loss_layer(t->m), &c) &&
        !tl_config_int(&c, "norm", TL_LOSS_MEAN, &norm) && norm == TL_LOSS_CS231N)
        return targets->shape[0];
    size_t n = 0;
    for (size_t i = 0; i < targets->size; i++)
        n += targets->ids[i] != TL_IGNORE_INDEX;
    return (double)n;
}

tl_status tl__group_reduce(tl_trainer *t, tl_status st, double loss_sum, double weight,
                           bool halt, double *loss)
{
    double c_ref = t->c_ref;
    t->c_ref = 0;
    if (!in_group(t)) {
        t->halt = halt;
        TL_TRY(st);
        *loss = weight > 0 ? loss_sum / weight : 0;
        if (c_ref > 0 && c_ref != weight)
            scale(t->grads, t->nparams, c_ref / weight);
        return TL_OK;
    }
    /* Every member takes part, failed or not, so that no member waits for another. */
    double v[5] = {st ? 0 : loss_sum, st ? 0 : weight, st != TL_OK, st == TL_ERR_NUMERIC,
                   halt};
    tl_status cs = tl_comm_sum(t->cfg.comm, v, 5);
    TL_TRY(st);
    TL_TRY(cs);
    if (v[2] > 0)
        return tl_fail(v[3] == v[2] ? TL_ERR_NUMERIC : TL_ERR_STATE, "step %ld: %.0f other "
                       "process(es) of the group failed (see their messages)", t->step + 1, v[2]);
    *loss = v[1] > 0 ? v[0] / v[1] : 0;
    t->halt = v[4] > 0;
    double s = v[1] > 0 ? c_ref / v[1] : 0;
    if (s != 1)
        scale(t->grads, t->nparams, s);
    return tl_comm_sum_reals(t->cfg.comm, t->grads, t->nparams);
}

/* ---- agreement when training starts -------------------------------------- */

static tl_status check_vocab(tl_trainer *t)
{
    size_t bytes = 0;
    int32_t V = t->vocab ? tl_vocab_size(t->vocab) : 0;
    for (int32_t i = 0; i < V; i++)
        bytes += strlen(tl_vocab_token(t->vocab, i)) + 1;
    char *all;
    TL_TRY(tl_alloc((void **)&all, bytes ? bytes : 1, 1, "vocabulary check"));
    size_t at = 0;
    for (int32_t i = 0; i < V; i++) {
        size_t n = strlen(tl_vocab_token(t->vocab, i)) + 1;
        memcpy(all + at, tl_vocab_token(t->vocab, i), n);
        at += n;
    }
    tl_status st = tl_comm_check_same(t->cfg.comm, "the vocabulary", all, bytes);
    tl_free(all);
    return st;
}

static tl_status check_options(tl_trainer *t)
{
    const tl_train_config *c = &t->cfg;
    tl_optim_config o;
    tl_optim_get_config(t->opt, &o);
    double opts[] = {c->batch, c->time, t->K, c->epochs, c->clip_norm, c->clip_value,
                     c->lr_decay, (double)c->max_steps, c->max_seconds, (double)c->save_every,
                     (double)t->nparams, o.kind, tl_optim_lr(t->opt), o.momentum, o.rho,
                     o.beta1, o.beta2, o.eps, (double)c->eval_every, c->lr_schedule.kind,
                     c->lr_schedule.factor, c->lr_schedule.hold, (double)c->lr_schedule.warmup,
                     t->base_lr};
    TL_TRY(tl_comm_check_same(c->comm, "the options (model size, batch, time, optimizer, "
                              "clipping, schedule, epochs, limits)", opts, sizeof opts));
    double pos[] = {t->epoch, (double)t->step, (double)t->iter, (double)t->batcher.time_idx,
                    t->best_ppl, (double)tl_optim_steps(t->opt)};
    TL_TRY(tl_comm_check_same(c->comm, "the training position (resume every process from the "
                              "same checkpoint)", pos, sizeof pos));
    for (int i = 0; i < tl_optim_state_count(t->opt); i++) {
        const char *name;
        tl_real *buf;
        size_t n;
        TL_TRY(tl_optim_state(t->opt, i, &name, &buf, &n));
        TL_TRY(tl_comm_check_same(c->comm, "the optimizer state (resume every process from "
                                  "the same checkpoint)", buf, n * sizeof *buf));
    }
    return TL_OK;
}

tl_status tl__group_start(tl_trainer *t)
{
    if (t->started || !in_group(t))
        return TL_OK;
    tl_comm *c = t->cfg.comm;
    TL_TRY(tl_comm_check_same(c, "the training data", t->batcher.data,
                              t->batcher.len * sizeof *t->batcher.data));
    TL_TRY(tl_comm_check_same(c, "the validation data", t->valid,
                              t->valid ? t->nvalid * sizeof *t->valid : 0));
    TL_TRY(check_vocab(t));
    TL_TRY(check_options(t));
    /* A fresh run starts from member 0's weights; a resumed one must already hold them. */
    if (t->step == 0)
        TL_TRY(tl_comm_broadcast_params(c, t->m));
    else
        TL_TRY(tl_comm_check_same(c, "the parameters (resume every process from the same "
                                  "checkpoint)", t->values, t->nparams * sizeof *t->values));
    t->started = true;
    return TL_OK;
}

/* ---- checkpoints ------------------------------------------------------------ */

tl_status tl__group_state(tl_trainer *t, int i, int k, const tl_real **data, size_t *count,
                          tl_real **owned)
{
    *data = NULL;
    *count = 0;
    *owned = NULL;
    tl_layer *l = tl_model_layer(t->m, i);
    if (!carries_state(l))
        return TL_OK;
    const tl_tensor *mine;
    if (t->states) {
        mine = &t->states[2 * i + k];
    } else {
        const tl_tensor *st[2];
        TL_TRY(tl_layer_get_state(l, &st[0], &st[1]));
        mine = st[k];
    }
    /* Absent, or the implicit zero state: the same on every member, which run in step. */
    if (!mine || !mine->size)
        return TL_OK;
    if (!in_group(t)) {
        *data = mine->data;
        *count = mine->size;
        return TL_OK;
    }
    tl_comm *c = t->cfg.comm;
    size_t n = mine->size * (size_t)c->size;
    if (tl_comm_is_writer(c))
        TL_TRY(tl_alloc((void **)owned, n, sizeof(tl_real), "checkpoint state"));
    tl_status st = c->ops->gather(c, mine->data, mine->size * sizeof(tl_real), *owned, 0);
    if (st) {
        tl_free(*owned);
        *owned = NULL;
        return st;
    }
    *data = *owned;
    *count = n;
    return TL_OK;
}

tl_status tl__group_set_state(tl_trainer *t, int i, const tl_tensor *h, const tl_tensor *c)
{
    const tl_tensor *all[2] = {h, c};
    tl_tensor mine[2];
    int first = tl_comm_rank(t->cfg.comm) * t->local;
    for (int k = 0; k < 2; k++) {
        if (!all[k])
            continue;
        int H = all[k]->shape[1];
        mine[k] = tl_tensor_wrap(all[k]->data + (size_t)first * H, 2, (int[]){t->local, H});
        if (!t->states)
            continue;
        tl_tensor *dst = &t->states[2 * i + k];
        if (dst->size != mine[k].size)
            return tl_fail(TL_ERR_FORMAT, "checkpoint state of layer %d has %d columns; the "
                           "layer has %d", i, H, dst->size ? dst->shape[1] : 0);
        memcpy(dst->data, mine[k].data, dst->size * sizeof(tl_real));
    }
    if (t->states) /* the parts' states go into the model one by one */
        return TL_OK;
    return tl_layer_set_state(tl_model_layer(t->m, i), &mine[0], c ? &mine[1] : NULL);
}

tl_status tl__group_saved(tl_trainer *t, tl_status st, bool dry)
{
    if (!in_group(t))
        return st;
    double failed = st != TL_OK;
    TL_TRY(tl_comm_sum(t->cfg.comm, &failed, 1));
    TL_TRY(st);
    if (failed > 0)
        return tl_fail(TL_ERR_IO, "the checkpoint could not be written (see the message of "
                       "process 0)");
    if (dry) /* before training: the replicas are not one model yet */
        return TL_OK;
    /* The replicas must still be one model: cheap next to writing it. */
    return tl_comm_check_same(t->cfg.comm, "the parameters (the replicas drifted apart)",
                              t->values, t->nparams * sizeof *t->values);
}
