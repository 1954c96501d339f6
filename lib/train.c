/* The TBPTT training loop, its reports and its checkpoints (see train.h).
 *
 * One step:  xs, ts = batch;  zero_grad;  L = forward(xs, ts);  backward;
 *            norm = ||g||₂;  s = clip/(norm + 1e-6) if norm > clip, else 1;
 *            optimizer step from s·g.
 *
 * All buffers (the batch, the flat parameter and gradient arrays) exist before
 * the first step; a step allocates nothing.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>
#include "internal.h"
#include "timelayers/batcher.h"
#include "timelayers/clip.h"
#include "timelayers/eval.h"
#include "timelayers/softmax_loss.h"
#include "layers/output.h"
#include "train_internal.h"


static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

tl_status tl_trainer_create(tl_trainer **out, tl_model *m, tl_optim *opt, const tl_vocab *vocab,
                            const int32_t *train, size_t ntrain, const int32_t *valid,
                            size_t nvalid, const tl_train_config *cfg)
{
    if (!out || !m || !opt || !train || !cfg)
        return tl_fail(TL_ERR_ARG, "tl_trainer_create: model, optimizer, data or config is NULL");
    *out = NULL;
    if (cfg->batch < 1 || cfg->time < 1 || cfg->epochs < 0 || cfg->clip_norm < 0 ||
        cfg->clip_value < 0 || cfg->report_every < 0 || cfg->max_steps < 0 ||
        cfg->save_every < 0 || cfg->eval_every < 0 || !(cfg->max_seconds >= 0) ||
        (cfg->lr_decay != 0 && !(cfg->lr_decay > 1)) || cfg->nmeta < 0 ||
        (cfg->nmeta && !cfg->meta) || cfg->accumulate < 0)
        return tl_fail(TL_ERR_ARG, "tl_trainer_create: invalid configuration (batch %d, time %d, "
                       "epochs %d, clip %g, lr_decay %g, eval_every %ld, nmeta %d, accumulate %d)",
                       cfg->batch, cfg->time, cfg->epochs, cfg->clip_norm, cfg->lr_decay,
                       cfg->eval_every, cfg->nmeta, cfg->accumulate);
    static const char *const own[] = {"optim", "train", "lr_schedule", "vocab", "vocab.level"};
    for (int i = 0; i < cfg->nmeta; i++)
        for (size_t k = 0; k < sizeof own / sizeof *own; k++)
            if (!cfg->meta[i].key || strcmp(cfg->meta[i].key, own[k]) == 0)
                return tl_fail(TL_ERR_ARG, "tl_trainer_create: extra metadata %d has the key "
                               "\"%s\", which is NULL or the trainer's own", i,
                               cfg->meta[i].key ? cfg->meta[i].key : "");
    if (tl_lr_schedule_check(&cfg->lr_schedule))
        return tl_fail(TL_ERR_ARG, "tl_trainer_create: %s", tl_last_error());
    if (cfg->lr_decay != 0 && cfg->lr_schedule.kind != TL_LR_CONSTANT)
        return tl_fail(TL_ERR_ARG, "tl_trainer_create: lr_decay is the plateau schedule; give "
                       "either it or lr_schedule");
    if (valid && nvalid < 2)
        return tl_fail(TL_ERR_ARG, "tl_trainer_create: a validation set needs at least 2 tokens "
                       "(got %zu)", nvalid);
    size_t bt, rows = (size_t)cfg->batch * (size_t)(cfg->accumulate ? cfg->accumulate : 1);
    if (!tl_mul_ok(rows, (size_t)cfg->time, &bt) || bt > TL_MAX_ELEMENTS)
        return tl_fail(TL_ERR_NOMEM, "tl_trainer_create: batch %zu x time %d is too large",
                       rows, cfg->time);
    tl_trainer *t;
    TL_TRY(tl_calloc((void **)&t, 1, sizeof *t, "tl_trainer_create"));
    *t = (tl_trainer){.m = m, .opt = opt, .vocab = vocab, .valid = valid, .nvalid = nvalid,
                      .cfg = *cfg, .best_ppl = INFINITY, .base_lr = tl_optim_lr(opt)};
    if (!t->cfg.report_every)
        t->cfg.report_every = 20;
    if (cfg->lr_decay > 1)
        t->cfg.lr_schedule = (tl_lr_schedule){.kind = TL_LR_PLATEAU, .factor = cfg->lr_decay};
    tl_rng_seed(&t->rng, 0);
    /* The fingerprint of the training data: a resume checks it (FNV-1a 64). */
    t->data_hash = tl__fnv1a(TL__FNV1A_START, train, ntrain);
    t->ntrain = ntrain;
    tl_status st = tl__group_init(t);
    if (!st)
        st = tl_batcher_init(&t->batcher, train, ntrain, t->rows, cfg->time);
    if (!st)
        st = tl_comm_shard_batcher(cfg->comm, &t->batcher);
    if (!st)
        st = tl_model_flat(m, &t->values, &t->grads, &t->nparams);
    /* Reports are per token whatever the loss layer's normalisation. */
    tl_layer *lossl = tl_model_loss_layer(m);
    tl_layer_config lc;
    int norm = TL_LOSS_MEAN;
    if (!st && lossl && tl_is_softmax_loss(lossl) && !tl_layer_get_config(lossl, &lc))
        st = tl_config_int(&lc, "norm", TL_LOSS_MEAN, &norm);
    t->token_scale = norm == TL_LOSS_CS231N ? 1.0 / cfg->time : 1.0;
    if (!st && tl_optim_nparams(opt) != t->nparams)
        st = tl_fail(TL_ERR_ARG, "tl_trainer_create: the optimizer was made for %zu parameters, "
                     "the model has %zu", tl_optim_nparams(opt), t->nparams);
    if (!st)
        st = tl_calloc((void **)&t->kept, 2 * (size_t)tl_model_num_layers(m) + 1, sizeof *t->kept,
                       "trainer state");
    if (!st)
        st = tl_alloc((void **)&t->xs, bt, sizeof(int32_t), "trainer batch");
    if (!st)
        st = tl_alloc((void **)&t->ts, bt, sizeof(int32_t), "trainer batch");
    if (st) {
        tl_trainer_destroy(t);
        return st;
    }
    t->x = tl_tensor_wrap_ids(t->xs, 2, (int[]){t->part, cfg->time});
    t->t = tl_tensor_wrap_ids(t->ts, 2, (int[]){t->part, cfg->time});
    *out = t;
    return TL_OK;
}

void tl_trainer_destroy(tl_trainer *t)
{
    if (!t)
        return;
    if (t->log)
        fclose(t->log);
    for (int i = 0; t->kept && i < 2 * tl_model_num_layers(t->m); i++)
        tl_tensor_free(&t->kept[i]);
    tl_free(t->kept);
    tl__group_free(t);
    tl_free(t->xs);
    tl_free(t->ts);
    tl_free(t);
}

int tl_trainer_epoch(const tl_trainer *t) { return t ? t->epoch : 0; }
long tl_trainer_step(const tl_trainer *t) { return t ? t->step : 0; }
double tl_trainer_best_ppl(const tl_trainer *t) { return t ? t->best_ppl : INFINITY; }
bool tl_trainer_saved(const tl_trainer *t) { return t && t->saved; }

/* ---- one step ---------------------------------------------------------- */

/* The message for a non-finite gradient names the first parameter holding one. */
static tl_status nonfinite_grad(tl_trainer *t, double norm)
{
    size_t k = tl_grad_first_nonfinite(t->grads, t->nparams);
    int count;
    TL_TRY(tl_model_param_count(t->m, &count));
    for (int i = 0; i < count; i++) {
        tl_named_param p;
        TL_TRY(tl_model_param(t->m, i, &p));
        if (k >= p.offset && k < p.offset + p.param->grad.size)
            return tl_fail(TL_ERR_NUMERIC, "step %ld: gradient norm is %g; first non-finite "
                           "gradient in %s[%zu]", t->step + 1, norm, p.name, k - p.offset);
    }
    return tl_fail(TL_ERR_NUMERIC, "step %ld: gradient norm is %g", t->step + 1, norm);
}

/* Forward and backward of part k of the member's rows (k = 0 and all of them unless
 * accumulating). *loss_sum and *weight add the part's loss times its weight (the targets
 * it counts) and that weight. */
static tl_status part_step(tl_trainer *t, int k, double *loss_sum, double *weight)
{
    size_t off = (size_t)k * t->part * t->cfg.time;
    t->x.ids = t->xs + off;
    t->t.ids = t->ts + off;
    double loss, w = tl__group_weight(t, &t->t);
    TL_TRY(tl__group_part_in(t, k, w));
    /* Training mode (validation ran in evaluation mode); dropout masks keyed
     * by the step count (and the part), which a resumed run restores. */
    tl_model_set_training(t->m, true);
    tl_model_set_step(t->m, (uint64_t)t->step * (uint64_t)t->K + (uint64_t)k);
    tl_status st = tl_model_forward_backward(t->m, &t->x, &t->t, &loss);
    if (st == TL_ERR_NUMERIC) /* non-finite scores: say where training is */
        return tl_fail(st, "step %ld (epoch %d, iteration %ld): %s", t->step + 1, t->epoch + 1,
                       t->iter + 1, tl_last_error());
    TL_TRY(st);
    if (!isfinite(loss))
        return tl_fail(TL_ERR_NUMERIC, "step %ld (epoch %d, iteration %ld): the loss is %g",
                       t->step + 1, t->epoch + 1, t->iter + 1, loss);
    TL_TRY(tl__group_part_out(t, k));
    *loss_sum += loss * w;
    *weight += w;
    return TL_OK;
}

static tl_status train_step(tl_trainer *t, double *loss, double *norm)
{
    tl_batcher_next(&t->batcher, t->xs, t->ts);
    tl_model_zero_grad(t->m);
    double sum = 0, weight = 0;
    tl_status st = TL_OK;
    for (int k = 0; k < t->K && !st; k++)
        st = part_step(t, k, &sum, &weight);
    /* The hook: the group's losses and gradients summed, one failure failing every member. */
    /* In a group the writer's clock and any member's stop request end the run for all. */
    bool halt = (tl_comm_is_writer(t->cfg.comm) && t->cfg.max_seconds > 0 &&
                 now() - t->start_t >= t->cfg.max_seconds) || (t->cfg.stop && *t->cfg.stop);
    TL_TRY(tl__group_reduce(t, st, sum, weight, halt, loss));
    const tl_lr_schedule *ls = &t->cfg.lr_schedule;
    if (ls->kind == TL_LR_STEP || ls->kind == TL_LR_COSINE) {
        long total = t->cfg.epochs * (long)tl_batcher_iters_per_epoch(&t->batcher);
        TL_TRY(tl_optim_set_lr(t->opt, tl_lr_at(ls, t->base_lr, tl_optim_lr(t->opt),
                                                t->epoch + 1, t->step + 1, total)));
    }
    /* Clipping by norm goes into the update (two passes over the gradients,
     * not four); clipping by value clamps the scaled gradients, which are
     * scaled in place first. */
    double max_norm = t->cfg.clip_norm > 0 ? t->cfg.clip_norm : INFINITY;
    if (t->cfg.clip_value > 0) {
        if (tl_clip_grad_norm(t->grads, t->nparams, max_norm, norm))
            return nonfinite_grad(t, *norm);
        TL_TRY(tl_clip_grad_value(t->grads, t->nparams, t->cfg.clip_value));
        return tl_optim_step(t->opt, t->values, t->grads, t->nparams);
    }
    st = tl_optim_step_clip_norm(t->opt, t->values, t->grads, t->nparams, max_norm, norm);
    return st == TL_ERR_NUMERIC ? nonfinite_grad(t, *norm) : st;
}

/* ---- reports ------------------------------------------------------------- */

/* Seconds left: by steps, capped by the time budget. */
static double eta(const tl_trainer *t, double steps_per_sec, long total, double elapsed)
{
    double left = steps_per_sec > 0 && total > t->step ? (total - t->step) / steps_per_sec : 0;
    if (t->cfg.max_seconds > 0 && t->cfg.max_seconds - elapsed < left)
        left = t->cfg.max_seconds > elapsed ? t->cfg.max_seconds - elapsed : 0;
    return left;
}

static tl_status report(tl_trainer *t, tl_train_callback cb, void *ctx, double norm,
                        double valid_ppl, bool epoch_end)
{
    double tnow = now(), elapsed = tnow - t->start_t;
    long iters = (long)tl_batcher_iters_per_epoch(&t->batcher);
    long total = (long)t->cfg.epochs * iters;
    if (t->cfg.max_steps && t->cfg.max_steps < total)
        total = t->cfg.max_steps;
    double steps_per_sec = t->step > t->start_step ? (t->step - t->start_step) / elapsed : 0;
    tl_train_progress p = {
        .epoch = epoch_end ? t->epoch : t->epoch + 1,
        .epochs = t->cfg.epochs,
        .step = t->step,
        .iter = epoch_end ? iters : t->iter,
        .iters_per_epoch = iters,
        .train_ppl = t->report_count ? exp(t->report_loss / t->report_count) : NAN,
        .valid_ppl = valid_ppl,
        .train_loss = t->report_count ? t->report_loss / t->report_count : NAN,
        .valid_loss = log(valid_ppl),
        .lr = tl_optim_lr(t->opt),
        .grad_norm = norm,
        .tokens_per_sec = steps_per_sec * t->rows * t->cfg.time,
        .elapsed_sec = elapsed,
        .eta_sec = eta(t, steps_per_sec, total, elapsed),
        .epoch_end = epoch_end,
    };
    if (t->log) { /* the writer's only */
        fprintf(t->log, "%d,%ld,%ld,%.6g,%.6g,%.6g,%.6g,%.1f,%.3f,%.6g,%.6g\n", p.epoch, p.step,
                p.iter, p.train_ppl, p.valid_ppl, p.lr, p.grad_norm, p.tokens_per_sec,
                p.elapsed_sec, p.train_loss, p.valid_loss);
        if (fflush(t->log) != 0 || ferror(t->log))
            return tl_fail(TL_ERR_IO, "%s: writing the log failed: %s", t->cfg.log_csv,
                           strerror(errno));
    }
    if (cb && tl_comm_is_writer(t->cfg.comm))
        cb(ctx, &p);
    t->report_loss = 0;
    t->report_count = 0;
    t->report_t0 = tnow;
    return TL_OK;
}

/* ---- the loop ------------------------------------------------------------ */

/* Copy the state each recurrent layer carries into the next batch aside
 * (keep) or back (!keep): validation in the middle of an epoch must not
 * disturb truncated BPTT. A zero-size tensor stands for the zero state. */
static tl_status carried_states(tl_trainer *t, bool keep)
{
    for (int i = 0; i < tl_model_num_layers(t->m); i++) {
        tl_layer *l = tl_model_layer(t->m, i);
        tl_tensor *h = &t->kept[2 * i], *c = &t->kept[2 * i + 1];
        if (!tl_layer_has_state(l))
            continue;
        if (!keep) {
            if (h->size)
                TL_TRY(tl_layer_set_state(l, h, c->size ? c : NULL));
            else
                tl_layer_reset_state(l);
            continue;
        }
        const tl_tensor *st[2] = {NULL, NULL};
        TL_TRY(tl_layer_get_state(l, &st[0], &st[1]));
        for (int k = 0; k < 2; k++) {
            tl_tensor *dst = k ? c : h;
            if (!st[k] || !st[k]->size) {
                dst->size = 0;
                continue;
            }
            TL_TRY(tl_tensor_resize(dst, TL_REAL, st[k]->ndim, st[k]->shape));
            memcpy(dst->data, st[k]->data, st[k]->size * sizeof *dst->data);
        }
    }
    return TL_OK;
}

/* Validation perplexity (NAN without a validation set): reference mode when
 * the set is long enough for one reference batch, else every target at batch
 * 1; *improved when it is the best so far. At an epoch end the model's state
 * is reset (the textbook's loop); in the middle of one it is put back. */
static tl_status validate(tl_trainer *t, bool epoch_end, double *ppl, bool *improved)
{
    *ppl = NAN;
    *improved = false;
    if (!t->valid)
        return TL_OK;
    tl_eval_mode mode = t->nvalid > 350 ? TL_EVAL_REFERENCE : TL_EVAL_STREAM;
    if (!epoch_end)
        TL_TRY(carried_states(t, true));
    TL_TRY(tl_comm_eval_perplexity(t->cfg.comm, t->m, t->valid, t->nvalid, mode, t->cfg.time,
                                   NULL, ppl));
    if (!epoch_end)
        TL_TRY(carried_states(t, false));
    else
        tl__group_reset_states(t); /* as the model's were */
    *improved = *ppl < t->best_ppl;
    if (*improved)
        t->best_ppl = *ppl;
    return TL_OK;
}

static tl_status open_log(tl_trainer *t)
{
    if (!t->cfg.log_csv || t->log || !tl_comm_is_writer(t->cfg.comm))
        return TL_OK;
    return tl__log_open(t->cfg.log_csv, t->step, "epoch,step,iter,train_ppl,valid_ppl,lr,"
                        "grad_norm,tokens_per_sec,elapsed_sec,train_loss,valid_loss\n", &t->log);
}

static tl_status checkpoint(tl_trainer *t)
{
    return t->cfg.checkpoint ? tl_trainer_save(t, t->cfg.checkpoint) : TL_OK;
}

static tl_status keep_best(tl_trainer *t, bool improved)
{
    return improved && t->cfg.keep_best ? tl_trainer_save(t, t->cfg.keep_best) : TL_OK;
}

tl_status tl_trainer_run(tl_trainer *t, tl_train_callback cb, void *ctx)
{
    if (!t)
        return tl_fail(TL_ERR_ARG, "tl_trainer_run: trainer is NULL");
    TL_TRY(tl__group_start(t));
    /* Whatever makes the save fail (directory, permissions, header size, disk
     * space) fails now rather than after the training it would throw away. */
    if (t->cfg.checkpoint && t->epoch < t->cfg.epochs)
        TL_TRY(tl_trainer_check_save(t, t->cfg.checkpoint));
    if (t->cfg.keep_best && t->epoch < t->cfg.epochs)
        TL_TRY(tl_trainer_check_save(t, t->cfg.keep_best));
    TL_TRY(open_log(t));
    long iters = (long)tl_batcher_iters_per_epoch(&t->batcher);
    double norm = 0;
    t->start_t = t->report_t0 = now();
    t->start_step = t->step;
    while (t->epoch < t->cfg.epochs) {
        while (t->iter < iters) {
            if ((t->cfg.max_steps && t->step >= t->cfg.max_steps) ||
                (t->cfg.comm ? t->halt
                             : (t->cfg.max_seconds > 0 && now() - t->start_t >= t->cfg.max_seconds) ||
                               (t->cfg.stop && *t->cfg.stop)))
                return checkpoint(t);
            double loss;
            TL_TRY(train_step(t, &loss, &norm));
            t->step++;
            t->iter++;
            t->report_loss += loss * t->token_scale;
            t->report_count++;
            double ppl = NAN;
            bool improved = false;
            /* The epoch end validates anyway. */
            if (t->cfg.eval_every && t->step % t->cfg.eval_every == 0 && t->iter < iters)
                TL_TRY(validate(t, false, &ppl, &improved));
            if (t->iter % t->cfg.report_every == 0 || !isnan(ppl))
                TL_TRY(report(t, cb, ctx, norm, ppl, false));
            if (t->cfg.save_every && t->step % t->cfg.save_every == 0)
                TL_TRY(checkpoint(t));
            TL_TRY(keep_best(t, improved));
        }
        double ppl;
        bool improved;
        TL_TRY(validate(t, true, &ppl, &improved));
        if (t->valid && !improved && t->cfg.lr_schedule.kind == TL_LR_PLATEAU)
            TL_TRY(tl_optim_set_lr(t->opt, tl_optim_lr(t->opt) / t->cfg.lr_schedule.factor));
        t->epoch++;
        t->iter = 0;
        TL_TRY(report(t, cb, ctx, norm, ppl, true));
        TL_TRY(checkpoint(t));
        TL_TRY(keep_best(t, improved));
    }
    return TL_OK;
}
