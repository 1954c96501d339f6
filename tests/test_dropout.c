/* Dropout, recurrent dropout, weight tying and the model's modes: gradient
 * checks with fixed masks (double build), mask statistics and determinism,
 * tied parameters held once, checkpoints of all of it. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { N = 3, T = 4, D = 5, H = 5, V = 7 };

/* Check every entry of a gradient check against the stated bound. */
static void expect_gradcheck_bound(const char *what, const tl_gradcheck_entry *e, int n,
                                   double bound)
{
    for (int i = 0; i < n; i++)
        print_message("%s %-16s max rel error %.3g (%zu checked)\n", what, e[i].name,
                      e[i].max_rel_error, e[i].checked);
    double worst = tl_gradcheck_worst(e, n);
    if (!(worst <= bound))
        fail_msg("%s: worst relative error %g above %g", what, worst, bound);
}

/* Layers: the bound of every layer check (1e-6). */
static void expect_gradcheck(const char *what, const tl_gradcheck_entry *e, int n)
{
    expect_gradcheck_bound(what, e, n, TU_GRADCHECK_BOUND);
}

static void train_mode(tl_layer *l, uint64_t seed, uint64_t step)
{
    tl_layer_set_mode(l, &(tl_layer_mode){.training = true, .seed = seed, .step = step});
}

static void test_gradcheck_dropout(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    for (int kind = 0; kind < 2; kind++) {
        tl_layer *l;
        tl_tensor x = {0};
        tl_rng rng;
        tl_rng_seed(&rng, 3);
        tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
        TU_OK(tl_time_dropout_create(&l, D, 0.4, (tl_dropout_kind)kind));
        train_mode(l, 11, 2);
        tl_gradcheck_entry e[4];
        int n;
        TU_OK(tl_gradcheck_layer(l, &x, NULL, NULL, e, 4, &n));
        expect_gradcheck(kind ? "TimeDropout locked" : "TimeDropout standard", e, n);
        tl_layer_destroy(l);
        tl_tensor_free(&x);
    }
}

static void test_gradcheck_lstm_recurrent_dropout(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_layer *l;
    tl_tensor x = {0};
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    TU_OK(tl_time_lstm_create(&l, D, H, true, &rng));
    TU_OK(tl_time_lstm_set_recurrent_dropout(l, 0.3));
    train_mode(l, 7, 1);
    tl_gradcheck_entry e[8];
    int n;
    TU_OK(tl_gradcheck_layer(l, &x, NULL, NULL, e, 8, &n));
    expect_gradcheck("TimeLSTM rec_dropout 0.3", e, n);
    /* The mask is in use: the output differs from evaluation mode's. */
    const tl_tensor *y;
    tl_tensor a = {0};
    tl_layer_reset_state(l);
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_tensor_copy(&a, y));
    tl_layer_set_mode(l, &(tl_layer_mode){.training = false});
    tl_layer_reset_state(l);
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_true(tu_differs(&a, y));
    tl_layer_destroy(l);
    tl_tensor_free(&x);
    tl_tensor_free(&a);
}

/* Embedding -> LSTM -> Dropout -> Affine(tied) -> loss. */
static tl_model *tied_model(tl_rng *rng, tl_dropout_kind kind)
{
    tl_model *m;
    tl_layer *emb, *l;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&emb, V, D, rng));
    TU_OK(tl_model_add(m, emb));
    TU_OK(tl_time_lstm_create(&l, D, H, true, rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_dropout_create(&l, H, 0.3, kind));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_affine_create_tied(&l, emb));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    TU_OK(tl_model_set_loss(m, l));
    /* Embedding values of the size of the other weights, so that the
     * affine's use of them matters in the check. */
    tl_param *p = tl_layer_params(emb, NULL);
    for (size_t i = 0; i < p[0].value.size; i++)
        p[0].value.data[i] = (tl_real)(0.5 * tl_rng_normal(rng));
    return m;
}

static void test_gradcheck_tied_model(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_model *m = tied_model(&rng, TL_DROPOUT_STANDARD);
    tl_model_set_seed(m, 21);
    tl_tensor xs = {0}, ts = {0};
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    tu_randint(&ts, &rng, V, 2, (int[]){N, T});
    /* W once: embedding W, LSTM Wx Wh b, affine b. */
    int count;
    TU_OK(tl_model_param_count(m, &count));
    assert_int_equal(count, 5);
    tl_gradcheck_entry e[8];
    int n;
    TU_OK(tl_gradcheck_model(m, &xs, &ts, NULL, e, 8, &n));
    assert_int_equal(n, 5);
    /* Bound 1e-5 as in test_model: the loss is a mean over N·T tokens, so
     * some gradients are tiny next to the rounding noise of the difference. */
    expect_gradcheck_bound("tied model", e, n, 1e-5);
    tl_model_destroy(m);
    TU_FREE_ALL(&xs, &ts);
}

/* The tied table's gradient is the embedding's gradient plus the transpose
 * of the gradient an untied affine with W = Eᵀ gets, with the same masks. */
static void test_tied_gradient_is_the_sum(void **state)
{
    (void)state;
    tl_rng rng, rng2;
    tl_rng_seed(&rng, 9);
    tl_model *m = tied_model(&rng, TL_DROPOUT_LOCKED);
    tl_tensor xs = {0}, ts = {0};
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    tu_randint(&ts, &rng, V, 2, (int[]){N, T});

    /* The same model untied: same values, W = Eᵀ. */
    tl_model *u;
    tl_layer *emb, *l;
    tl_rng_seed(&rng2, 1);
    TU_OK(tl_model_create(&u));
    TU_OK(tl_time_embedding_create(&emb, V, D, &rng2));
    TU_OK(tl_model_add(u, emb));
    TU_OK(tl_time_lstm_create(&l, D, H, true, &rng2));
    TU_OK(tl_model_add(u, l));
    TU_OK(tl_time_dropout_create(&l, H, 0.3, TL_DROPOUT_LOCKED));
    TU_OK(tl_model_add(u, l));
    TU_OK(tl_time_affine_create(&l, H, V, &rng2));
    TU_OK(tl_model_add(u, l));
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    TU_OK(tl_model_set_loss(u, l));
    /* Tied: 0.W 1.Wx 1.Wh 1.b 3.b; untied: the same with 3.W (H, V) = Eᵀ before 3.b. */
    tl_named_param a, b;
    for (int i = 0; i < 5; i++) {
        TU_OK(tl_model_param(m, i, &a));
        TU_OK(tl_model_param(u, i < 4 ? i : 5, &b));
        assert_string_equal(a.name, b.name);
        memcpy(b.param->value.data, a.param->value.data, a.param->value.size * sizeof(tl_real));
    }
    TU_OK(tl_model_param(m, 0, &a));
    TU_OK(tl_model_param(u, 4, &b));
    assert_string_equal(b.name, "layers.3.W");
    for (int v = 0; v < V; v++)
        for (int d = 0; d < D; d++)
            b.param->value.data[d * V + v] = a.param->value.data[v * D + d];

    double lt, lu;
    tl_model_zero_grad(m);
    tl_model_zero_grad(u);
    TU_OK(tl_model_forward(m, &xs, &ts, &lt));
    TU_OK(tl_model_backward(m));
    TU_OK(tl_model_forward(u, &xs, &ts, &lu));
    TU_OK(tl_model_backward(u));
    assert_true(fabs(lt - lu) <= 1e-5 * fabs(lu));
    tl_named_param ge, gw;
    TU_OK(tl_model_param(m, 0, &a));
    TU_OK(tl_model_param(u, 0, &ge));
    TU_OK(tl_model_param(u, 4, &gw));
    double worst = 0, tied_part = 0;
    for (int v = 0; v < V; v++)
        for (int d = 0; d < D; d++) {
            double sum = ge.param->grad.data[v * D + d] + gw.param->grad.data[d * V + v];
            worst = fmax(worst, fabs(a.param->grad.data[v * D + d] - sum));
            tied_part = fmax(tied_part, fabs(gw.param->grad.data[d * V + v]));
        }
    print_message("tied dE - (dE_embedding + dW_affineᵀ): max %.3g (affine part up to %.3g)\n",
                  worst, tied_part);
    assert_true(tied_part > 1e-3);
    assert_true(worst <= (TU_DOUBLE ? 1e-12 : 1e-5));
    tl_model_destroy(m);
    tl_model_destroy(u);
    TU_FREE_ALL(&xs, &ts);
}

/* Forward a (rows, steps, w) tensor of ones through l and copy y out. */
static void ones_through(tl_layer *l, int rows, int steps, int w, tl_tensor *out)
{
    tl_tensor x = {0};
    const tl_tensor *y;
    TU_OK(tl_tensor_resize(&x, TL_REAL, 3, (int[]){rows, steps, w}));
    for (size_t i = 0; i < x.size; i++)
        x.data[i] = 1;
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_tensor_copy(out, y));
    tl_tensor_free(&x);
}

static void test_dropout_statistics(void **state)
{
    (void)state;
    enum { R = 40, S = 50, W = 100 };
    const double p = 0.3;
    tl_layer *l;
    tl_tensor y = {0}, y2 = {0};
    TU_OK(tl_time_dropout_create(&l, W, p, TL_DROPOUT_STANDARD));

    /* Evaluation mode is the identity (the very input tensor). */
    tl_tensor x = {0};
    const tl_tensor *out;
    TU_OK(tl_tensor_resize(&x, TL_REAL, 3, (int[]){2, 3, W}));
    tl_layer_set_mode(l, &(tl_layer_mode){.training = false, .seed = 1});
    TU_OK(tl_layer_forward(l, &x, &out));
    assert_ptr_equal(out, &x);
    tl_tensor_free(&x);

    /* Training: mean within 4 standard errors of 1, values 0 or 1/(1-p),
     * the fraction dropped within 4 standard errors of p. */
    train_mode(l, 1, 0);
    ones_through(l, R, S, W, &y);
    double sum = 0, dropped = 0, n = (double)y.size;
    for (size_t i = 0; i < y.size; i++) {
        sum += y.data[i];
        dropped += y.data[i] == 0;
        assert_true(y.data[i] == 0 || fabs(y.data[i] - 1 / (1 - p)) < 1e-6);
    }
    double se_drop = sqrt(p * (1 - p) / n), se_mean = sqrt(p / (1 - p) / n);
    print_message("standard: mean %.5f (1 +- %.5f), dropped %.5f (%.2f +- %.5f)\n", sum / n,
                  4 * se_mean, dropped / n, p, 4 * se_drop);
    assert_true(fabs(sum / n - 1) <= 4 * se_mean);
    assert_true(fabs(dropped / n - p) <= 4 * se_drop);
    /* Standard masks differ between steps t of one call. */
    assert_true(memcmp(y.data, y.data + W, W * sizeof(tl_real)) != 0);

    /* The same key gives the same mask; another step or seed another. */
    ones_through(l, R, S, W, &y2);
    assert_memory_equal(y.data, y2.data, y.size * sizeof(tl_real));
    train_mode(l, 1, 1);
    ones_through(l, R, S, W, &y2);
    assert_true(tu_differs(&y, &y2));
    train_mode(l, 2, 0);
    ones_through(l, R, S, W, &y2);
    assert_true(tu_differs(&y, &y2));

    /* Any thread count draws the same mask. */
    int threads = tl_get_num_threads();
    train_mode(l, 1, 0);
    TU_OK(tl_set_num_threads(4));
    ones_through(l, R, S, W, &y2);
    assert_memory_equal(y.data, y2.data, y.size * sizeof(tl_real));
    TU_OK(tl_set_num_threads(1));
    ones_through(l, R, S, W, &y2);
    assert_memory_equal(y.data, y2.data, y.size * sizeof(tl_real));
    TU_OK(tl_set_num_threads(threads));
    tl_layer_destroy(l);

    /* Locked: constant over t within a call, new at the next step. */
    TU_OK(tl_time_dropout_create(&l, W, p, TL_DROPOUT_LOCKED));
    train_mode(l, 1, 0);
    ones_through(l, R, S, W, &y);
    dropped = 0;
    for (int r = 0; r < R; r++)
        for (int t = 1; t < S; t++)
            assert_memory_equal(y.data + ((size_t)r * S + t) * W, y.data + (size_t)r * S * W,
                                W * sizeof(tl_real));
    for (int r = 0; r < R; r++)
        for (int d = 0; d < W; d++)
            dropped += y.data[(size_t)r * S * W + d] == 0;
    print_message("locked: dropped %.4f of %d (row, feature) pairs\n", dropped / (R * W), R * W);
    assert_true(fabs(dropped / (R * W) - p) <= 4 * sqrt(p * (1 - p) / (R * W)));
    train_mode(l, 1, 1);
    ones_through(l, R, S, W, &y2);
    assert_true(tu_differs(&y, &y2));
    tl_layer_destroy(l);
    TU_FREE_ALL(&y, &y2);
}

/* A model in training mode draws masks; predict and evaluation mode do not,
 * and leave the model's mode alone; training forwards advance the step. */
static void test_model_modes(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 4);
    tl_model *m = tied_model(&rng, TL_DROPOUT_STANDARD);
    tl_tensor xs = {0}, ts = {0}, s1 = {0};
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    tu_randint(&ts, &rng, V, 2, (int[]){N, T});
    assert_true(tl_model_is_training(m));
    const tl_tensor *scores;
    double l1, l2, le1, le2;
    TU_OK(tl_model_predict(m, &xs, &scores));
    TU_OK(tl_tensor_copy(&s1, scores));
    tl_model_reset_state(m);
    TU_OK(tl_model_predict(m, &xs, &scores));
    tu_assert_same_tensor("predict twice", &s1, scores);
    assert_true(tl_model_is_training(m));
    assert_int_equal(tl_model_step(m), 0);

    tl_model_reset_state(m);
    TU_OK(tl_model_forward(m, &xs, &ts, &l1));
    tl_model_reset_state(m);
    TU_OK(tl_model_forward(m, &xs, &ts, &l2));
    assert_int_equal(tl_model_step(m), 2);
    assert_true(l1 != l2); /* steps 0 and 1: different masks */
    tl_model_set_step(m, 0);
    tl_model_reset_state(m);
    TU_OK(tl_model_forward(m, &xs, &ts, &l2));
    assert_true(l1 == l2);

    tl_model_set_training(m, false);
    tl_model_reset_state(m);
    TU_OK(tl_model_forward(m, &xs, &ts, &le1));
    tl_model_reset_state(m);
    TU_OK(tl_model_forward(m, &xs, &ts, &le2));
    assert_true(le1 == le2);
    assert_int_equal(tl_model_step(m), 1);
    tl_model_destroy(m);
    TU_FREE_ALL(&xs, &ts, &s1);
}

/* Version 2 round trip of every new field; a tied model stores W once. */
static void test_checkpoint_fields(void **state)
{
    (void)state;
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    tl_lm_config c = {.vocab = V, .embed = H, .hidden = H, .layers = 2, .dropout = 0.25,
                      .dropout_kind = TL_DROPOUT_LOCKED, .rec_dropout = 0.125, .tie = true};
    tl_model *m, *copy;
    TU_OK(tl_lm_create(&m, &c, &rng));
    assert_int_equal(tl_model_num_layers(m), 7);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    /* Embedding W, 2 x (Wx, Wh, b), affine b: no second (H, V) matrix. */
    assert_int_equal(tl_checkpoint_tensor_count(ck), 8);
    assert_int_equal(tl_checkpoint_find(ck, "layers.6.W"), -1);
    assert_true(tl_checkpoint_find(ck, "layers.6.b") >= 0);
    assert_non_null(strstr(tl_checkpoint_meta(ck, "architecture"), "\"tied\":{\"layer\":0}"));
    TU_OK(tl_checkpoint_model(ck, &copy));
    tl_checkpoint_close(ck);
    for (int i = 0; i <= tl_model_num_layers(m); i++) {
        tl_layer_config a, b;
        TU_OK(tl_model_layer_config(m, i, &a));
        TU_OK(tl_model_layer_config(copy, i, &b));
        assert_true(tl_config_equal(&a, &b));
    }
    tl_layer_config lc;
    double p;
    bool locked;
    TU_OK(tl_model_layer_config(copy, 1, &lc));
    TU_OK(tl_config_real(&lc, "p", 0, &p));
    TU_OK(tl_config_bool(&lc, "locked", false, &locked));
    assert_true(p == 0.25 && locked);
    TU_OK(tl_model_layer_config(copy, 2, &lc));
    TU_OK(tl_config_real(&lc, "rec_dropout", 0, &p));
    assert_true(p == 0.125);
    /* The copy's affine uses the copy's embedding. */
    const tl_tensor *w;
    bool transposed;
    const tl_layer *tied;
    TU_OK(tl_time_affine_weight(tl_model_layer(copy, 6), &w, &transposed, &tied));
    assert_true(transposed);
    assert_ptr_equal(tied, tl_model_layer(copy, 0));
    assert_ptr_equal(w, &tl_layer_params(tl_model_layer(copy, 0), NULL)[0].value);
    /* Same predictions (evaluation mode). */
    tl_tensor xs = {0}, s = {0};
    const tl_tensor *y;
    tu_randint(&xs, &rng, V, 2, (int[]){N, T});
    TU_OK(tl_model_predict(m, &xs, &y));
    TU_OK(tl_tensor_copy(&s, y));
    TU_OK(tl_model_predict(copy, &xs, &y));
    tu_assert_same_tensor("tied copy", &s, y);
    tl_model_destroy(copy);
    tl_model_destroy(m);
    TU_FREE_ALL(&xs, &s);

    /* Tying with different widths: refused, naming both layers. */
    c.embed = H + 1;
    assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "layer 0 (TimeEmbedding, D=6)"));
    assert_non_null(strstr(tl_last_error(), "(TimeLSTM, H=5)"));
    c = (tl_lm_config){.vocab = V, .embed = H, .hidden = H, .layers = 1, .dropout = 1};
    assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_ARG);
    c = (tl_lm_config){.vocab = V, .embed = H, .hidden = H, .layers = 1, .rec_dropout = 0.1,
                       .cell = TL_CELL_RNN};
    assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_ARG);
    tl_layer *l;
    TU_OK(tl_time_affine_create(&l, 3, 3, NULL));
    tl_layer *bad;
    assert_int_equal(tl_time_affine_create_tied(&bad, l), TL_ERR_ARG);
    assert_int_equal(tl_time_lstm_set_recurrent_dropout(l, 0.1), TL_ERR_ARG);
    tl_layer_destroy(l);
    assert_int_equal(tl_time_dropout_create(&l, 3, 1.0, TL_DROPOUT_STANDARD), TL_ERR_ARG);
    tu_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_dropout),
        cmocka_unit_test(test_gradcheck_lstm_recurrent_dropout),
        cmocka_unit_test(test_gradcheck_tied_model),
        cmocka_unit_test(test_tied_gradient_is_the_sum),
        cmocka_unit_test(test_dropout_statistics),
        cmocka_unit_test(test_model_modes),
        cmocka_unit_test(test_checkpoint_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
