/* The API boundary: every public function that returns a tl_status is called
 * with bad arguments (NULL pointers, negative or zero sizes, unknown enum
 * values, wrong shapes and dtypes, ids and indices out of range, a state of
 * another batch size, calls in the wrong state) and must return an error
 * with a message, not crash. Functions without a status (queries, destroy)
 * are called with NULL and must return their neutral value. Not covered: the
 * cell kernels of lstm.h, rnn.h and gru.h (tl_*_cell_project/step/forward/backward*),
 * tl_batcher_next and tl_rng_*, whose callers guarantee valid pointers (they
 * run inside a training step and return no status; see their headers). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

static int nbad;

/* expr must fail with a message. */
#define BAD(expr) bad(#expr, (expr), __LINE__)

static void bad(const char *what, tl_status st, int line)
{
    if (st == TL_OK)
        fail_msg("line %d: %s returned TL_OK", line, what);
    if (!tl_last_error()[0])
        fail_msg("line %d: %s returned %s without a message", line, what, tl_status_name(st));
    tl_clear_error();
    nbad++;
}

enum { V = 7, D = 3, H = 4, N = 2, T = 3 };

typedef struct {
    tl_rng rng;
    tl_model *m;
    tl_vocab *vocab;
    tl_optim *opt;
    tl_tensor xs, ts, x, dy;  /* ids (N, T), targets, reals (N, T, D), (N, T, H) */
    int32_t ids[64];
    char dir[64], path[128];
} world;

static void make_world(world *w)
{
    memset(w, 0, sizeof *w);
    tl_rng_seed(&w->rng, 21);
    tl_lm_config lm = {.vocab = V, .embed = D, .hidden = H, .layers = 1};
    TU_OK(tl_lm_create(&w->m, &lm, &w->rng));
    size_t np;
    TU_OK(tl_model_flat(w->m, NULL, NULL, &np));
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    TU_OK(tl_optim_create(&w->opt, &oc, np));
    TU_OK(tl_vocab_create(&w->vocab, TL_LEVEL_CHAR));
    for (int i = 0; i < V; i++) {
        char c = (char)('a' + i);
        int32_t id;
        TU_OK(tl_vocab_add(w->vocab, &c, 1, &id));
    }
    for (int i = 0; i < 64; i++)
        w->ids[i] = (int32_t)(i * 3 % V);
    tu_randint(&w->xs, &w->rng, V, 2, (int[]){N, T});
    tu_randint(&w->ts, &w->rng, V, 2, (int[]){N, T});
    tu_randn(&w->x, &w->rng, 1, 3, (int[]){N, T, D});
    tu_randn(&w->dy, &w->rng, 1, 3, (int[]){N, T, H});
    tu_make_dir(w->dir);
    snprintf(w->path, sizeof w->path, "%s/model.safetensors", w->dir);
}

static void free_world(world *w)
{
    tl_tensor *owned[] = {&w->xs, &w->ts, &w->x, &w->dy};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_vocab_destroy(w->vocab);
    tl_optim_destroy(w->opt);
    tl_model_destroy(w->m);
    tu_remove_dir(w->dir);
}

static void test_status_and_tensor(void **state)
{
    (void)state;
    assert_string_equal(tl_status_name((tl_status)999), "TL_ERR_UNKNOWN");
    tl_tensor t = {0};
    int shape[2] = {2, -1};
    BAD(tl_tensor_resize(NULL, TL_REAL, 1, (int[]){1}));
    BAD(tl_tensor_resize(&t, (tl_dtype)99, 1, (int[]){1}));
    BAD(tl_tensor_resize(&t, TL_REAL, -1, (int[]){1}));
    BAD(tl_tensor_resize(&t, TL_REAL, TL_MAX_DIMS + 1, (int[TL_MAX_DIMS + 1]){1}));
    BAD(tl_tensor_resize(&t, TL_REAL, 2, NULL));
    BAD(tl_tensor_resize(&t, TL_REAL, 2, shape));
    BAD(tl_tensor_resize(&t, TL_REAL, 3, (int[]){1 << 30, 1 << 30, 1 << 30}));
    BAD(tl_tensor_zeros(NULL, TL_REAL, 1, (int[]){1}));
    BAD(tl_tensor_zeros(&t, TL_INT32, 2, shape));
    BAD(tl_tensor_zeros1(NULL, 1));
    BAD(tl_tensor_zeros1(&t, -1));
    BAD(tl_tensor_zeros2(&t, 1, -1));
    BAD(tl_tensor_zeros3(&t, -1, 1, 1));
    BAD(tl_tensor_copy(NULL, &t));
    BAD(tl_tensor_copy(&t, NULL));
    TU_OK(tl_tensor_zeros2(&t, 2, 3));
    tl_tensor_free(NULL);
    tl_tensor_clear(NULL);
    assert_false(tl_tensor_same_shape(NULL, &t));
    char buf[32];
    assert_non_null(tl_tensor_shape_str(NULL, buf, sizeof buf));
    tl_tensor_free(&t);
    /* threads.h: a refused count leaves the setting alone. */
    int threads = tl_get_num_threads();
    BAD(tl_set_num_threads(0));
    BAD(tl_set_num_threads(-3));
    BAD(tl_set_num_threads(65));
    assert_int_equal(tl_get_num_threads(), threads);
}

static void test_layers(void **state)
{
    (void)state;
    world w;
    make_world(&w);
    tl_layer *l, *lstm, *aff, *loss;
    const tl_tensor *y, *dx, *h, *c;
    double L;
    BAD(tl_time_affine_create(NULL, D, H, &w.rng));
    BAD(tl_time_affine_create(&l, 0, H, &w.rng));
    BAD(tl_time_embedding_create(NULL, V, D, &w.rng));
    BAD(tl_time_embedding_create(&l, V, -1, &w.rng));
    BAD(tl_time_lstm_create(NULL, D, H, true, &w.rng));
    BAD(tl_time_lstm_create(&l, D, 0, true, &w.rng));
    BAD(tl_time_rnn_create(NULL, D, H, true, TL_ACT_TANH, &w.rng));
    BAD(tl_time_rnn_create(&l, -2, H, true, TL_ACT_TANH, &w.rng));
    BAD(tl_time_rnn_create(&l, D, H, true, (tl_activation)9, &w.rng));
    BAD(tl_time_softmax_loss_create(NULL, V, TL_LOSS_MEAN));
    BAD(tl_time_softmax_loss_create(&l, -1, TL_LOSS_MEAN));
    BAD(tl_time_softmax_loss_create(&l, V, (tl_loss_norm)9));
    tl_lstm_cell lc;
    tl_rnn_cell rc;
    BAD(tl_lstm_cell_init(NULL, D, H, &w.rng));
    BAD(tl_lstm_cell_init(&lc, D, 0, &w.rng));
    BAD(tl_rnn_cell_init(NULL, D, H, TL_ACT_TANH, &w.rng));
    BAD(tl_rnn_cell_init(&rc, 0, H, TL_ACT_TANH, &w.rng));
    BAD(tl_rnn_cell_init(&rc, D, H, (tl_activation)9, &w.rng));

    TU_OK(tl_time_lstm_create(&lstm, D, H, true, &w.rng));
    TU_OK(tl_time_affine_create(&aff, D, H, &w.rng));
    TU_OK(tl_time_softmax_loss_create(&loss, V, TL_LOSS_MEAN));
    BAD(tl_layer_forward(NULL, &w.x, &y));
    BAD(tl_layer_forward(lstm, NULL, &y));
    BAD(tl_layer_forward(lstm, &w.x, NULL));
    BAD(tl_layer_forward(lstm, &w.xs, &y));    /* ids where reals are expected */
    BAD(tl_layer_forward(lstm, &w.dy, &y));    /* width H, not D */
    BAD(tl_layer_forward(loss, &w.x, &y));     /* a loss layer has no forward */
    BAD(tl_layer_backward(lstm, &w.dy, &dx));  /* before any forward */
    BAD(tl_layer_backward(NULL, &w.dy, &dx));
    BAD(tl_layer_loss(NULL, &w.x, &w.ts, &L));
    BAD(tl_layer_loss(lstm, &w.x, &w.ts, &L)); /* not a loss layer */
    BAD(tl_layer_loss(loss, &w.x, &w.ts, &L)); /* width D, not V */
    BAD(tl_layer_loss(loss, &w.x, NULL, &L));
    tl_tensor scores = {0}, far = {0};
    tu_randn(&scores, &w.rng, 1, 3, (int[]){N, T, V});
    tu_randint(&far, &w.rng, 1, 2, (int[]){N, T});
    far.ids[1] = V + 3;
    BAD(tl_layer_loss(loss, &scores, &far, &L)); /* a target out of range */
    BAD(tl_layer_loss(loss, &scores, &w.x, &L)); /* real targets */

    /* State: another layer's, another batch size, another width. */
    TU_OK(tl_layer_forward(lstm, &w.x, &y));
    TU_OK(tl_layer_get_state(lstm, &h, &c));
    tl_tensor h3 = {0}, hwide = {0};
    TU_OK(tl_tensor_zeros2(&h3, N + 1, H));
    TU_OK(tl_tensor_zeros2(&hwide, N, H + 1));
    BAD(tl_layer_set_state(lstm, &hwide, c));
    BAD(tl_layer_set_state(lstm, &h3, c));       /* h and c of different batch sizes */
    BAD(tl_layer_set_state(NULL, h, c));
    TU_OK(tl_layer_set_state(lstm, &h3, NULL));
    BAD(tl_layer_forward(lstm, &w.x, &y));       /* state for N + 1 rows, input has N */
    BAD(tl_layer_get_state(aff, &h, &c));        /* stateless */
    BAD(tl_layer_get_state(NULL, &h, &c));
    BAD(tl_layer_set_state(aff, &h3, NULL));
    BAD(tl_layer_state_grad(NULL, &h, &c));
    BAD(tl_layer_state_grad(aff, &h, &c));
    tl_layer_config cfg;
    BAD(tl_layer_get_config(NULL, &cfg));
    BAD(tl_layer_get_config(lstm, NULL));
    BAD(tl_layer_create_from_config(NULL, &cfg, NULL, 0, NULL));
    BAD(tl_layer_create_from_config(&l, NULL, NULL, 0, NULL));
    cfg = (tl_layer_config){.type = "TimeQRNN", .in_dim = D, .out_dim = H};
    BAD(tl_layer_create_from_config(&l, &cfg, NULL, 0, NULL));
    cfg = (tl_layer_config){.type = "TimeLSTM", .in_dim = -D, .out_dim = H};
    BAD(tl_layer_create_from_config(&l, &cfg, NULL, 0, NULL));
    int np = 5;
    assert_null(tl_layer_params(NULL, &np));
    assert_int_equal(np, 0);
    tl_layer_zero_grad(NULL);
    tl_layer_reset_state(NULL);
    assert_false(tl_layer_has_state(NULL));
    assert_false(tl_layer_is_loss(NULL));
    assert_non_null(tl_layer_type(NULL));
    tl_layer_destroy(NULL);

    tl_tensor *owned[] = {&scores, &far, &h3, &hwide};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_layer_destroy(lstm);
    tl_layer_destroy(aff);
    tl_layer_destroy(loss);
    free_world(&w);
}

static void test_model_optim_clip(void **state)
{
    (void)state;
    world w;
    make_world(&w);
    tl_model *m;
    tl_layer *l;
    double L;
    const tl_tensor *scores;
    BAD(tl_model_create(NULL));
    TU_OK(tl_model_create(&m));
    BAD(tl_model_add(NULL, NULL));
    BAD(tl_model_add(m, NULL));
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    BAD(tl_model_add(m, l));                   /* a loss layer (l is freed) */
    TU_OK(tl_time_affine_create(&l, D, V, &w.rng));
    BAD(tl_model_set_loss(m, l));              /* not a loss layer (l is freed) */
    BAD(tl_model_set_loss(NULL, NULL));
    BAD(tl_model_forward(m, &w.x, &w.ts, &L)); /* no layers */
    BAD(tl_model_backward(m));
    TU_OK(tl_time_embedding_create(&l, V, D, &w.rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_lstm_create(&l, H, H, true, &w.rng));
    BAD(tl_model_add(m, l));                   /* input width H after width D */
    tl_model_destroy(m);

    tl_tensor far = {0};
    TU_OK(tl_tensor_copy(&far, &w.xs));
    far.ids[0] = V;
    BAD(tl_model_forward(NULL, &w.xs, &w.ts, &L));
    BAD(tl_model_forward(w.m, NULL, &w.ts, &L));
    BAD(tl_model_forward(w.m, &w.xs, &w.ts, NULL));
    BAD(tl_model_forward(w.m, &far, &w.ts, &L)); /* an input id out of range */
    BAD(tl_model_forward(w.m, &w.x, &w.ts, &L)); /* reals into an embedding */
    BAD(tl_model_forward(w.m, &w.xs, &far, &L)); /* a target out of range */
    BAD(tl_model_backward(w.m));                 /* no forward since the last backward */
    BAD(tl_model_backward(NULL));
    BAD(tl_model_predict(NULL, &w.xs, &scores));
    BAD(tl_model_predict(w.m, NULL, &scores));
    BAD(tl_model_predict(w.m, &far, &scores));
    int count;
    tl_named_param p;
    tl_real *values;
    size_t n;
    BAD(tl_model_param_count(NULL, &count));
    BAD(tl_model_param_count(w.m, NULL));
    BAD(tl_model_param(NULL, 0, &p));
    BAD(tl_model_param(w.m, -1, &p));
    BAD(tl_model_param(w.m, 999, &p));
    BAD(tl_model_param(w.m, 0, NULL));
    BAD(tl_model_flat(NULL, &values, NULL, &n));
    tl_model_reset_state(NULL);
    tl_model_zero_grad(NULL);
    assert_int_equal(tl_model_num_layers(NULL), 0);
    assert_null(tl_model_layer(NULL, 0));
    assert_null(tl_model_layer(w.m, 99));
    assert_null(tl_model_layer(w.m, -1));
    assert_null(tl_model_loss_layer(NULL));
    tl_model_destroy(NULL);
    tl_tensor_free(&far);

    tl_optim *o;
    tl_optim_kind kind;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD), got;
    size_t np = tl_optim_nparams(w.opt);
    tl_real g[4] = {0}, v4[4] = {0}, *buf;
    const char *name;
    BAD(tl_optim_kind_from_name(NULL, &kind));
    BAD(tl_optim_kind_from_name("adamw", &kind));
    BAD(tl_optim_kind_from_name("sgd", NULL));
    assert_non_null(tl_optim_name((tl_optim_kind)99));
    BAD(tl_optim_create(NULL, &oc, 4));
    BAD(tl_optim_create(&o, NULL, 4));
    oc.lr = -1;
    BAD(tl_optim_create(&o, &oc, 4));
    oc = tl_optim_defaults(TL_OPTIM_SGD);
    oc.kind = (tl_optim_kind)99;
    BAD(tl_optim_create(&o, &oc, 4));
    BAD(tl_optim_step(NULL, v4, g, 4));
    BAD(tl_optim_step(w.opt, NULL, g, np));
    BAD(tl_optim_step(w.opt, v4, g, 4));       /* the optimizer holds np parameters */
    BAD(tl_optim_step_clip_norm(NULL, v4, g, 4, 1, NULL));
    BAD(tl_optim_step_clip_norm(w.opt, NULL, g, np, 1, NULL));
    BAD(tl_optim_step_clip_norm(w.opt, v4, g, 4, 1, NULL));
    BAD(tl_optim_get_config(NULL, &got));
    BAD(tl_optim_get_config(w.opt, NULL));
    BAD(tl_optim_set_lr(NULL, 0.1));
    BAD(tl_optim_set_lr(w.opt, -0.1));
    BAD(tl_optim_set_lr(w.opt, NAN));
    BAD(tl_optim_set_steps(NULL, 1));
    BAD(tl_optim_state(NULL, 0, &name, &buf, &n));
    BAD(tl_optim_state(w.opt, 99, &name, &buf, &n));
    BAD(tl_optim_state(w.opt, -1, &name, &buf, &n));
    assert_true(isnan(tl_optim_lr(NULL)) || tl_optim_lr(NULL) == 0);
    assert_int_equal(tl_optim_nparams(NULL), 0);
    assert_int_equal(tl_optim_steps(NULL), 0);
    assert_int_equal(tl_optim_state_count(NULL), 0);
    tl_optim_destroy(NULL);

    double norm;
    BAD(tl_clip_grad_norm(NULL, 4, 1, &norm));
    BAD(tl_clip_grad_norm(g, 4, -1, &norm));
    BAD(tl_clip_grad_norm(g, 4, NAN, &norm));
    BAD(tl_clip_grad_value(NULL, 4, 1));
    BAD(tl_clip_grad_value(g, 4, -1));
    assert_true(tl_grad_first_nonfinite(NULL, 0) == SIZE_MAX);
    free_world(&w);
}

static void test_data(void **state)
{
    (void)state;
    world w;
    make_world(&w);
    tl_vocab *v;
    tl_corpus c;
    int32_t id, bad_ids[2] = {0, V + 5};
    char buf[64];
    size_t len;
    BAD(tl_vocab_create(NULL, TL_LEVEL_WORD));
    BAD(tl_vocab_create(&v, (tl_level)7));
    BAD(tl_vocab_add(NULL, "a", 1, &id));
    BAD(tl_vocab_add(w.vocab, NULL, 1, &id));
    BAD(tl_vocab_add(w.vocab, "", 0, &id));
    BAD(tl_vocab_add(w.vocab, "\xff", 1, &id)); /* not UTF-8 */
    BAD(tl_vocab_add(w.vocab, "ab", 2, &id));   /* two characters at char level */
    BAD(tl_vocab_detokenize(NULL, bad_ids, 1, buf, sizeof buf, &len));
    BAD(tl_vocab_detokenize(w.vocab, bad_ids, 2, buf, sizeof buf, &len));
    BAD(tl_vocab_detokenize(w.vocab, NULL, 2, buf, sizeof buf, &len));
    assert_int_equal(tl_vocab_size(NULL), 0);
    assert_true(tl_vocab_find(NULL, "a", 1) < 0);
    assert_true(tl_vocab_find(w.vocab, NULL, 1) < 0);
    assert_null(tl_vocab_token(NULL, 0));
    assert_null(tl_vocab_token(w.vocab, V));
    assert_null(tl_vocab_token(w.vocab, -1));
    assert_true(tl_vocab_unk(NULL) < 0);
    (void)tl_vocab_level(NULL);
    tl_vocab_destroy(NULL);

    char missing[160];
    snprintf(missing, sizeof missing, "%s/missing.txt", w.dir);
    BAD(tl_corpus_load(NULL, w.vocab, true, &c));
    BAD(tl_corpus_load(missing, w.vocab, true, &c));
    BAD(tl_corpus_load(missing, NULL, true, &c));
    BAD(tl_corpus_load(missing, w.vocab, true, NULL));
    BAD(tl_corpus_load(w.dir, w.vocab, true, &c)); /* a directory */
    BAD(tl_corpus_from_text(NULL, 3, w.vocab, true, &c));
    BAD(tl_corpus_from_text("abc", 0, w.vocab, true, &c));
    BAD(tl_corpus_from_text("xyz", 3, w.vocab, false, &c)); /* unknown, no <unk> */
    tl_corpus_free(NULL);

    tl_batcher b;
    BAD(tl_batcher_init(NULL, w.ids, 64, 2, 4));
    BAD(tl_batcher_init(&b, NULL, 64, 2, 4));
    BAD(tl_batcher_init(&b, w.ids, 64, 0, 4));
    BAD(tl_batcher_init(&b, w.ids, 64, 2, -4));
    BAD(tl_batcher_init(&b, w.ids, 8, 4, 4)); /* too short for one batch */
    assert_int_equal(tl_batcher_iters_per_epoch(NULL), 0);

    tl_model *m;
    tl_cell_kind kind;
    tl_lm_config lm = {.vocab = V, .embed = D, .hidden = H, .layers = 0};
    BAD(tl_lm_create(NULL, &lm, &w.rng));
    BAD(tl_lm_create(&m, NULL, &w.rng));
    BAD(tl_lm_create(&m, &lm, &w.rng));
    lm.layers = 1;
    lm.cell = (tl_cell_kind)5;
    BAD(tl_lm_create(&m, &lm, &w.rng));
    BAD(tl_cell_kind_from_name("qrnn", &kind));
    BAD(tl_cell_kind_from_name(NULL, &kind));
    assert_non_null(tl_cell_kind_name((tl_cell_kind)5));
    free_world(&w);
}

static void test_eval_generate_gradcheck(void **state)
{
    (void)state;
    world w;
    make_world(&w);
    double ppl, loss;
    BAD(tl_eval_perplexity(NULL, w.ids, 64, TL_EVAL_STREAM, 4, &loss, &ppl));
    BAD(tl_eval_perplexity(w.m, NULL, 64, TL_EVAL_STREAM, 4, &loss, &ppl));
    BAD(tl_eval_perplexity(w.m, w.ids, 1, TL_EVAL_STREAM, 4, &loss, &ppl));
    BAD(tl_eval_perplexity(w.m, w.ids, 64, (tl_eval_mode)9, 4, &loss, &ppl));
    BAD(tl_eval_perplexity(w.m, w.ids, 64, TL_EVAL_STREAM, -1, &loss, &ppl));
    int32_t bad_ids[4] = {0, 1, V, 2};
    BAD(tl_eval_perplexity(w.m, bad_ids, 4, TL_EVAL_STREAM, 2, &loss, &ppl));

    tl_real scores[V] = {0};
    double work[2 * V];
    int32_t out[8], skip_all[V];
    for (int i = 0; i < V; i++)
        skip_all[i] = i;
    tl_sample_opts so = {.temperature = 1};
    tl_sample_opts negative = {.temperature = -1}, no_id = {.skip = skip_all, .nskip = V};
    tl_sample_opts topk = {.top_k = -2};
    BAD(tl_sample(NULL, V, &so, &w.rng, work, out));
    BAD(tl_sample(scores, 0, &so, &w.rng, work, out));
    BAD(tl_sample(scores, V, &negative, &w.rng, work, out));
    BAD(tl_sample(scores, V, &no_id, &w.rng, work, out));
    BAD(tl_sample(scores, V, &topk, &w.rng, work, out));
    BAD(tl_sample(scores, V, &so, NULL, work, out));
    BAD(tl_sample(scores, V, &so, &w.rng, work, NULL));
    scores[2] = (tl_real)NAN;
    BAD(tl_sample(scores, V, &so, &w.rng, work, out));
    int32_t prompt[2] = {0, 1};
    BAD(tl_generate(NULL, prompt, 2, 4, &so, &w.rng, out));
    BAD(tl_generate(w.m, NULL, 2, 4, &so, &w.rng, out));
    BAD(tl_generate(w.m, prompt, 0, 4, &so, &w.rng, out));
    BAD(tl_generate(w.m, prompt, 2, -1, &so, &w.rng, out));
    BAD(tl_generate(w.m, bad_ids, 4, 4, &so, &w.rng, out));
    BAD(tl_generate(w.m, prompt, 2, 4, &so, &w.rng, NULL));

    tl_gradcheck_entry e[8];
    int n;
    tl_layer *aff;
    TU_OK(tl_time_affine_create(&aff, D, H, &w.rng));
    BAD(tl_gradcheck_layer(NULL, &w.x, NULL, NULL, e, 8, &n));
    BAD(tl_gradcheck_layer(aff, NULL, NULL, NULL, e, 8, &n));
    BAD(tl_gradcheck_layer(aff, &w.dy, NULL, NULL, e, 8, &n)); /* width H, not D */
    BAD(tl_gradcheck_layer(aff, &w.x, NULL, NULL, NULL, 8, &n));
    BAD(tl_gradcheck_model(NULL, &w.xs, &w.ts, NULL, e, 8, &n));
    BAD(tl_gradcheck_model(w.m, NULL, &w.ts, NULL, e, 8, &n));
    BAD(tl_gradcheck_model(w.m, &w.xs, &w.ts, NULL, e, -1, &n));
    (void)tl_gradcheck_worst(NULL, 0);
    tl_layer_destroy(aff);
    free_world(&w);
}

static void test_checkpoint_and_train(void **state)
{
    (void)state;
    world w;
    make_world(&w);
    tl_checkpoint *ck;
    tl_model *m;
    char missing[160];
    snprintf(missing, sizeof missing, "%s/none.safetensors", w.dir);
    BAD(tl_checkpoint_save(NULL, w.m, NULL, 0, NULL, 0));
    BAD(tl_checkpoint_save(w.path, NULL, NULL, 0, NULL, 0));
    BAD(tl_checkpoint_save(w.path, w.m, NULL, 2, NULL, 0));
    BAD(tl_checkpoint_save(w.path, w.m, NULL, 0, NULL, -1));
    BAD(tl_checkpoint_save(w.dir, w.m, NULL, 0, NULL, 0)); /* a directory */
    BAD(tl_checkpoint_open(NULL, &ck));
    BAD(tl_checkpoint_open(w.path, NULL));
    BAD(tl_checkpoint_open(missing, &ck));
    BAD(tl_checkpoint_open(w.dir, &ck));
    assert_int_equal(tu_count_files(w.dir), 0);

    /* A valid checkpoint of a plain model: no vocabulary, optimizer, loop. */
    TU_OK(tl_checkpoint_save(w.path, w.m, NULL, 0, NULL, 0));
    TU_OK(tl_checkpoint_open(w.path, &ck));
    const char *k, *v;
    tl_real dst[4];
    tl_ckpt_tensor_info info;
    tl_vocab *vocab;
    tl_optim *opt;
    BAD(tl_checkpoint_model(NULL, &m));
    BAD(tl_checkpoint_model(ck, NULL));
    BAD(tl_checkpoint_load_into(NULL, w.m));
    BAD(tl_checkpoint_load_into(ck, NULL));
    tl_model *other;
    tl_lm_config lm = {.vocab = V, .embed = D, .hidden = H + 1, .layers = 1};
    TU_OK(tl_lm_create(&other, &lm, &w.rng));
    BAD(tl_checkpoint_load_into(ck, other)); /* another shape */
    tl_model_destroy(other);
    BAD(tl_checkpoint_meta_at(NULL, 0, &k, &v));
    BAD(tl_checkpoint_meta_at(ck, -1, &k, &v));
    BAD(tl_checkpoint_meta_at(ck, 999, &k, &v));
    BAD(tl_checkpoint_tensor(NULL, "layers.0.W", dst, 4));
    BAD(tl_checkpoint_tensor(ck, NULL, dst, 4));
    BAD(tl_checkpoint_tensor(ck, "nope", dst, 4));
    BAD(tl_checkpoint_tensor(ck, "layers.0.W", dst, 4)); /* V * D values, not 4 */
    BAD(tl_checkpoint_tensor(ck, "layers.0.W", NULL, (size_t)V * D));
    BAD(tl_checkpoint_tensor_info(NULL, 0, &info));
    BAD(tl_checkpoint_tensor_info(ck, -1, &info));
    BAD(tl_checkpoint_tensor_info(ck, 999, &info));
    BAD(tl_checkpoint_tensor_info(ck, 0, NULL));
    BAD(tl_checkpoint_vocab(NULL, &vocab));
    BAD(tl_checkpoint_vocab(ck, &vocab));    /* none stored */
    BAD(tl_checkpoint_optim(NULL, &opt));
    BAD(tl_checkpoint_optim(ck, &opt));      /* none stored */
    assert_null(tl_checkpoint_meta(NULL, "format"));
    assert_null(tl_checkpoint_meta(ck, NULL));
    assert_int_equal(tl_checkpoint_meta_count(NULL), 0);
    assert_int_equal(tl_checkpoint_tensor_count(NULL), 0);
    assert_int_equal(tl_checkpoint_find(NULL, "x"), -1);
    assert_int_equal(tl_checkpoint_find(ck, NULL), -1);
    tl_checkpoint_close(NULL);

    tl_trainer *t;
    tl_train_config cfg = {.batch = 2, .time = 4, .epochs = 1};
    tl_train_config neg = cfg;
    neg.clip_norm = -1;
    BAD(tl_trainer_create(NULL, w.m, w.opt, NULL, w.ids, 64, NULL, 0, &cfg));
    BAD(tl_trainer_create(&t, NULL, w.opt, NULL, w.ids, 64, NULL, 0, &cfg));
    BAD(tl_trainer_create(&t, w.m, NULL, NULL, w.ids, 64, NULL, 0, &cfg));
    BAD(tl_trainer_create(&t, w.m, w.opt, NULL, NULL, 64, NULL, 0, &cfg));
    BAD(tl_trainer_create(&t, w.m, w.opt, NULL, w.ids, 64, NULL, 0, NULL));
    BAD(tl_trainer_create(&t, w.m, w.opt, NULL, w.ids, 64, NULL, 0, &neg));
    BAD(tl_trainer_create(&t, w.m, w.opt, NULL, w.ids, 8, NULL, 0, &cfg)); /* too short */
    BAD(tl_trainer_create(&t, w.m, w.opt, NULL, w.ids, 64, w.ids, 1, &cfg));
    int32_t far[64];
    memcpy(far, w.ids, sizeof far);
    far[5] = V + 1;
    tl_optim *small;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
    TU_OK(tl_optim_create(&small, &oc, 3));
    BAD(tl_trainer_create(&t, w.m, small, NULL, w.ids, 64, NULL, 0, &cfg)); /* 3 parameters */
    tl_optim_destroy(small);
    TU_OK(tl_trainer_create(&t, w.m, w.opt, NULL, far, 64, NULL, 0, &cfg));
    BAD(tl_trainer_run(t, NULL, NULL));      /* an id out of range in the data */
    tl_trainer_destroy(t);
    TU_OK(tl_trainer_create(&t, w.m, w.opt, NULL, w.ids, 64, NULL, 0, &cfg));
    BAD(tl_trainer_resume(NULL, ck));
    BAD(tl_trainer_resume(t, NULL));
    BAD(tl_trainer_resume(t, ck));           /* not a trainer's checkpoint */
    BAD(tl_trainer_run(NULL, NULL, NULL));
    BAD(tl_trainer_save(NULL, w.path));
    BAD(tl_trainer_save(t, NULL));
    BAD(tl_trainer_save(t, "/nonexistent/dir/x.safetensors"));
    assert_int_equal(tl_trainer_epoch(NULL), 0);
    assert_int_equal(tl_trainer_step(NULL), 0);
    assert_true(isinf(tl_trainer_best_ppl(NULL)));
    assert_false(tl_trainer_saved(NULL));
    tl_trainer_destroy(NULL);
    tl_trainer_destroy(t);
    tl_checkpoint_close(ck);
    free_world(&w);
    printf("%d bad calls refused with a status and a message\n", nbad);
}

/* A tensor whose size disagrees with its shape is refused at the boundary,
 * before a layer reads it by its shape (ASan saw reads past the end). */
static void test_inconsistent_tensors(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    tl_layer *a, *loss;
    TU_OK(tl_time_affine_create(&a, 4, 3, &rng));
    TU_OK(tl_time_softmax_loss_create(&loss, 3, TL_LOSS_MEAN));
    tl_real x[8] = {0};
    const tl_tensor *y, *dx;
    tl_tensor t = tl_tensor_wrap(x, 3, (int[]){2, 5, 4});    /* shape 40, size 40 */
    t.size = 8;                                             /* the caller's 8 values */
    assert_int_equal(tl_layer_forward(a, &t, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "shape (2, 5, 4) but size 8"));
    t = tl_tensor_wrap(x, 2, (int[]){2, 4});
    t.shape[1] = -4;
    assert_int_equal(tl_layer_forward(a, &t, &y), TL_ERR_ARG);
    t = tl_tensor_wrap(x, 2, (int[]){2, 4});
    TU_OK(tl_layer_forward(a, &t, &y));
    tl_tensor dy = tl_tensor_wrap(x, 2, (int[]){4, 3});
    dy.size = 6;
    assert_int_equal(tl_layer_backward(a, &dy, &dx), TL_ERR_SHAPE);
    int32_t ids[2] = {0, 1};
    tl_tensor targets = tl_tensor_wrap_ids(ids, 2, (int[]){2, 3});
    targets.size = 2;
    tl_real s[6] = {0};
    tl_tensor scores = tl_tensor_wrap(s, 2, (int[]){2, 3});
    double l;
    assert_int_equal(tl_layer_loss(loss, &scores, &targets, &l), TL_ERR_SHAPE);
    tl_layer_destroy(a);
    tl_layer_destroy(loss);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_tensor),
        cmocka_unit_test(test_layers),
        cmocka_unit_test(test_model_optim_clip),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_eval_generate_gradcheck),
        cmocka_unit_test(test_checkpoint_and_train),
        cmocka_unit_test(test_inconsistent_tensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
