/* Initialisation schemes: each parameter's range, mean and variance within
 * stated tolerances, the forget-gate bias, determinism by seed, and the
 * text form of a scheme. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { V = 300, D = 64, H = 48, L = 2 };

static tl_model *build(tl_init init, uint64_t seed)
{
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_lm_config c = {.vocab = V, .embed = D, .hidden = H, .layers = L, .init = init};
    tl_model *m;
    TU_OK(tl_lm_create(&m, &c, &rng));
    return m;
}

/* The values of parameter `name` ("layers.1.Wx") and their count. */
static const tl_real *values(tl_model *m, const char *name, size_t *n)
{
    int count;
    TU_OK(tl_model_param_count(m, &count));
    for (int i = 0; i < count; i++) {
        tl_named_param p;
        TU_OK(tl_model_param(m, i, &p));
        if (strcmp(p.name, name) == 0) {
            *n = p.param->value.size;
            return p.param->value.data;
        }
    }
    fail_msg("no parameter %s", name);
    return NULL;
}

/* Values within [-bound, bound]; mean within 5 standard errors of 0; the
 * variance within rel_tol of var. */
static void check_slice(const char *name, const tl_real *v, size_t n, double bound, double var,
                        double rel_tol)
{
    double sum = 0, sq = 0;
    for (size_t i = 0; i < n; i++) {
        if (fabs((double)v[i]) > bound)
            fail_msg("%s[%zu] = %g is outside +-%g", name, i, (double)v[i], bound);
        sum += v[i];
        sq += (double)v[i] * v[i];
    }
    double mean = sum / (double)n, variance = sq / (double)n - mean * mean;
    if (fabs(mean) > 5 * sqrt(var / (double)n))
        fail_msg("%s: mean %g, more than 5 standard errors (%g) from 0", name, mean,
                 sqrt(var / (double)n));
    if (fabs(variance / var - 1) > rel_tol)
        fail_msg("%s: variance %g, expected %g within %.0f%%", name, variance, var, 100 * rel_tol);
}

static void check_stats(tl_model *m, const char *name, double bound, double var, double rel_tol)
{
    size_t n;
    const tl_real *v = values(m, name, &n);
    check_slice(name, v, n, bound, var, rel_tol);
}

static void check_zero(tl_model *m, const char *name)
{
    size_t n;
    const tl_real *v = values(m, name, &n);
    for (size_t i = 0; i < n; i++)
        assert_true(v[i] == 0);
}

/* The relative standard error of a sample variance is sqrt(0.8/n) for a
 * uniform and sqrt(2/n) for a normal distribution: with n >= 4800 values
 * (the bias vectors are pooled nowhere: only matrices get variance checks)
 * the tolerances below are 4 standard errors or more. */
static void test_uniform(void **state)
{
    (void)state;
    tl_model *m = build((tl_init){.kind = TL_INIT_UNIFORM, .scale = 0.1}, 3);
    const char *names[] = {"layers.0.W", "layers.1.Wx", "layers.1.Wh", "layers.2.Wx",
                           "layers.3.W"};
    for (int i = 0; i < 5; i++)
        check_stats(m, names[i], 0.1, 0.01 / 3, 0.06);
    size_t n;
    const tl_real *b = values(m, "layers.1.b", &n);
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        assert_true(fabs((double)b[i]) <= 0.1);
        nonzero |= b[i] != 0;
    }
    assert_true(nonzero); /* biases are drawn too */
    tl_model_destroy(m);
}

static void test_pytorch(void **state)
{
    (void)state;
    tl_model *m = build((tl_init){.kind = TL_INIT_PYTORCH}, 4);
    double k = 1 / sqrt((double)H);
    check_stats(m, "layers.0.W", INFINITY, 1, 0.06);       /* N(0, 1) */
    check_stats(m, "layers.1.Wx", k, k * k / 3, 0.06);     /* U(±1/√H), not 1/√D */
    check_stats(m, "layers.2.Wh", k, k * k / 3, 0.06);
    check_stats(m, "layers.3.W", k, k * k / 3, 0.06);      /* Linear: U(±1/√fan_in) */
    /* The LSTM bias is b_ih + b_hh: within ±2k, variance 2k²/3. Only 4H =
     * 192 values: range and a loose variance (8 standard errors). */
    check_stats(m, "layers.1.b", 2 * k, 2 * k * k / 3, 0.5);
    tl_model_destroy(m);
}

/* A GRU's b is [b_ir + b_hr, b_iz + b_hz, b_in] and its bhn is b_hn: the r
 * and z blocks are sums of two U(±k) draws (triangular on ±2k, a quarter of
 * them beyond ±k), the n block and bhn single draws within ±k. H = 512 gives
 * 1024 values per check; the variance tolerance of 25% is over 8 standard
 * errors (sqrt(0.8/1024) = 2.8%; triangular sqrt(1.2/1024) = 3.4%), while a
 * second draw would double the variance of the n block and bhn. */
static void test_pytorch_gru(void **state)
{
    (void)state;
    enum { GH = 512 };
    tl_rng rng;
    tl_rng_seed(&rng, 4);
    tl_lm_config c = {.vocab = 50, .embed = 16, .hidden = GH, .layers = 2, .cell = TL_CELL_GRU,
                      .init = {.kind = TL_INIT_PYTORCH}};
    tl_model *m;
    TU_OK(tl_lm_create(&m, &c, &rng));
    double k = 1 / sqrt((double)GH);
    for (int l = 1; l <= 2; l++) {
        char name[32];
        size_t n;
        snprintf(name, sizeof name, "layers.%d.b", l);
        const tl_real *b = values(m, name, &n);
        assert_int_equal(n, 3 * GH);
        check_slice("b_r + b_z", b, 2 * GH, 2 * k, 2 * k * k / 3, 0.25);
        size_t beyond = 0;
        for (size_t i = 0; i < 2 * GH; i++)
            beyond += fabs((double)b[i]) > k;
        if (beyond < GH / 4) /* expected 2GH/4 = 256, standard deviation 14 */
            fail_msg("%s: only %zu of the r and z biases beyond 1/sqrt(H)", name, beyond);
        check_slice("b_n", b + 2 * GH, GH, k, k * k / 3, 0.25);
        snprintf(name, sizeof name, "layers.%d.bhn", l);
        check_stats(m, name, k, k * k / 3, 0.25);
        snprintf(name, sizeof name, "layers.%d.Wh", l);
        check_stats(m, name, k, k * k / 3, 0.06);
    }
    tl_model_destroy(m);
}

static void test_textbook(void **state)
{
    (void)state;
    tl_model *m = build((tl_init){0}, 5);
    tl_model *again = build((tl_init){0}, 5);
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    TU_OK(tl_model_init(again, &(tl_init){.kind = TL_INIT_TEXTBOOK}, &rng));
    /* What the constructors draw and what tl_model_init draws follow the same law. */
    tl_model *both[2] = {m, again};
    for (int i = 0; i < 2; i++) {
        check_stats(both[i], "layers.0.W", INFINITY, 1e-4, 0.06);
        check_stats(both[i], "layers.1.Wx", INFINITY, 1.0 / D, 0.06);
        check_stats(both[i], "layers.2.Wx", INFINITY, 1.0 / H, 0.06);
        check_stats(both[i], "layers.2.Wh", INFINITY, 1.0 / H, 0.06);
        check_zero(both[i], "layers.1.b");
        check_zero(both[i], "layers.3.b");
    }
    tl_model_destroy(m);
    tl_model_destroy(again);
}

static void test_forget_bias(void **state)
{
    (void)state;
    tl_model *m = build((tl_init){.kind = TL_INIT_UNIFORM, .scale = 0.05, .forget_bias_set = true,
                                  .forget_bias = 1},
                        6);
    for (int l = 1; l <= L; l++) {
        char name[32];
        snprintf(name, sizeof name, "layers.%d.b", l);
        size_t n;
        const tl_real *b = values(m, name, &n);
        assert_int_equal(n, 4 * H);
        for (int j = 0; j < H; j++)
            assert_true(b[j] == 1); /* f, the first block */
        for (int j = H; j < 4 * H; j++)
            assert_true(fabs((double)b[j]) <= 0.05);
    }
    check_stats(m, "layers.1.Wx", 0.05, 0.0025 / 3, 0.06);
    tl_model_destroy(m);
}

/* The same seed gives the same bits; another seed other values. */
static void test_deterministic(void **state)
{
    (void)state;
    tl_init kinds[3] = {{.kind = TL_INIT_UNIFORM, .scale = 0.1}, {.kind = TL_INIT_PYTORCH},
                        {.kind = TL_INIT_TEXTBOOK, .forget_bias_set = true, .forget_bias = 2}};
    for (int k = 0; k < 3; k++) {
        tl_model *a = build(kinds[k], 11), *b = build(kinds[k], 11), *c = build(kinds[k], 12);
        tl_real *va, *vb, *vc;
        size_t na, nb, nc;
        TU_OK(tl_model_flat(a, &va, NULL, &na));
        TU_OK(tl_model_flat(b, &vb, NULL, &nb));
        TU_OK(tl_model_flat(c, &vc, NULL, &nc));
        assert_int_equal(na, nb);
        assert_memory_equal(va, vb, na * sizeof *va);
        assert_memory_not_equal(va, vc, na * sizeof *va);
        tl_model_destroy(a);
        tl_model_destroy(b);
        tl_model_destroy(c);
    }
}

static void test_text_form(void **state)
{
    (void)state;
    const char *good[] = {"textbook", "uniform:0.1", "pytorch", "uniform:0.05,forget_bias=1",
                          "pytorch,forget_bias=-0.5"};
    for (int i = 0; i < 5; i++) {
        tl_init in;
        char buf[96];
        TU_OK(tl_init_parse(good[i], &in));
        tl_init_describe(&in, buf, sizeof buf);
        assert_string_equal(buf, good[i]);
    }
    tl_init in = {.kind = TL_INIT_PYTORCH};
    TU_OK(tl_init_parse("uniform:0.1", &in));
    assert_int_equal(in.kind, TL_INIT_UNIFORM);
    assert_true(in.scale == 0.1);
    const char *bad[] = {"", "uniform", "uniform:", "uniform:0", "uniform:-1", "uniform:x",
                         "uniform:0.1x", "textbooks", "pytorch:1", "gauss",
                         "pytorch,forget_bias=", "pytorch,forget_bias=1x", "uniform:inf"};
    for (int i = 0; i < 13; i++) {
        tl_init before = in;
        assert_int_equal(tl_init_parse(bad[i], &in), TL_ERR_ARG);
        assert_memory_equal(&before, &in, sizeof in);
    }
}

static void test_bad_args(void **state)
{
    (void)state;
    tl_model *m = build((tl_init){0}, 1);
    tl_rng rng;
    tl_rng_seed(&rng, 1);
    assert_int_equal(tl_model_init(m, &(tl_init){.kind = TL_INIT_UNIFORM}, &rng), TL_ERR_ARG);
    assert_int_equal(tl_model_init(m, &(tl_init){.kind = (tl_init_kind)7}, &rng), TL_ERR_ARG);
    assert_int_equal(tl_model_init(m, &(tl_init){.forget_bias_set = true,
                                                 .forget_bias = NAN}, &rng), TL_ERR_ARG);
    assert_int_equal(tl_model_init(NULL, &(tl_init){0}, &rng), TL_ERR_ARG);
    tl_model_destroy(m);
    tl_lm_config c = {.vocab = V, .embed = D, .hidden = H, .layers = 1,
                      .init = {.kind = TL_INIT_UNIFORM, .scale = -1}};
    assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_ARG);
    c.init = (tl_init){0};
    c.activation = TL_ACT_SIGMOID; /* an LSTM has no activation option */
    assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_ARG);
    c.cell = TL_CELL_RNN;
    TU_OK(tl_lm_create(&m, &c, &rng));
    tl_layer_config lc;
    int act = -1, norm = -1;
    TU_OK(tl_layer_get_config(tl_model_layer(m, 1), &lc));
    TU_OK(tl_config_int(&lc, "activation", -1, &act));
    assert_int_equal(act, TL_ACT_SIGMOID);
    tl_model_destroy(m);
    c.loss_norm = TL_LOSS_CS231N;
    TU_OK(tl_lm_create(&m, &c, &rng));
    TU_OK(tl_layer_get_config(tl_model_loss_layer(m), &lc));
    TU_OK(tl_config_int(&lc, "norm", -1, &norm));
    assert_int_equal(norm, TL_LOSS_CS231N);
    tl_model_destroy(m);
    c.loss_norm = (tl_loss_norm)5;
    assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_ARG);

    /* A forget-gate bias needs an LSTM: refused for GRU and RNN stacks, by
     * tl_lm_create and by tl_model_init on a model built without it. */
    tl_init fb = {.kind = TL_INIT_PYTORCH, .forget_bias_set = true, .forget_bias = 1};
    tl_cell_kind cells[2] = {TL_CELL_GRU, TL_CELL_RNN};
    for (int i = 0; i < 2; i++) {
        c = (tl_lm_config){.vocab = V, .embed = D, .hidden = H, .layers = 1, .cell = cells[i],
                           .init = fb};
        assert_int_equal(tl_lm_create(&m, &c, &rng), TL_ERR_ARG);
        assert_non_null(strstr(tl_last_error(), "forget"));
        c.init = (tl_init){0};
        TU_OK(tl_lm_create(&m, &c, &rng));
        assert_int_equal(tl_model_init(m, &fb, &rng), TL_ERR_ARG);
        assert_non_null(strstr(tl_last_error(), "TimeLSTM"));
        tl_model_destroy(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniform),     cmocka_unit_test(test_pytorch),
        cmocka_unit_test(test_pytorch_gru),
        cmocka_unit_test(test_textbook),    cmocka_unit_test(test_forget_bias),
        cmocka_unit_test(test_deterministic), cmocka_unit_test(test_text_form),
        cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
