/* Sampling and generation: greedy is the argmax, a fixed seed repeats, the
 * temperature and top-k shape the distribution as stated, skipped ids never
 * come out and do not advance the state, errors are refused. */
#include <math.h>
#include <string.h>
#include "testutil.h"

enum { V = 6 };

static void test_greedy_and_skip(void **state)
{
    (void)state;
    tl_real s[V] = {0.1f, 2.0f, -1.0f, 1.5f, 0.0f, 1.9f};
    int32_t id;
    tl_sample_opts o = {.greedy = true};
    TU_OK(tl_sample(s, V, &o, NULL, NULL, &id));
    assert_int_equal(id, 1);
    int32_t skip[] = {1, 5};
    o.skip = skip;
    o.nskip = 2;
    TU_OK(tl_sample(s, V, &o, NULL, NULL, &id));
    assert_int_equal(id, 3);
    /* Sampling never returns a skipped id. */
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    o.greedy = false;
    for (int i = 0; i < 2000; i++) {
        TU_OK(tl_sample(s, V, &o, &rng, NULL, &id));
        assert_true(id != 1 && id != 5 && id >= 0 && id < V);
    }
}

/* Frequencies over many draws match softmax(s / T) restricted to the top k
 * (and top p). */
static void frequencies(double temperature, int top_k, double top_p, const double *expect)
{
    tl_real s[V] = {0.5f, 1.0f, -0.5f, 0.0f, 2.0f, -1.0f};
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_sample_opts o = {.temperature = temperature, .top_k = top_k, .top_p = top_p};
    double work[2 * V];
    int count[V] = {0}, n = 200000;
    for (int i = 0; i < n; i++) {
        int32_t id;
        TU_OK(tl_sample(s, V, &o, &rng, work, &id));
        count[id]++;
    }
    for (int i = 0; i < V; i++) {
        double f = (double)count[i] / n, sd = sqrt(expect[i] * (1 - expect[i]) / n);
        if (fabs(f - expect[i]) > 5 * sd + 1e-12)
            fail_msg("T=%g k=%d p=%g: id %d drawn %.4f of the time, expected %.4f", temperature,
                     top_k, top_p, i, f, expect[i]);
    }
}

static void softmax(const double *s, double t, int top_k, double *p)
{
    double sorted[V], cut = -INFINITY, z = 0;
    memcpy(sorted, s, sizeof sorted);
    for (int i = 0; i < V; i++) /* selection sort, descending */
        for (int j = i + 1; j < V; j++)
            if (sorted[j] > sorted[i]) {
                double x = sorted[i];
                sorted[i] = sorted[j];
                sorted[j] = x;
            }
    if (top_k)
        cut = sorted[top_k - 1];
    for (int i = 0; i < V; i++)
        z += p[i] = s[i] >= cut ? exp(s[i] / t) : 0;
    for (int i = 0; i < V; i++)
        p[i] /= z;
}

static void test_temperature_and_top_k(void **state)
{
    (void)state;
    const double s[V] = {0.5, 1.0, -0.5, 0.0, 2.0, -1.0};
    double p[V];
    softmax(s, 1.0, 0, p);
    frequencies(1.0, 0, 0, p);
    softmax(s, 0.5, 0, p);
    frequencies(0.5, 0, 0, p);
    softmax(s, 2.0, 3, p);
    frequencies(2.0, 3, 0, p);
}

/* Nucleus sampling. At T = 1 the probabilities of ids 4, 1, 0, 3, 2, 5 are
 * 0.538, 0.198, 0.120, 0.073, 0.044, 0.027 (cumulative 0.538, 0.736, 0.856):
 * top_p 0.8 keeps ids 4, 1, 0 (the same draw as top_k 3), 0.5 keeps id 4
 * alone. With top_k 2 first, top_p 0.7 is taken of the mass 0.736 of ids 4
 * and 1: 0.538 >= 0.7 * 0.736, so id 4 alone again. */
static void test_top_p(void **state)
{
    (void)state;
    const double s[V] = {0.5, 1.0, -0.5, 0.0, 2.0, -1.0}, only4[V] = {0, 0, 0, 0, 1, 0};
    double p[V];
    softmax(s, 1.0, 3, p);
    frequencies(1.0, 0, 0.8, p);
    frequencies(1.0, 0, 0.5, only4);
    frequencies(1.0, 2, 0.7, only4);
    softmax(s, 1.0, 2, p);
    frequencies(1.0, 2, 0.75, p);
    softmax(s, 1.0, 0, p);
    frequencies(1.0, 0, 1.0, p);
    tl_real z[V] = {0};
    int32_t id;
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    assert_int_equal(tl_sample(z, V, &(tl_sample_opts){.top_p = 1.5}, &rng, NULL, &id),
                     TL_ERR_ARG);
    assert_int_equal(tl_sample(z, V, &(tl_sample_opts){.top_p = NAN}, &rng, NULL, &id),
                     TL_ERR_ARG);
}

static tl_model *small_lm(void)
{
    tl_rng rng;
    tl_rng_seed(&rng, 4);
    tl_model *m;
    tl_lm_config c = {.vocab = V, .embed = 4, .hidden = 8, .layers = 1};
    TU_OK(tl_lm_create(&m, &c, &rng));
    tl_real *w;
    size_t n;
    TU_OK(tl_model_flat(m, &w, NULL, &n));
    for (size_t i = 0; i < n; i++)
        w[i] = (tl_real)(0.8 * tl_rng_normal(&rng));
    return m;
}

static void test_generate_is_reproducible_and_stateful(void **state)
{
    (void)state;
    tl_model *m = small_lm();
    int32_t prompt[] = {1, 2, 3}, a[40], b[40];
    tl_rng r1, r2;
    tl_rng_seed(&r1, 5);
    tl_rng_seed(&r2, 5);
    TU_OK(tl_generate(m, prompt, 3, 40, NULL, &r1, a));
    TU_OK(tl_generate(m, prompt, 3, 40, NULL, &r2, b));
    assert_memory_equal(a, b, sizeof a);

    /* Greedy generation equals feeding the tokens one at a time by hand. */
    tl_sample_opts g = {.greedy = true};
    TU_OK(tl_generate(m, prompt, 3, 10, &g, NULL, a));
    tl_model_reset_state(m);
    const tl_tensor *y;
    for (int i = 0; i < 3; i++) {
        tl_tensor x = tl_tensor_wrap_ids(&prompt[i], 2, (int[]){1, 1});
        TU_OK(tl_model_predict(m, &x, &y));
    }
    for (int k = 0; k < 10; k++) {
        int32_t id = 0;
        for (int v = 1; v < V; v++)
            if (y->data[v] > y->data[id])
                id = v;
        assert_int_equal(a[k], id);
        tl_tensor x = tl_tensor_wrap_ids(&id, 2, (int[]){1, 1});
        TU_OK(tl_model_predict(m, &x, &y));
    }
    tl_model_destroy(m);
}

static void test_errors(void **state)
{
    (void)state;
    tl_real s[V] = {0};
    int32_t id, all[V] = {0, 1, 2, 3, 4, 5};
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    assert_int_equal(tl_sample(s, V, &(tl_sample_opts){.skip = all, .nskip = V}, &rng, NULL, &id),
                     TL_ERR_ARG);
    assert_int_equal(tl_sample(s, V, &(tl_sample_opts){.temperature = -1}, &rng, NULL, &id),
                     TL_ERR_ARG);
    assert_int_equal(tl_sample(s, 0, NULL, &rng, NULL, &id), TL_ERR_ARG);
    assert_int_equal(tl_sample(s, V, NULL, NULL, NULL, &id), TL_ERR_ARG); /* no rng */
    s[2] = NAN;
    assert_int_equal(tl_sample(s, V, NULL, &rng, NULL, &id), TL_ERR_NUMERIC);
    tl_model *m = small_lm();
    int32_t out[4], bad = V;
    assert_int_equal(tl_generate(m, all, 0, 4, NULL, &rng, out), TL_ERR_ARG);
    assert_int_equal(tl_generate(m, &bad, 1, 4, NULL, &rng, out), TL_ERR_RANGE);
    tl_model_destroy(m);
    /* A non-stateful recurrent layer would forget the context at every token. */
    tl_layer *l;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&l, V, 3, &rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_lstm_create(&l, 3, 4, false, &rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_affine_create(&l, 4, V, &rng));
    TU_OK(tl_model_add(m, l));
    assert_int_equal(tl_generate(m, all, 1, 4, NULL, &rng, out), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "not stateful"));
    tl_model_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_skip),
        cmocka_unit_test(test_temperature_and_top_k),
        cmocka_unit_test(test_top_p),
        cmocka_unit_test(test_generate_is_reproducible_and_stateful),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
