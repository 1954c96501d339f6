/* The sequence-to-sequence trainer and its accuracy evaluation
 * (seq2seq_train.h). The step is the library's: zero_grad, forward,
 * backward, tl_optim_step_clip_norm on the model's flat buffers;
 * checkpoints reuse the language-model trainer's optimizer metadata. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>
#include "internal.h"
#include "train_internal.h"
#include "timelayers/seq2seq_train.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rows idx[0, n) of a (·, len) id array into t (n, len). */
static tl_status gather(tl_tensor *t, const int32_t *ids, int len, const size_t *idx, size_t n)
{
    TL_TRY(tl_tensor_resize(t, TL_INT32, 2, (int[]){(int)n, len}));
    for (size_t i = 0; i < n; i++)
        memcpy(t->ids + i * (size_t)len, ids + idx[i] * (size_t)len,
               (size_t)len * sizeof(int32_t));
    return TL_OK;
}

tl_status tl_seq2seq_accuracy(tl_seq2seq *s, const tl_pairs *p, int batch, size_t *exact,
                              size_t *symbols)
{
    if (!s || !p || !exact || batch < 1 || !p->n)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_accuracy: NULL argument, batch < 1 or no pairs");
    tl_tensor q = {0};
    size_t *idx = NULL, ok = 0, sym = 0, T = (size_t)p->alen - 1;
    tl_status st = tl_alloc((void **)&idx, (size_t)batch, sizeof *idx, "accuracy");
    for (size_t b = 0; !st && b < p->n; b += (size_t)batch) {
        size_t n = p->n - b < (size_t)batch ? p->n - b : (size_t)batch;
        for (size_t i = 0; i < n; i++)
            idx[i] = b + i;
        const tl_tensor *gen;
        st = gather(&q, p->q, p->qlen, idx, n);
        if (!st)
            st = tl_seq2seq_generate(s, &q, p->a[b * (size_t)p->alen], p->alen - 1, &gen);
        for (size_t i = 0; !st && i < n; i++) {
            const int32_t *g = gen->ids + i * T, *a = p->a + (b + i) * (size_t)p->alen + 1;
            size_t same = 0;
            for (size_t t = 0; t < T; t++)
                same += g[t] == a[t];
            ok += same == T;
            sym += same;
        }
    }
    tl_free(idx);
    tl_tensor_free(&q);
    *exact = ok;
    if (symbols)
        *symbols = sym;
    return st;
}

tl_status tl_seq2seq_checkpoint_optim(const tl_checkpoint *ck, tl_seq2seq *s, tl_optim **out)
{
    size_t n;
    TL_TRY(tl_seq2seq_flat(s, NULL, NULL, &n));
    return tl__checkpoint_optim_n(ck, n, out);
}

/* The loop's position: `iter` steps of epoch `epoch` (0-based: epochs
 * completed) are done, and epoch_rng is the generator as that epoch began, so
 * that its permutation can be drawn again on resuming in the middle of it. */
struct tl_seq2seq_trainer {
    tl_seq2seq *s;
    tl_optim *o;
    const tl_pairs *train, *test;
    tl_seq2seq_train_config cfg;
    tl_rng rng, epoch_rng;
    int epoch;
    long iter, step;
    uint64_t data_hash; /* the training pairs' fingerprint (tl__fnv1a) */
    double report_loss; /* the report in progress: sum of losses, steps */
    long report_n;
    size_t *perm;
    FILE *log;
};

static tl_status save(const tl_seq2seq_trainer *t, const char *path, bool dry)
{
    if (!t || !path)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_trainer_save: NULL argument");
    char rng[4][17], train[384];
    for (int i = 0; i < 4; i++)
        snprintf(rng[i], sizeof rng[i], "%016" PRIx64, t->epoch_rng.s[i]);
    snprintf(train, sizeof train, "{\"epoch\":%d,\"iter\":%ld,\"step\":%ld,\"rng\":[\"%s\","
             "\"%s\",\"%s\",\"%s\"],\"report_loss\":%.17g,\"report_count\":%ld,"
             "\"batch\":%d,\"data\":\"%016" PRIx64 "\"}", t->epoch, t->iter, t->step, rng[0],
             rng[1], rng[2], rng[3], t->report_loss, t->report_n, t->cfg.batch, t->data_hash);
    enum { MAX_STATE = 8 };
    tl_ckpt_tensor extra[MAX_STATE];
    char names[MAX_STATE][48];
    int ne = 0;
    for (int i = 0; i < tl_optim_state_count(t->o) && ne < MAX_STATE; i++, ne++) {
        const char *name;
        tl_real *buf;
        TL_TRY(tl_optim_state(t->o, i, &name, &buf, &extra[ne].n));
        snprintf(names[ne], sizeof names[ne], "optim.%s", name);
        extra[ne].name = names[ne];
        extra[ne].data = buf;
    }
    char *optim = tl__optim_json(t->o), *vocab = t->cfg.vocab ? tl_vocab_json(t->cfg.vocab) : NULL;
    tl_ckpt_meta *meta = NULL;
    tl_status st = optim && (vocab || !t->cfg.vocab)
                       ? tl_alloc((void **)&meta, 4 + (size_t)t->cfg.nmeta, sizeof *meta,
                                  "checkpoint metadata")
                       : tl_fail(TL_ERR_NOMEM, "checkpoint: out of memory writing the \"optim\" "
                                          "or \"vocab\" JSON");
    if (!st) {
        int k = 0;
        meta[k++] = (tl_ckpt_meta){"optim", optim};
        meta[k++] = (tl_ckpt_meta){"train", train};
        if (vocab) {
            meta[k++] = (tl_ckpt_meta){"vocab.level", tl_vocab_level(t->cfg.vocab) ==
                                                          TL_LEVEL_WORD ? "word" : "char"};
            meta[k++] = (tl_ckpt_meta){"vocab", vocab};
        }
        for (int i = 0; i < t->cfg.nmeta; i++)
            meta[k++] = t->cfg.meta[i];
        st = (dry ? tl_seq2seq_save_check : tl_seq2seq_save)(path, t->s, meta, k, extra, ne);
    }
    tl_free(meta);
    cJSON_free(optim);
    cJSON_free(vocab);
    return st;
}

tl_status tl_seq2seq_trainer_save(const tl_seq2seq_trainer *t, const char *path)
{
    return save(t, path, false);
}

/* "iter" may be absent: checkpoints written at epoch ends only (before stops
 * mid-epoch existed) hold the next epoch's generator, which is the same thing.
 * The report in progress ("report_loss", "report_count"), the batch and the
 * data's fingerprint may be absent too (older files): the report restarts,
 * the batch and the data are not checked. The metadata is read as strictly
 * as the LM trainer's (a key twice, an rng word that is not 16 hex digits:
 * refused). */
static tl_status restore(tl_seq2seq_trainer *t, const tl_checkpoint *ck)
{
    cJSON *j;
    TL_TRY(tl__meta_json(ck, "train", cJSON_Object, &j));
    long iters = (long)((t->train->n + (size_t)t->cfg.batch - 1) / (size_t)t->cfg.batch);
    double epoch = 0, step = 0, iter = 0, batch = 0, report_loss = 0, report_count = 0;
    const tl__field fields[] = {
        {"epoch", 0, 1e9, &epoch, true},
        {"step", 0, 9e15, &step, true},
    };
    const tl__field opt_batch = {"batch", 1, 1e9, &batch, true};
    const tl__field opt_iter = {"iter", 0, 9e15, &iter, true};
    const tl__field report[] = {
        {"report_loss", -1e300, 1e300, &report_loss, false},
        {"report_count", 0, 1e9, &report_count, true},
    };
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rng");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
    char mine[17];
    snprintf(mine, sizeof mine, "%016" PRIx64, t->data_hash);
    tl_status st = tl__numbers(j, "train", fields, 2);
    if (!st && cJSON_GetObjectItemCaseSensitive(j, "batch") &&
        !(st = tl__numbers(j, "train", &opt_batch, 1)) && (int)batch != t->cfg.batch)
        st = tl_fail(TL_ERR_ARG, "the checkpoint was trained with batch %d; resume with the "
                     "same (got %d)", (int)batch, t->cfg.batch);
    if (!st && data && (!cJSON_IsString(data) || strcmp(data->valuestring, mine)))
        st = tl_fail(TL_ERR_ARG, "these are not the training pairs of the checkpoint's run (%zu "
                     "pairs, fingerprint %s; the checkpoint's: %s): resume with the same data",
                     t->train->n, mine, cJSON_IsString(data) ? data->valuestring : "invalid");
    if (!st && cJSON_GetObjectItemCaseSensitive(j, "iter") &&
        !(st = tl__numbers(j, "train", &opt_iter, 1)) && (long)iter >= iters)
        st = tl_fail(TL_ERR_ARG, "the checkpoint stopped at iteration %ld of an epoch, but these "
                     "training pairs make %ld iterations per epoch: not the same data or batch",
                     (long)iter, iters);
    if (!st && cJSON_GetObjectItemCaseSensitive(j, "report_count"))
        st = tl__numbers(j, "train", report, 2);
    if (!st && !(cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4))
        st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": rng must be 4 hex strings");
    tl_rng rng = {{0}};
    for (int i = 0; !st && i < 4; i++)
        if (!tl__hex64(cJSON_GetArrayItem(r, i), &rng.s[i]))
            st = tl_fail(TL_ERR_FORMAT, "checkpoint metadata \"train\": rng[%d] is not 16 hex "
                         "digits", i);
    if (!st) {
        t->epoch = (int)epoch;
        t->iter = (long)iter;
        t->step = (long)step;
        t->rng = rng;
        t->report_loss = report_loss;
        t->report_n = (long)report_count;
    }
    cJSON_Delete(j);
    return st;
}

static tl_status log_row(tl_seq2seq_trainer *t, const tl_seq2seq_progress *p)
{
    if (!t->log)
        return TL_OK;
    fprintf(t->log, "%d,%ld,%.6f,%.4f,", p->epoch, p->step, p->loss, p->grad_norm);
    if (isnan(p->accuracy))
        fprintf(t->log, ",");
    else
        fprintf(t->log, "%.6f,", p->accuracy);
    fprintf(t->log, "%.3f,%.1f\n", p->elapsed_sec, p->tokens_per_sec);
    return fflush(t->log) || ferror(t->log)
               ? tl_fail(TL_ERR_IO, "cannot write %s", t->cfg.log_csv) : TL_OK;
}

/* The checkpoint of a stop or an epoch end; a save that fails leaves the
 * trainer as it was, for the caller to save elsewhere. */
static tl_status checkpoint(const tl_seq2seq_trainer *t)
{
    return t->cfg.checkpoint ? save(t, t->cfg.checkpoint, false) : TL_OK;
}

tl_status tl_seq2seq_trainer_run(tl_seq2seq_trainer *t, tl_seq2seq_callback cb, void *ctx)
{
    if (!t)
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_trainer_run: NULL trainer");
    const tl_pairs *tr = t->train;
    int B = t->cfg.batch, every = t->cfg.report_every > 0 ? t->cfg.report_every : 50;
    long iters = (long)((tr->n + (size_t)B - 1) / (size_t)B);
    tl_real *values, *grads;
    size_t nflat, *perm = t->perm;
    TL_TRY(tl_seq2seq_flat(t->s, &values, &grads, &nflat));
    /* Whatever would make the epoch's save fail (directory, permissions, disk
     * space) fails now rather than after the epoch it would throw away. */
    if (t->cfg.checkpoint && t->epoch < t->cfg.epochs)
        TL_TRY(save(t, t->cfg.checkpoint, true));
    tl_tensor q = {0}, a = {0};
    /* Clipping goes into the update (two passes over the gradients, not
     * four); without it the norm is only measured, for the reports. */
    double t0 = now(), report_t0 = t0, norm = 0;
    double max_norm = t->cfg.clip_norm > 0 ? t->cfg.clip_norm : INFINITY;
    long start_step = t->step, report_tokens = 0;
    tl_status st = TL_OK;
    bool stopped = false;
    while (!st && !stopped && t->epoch < t->cfg.epochs) {
        t->rng = t->epoch_rng;
        for (size_t i = 0; i < tr->n; i++)
            perm[i] = i;
        for (size_t i = tr->n - 1; i > 0; i--) {
            size_t k = (size_t)tl_rng_below(&t->rng, i + 1), x = perm[i];
            perm[i] = perm[k];
            perm[k] = x;
        }
        for (long it = t->iter; !st && it < iters; it++) {
            if ((t->cfg.stop && *t->cfg.stop) ||
                (t->cfg.max_steps && t->step >= t->cfg.max_steps)) {
                stopped = true;
                st = checkpoint(t);
                break;
            }
            size_t b = (size_t)it * (size_t)B, n = tr->n - b < (size_t)B ? tr->n - b : (size_t)B;
            double loss;
            st = gather(&q, tr->q, tr->qlen, perm + b, n);
            if (!st)
                st = gather(&a, tr->a, tr->alen, perm + b, n);
            tl_seq2seq_zero_grad(t->s);
            if (!st)
                st = tl_seq2seq_forward(t->s, &q, &a, &loss);
            if (!st && !isfinite(loss))
                st = tl_fail(TL_ERR_NUMERIC, "step %ld: the loss is not finite", t->step + 1);
            if (!st)
                st = tl_seq2seq_backward(t->s);
            if (!st)
                st = tl_optim_step_clip_norm(t->o, values, grads, nflat, max_norm, &norm);
            if (st)
                break;
            t->step++;
            t->iter = it + 1;
            t->report_loss += loss;
            t->report_n++;
            report_tokens += (long)n * (tr->qlen + tr->alen - 1);
            bool end = it == iters - 1;
            /* Reports fall at fixed iterations of an epoch, and the sums of
             * the one in progress are checkpointed: a resumed run logs the
             * rows of a run that never stopped. */
            if ((it + 1) % every == 0 || end) {
                double tn = now(), el = tn - t0;
                double rate = (double)(t->step - start_step) / (el > 0 ? el : 1e-9);
                long left = (long)(t->cfg.epochs - t->epoch - 1) * iters + (iters - it - 1);
                tl_seq2seq_progress p = {
                    .epoch = t->epoch + 1, .epochs = t->cfg.epochs, .step = t->step,
                    .iter = it + 1, .iters_per_epoch = iters,
                    .loss = t->report_loss / (double)t->report_n,
                    .grad_norm = norm, .accuracy = NAN,
                    .tokens_per_sec = (double)report_tokens / (tn - report_t0 > 0 ? tn - report_t0 : 1e-9),
                    .elapsed_sec = el, .eta_sec = (double)left / rate};
                t->report_loss = 0;
                t->report_n = 0;
                if (end) {
                    size_t ok;
                    t->epoch++;
                    t->iter = 0;
                    t->epoch_rng = t->rng;
                    if (t->test && !(st = tl_seq2seq_accuracy(t->s, t->test, 256, &ok, NULL)))
                        p.accuracy = (double)ok / (double)t->test->n;
                    if (!st)
                        st = checkpoint(t);
                    p.epoch_end = true;
                    p.elapsed_sec = now() - t0;
                }
                if (!st)
                    st = log_row(t, &p);
                if (!st && cb)
                    cb(&p, ctx);
                report_tokens = 0;
                report_t0 = now();
            }
        }
    }
    tl_tensor_free(&q);
    tl_tensor_free(&a);
    return st;
}

void tl_seq2seq_trainer_destroy(tl_seq2seq_trainer *t)
{
    if (!t)
        return;
    if (t->log)
        fclose(t->log);
    tl_free(t->perm);
    tl_free(t);
}

tl_status tl_seq2seq_trainer_create(tl_seq2seq_trainer **out, tl_seq2seq *s, tl_optim *o,
                                    const tl_pairs *train, const tl_pairs *test,
                                    const tl_seq2seq_train_config *cfg,
                                    const tl_checkpoint *resume)
{
    if (!out || !s || !o || !train || !cfg || !train->n || cfg->batch < 1 || cfg->epochs < 0 ||
        cfg->clip_norm < 0 || cfg->nmeta < 0 || (cfg->nmeta && !cfg->meta))
        return tl_fail(TL_ERR_ARG, "tl_seq2seq_trainer_create: NULL argument, empty set or bad "
                       "config");
    *out = NULL;
    if (test && test->n && (test->qlen != train->qlen || test->alen != train->alen))
        return tl_fail(TL_ERR_SHAPE, "test pairs are %d + %d characters long, training pairs "
                       "%d + %d", test->qlen, test->alen, train->qlen, train->alen);
    size_t n;
    TL_TRY(tl_seq2seq_flat(s, NULL, NULL, &n));
    if (tl_optim_nparams(o) != n)
        return tl_fail(TL_ERR_SHAPE, "tl_seq2seq_trainer_create: the optimizer is for %zu "
                       "parameters, the model has %zu", tl_optim_nparams(o), n);
    tl_seq2seq_trainer *t;
    TL_TRY(tl_alloc((void **)&t, 1, sizeof *t, "trainer"));
    *t = (tl_seq2seq_trainer){.s = s, .o = o, .train = train,
                              .test = test && test->n ? test : NULL, .cfg = *cfg};
    tl_rng_seed(&t->rng, cfg->seed);
    t->data_hash = tl__fnv1a(tl__fnv1a(TL__FNV1A_START, train->q, train->n * (size_t)train->qlen),
                             train->a, train->n * (size_t)train->alen);
    tl_status st = tl_alloc((void **)&t->perm, train->n, sizeof *t->perm, "training order");
    if (!st && resume)
        st = restore(t, resume);
    t->epoch_rng = t->rng;
    if (!st && cfg->log_csv)
        st = tl__log_open(cfg->log_csv, t->step, "epoch,step,loss,grad_norm,accuracy,elapsed_s,"
                          "tokens_per_s\n", &t->log);
    if (st) {
        tl_seq2seq_trainer_destroy(t);
        return st;
    }
    *out = t;
    return TL_OK;
}

long tl_seq2seq_trainer_step(const tl_seq2seq_trainer *t) { return t ? t->step : 0; }

int tl_seq2seq_trainer_epoch(const tl_seq2seq_trainer *t) { return t ? t->epoch : 0; }
