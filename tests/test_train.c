/* The trainer: the loss falls, a resumed run repeats an uninterrupted one
 * exactly, a non-finite loss stops training without touching the last
 * checkpoint, the CSV log and the learning-rate decay. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "testutil.h"
#include "../lib/safetensors.h"

/* A text with structure an LSTM learns in a few dozen steps. */
static const char text[] =
    "the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n"
    "the cat saw the dog. the dog saw the cat. on the mat the cat sat and on the log the dog.\n";

typedef struct {
    tl_vocab *vocab;
    tl_corpus train;
    tl_model *m;
    tl_optim *opt;
} setup;

/* The seed of the dropout masks of every model here: not the default 0, so
 * that a resumed run has to get it back from the checkpoint. */
#define MASK_SEED 42

/* lm: the model's widths and regularisation (its vocab is filled in here);
 * NULL: one LSTM layer, embed 8, hidden 24, no dropout. */
static void make_lm(setup *s, tl_optim_kind kind, double lr, const tl_lm_config *lm)
{
    TU_OK(tl_vocab_create(&s->vocab, TL_LEVEL_CHAR));
    /* Repeat the text so an epoch has several batches. */
    size_t n = strlen(text), reps = 8;
    char *big = malloc(n * reps);
    assert_non_null(big);
    for (size_t i = 0; i < reps; i++)
        memcpy(big + i * n, text, n);
    TU_OK(tl_corpus_from_text(big, n * reps, s->vocab, true, &s->train));
    free(big);
    tl_rng rng;
    tl_rng_seed(&rng, 7);
    tl_lm_config c = lm ? *lm : (tl_lm_config){.embed = 8, .hidden = 24, .layers = 1};
    c.vocab = tl_vocab_size(s->vocab);
    TU_OK(tl_lm_create(&s->m, &c, &rng));
    tl_model_set_seed(s->m, MASK_SEED);
    size_t np;
    TU_OK(tl_model_flat(s->m, NULL, NULL, &np));
    tl_optim_config oc = tl_optim_defaults(kind);
    oc.lr = lr;
    TU_OK(tl_optim_create(&s->opt, &oc, np));
}

static void make(setup *s, tl_optim_kind kind, double lr) { make_lm(s, kind, lr, NULL); }

static void release(setup *s)
{
    tl_optim_destroy(s->opt);
    tl_model_destroy(s->m);
    tl_corpus_free(&s->train);
    tl_vocab_destroy(s->vocab);
}

/* Every report's training perplexity, in order. */
typedef struct {
    double ppl[4096];
    double step_lr[4096];   /* the rate shown with each training report */
    double valid[4096];     /* every validation perplexity, in order */
    long valid_step[4096];
    int nvalid;
    int n;
    double last_valid;
    double lr[64];
    int nepochs;
} trace;

static void record(void *ctx, const tl_train_progress *p)
{
    trace *t = ctx;
    /* The losses are the logs of the perplexities (the losses stay finite
     * where the perplexities overflow). */
    if (isfinite(p->train_ppl))
        assert_true(fabs(p->train_loss - log(p->train_ppl)) <= 1e-9 * (1 + fabs(p->train_loss)));
    assert_true(isnan(p->valid_ppl) ? isnan(p->valid_loss)
                                    : p->valid_loss == log(p->valid_ppl));
    if (!isnan(p->valid_ppl)) {
        assert_true(t->nvalid < 4096);
        t->valid_step[t->nvalid] = p->step;
        t->valid[t->nvalid++] = p->valid_ppl;
    }
    if (p->epoch_end) {
        t->last_valid = p->valid_ppl;
        t->lr[t->nepochs++] = p->lr;
        return;
    }
    assert_true(t->n < 4096);
    t->step_lr[t->n] = p->lr;
    t->ppl[t->n++] = p->train_ppl;
}

static tl_train_config config(int epochs)
{
    return (tl_train_config){.batch = 4, .time = 8, .epochs = epochs, .clip_norm = 1,
                             .report_every = 1};
}

static void test_loss_falls(void **state)
{
    (void)state;
    setup s;
    make(&s, TL_OPTIM_ADAM, 0.01);
    tl_train_config cfg = config(6);
    tl_trainer *t;
    static trace tr;
    memset(&tr, 0, sizeof tr);
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, s.train.ids,
                            s.train.len / 4, &cfg));
    TU_OK(tl_trainer_run(t, record, &tr));
    int iters = (int)((s.train.len - 1) / (4 * 8));
    assert_int_equal(tr.n, 6 * iters);
    assert_int_equal(tl_trainer_epoch(t), 6);
    assert_int_equal(tl_trainer_step(t), 6 * iters);
    /* The vocabulary has ~20 characters: a uniform model has perplexity ~20.
     * The mean of the last epoch must be far below that and below the first. */
    double first = 0, last = 0;
    for (int i = 0; i < iters; i++) {
        first += log(tr.ppl[i]);
        last += log(tr.ppl[tr.n - 1 - i]);
    }
    first = exp(first / iters);
    last = exp(last / iters);
    printf("training perplexity: first epoch %.2f, last epoch %.2f, valid %.2f\n", first, last,
           tr.last_valid);
    assert_true(last < 0.5 * first);
    assert_true(last < 4.0);
    assert_true(isfinite(tr.last_valid) && tr.last_valid < 4.0);
    assert_true(tl_trainer_best_ppl(t) <= tr.last_valid);
    tl_trainer_destroy(t);
    release(&s);
}

/* Train 3 epochs straight; then the same in two runs with a checkpoint
 * between them, stopping mid-epoch. The losses must be identical. */
static void test_resume_is_exact(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_resumeXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static trace straight, split;
    memset(&straight, 0, sizeof straight);
    memset(&split, 0, sizeof split);

    setup s;
    make(&s, TL_OPTIM_ADAM, 0.01);
    tl_train_config cfg = config(3);
    tl_trainer *t;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
    TU_OK(tl_trainer_run(t, record, &straight));
    tl_trainer_destroy(t);
    int iters = (int)((s.train.len - 1) / (4 * 8));
    release(&s);

    long stop = iters + iters / 2 + 1; /* in the middle of the second epoch */
    make(&s, TL_OPTIM_ADAM, 0.01);
    cfg.max_steps = stop;
    cfg.checkpoint = path;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
    TU_OK(tl_trainer_run(t, record, &split));
    assert_int_equal(tl_trainer_step(t), stop);
    tl_trainer_destroy(t);
    tl_optim_destroy(s.opt);
    tl_model_destroy(s.m);

    /* Everything from the checkpoint: model, optimizer, loop position. */
    tl_checkpoint *ck;
    tl_vocab *v;
    TU_OK(tl_checkpoint_open(path, &ck));
    TU_OK(tl_checkpoint_model(ck, &s.m));
    TU_OK(tl_checkpoint_optim(ck, &s.opt));
    TU_OK(tl_checkpoint_vocab(ck, &v));
    assert_int_equal(tl_vocab_size(v), tl_vocab_size(s.vocab));
    cfg.max_steps = 0;
    cfg.checkpoint = NULL;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, v, s.train.ids, s.train.len, NULL, 0, &cfg));
    TU_OK(tl_trainer_resume(t, ck));
    tl_checkpoint_close(ck);
    assert_int_equal(tl_trainer_step(t), stop);
    TU_OK(tl_trainer_run(t, record, &split));
    tl_trainer_destroy(t);
    tl_vocab_destroy(v);
    release(&s);

    assert_int_equal(split.n, straight.n);
    for (int i = 0; i < straight.n; i++)
        if (split.ppl[i] != straight.ppl[i])
            fail_msg("step %d: resumed run has perplexity %.17g, uninterrupted %.17g", i + 1,
                     split.ppl[i], straight.ppl[i]);
    unlink(path);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_nonfinite_loss_stops_and_keeps_checkpoint(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_nanXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    setup s;
    make(&s, TL_OPTIM_SGD, 0.1);
    tl_train_config cfg = config(1);
    cfg.max_steps = 3;
    cfg.checkpoint = path;
    tl_trainer *t;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
    TU_OK(tl_trainer_run(t, NULL, NULL));
    tl_trainer_destroy(t);
    long good = file_size(path);
    FILE *f = fopen(path, "rb");
    char *before = malloc((size_t)good);
    assert_int_equal(fread(before, 1, (size_t)good, f), (size_t)good);
    fclose(f);

    /* A NaN weight makes the next loss NaN. */
    tl_real *w;
    size_t n;
    TU_OK(tl_model_flat(s.m, &w, NULL, &n));
    w[n / 2] = NAN;
    cfg.max_steps = 0;
    cfg.checkpoint = NULL;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
    assert_int_equal(tl_trainer_run(t, NULL, NULL), TL_ERR_NUMERIC);
    printf("message: %s\n", tl_last_error());
    assert_non_null(strstr(tl_last_error(), "step 1"));
    tl_trainer_destroy(t);
    /* With a checkpoint to write, the check before the first step already
     * refuses to save the NaN weight, naming it; the file stays as it was. */
    cfg.checkpoint = path;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
    assert_int_equal(tl_trainer_run(t, NULL, NULL), TL_ERR_NUMERIC);
    printf("message: %s\n", tl_last_error());
    assert_non_null(strstr(tl_last_error(), "not saving a non-finite parameter: layers."));
    tl_trainer_destroy(t);

    assert_int_equal(file_size(path), good);
    f = fopen(path, "rb");
    char *after = malloc((size_t)good);
    assert_int_equal(fread(after, 1, (size_t)good, f), (size_t)good);
    fclose(f);
    assert_memory_equal(before, after, (size_t)good);
    free(before);
    free(after);
    release(&s);
    unlink(path);
}

static void test_csv_log_and_lr_decay(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_logXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    setup s;
    /* A learning rate far too large: validation perplexity gets worse, so
     * the decay must divide the learning rate. */
    make(&s, TL_OPTIM_SGD, 200);
    tl_train_config cfg = config(3);
    cfg.clip_norm = 0;
    cfg.lr_decay = 4;
    cfg.report_every = 5;
    cfg.log_csv = path;
    tl_trainer *t;
    static trace tr;
    memset(&tr, 0, sizeof tr);
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, s.train.ids,
                            s.train.len / 2, &cfg));
    tl_status st = tl_trainer_run(t, record, &tr);
    tl_trainer_destroy(t);
    /* Either it diverged to a non-finite loss (a clean stop) or it ran the
     * three epochs; in both cases the log has a header and a row per report. */
    assert_true(st == TL_OK || st == TL_ERR_NUMERIC);
    FILE *f = fopen(path, "r");
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "epoch,step,iter,train_ppl,valid_ppl,lr,grad_norm,tokens_per_sec,"
                              "elapsed_sec,train_loss,valid_loss\n");
    int rows = 0;
    while (fgets(line, sizeof line, f))
        rows++;
    fclose(f);
    assert_int_equal(rows, tr.n + tr.nepochs);
    for (int e = 1; st == TL_OK && e < tr.nepochs; e++)
        assert_true(tr.lr[e] <= tr.lr[e - 1]);
    release(&s);
    unlink(path);
}

static void test_bad_configs(void **state)
{
    (void)state;
    setup s;
    make(&s, TL_OPTIM_SGD, 0.1);
    tl_trainer *t = (tl_trainer *)1;
    tl_train_config cfg = config(1);
    cfg.batch = 0;
    assert_int_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    assert_null(t);
    cfg = config(1);
    cfg.lr_decay = 0.5;
    assert_int_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    cfg = config(1);
    cfg.time = 100000; /* longer than the corpus */
    assert_int_not_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL,
                                           0, &cfg), TL_OK);
    /* An optimizer made for another model. */
    tl_optim *small;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
    TU_OK(tl_optim_create(&small, &oc, 10));
    cfg = config(1);
    assert_int_equal(tl_trainer_create(&t, s.m, small, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    tl_optim_destroy(small);
    release(&s);
}

/* Resuming from a checkpoint whose trainer metadata is out of range or not
 * whole, or whose carried state does not fit the batch, is refused with a
 * message naming the field; the trainer is left as it was. */
static void test_bad_resume_metadata(void **state)
{
    (void)state;
    char path[] = "/tmp/tl_test_badresumeXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    setup s;
    make(&s, TL_OPTIM_SGD, 0.1);
    tl_trainer *t;
    tl_train_config cfg = config(1);
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
    const char *rng = "\"best_ppl\": null, \"rng\": [\"0000000000000001\", "
                      "\"0000000000000002\", \"0000000000000003\", \"0000000000000004\"]";
    static const struct {
        const char *train;      /* the "train" metadata after the rng */
        const char *needle;
    } cases[] = {
        {"\"epoch\": 0, \"step\": 0, \"iter\": 0, \"time_idx\": 0, \"batch\": 4.5, \"time\": 8",
         "\"batch\" is missing or not an integer in [1, 1e+09]"},
        {"\"epoch\": 1e12, \"step\": 0, \"iter\": 0, \"time_idx\": 0, \"batch\": 4, \"time\": 8",
         "\"epoch\" is missing or not an integer in [0, 1e+09]"},
        {"\"epoch\": 0, \"step\": -1, \"iter\": 0, \"time_idx\": 0, \"batch\": 4, \"time\": 8",
         "\"step\" is missing"},
        {"\"epoch\": 0, \"step\": 0, \"iter\": 0.5, \"time_idx\": 0, \"batch\": 4, \"time\": 8",
         "\"iter\" is missing or not an integer"},
        {"\"epoch\": 0, \"step\": 0, \"iter\": 0, \"time_idx\": 1e300, \"batch\": 4, \"time\": 8",
         "\"time_idx\" is missing"},
        {"\"epoch\": 0, \"step\": 0, \"iter\": 0, \"time_idx\": 0, \"batch\": 4, \"time\": 8, "
         "\"mask_seed\": \" -1\"", "mask_seed is not 16 hex digits"},
        {"\"epoch\": 0, \"step\": 0, \"iter\": 0, \"time_idx\": 0, \"batch\": 4, \"time\": 8, "
         "\"mask_seed\": 42", "mask_seed is not 16 hex digits"},
    };
    char json[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(json, sizeof json, "{%s, %s}", rng, cases[i].train);
        tl_ckpt_meta meta = {"train", json};
        TU_OK(tl_checkpoint_save(path, s.m, &meta, 1, NULL, 0));
        tl_checkpoint *ck;
        TU_OK(tl_checkpoint_open(path, &ck));
        assert_int_equal(tl_trainer_resume(t, ck), TL_ERR_FORMAT);
        if (!strstr(tl_last_error(), cases[i].needle))
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, tl_last_error(), cases[i].needle);
        tl_checkpoint_close(ck);
    }
    /* A carried state of 5 values cannot be (batch 4, width). */
    snprintf(json, sizeof json, "{%s, \"epoch\": 0, \"step\": 0, \"iter\": 0, \"time_idx\": 0, "
             "\"batch\": 4, \"time\": 8}", rng);
    tl_ckpt_meta meta = {"train", json};
    static const tl_real five[5];
    tl_ckpt_tensor h = {"state.layers.1.h", five, 5};
    TU_OK(tl_checkpoint_save(path, s.m, &meta, 1, &h, 1));
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_int_equal(tl_trainer_resume(t, ck), TL_ERR_FORMAT);
    if (!strstr(tl_last_error(), "has 5 values, not a multiple of batch 4"))
        fail_msg("state: \"%s\"", tl_last_error());
    tl_checkpoint_close(ck);
    assert_int_equal(tl_trainer_step(t), 0);
    tl_trainer_destroy(t);
    release(&s);
    unlink(path);
}

/* Run cfg straight, then again stopped after `stop` steps and resumed from the
 * checkpoint (model, optimizer, loop) with the same cfg; every report of the
 * two must be bit-identical. valid: the first nvalid tokens of the training
 * text serve as a validation set (0 = none). */
static void straight_and_split_lm(tl_train_config cfg, const tl_lm_config *lm,
                                  tl_optim_kind kind, double lr, long stop, size_t nvalid,
                                  trace *straight, trace *split)
{
    char path[] = "/tmp/tl_test_splitXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    memset(straight, 0, sizeof *straight);
    memset(split, 0, sizeof *split);
    setup s;
    tl_trainer *t;
    make_lm(&s, kind, lr, lm);
    const int32_t *valid = nvalid ? s.train.ids : NULL;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, valid, nvalid,
                            &cfg));
    TU_OK(tl_trainer_run(t, record, straight));
    tl_trainer_destroy(t);
    release(&s);

    make_lm(&s, kind, lr, lm);
    valid = nvalid ? s.train.ids : NULL;
    tl_train_config first = cfg;
    first.max_steps = stop;
    first.checkpoint = path;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, valid, nvalid,
                            &first));
    TU_OK(tl_trainer_run(t, record, split));
    tl_trainer_destroy(t);
    tl_optim_destroy(s.opt);
    tl_model_destroy(s.m);
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    TU_OK(tl_checkpoint_model(ck, &s.m));
    TU_OK(tl_checkpoint_optim(ck, &s.opt));
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, valid, nvalid,
                            &cfg)); /* s.train is still the same corpus */
    assert_true(tl_model_seed(s.m) == 0);      /* a loaded model: the trainer's part holds it */
    TU_OK(tl_trainer_resume(t, ck));
    assert_true(tl_model_seed(s.m) == MASK_SEED);
    tl_checkpoint_close(ck);
    TU_OK(tl_trainer_run(t, record, split));
    tl_trainer_destroy(t);
    release(&s);
    unlink(path);

    assert_int_equal(split->n, straight->n);
    for (int i = 0; i < straight->n; i++)
        if (split->ppl[i] != straight->ppl[i] || split->step_lr[i] != straight->step_lr[i])
            fail_msg("report %d: resumed run has perplexity %.17g at lr %.17g, uninterrupted "
                     "%.17g at lr %.17g", i + 1, split->ppl[i], split->step_lr[i],
                     straight->ppl[i], straight->step_lr[i]);
    assert_int_equal(split->nvalid, straight->nvalid);
    for (int i = 0; i < straight->nvalid; i++)
        assert_true(split->valid[i] == straight->valid[i]);
}

static void straight_and_split(tl_train_config cfg, tl_optim_kind kind, double lr, long stop,
                               size_t nvalid, trace *straight, trace *split)
{
    straight_and_split_lm(cfg, NULL, kind, lr, stop, nvalid, straight, split);
}

static int iters_per_epoch(void)
{
    return (int)((8 * (sizeof text - 1) - 1) / (4 * 8));
}

/* step:2:0.5 with SGD at 0.4: epochs 1-2 at 0.4, then 0.2, 0.1; the rate of
 * every step is the schedule's, and a run resumed in the middle of epoch 3
 * continues it (same rates, same losses). */
static void test_step_schedule(void **state)
{
    (void)state;
    static trace straight, split;
    tl_train_config cfg = config(4);
    TU_OK(tl_lr_schedule_parse("step:2:0.5", &cfg.lr_schedule));
    int iters = iters_per_epoch();
    straight_and_split(cfg, TL_OPTIM_SGD, 0.4, 2 * iters + iters / 2, 0, &straight, &split);
    const double expect[4] = {0.4, 0.4, 0.2, 0.1};
    assert_int_equal(straight.n, 4 * iters);
    for (int i = 0; i < straight.n; i++)
        if (straight.step_lr[i] != expect[i / iters])
            fail_msg("step %d (epoch %d): lr %.17g, expected %.17g", i + 1, i / iters + 1,
                     straight.step_lr[i], expect[i / iters]);
    assert_true(straight.lr[3] == 0.1);
}

/* cosine:5:0.1 over 3 epochs: a linear warm-up then the half cosine, step by
 * step as tl_lr_at says, continued exactly by a resumed run. */
static void test_cosine_schedule(void **state)
{
    (void)state;
    static trace straight, split;
    tl_train_config cfg = config(3);
    TU_OK(tl_lr_schedule_parse("cosine:5:0.1", &cfg.lr_schedule));
    int iters = iters_per_epoch();
    long total = 3L * iters;
    straight_and_split(cfg, TL_OPTIM_ADAM, 0.01, iters + 3, 0, &straight, &split);
    assert_int_equal(straight.n, total);
    for (long s = 1; s <= total; s++) {
        double want = s <= 5 ? 0.01 * (double)s / 5
                             : 0.01 * (0.1 + 0.9 * 0.5 * (1 + cos(M_PI * (double)(s - 6) /
                                                                  (double)(total - 5))));
        if (fabs(straight.step_lr[s - 1] - want) > 1e-15)
            fail_msg("step %ld: lr %.17g, expected %.17g", s, straight.step_lr[s - 1], want);
    }
    assert_true(straight.step_lr[total - 1] > 0.001);
}

/* Validation every 7 steps changes nothing in training (the carried state is
 * put back) and is itself repeated exactly by a resumed run. */
static void test_eval_every_keeps_training_state(void **state)
{
    (void)state;
    static trace plain, with_eval, split;
    int iters = iters_per_epoch();
    size_t nvalid = 200;
    tl_train_config cfg = config(2);
    straight_and_split(cfg, TL_OPTIM_ADAM, 0.01, iters + 2, nvalid, &plain, &split);
    cfg.eval_every = 7;
    straight_and_split(cfg, TL_OPTIM_ADAM, 0.01, iters + 2, nvalid, &with_eval, &split);
    assert_int_equal(plain.n, with_eval.n);
    for (int i = 0; i < plain.n; i++)
        assert_true(plain.ppl[i] == with_eval.ppl[i]);
    /* Every 7th step except at an epoch end, plus each epoch end. */
    int expect = 2;
    for (long s = 7; s <= 2L * iters; s += 7)
        expect += s % iters != 0;
    assert_int_equal(with_eval.nvalid, expect);
    assert_int_equal(plain.nvalid, 2);
}

/* Dropout of both kinds after the embedding and between two LSTM layers,
 * recurrent dropout inside them, tying in one of the two: a run stopped in
 * the middle of an epoch and resumed (the masks' seed and step come from the
 * checkpoint) repeats every training and validation perplexity of the
 * uninterrupted run, bit for bit, with validation (evaluation mode) every 5
 * steps. And the masks are on: the losses are not those without dropout. */
static void test_resume_with_dropout_is_exact(void **state)
{
    (void)state;
    static trace straight, split, plain;
    int iters = iters_per_epoch();
    tl_train_config cfg = config(2);
    cfg.eval_every = 5;
    const tl_lm_config models[] = {
        {.embed = 16, .hidden = 16, .layers = 2, .dropout = 0.3,
         .dropout_kind = TL_DROPOUT_STANDARD, .rec_dropout = 0.2, .tie = true},
        {.embed = 8, .hidden = 24, .layers = 2, .dropout = 0.4,
         .dropout_kind = TL_DROPOUT_LOCKED, .rec_dropout = 0.25},
    };
    for (int k = 0; k < 2; k++) {
        tl_lm_config off = models[k];
        off.dropout = off.rec_dropout = 0;
        straight_and_split_lm(cfg, &models[k], TL_OPTIM_ADAM, 0.01, iters + iters / 3, 200,
                              &straight, &split);
        straight_and_split_lm(cfg, &off, TL_OPTIM_ADAM, 0.01, 3, 200, &plain, &split);
        assert_int_equal(straight.n, plain.n);
        int same = 0;
        for (int i = 0; i < plain.n; i++)
            same += straight.ppl[i] == plain.ppl[i];
        print_message("%s dropout %.2g, recurrent %.2g%s: %d steps identical after a resume; "
                      "%d of them equal without dropout\n",
                      tl_dropout_kind_name(models[k].dropout_kind), models[k].dropout,
                      models[k].rec_dropout, models[k].tie ? ", tied" : "", straight.n, same);
        assert_int_equal(same, 0);
    }
}

/* The checkpoint's best_ppl and step from its "train" metadata. */
static void best_of(const char *path, double *best, long *step)
{
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    const char *train = tl_checkpoint_meta(ck, "train");
    assert_non_null(train);
    const char *b = strstr(train, "\"best_ppl\":"), *st = strstr(train, "\"step\":");
    assert_non_null(b);
    assert_non_null(st);
    *best = strtod(b + strlen("\"best_ppl\":"), NULL);
    *step = strtol(st + strlen("\"step\":"), NULL, 10);
    tl_checkpoint_close(ck);
}

/* A trace whose callback raises the rate to boost_lr after epoch 2. */
typedef struct {
    trace tr;
    tl_optim *opt;
    double boost_lr;
} boost;

static void record_and_boost(void *ctx, const tl_train_progress *p)
{
    boost *b = ctx;
    record(&b->tr, p);
    if (p->epoch_end && p->epoch == 2)
        TU_OK(tl_optim_set_lr(b->opt, b->boost_lr));
}

/* Makes a checkpoint write fail once 1000 bytes are written. */
static int fail_late_writes(const char *step, size_t written)
{
    return strcmp(step, "write") == 0 && written > 1000;
}

/* keep_best is written when, and only when, validation improves: after two
 * epochs the callback sets a rate far too large, validation gets worse, and
 * the best checkpoint stays the one of the best validation (an earlier one
 * than the last). It holds that model: evaluating it gives the recorded
 * perplexity. A failing write stops training with the error and leaves the
 * earlier best file as it was. */
static void test_keep_best(void **state)
{
    (void)state;
    char dir[] = "/tmp/tl_test_bestXXXXXX";
    assert_non_null(mkdtemp(dir));
    char best[64], last[64];
    snprintf(best, sizeof best, "%s/best.safetensors", dir);
    snprintf(last, sizeof last, "%s/last.safetensors", dir);
    setup s;
    make(&s, TL_OPTIM_SGD, 1);
    tl_train_config cfg = config(4);
    cfg.eval_every = 5;
    cfg.checkpoint = last;
    cfg.keep_best = best;
    static boost b;
    memset(&b, 0, sizeof b);
    b.opt = s.opt;
    b.boost_lr = 40;
    size_t nvalid = 300;
    tl_trainer *t;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, s.train.ids,
                            nvalid, &cfg));
    tl_status st = tl_trainer_run(t, record_and_boost, &b);
    assert_true(st == TL_OK || st == TL_ERR_NUMERIC); /* it may diverge */
    tl_trainer_destroy(t);
    trace *tr = &b.tr;
    int argmin = 0, improvements = 0;
    double run_best = INFINITY;
    for (int i = 0; i < tr->nvalid; i++) {
        improvements += tr->valid[i] < run_best;
        if (tr->valid[i] < run_best) {
            run_best = tr->valid[i];
            argmin = i;
        }
    }
    printf("%d validations, %d improvements, best %.4f at step %ld\n", tr->nvalid, improvements,
           run_best, tr->valid_step[argmin]);
    assert_true(improvements > 2);
    assert_true(argmin < tr->nvalid - 2); /* later validations were worse */
    double ck_best;
    long ck_step;
    best_of(best, &ck_best, &ck_step);
    assert_true(ck_best == run_best);
    assert_int_equal(ck_step, tr->valid_step[argmin]);
    /* The model in it is the best one. */
    tl_checkpoint *ck;
    tl_model *m;
    double ppl;
    TU_OK(tl_checkpoint_open(best, &ck));
    TU_OK(tl_checkpoint_model(ck, &m));
    tl_checkpoint_close(ck);
    TU_OK(tl_eval_perplexity(m, s.train.ids, nvalid, TL_EVAL_STREAM, 8, NULL, &ppl));
    assert_true(ppl == run_best);
    tl_model_destroy(m);
    release(&s);

    /* A new run whose writes fail half-way through: training stops with the
     * error at its first improvement, and the best file on disk stays the
     * old one, whole, with no temporary left beside it. */
    assert_int_equal(unlink(last), 0);
    size_t n, n2;
    unsigned char *old = tu_read_bytes(best, &n);
    make(&s, TL_OPTIM_SGD, 1);
    cfg.checkpoint = NULL;
    TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, s.train.ids,
                            nvalid, &cfg));
    tl__set_write_hook(fail_late_writes);
    st = tl_trainer_run(t, NULL, NULL);
    tl__set_write_hook(NULL);
    assert_int_equal(st, TL_ERR_IO);
    assert_int_equal(tl_trainer_step(t), 5); /* the first validation */
    tl_trainer_destroy(t);
    unsigned char *now = tu_read_bytes(best, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(now, old, n);
    assert_int_equal(tu_count_files(dir), 1);
    free(old);
    free(now);
    release(&s);
    assert_int_equal(unlink(best), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* Bad schedules and their combination with lr_decay are refused. */
static void test_bad_schedule_configs(void **state)
{
    (void)state;
    setup s;
    make(&s, TL_OPTIM_SGD, 0.1);
    tl_trainer *t;
    tl_train_config cfg = config(1);
    cfg.lr_schedule = (tl_lr_schedule){.kind = TL_LR_STEP, .hold = 1, .factor = 2};
    assert_int_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    cfg.lr_schedule = (tl_lr_schedule){.kind = TL_LR_PLATEAU, .factor = 2};
    cfg.lr_decay = 2;
    assert_int_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    cfg = config(1);
    cfg.eval_every = -1;
    assert_int_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    cfg = config(1);
    tl_ckpt_meta own = {"train", "x"};
    cfg.meta = &own;
    cfg.nmeta = 1;
    assert_int_equal(tl_trainer_create(&t, s.m, s.opt, NULL, s.train.ids, s.train.len, NULL, 0,
                                       &cfg), TL_ERR_ARG);
    release(&s);
}

/* Reports are per token with either loss normalisation: the first step
 * (before any update) reports the same perplexity for the mean and for the
 * CS231n sum over time, which is T times larger. */
static void test_cs231n_reports_per_token(void **state)
{
    (void)state;
    double first[2];
    for (int k = 0; k < 2; k++) {
        setup s;
        TU_OK(tl_vocab_create(&s.vocab, TL_LEVEL_CHAR));
        TU_OK(tl_corpus_from_text(text, sizeof text - 1, s.vocab, true, &s.train));
        tl_rng rng;
        tl_rng_seed(&rng, 3);
        tl_lm_config lm = {.vocab = tl_vocab_size(s.vocab), .embed = 8, .hidden = 16,
                           .layers = 1, .loss_norm = k ? TL_LOSS_CS231N : TL_LOSS_MEAN};
        TU_OK(tl_lm_create(&s.m, &lm, &rng));
        size_t np;
        TU_OK(tl_model_flat(s.m, NULL, NULL, &np));
        tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
        TU_OK(tl_optim_create(&s.opt, &oc, np));
        tl_train_config cfg = config(1);
        cfg.max_steps = 1;
        static trace tr;
        memset(&tr, 0, sizeof tr);
        tl_trainer *t;
        TU_OK(tl_trainer_create(&t, s.m, s.opt, s.vocab, s.train.ids, s.train.len, NULL, 0, &cfg));
        TU_OK(tl_trainer_run(t, record, &tr));
        tl_trainer_destroy(t);
        assert_int_equal(tr.n, 1);
        first[k] = tr.ppl[0];
        release(&s);
    }
    printf("first-step perplexity: mean %.6f, cs231n %.6f\n", first[0], first[1]);
    assert_true(first[0] > 5 && first[0] < 100);
    assert_true(fabs(first[1] / first[0] - 1) < 1e-5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_falls),
        cmocka_unit_test(test_resume_is_exact),
        cmocka_unit_test(test_resume_with_dropout_is_exact),
        cmocka_unit_test(test_nonfinite_loss_stops_and_keeps_checkpoint),
        cmocka_unit_test(test_csv_log_and_lr_decay),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_bad_resume_metadata),
        cmocka_unit_test(test_step_schedule),
        cmocka_unit_test(test_cosine_schedule),
        cmocka_unit_test(test_eval_every_keeps_training_state),
        cmocka_unit_test(test_keep_best),
        cmocka_unit_test(test_bad_schedule_configs),
        cmocka_unit_test(test_cs231n_reports_per_token),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
