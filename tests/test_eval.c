/* Perplexity evaluation: stream mode equals one pass over the whole stream,
 * reference mode equals the textbook's batching written out by hand, the
 * state is reset around it, and bad arguments are refused. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { V = 13 };

static tl_model *model(void)
{
    tl_rng rng;
    tl_rng_seed(&rng, 3);
    tl_model *m;
    tl_lm_config c = {.vocab = V, .embed = 6, .hidden = 10, .layers = 2};
    TU_OK(tl_lm_create(&m, &c, &rng));
    /* Larger weights than the reference's init, so predictions vary. */
    tl_real *w;
    size_t n;
    TU_OK(tl_model_flat(m, &w, NULL, &n));
    for (size_t i = 0; i < n; i++)
        w[i] = (tl_real)(0.4 * tl_rng_normal(&rng));
    return m;
}

static void random_ids(int32_t *ids, size_t n, uint64_t seed)
{
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)tl_rng_below(&rng, V);
}

static void assert_zero_state(tl_model *m)
{
    for (int i = 0; i < tl_model_num_layers(m); i++) {
        tl_layer *l = tl_model_layer(m, i);
        const tl_tensor *h, *c;
        if (!tl_layer_has_state(l))
            continue;
        TU_OK(tl_layer_get_state(l, &h, &c));
        assert_int_equal(h->size, 0);
    }
}

static void test_stream_equals_one_pass(void **state)
{
    (void)state;
    enum { LEN = 101 };
    int32_t ids[LEN];
    random_ids(ids, LEN, 1);
    tl_model *m = model();
    double loss, ppl, whole;
    TU_OK(tl_eval_perplexity(m, ids, LEN, TL_EVAL_STREAM, 7, &loss, &ppl));
    assert_zero_state(m);
    assert_true(fabs(ppl - exp(loss)) <= 1e-12 * ppl);
    /* All 100 targets in one (1, 100) batch from the zero state. */
    tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){1, LEN - 1});
    tl_tensor t = tl_tensor_wrap_ids(ids + 1, 2, (int[]){1, LEN - 1});
    TU_OK(tl_model_forward(m, &x, &t, &whole));
    printf("stream loss %.9f, one pass %.9f\n", loss, whole);
    assert_true(fabs(loss - whole) <= (TU_DOUBLE ? 1e-12 : 1e-5) * whole);
    tl_model_destroy(m);
}

/* 351 tokens: one reference batch, rows starting 35 apart. */
static void test_reference_mode_by_hand(void **state)
{
    (void)state;
    enum { LEN = 351 + 20, B = 10, T = 35 };
    int32_t ids[LEN], xs[B * T], ts[B * T];
    random_ids(ids, LEN, 2);
    tl_model *m = model();
    double loss, manual;
    TU_OK(tl_eval_perplexity(m, ids, LEN, TL_EVAL_REFERENCE, 0, &loss, NULL));
    assert_zero_state(m);
    size_t jump = (LEN - 1) / B;  /* 37: the textbook's (len - 1) // batch */
    for (int i = 0; i < B; i++)
        for (int k = 0; k < T; k++) {
            xs[i * T + k] = ids[i * jump + k];
            ts[i * T + k] = ids[i * jump + k + 1];
        }
    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){B, T});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){B, T});
    TU_OK(tl_model_forward(m, &x, &t, &manual));
    printf("reference loss %.9f, by hand %.9f\n", loss, manual);
    assert_true(fabs(loss - manual) <= (TU_DOUBLE ? 1e-12 : 1e-5) * manual);
    tl_model_destroy(m);
}

/* Evaluation leaves nothing to differentiate, and undoes the CS231n
 * normalisation (sum / N) as well as the mean. */
static void test_backward_refused_and_cs231n(void **state)
{
    (void)state;
    enum { LEN = 60 };
    int32_t ids[LEN];
    random_ids(ids, LEN, 4);
    tl_model *m = model();
    double mean_loss, cs_loss, loss;
    tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){2, 20});
    tl_tensor t = tl_tensor_wrap_ids(ids + 1, 2, (int[]){2, 20});
    TU_OK(tl_model_forward(m, &x, &t, &loss));
    TU_OK(tl_eval_perplexity(m, ids, LEN, TL_EVAL_STREAM, 9, &mean_loss, NULL));
    assert_int_equal(tl_model_backward(m), TL_ERR_STATE);
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_CS231N));
    TU_OK(tl_model_set_loss(m, l));
    TU_OK(tl_eval_perplexity(m, ids, LEN, TL_EVAL_STREAM, 9, &cs_loss, NULL));
    assert_true(fabs(cs_loss - mean_loss) <= (TU_DOUBLE ? 1e-12 : 1e-5) * mean_loss);
    tl_model_destroy(m);
}

static void test_errors(void **state)
{
    (void)state;
    int32_t ids[400];
    random_ids(ids, 400, 3);
    tl_model *m = model();
    double ppl;
    assert_int_equal(tl_eval_perplexity(NULL, ids, 400, TL_EVAL_STREAM, 0, NULL, &ppl),
                     TL_ERR_ARG);
    assert_int_equal(tl_eval_perplexity(m, ids, 1, TL_EVAL_STREAM, 0, NULL, &ppl), TL_ERR_ARG);
    assert_int_not_equal(tl_eval_perplexity(m, ids, 300, TL_EVAL_REFERENCE, 0, NULL, &ppl), TL_OK);
    assert_int_equal(tl_eval_perplexity(m, ids, 400, (tl_eval_mode)7, 0, NULL, &ppl), TL_ERR_ARG);
    ids[50] = V; /* out of range id */
    assert_int_equal(tl_eval_perplexity(m, ids, 400, TL_EVAL_STREAM, 0, NULL, &ppl), TL_ERR_RANGE);
    assert_zero_state(m);
    tl_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_equals_one_pass),
        cmocka_unit_test(test_reference_mode_by_hand),
        cmocka_unit_test(test_backward_refused_and_cs231n),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
