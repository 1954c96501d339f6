/* TimeSoftmaxWithLoss: PyTorch goldens (mean with ignored targets, CS231n,
 * (N, V) input), a case computed by hand, ignore label, all ignored, target
 * range checks, extreme and non-finite scores, float accuracy at V = 10,000,
 * gradient checks, dloss scaling, buffer reuse, errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { N = 2, T = 4, V = 5 };

static void assert_all_zero(const char *what, const tl_tensor *t)
{
    for (size_t i = 0; i < t->size; i++)
        if (t->data[i] != 0)
            fail_msg("%s[%zu] = %g, expected 0", what, i, (double)t->data[i]);
}

/* ---- goldens ------------------------------------------------------------ */

/* loss, then backward twice (the same dscores each time: a loss layer has no
 * parameters to accumulate into), then backward with dloss = 0.5. */
static void golden_case(tl_loss_norm norm, const char *prefix)
{
    char key_loss[32], key_grad[32];
    snprintf(key_loss, sizeof key_loss, "%s_loss", prefix);
    snprintf(key_grad, sizeof key_grad, "%s_dscores", prefix);
    tu_golden *g = tu_golden_load("softmax_loss.txt");
    tl_tensor x = {0}, t = {0};
    tu_golden_tensor(g, "scores", &x, 3, (int[]){N, T, V});
    tu_golden_ids(g, "targets", &t, 2, (int[]){N, T});
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, norm));

    double loss;
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    tu_assert_close("loss", &(tl_real){(tl_real)loss}, tu_golden_get(g, key_loss, 1), 1, TU_RTOL,
                    TU_ATOL);
    const double *want = tu_golden_get(g, key_grad, N * T * V);
    const tl_tensor *dx;
    for (int k = 0; k < 2; k++) {
        TU_OK(tl_layer_backward(l, NULL, &dx));
        assert_true(tl_tensor_same_shape(dx, &x));
        tu_assert_close("dscores", dx->data, want, N * T * V, TU_RTOL, TU_ATOL);
    }
    tl_real half = (tl_real)0.5;
    tl_tensor dy = tl_tensor_wrap(&half, 1, (int[]){1});
    TU_OK(tl_layer_backward(l, &dy, &dx));
    double scaled[N * T * V];
    for (int i = 0; i < N * T * V; i++)
        scaled[i] = 0.5 * want[i];
    tu_assert_close("dscores with dloss 0.5", dx->data, scaled, N * T * V, TU_RTOL, TU_ATOL);

    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

static void test_golden_mean(void **state)
{
    (void)state;
    golden_case(TL_LOSS_MEAN, "mean");
}

static void test_golden_cs231n(void **state)
{
    (void)state;
    golden_case(TL_LOSS_CS231N, "cs231n");
}

/* (N, V) scores with (N,) targets. */
static void test_golden_two_dim(void **state)
{
    (void)state;
    enum { B = 3 };
    tu_golden *g = tu_golden_load("softmax_loss.txt");
    tl_tensor x = {0}, t = {0};
    tu_golden_tensor(g, "scores2", &x, 2, (int[]){B, V});
    tu_golden_ids(g, "targets2", &t, 1, (int[]){B});
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    double loss;
    const tl_tensor *dx;
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    TU_OK(tl_layer_backward(l, NULL, &dx));
    tu_assert_close("loss", &(tl_real){(tl_real)loss}, tu_golden_get(g, "loss2", 1), 1, TU_RTOL,
                    TU_ATOL);
    assert_int_equal(dx->ndim, 2);
    tu_assert_close("dscores", dx->data, tu_golden_get(g, "dscores2", B * V), B * V, TU_RTOL,
                    TU_ATOL);
    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

/* ---- by hand ------------------------------------------------------------ */

/* One sequence of three steps, V = 3:
 *   step 0: scores (1, 2, 3), target 0:  p = (1, e, e²) / (1 + e + e²),
 *           −log p[0] = log(1 + e + e²) = 2.40760596...
 *   step 1: scores (0, 0, 0), target 2:  p = (1/3, 1/3, 1/3), −log p[2] = log 3
 *   step 2: target −1, ignored; its scores are NaN and must not be read.
 * Mean over the 2 counted steps: loss = (log(1 + e + e²) + log 3) / 2,
 * dscores = (p − onehot) / 2 on steps 0 and 1, 0 on step 2.
 * CS231n (N = 1): loss = log(1 + e + e²) + log 3, dscores = p − onehot. */
static void test_by_hand(void **state)
{
    (void)state;
    const double e = exp(1.0), z = 1 + e + e * e;
    tl_real scores[9] = {1, 2, 3, 0, 0, 0, (tl_real)NAN, (tl_real)NAN, (tl_real)NAN};
    int32_t targets[3] = {0, 2, -1};
    tl_tensor x = tl_tensor_wrap(scores, 3, (int[]){1, 3, 3});
    tl_tensor t = tl_tensor_wrap_ids(targets, 2, (int[]){1, 3});
    const double sum = log(z) + log(3.0);
    const double p_minus_onehot[9] = {1 / z - 1, e / z, e * e / z, 1.0 / 3, 1.0 / 3, -2.0 / 3,
                                      0, 0, 0};
    for (int norm = TL_LOSS_MEAN; norm <= TL_LOSS_CS231N; norm++) {
        double div = norm == TL_LOSS_MEAN ? 2 : 1, want[9], loss;
        for (int i = 0; i < 9; i++)
            want[i] = p_minus_onehot[i] / div;
        tl_layer *l;
        TU_OK(tl_time_softmax_loss_create(&l, 3, (tl_loss_norm)norm));
        const tl_tensor *dx;
        TU_OK(tl_layer_loss(l, &x, &t, &loss));
        TU_OK(tl_layer_backward(l, NULL, &dx));
        tu_assert_close("loss", &(tl_real){(tl_real)loss}, &(double){sum / div}, 1, TU_RTOL,
                        TU_ATOL);
        tu_assert_close("dscores", dx->data, want, 9, TU_RTOL, TU_ATOL);
        for (int i = 6; i < 9; i++)
            assert_true(dx->data[i] == 0);
        tl_layer_destroy(l);
    }
}

/* ---- ignore label -------------------------------------------------------- */

static void test_all_ignored(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 3);
    tl_tensor x = {0}, t = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, V});
    TU_OK(tl_tensor_resize(&t, TL_INT32, 2, (int[]){N, T}));
    for (size_t i = 0; i < t.size; i++)
        t.ids[i] = TL_IGNORE_INDEX;
    for (int norm = TL_LOSS_MEAN; norm <= TL_LOSS_CS231N; norm++) {
        tl_layer *l;
        TU_OK(tl_time_softmax_loss_create(&l, V, (tl_loss_norm)norm));
        double loss = -1;
        const tl_tensor *dx;
        TU_OK(tl_layer_loss(l, &x, &t, &loss));
        assert_true(loss == 0);
        TU_OK(tl_layer_backward(l, NULL, &dx));
        assert_true(tl_tensor_same_shape(dx, &x));
        assert_all_zero("dscores", dx);
        tl_layer_destroy(l);
    }
    tl_tensor_free(&x);
    tl_tensor_free(&t);
}

/* A target outside [0, V) other than -1 is refused, naming position and
 * value, before any score is read (the scores here are all NaN) and before
 * anything is written: the loss variable and the last dscores stay. */
static void test_targets_out_of_range(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 4);
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    tl_tensor x = {0}, t = {0}, nan_x = {0}, saved = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, V});
    tu_randint(&t, &rng, V, 2, (int[]){N, T});
    double loss;
    const tl_tensor *dx;
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    TU_OK(tl_layer_backward(l, NULL, &dx));
    TU_OK(tl_tensor_copy(&saved, dx));
    const tl_real *pdx = dx->data;

    TU_OK(tl_tensor_copy(&nan_x, &x));
    for (size_t i = 0; i < nan_x.size; i++)
        nan_x.data[i] = (tl_real)NAN;
    const int32_t bad[] = {V, -2, INT32_MIN, INT32_MAX};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        int32_t keep = t.ids[2];
        t.ids[2] = bad[k];
        double untouched = 42;
        assert_int_equal(tl_layer_loss(l, &nan_x, &t, &untouched), TL_ERR_RANGE);
        t.ids[2] = keep;
        const char *msg = tl_last_error();
        char value[16];
        snprintf(value, sizeof value, "%d", (int)bad[k]);
        assert_non_null(strstr(msg, "target"));
        assert_non_null(strstr(msg, "[0, 2]"));
        assert_non_null(strstr(msg, value));
        assert_true(untouched == 42);
        assert_ptr_equal(dx->data, pdx);
        tu_assert_close_real("dscores after a rejected call", dx->data, saved.data, saved.size,
                             0, 0);
    }
    tl_tensor *owned[] = {&x, &t, &nan_x, &saved};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_layer_destroy(l);
}

/* ---- numerics ------------------------------------------------------------ */

/* Scores of ±1e4 (exp overflows without the max subtraction):
 *   row 0: (1e4, −1e4, 0), target 1: e = (1, 0, 0) after the shift,
 *          −log p[1] = 1e4 + log 1 − (−1e4) = 2e4,  p − onehot = (1, −1, 0)
 *   row 1: (−1e4, 1e4, 1e4), target 2: e = (0, 1, 1), −log p[2] = log 2,
 *          p − onehot = (0, 1/2, −1/2)
 * mean of the two: loss = (2e4 + log 2) / 2, dscores = (p − onehot) / 2. */
static void test_extreme_scores(void **state)
{
    (void)state;
    tl_real scores[6] = {1e4, -1e4, 0, -1e4, 1e4, 1e4};
    int32_t targets[2] = {1, 2};
    tl_tensor x = tl_tensor_wrap(scores, 2, (int[]){2, 3});
    tl_tensor t = tl_tensor_wrap_ids(targets, 1, (int[]){2});
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, 0, TL_LOSS_MEAN));
    double loss;
    const tl_tensor *dx;
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    TU_OK(tl_layer_backward(l, NULL, &dx));
    assert_true(isfinite(loss));
    tu_assert_close("loss", &(tl_real){(tl_real)loss}, &(double){(2e4 + log(2.0)) / 2}, 1,
                    TU_RTOL, TU_ATOL);
    const double want[6] = {0.5, -0.5, 0, 0, 0.25, -0.25};
    for (int i = 0; i < 6; i++)
        assert_true(isfinite(dx->data[i]));
    tu_assert_close("dscores", dx->data, want, 6, TU_RTOL, TU_ATOL);
    tl_layer_destroy(l);
}

/* The fused loss-and-gradient pass (vector exp, lane-wise max and sums)
 * against the plain formula in double with libm's exp, element by element:
 * V = 1037 leaves a tail after the 16 lanes and spans three sum blocks;
 * scores sit at offsets up to 1e4 and spread 110 below each row's maximum,
 * so exp sees its whole range down to underflow; one target in five is
 * ignored. Bound: a few float roundings (2e-6 relative) in the float build. */
static void test_fused_matches_plain(void **state)
{
    (void)state;
    enum { ROWS = 12, W = 1037 };
    const double rtol = TU_DOUBLE ? 1e-12 : 2e-6, atol = 1e-30;
    tl_rng rng;
    tl_rng_seed(&rng, 77);
    tl_tensor x = {0};
    TU_OK(tl_tensor_zeros2(&x, ROWS, W));
    int32_t targets[ROWS];
    for (int r = 0; r < ROWS; r++) {
        double offset = (tl_rng_uniform(&rng) - 0.5) * 2e4;
        for (int j = 0; j < W; j++)
            x.data[r * W + j] = (tl_real)(offset - 110 * tl_rng_uniform(&rng));
        targets[r] = r % 5 == 3 ? TL_IGNORE_INDEX : (int32_t)tl_rng_below(&rng, W);
    }
    tl_tensor t = tl_tensor_wrap_ids(targets, 1, (int[]){ROWS});
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, W, TL_LOSS_MEAN));
    double loss, want_loss = 0;
    const tl_tensor *dx;
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    TU_OK(tl_layer_backward(l, NULL, &dx));
    int count = 0;
    for (int r = 0; r < ROWS; r++)
        count += targets[r] != TL_IGNORE_INDEX;
    static double want[ROWS * W];
    for (int r = 0; r < ROWS; r++) {
        const tl_real *row = x.data + r * W;
        double m = row[0], sum = 0;
        for (int j = 1; j < W; j++)
            m = row[j] > m ? row[j] : m;
        for (int j = 0; j < W; j++)
            sum += exp((double)row[j] - m);
        for (int j = 0; j < W; j++)
            want[r * W + j] = targets[r] == TL_IGNORE_INDEX ? 0
                              : (exp((double)row[j] - m) / sum - (j == targets[r])) / count;
        if (targets[r] != TL_IGNORE_INDEX)
            want_loss += (m + log(sum) - row[targets[r]]) / count;
    }
    assert_true(fabs(loss - want_loss) <= rtol * fabs(want_loss));
    for (int i = 0; i < ROWS * W; i++)
        if (!(fabs(dx->data[i] - want[i]) <= rtol * fabs(want[i]) + atol))
            fail_msg("dscores[%d] = %.9g, plain path %.9g", i, (double)dx->data[i], want[i]);
    tl_tensor_free(&x);
    tl_layer_destroy(l);
}

/* NaN and ±inf in a counted row: TL_ERR_NUMERIC naming the row, and no
 * backward for the failed call. */
static void test_non_finite_scores(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    tl_tensor x = {0}, t = {0};
    tu_randint(&t, &rng, V, 2, (int[]){N, T});
    const tl_real bad[] = {(tl_real)NAN, (tl_real)INFINITY, -(tl_real)INFINITY};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
        for (int j = 0; j < V; j += V - 1) { /* first and last column */
            tu_randn(&x, &rng, 1, 3, (int[]){N, T, V});
            x.data[(size_t)(1 * T + 0) * V + j] = bad[k];
            double loss;
            const tl_tensor *dx;
            assert_int_equal(tl_layer_loss(l, &x, &t, &loss), TL_ERR_NUMERIC);
            assert_non_null(strstr(tl_last_error(), "row [1, 0]"));
            assert_int_equal(tl_layer_backward(l, NULL, &dx), TL_ERR_STATE);
        }
    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
}

/* V = 10,000 (Penn Treebank): loss and dscores against a long-double
 * computation, with bounds tighter than TU_RTOL in the float build too. */
static void test_large_vocab_accuracy(void **state)
{
    (void)state;
    enum { R = 6, BIG = 10000 };
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    tl_tensor x = {0}, t = {0};
    tu_randn(&x, &rng, 4, 3, (int[]){2, R / 2, BIG});
    tu_randint(&t, &rng, BIG, 2, (int[]){2, R / 2});
    static double want[R * BIG];
    long double total = 0;
    for (int r = 0; r < R; r++) {
        const tl_real *s = x.data + (size_t)r * BIG;
        long double z = 0;
        for (int j = 0; j < BIG; j++)
            z += expl((long double)s[j]);
        total += logl(z) - s[t.ids[r]];
        for (int j = 0; j < BIG; j++)
            want[(size_t)r * BIG + j] =
                (double)((expl((long double)s[j]) / z - (j == t.ids[r])) / R);
    }
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, BIG, TL_LOSS_MEAN));
    double loss;
    const tl_tensor *dx;
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    TU_OK(tl_layer_backward(l, NULL, &dx));
    double rtol = TU_DOUBLE ? 1e-12 : 1e-6, atol = TU_DOUBLE ? 1e-16 : 1e-9;
    double ref = (double)(total / R);
    if (!(fabs(loss - ref) <= rtol * ref))
        fail_msg("loss %.12g, long double reference %.12g", loss, ref);
    tu_assert_close("dscores", dx->data, want, (size_t)R * BIG, rtol, atol);
    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
}

/* ---- gradient checks ----------------------------------------------------- */

/* Bound TU_GRADCHECK_BOUND (1e-6). The largest relative errors (a few 1e-7)
 * sit on unlikely classes: their gradients are ~1e-4, while round-off in
 * L ≈ 2 contributes ~1e-16·L/eps ≈ 2e-11 to every central difference. */
static void gradcheck_case(tl_loss_norm norm, const char *what)
{
    tl_rng rng;
    tl_rng_seed(&rng, 7);
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, norm));
    tl_tensor x = {0}, t = {0};
    tu_randn(&x, &rng, 2, 3, (int[]){N, T, V});
    tu_randint(&t, &rng, V, 2, (int[]){N, T});
    t.ids[1] = t.ids[6] = TL_IGNORE_INDEX;
    tl_gradcheck_entry e[4];
    int n;
    TU_OK(tl_gradcheck_layer(l, &x, &t, &(tl_gradcheck_opts){.seed = 1}, e, 4, &n));
    assert_int_equal(n, 1); /* scores only: no parameters */
    assert_string_equal(e[0].name, "x");
    tu_check_gradients(what, e, n, TU_GRADCHECK_BOUND);
    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
}

static void test_gradcheck_mean(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    gradcheck_case(TL_LOSS_MEAN, "TimeSoftmaxWithLoss mean");
}

static void test_gradcheck_cs231n(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    gradcheck_case(TL_LOSS_CS231N, "TimeSoftmaxWithLoss cs231n");
}

/* ---- buffers and errors -------------------------------------------------- */

/* Same (N, T) twice, then a smaller one: the same dscores buffer. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    tl_tensor x = {0}, t = {0};
    double loss;
    const tl_tensor *dx;
    const tl_real *pdx = NULL;
    const int steps[3] = {T, T, T / 2};
    for (int k = 0; k < 3; k++) {
        tu_randn(&x, &rng, 1, 3, (int[]){N, steps[k], V});
        tu_randint(&t, &rng, V, 2, (int[]){N, steps[k]});
        TU_OK(tl_layer_loss(l, &x, &t, &loss));
        TU_OK(tl_layer_backward(l, NULL, &dx));
        if (k == 0)
            pdx = dx->data;
        assert_ptr_equal(dx->data, pdx);
        assert_int_equal(dx->shape[1], steps[k]);
    }
    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
}

/* vocab 0 takes any width. */
static void test_any_width(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_layer *l;
    TU_OK(tl_time_softmax_loss_create(&l, 0, TL_LOSS_MEAN));
    assert_int_equal(l->in_width, 0);
    tl_tensor x = {0}, t = {0};
    for (int width = 1; width <= 7; width += 3) {
        tu_randn(&x, &rng, 1, 3, (int[]){N, T, width});
        tu_randint(&t, &rng, width, 2, (int[]){N, T});
        double loss;
        TU_OK(tl_layer_loss(l, &x, &t, &loss));
        assert_true(width > 1 ? loss > 0 : loss == 0);
    }
    tl_tensor_free(&x);
    tl_tensor_free(&t);
    tl_layer_destroy(l);
}

static void test_errors(void **state)
{
    (void)state;
    tl_layer *l = (tl_layer *)&l;
    assert_int_equal(tl_time_softmax_loss_create(&l, -1, TL_LOSS_MEAN), TL_ERR_ARG);
    assert_null(l);
    assert_int_equal(tl_time_softmax_loss_create(&l, V, (tl_loss_norm)2), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "normalisation"));
    assert_int_equal(tl_time_softmax_loss_create(NULL, V, TL_LOSS_MEAN), TL_ERR_ARG);

    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_CS231N));
    assert_string_equal(tl_layer_type(l), "TimeSoftmaxWithLoss");
    assert_true(tl_layer_is_loss(l));
    assert_false(tl_layer_has_state(l));
    int np = -1;
    assert_null(tl_layer_params(l, &np));
    assert_int_equal(np, 0);
    tl_layer_config cfg;
    TU_OK(tl_layer_get_config(l, &cfg));
    assert_int_equal(cfg.in_dim, V);
    int norm = -1;
    TU_OK(tl_config_int(&cfg, "norm", -1, &norm));
    assert_int_equal(norm, TL_LOSS_CS231N);

    tl_tensor x = {0}, t = {0}, dy = {0};
    const tl_tensor *y, *dx;
    double loss;
    assert_int_equal(tl_layer_backward(l, NULL, &dx), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "before"));
    TU_OK(tl_tensor_zeros3(&x, N, T, V));
    assert_int_equal(tl_layer_forward(l, &x, &y), TL_ERR_STATE);

    TU_OK(tl_tensor_zeros(&t, TL_INT32, 2, (int[]){N, T}));
    TU_OK(tl_tensor_zeros3(&x, N, T, V + 1));
    assert_int_equal(tl_layer_loss(l, &x, &t, &loss), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(N, T, 5)"));
    TU_OK(tl_tensor_zeros1(&x, V));
    assert_int_equal(tl_layer_loss(l, &x, &t, &loss), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros3(&x, N, 0, V));
    assert_int_equal(tl_layer_loss(l, &x, &t, &loss), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros3(&x, N, T, V));
    TU_OK(tl_tensor_zeros(&t, TL_INT32, 2, (int[]){N, T + 1}));
    assert_int_equal(tl_layer_loss(l, &x, &t, &loss), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "targets"));
    TU_OK(tl_tensor_zeros(&t, TL_INT32, 1, (int[]){N}));
    assert_int_equal(tl_layer_loss(l, &x, &t, &loss), TL_ERR_SHAPE);
    /* Real targets of the scores' shape are one-hot rows (test_onehot_targets). */
    TU_OK(tl_layer_loss(l, &x, &x, &loss));

    TU_OK(tl_tensor_zeros(&t, TL_INT32, 2, (int[]){N, T}));
    TU_OK(tl_layer_loss(l, &x, &t, &loss));
    TU_OK(tl_tensor_zeros1(&dy, 2));
    assert_int_equal(tl_layer_backward(l, &dy, &dx), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "dloss"));
    TU_OK(tl_tensor_zeros(&dy, TL_INT32, 1, (int[]){1}));
    assert_int_equal(tl_layer_backward(l, &dy, &dx), TL_ERR_SHAPE);

    tl_tensor *owned[] = {&x, &t, &dy};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_layer_destroy(l);
}

/* ---- one-hot targets ----------------------------------------------------- */

/* Targets given as one-hot rows (and, more generally, as scores: the first
 * maximum counts) give the loss and gradient of the integer targets, bit for
 * bit, in both normalisations, through the layer and through a model (whose
 * loss works in place). */
static void test_onehot_targets(void **state)
{
    (void)state;
    enum { NB = 3, NT = 4, NV = 7 };
    tl_rng rng;
    tl_rng_seed(&rng, 21);
    tl_tensor x = {0}, hot = {0};
    tu_randn(&x, &rng, 2.0, 3, (int[]){NB, NT, NV});
    TU_OK(tl_tensor_zeros(&hot, TL_REAL, 3, (int[]){NB, NT, NV}));
    int32_t ids[NB * NT];
    for (int r = 0; r < NB * NT; r++) {
        ids[r] = (int32_t)tl_rng_below(&rng, NV);
        if (r % 3 == 1) { /* scores with a tie for the maximum: the first one counts */
            for (int j = 0; j < NV; j++)
                hot.data[r * NV + j] = (tl_real)(j == ids[r] || j == NV - 1 ? 0.9 : 0.1 * j / NV);
        } else {
            hot.data[r * NV + ids[r]] = 1;
        }
    }
    tl_tensor t = tl_tensor_wrap_ids(ids, 2, (int[]){NB, NT});
    for (int norm = TL_LOSS_MEAN; norm <= TL_LOSS_CS231N; norm++) {
        tl_layer *a, *b;
        TU_OK(tl_time_softmax_loss_create(&a, NV, (tl_loss_norm)norm));
        TU_OK(tl_time_softmax_loss_create(&b, 0, (tl_loss_norm)norm));
        double la, lb;
        const tl_tensor *da, *db;
        TU_OK(tl_layer_loss(a, &x, &t, &la));
        TU_OK(tl_layer_loss(b, &x, &hot, &lb));
        TU_OK(tl_layer_backward(a, NULL, &da));
        TU_OK(tl_layer_backward(b, NULL, &db));
        assert_true(la == lb);
        assert_memory_equal(da->data, db->data, x.size * sizeof *x.data);
        tl_layer_destroy(a);
        tl_layer_destroy(b);
    }

    /* Through a model: Affine(5, NV) then the loss, targets one-hot. */
    tl_model *m[2];
    tl_tensor in = {0};
    tu_randn(&in, &rng, 1.0, 3, (int[]){NB, NT, 5});
    double loss[2];
    for (int k = 0; k < 2; k++) {
        tl_layer *l;
        tl_rng r2;
        tl_rng_seed(&r2, 5);
        TU_OK(tl_model_create(&m[k]));
        TU_OK(tl_time_affine_create(&l, 5, NV, &r2));
        TU_OK(tl_model_add(m[k], l));
        TU_OK(tl_time_softmax_loss_create(&l, NV, TL_LOSS_MEAN));
        TU_OK(tl_model_set_loss(m[k], l));
        TU_OK(tl_model_forward(m[k], &in, k ? &hot : &t, &loss[k]));
        TU_OK(tl_model_backward(m[k]));
    }
    assert_true(loss[0] == loss[1]);
    /* The trainer's combined call: the fused output pass for ids, the plain
     * one for one-hot rows; the same loss within rounding. */
    double fb[2];
    for (int k = 0; k < 2; k++) {
        tl_model_zero_grad(m[k]);
        TU_OK(tl_model_forward_backward(m[k], &in, k ? &hot : &t, &fb[k]));
    }
    assert_true(fabs(fb[0] - fb[1]) <= 1e-5 * fabs(fb[0]));
    assert_true(fabs(fb[1] - loss[1]) <= 1e-5 * fabs(fb[0]));
    tl_real *g0, *g1;
    size_t n0, n1;
    TU_OK(tl_model_flat(m[0], NULL, &g0, &n0));
    TU_OK(tl_model_flat(m[1], NULL, &g1, &n1));
    assert_memory_equal(g0, g1, n0 * sizeof *g0);
    tl_model_destroy(m[0]);
    tl_model_destroy(m[1]);
    tl_tensor_free(&in);

    /* Wrong shape, NaN: refused with a message. */
    tl_layer *l;
    double lv;
    TU_OK(tl_time_softmax_loss_create(&l, NV, TL_LOSS_MEAN));
    tl_tensor short_hot = tl_tensor_wrap(hot.data, 3, (int[]){NB, NT - 1, NV});
    assert_int_equal(tl_layer_loss(l, &x, &short_hot, &lv), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "one-hot targets"));
    hot.data[2 * NV + 3] = (tl_real)NAN;
    assert_int_equal(tl_layer_loss(l, &x, &hot, &lv), TL_ERR_NUMERIC);
    assert_non_null(strstr(tl_last_error(), "[0, 2]"));
    tl_layer_destroy(l);
    tl_tensor_free(&x);
    tl_tensor_free(&hot);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_mean),
        cmocka_unit_test(test_golden_cs231n),
        cmocka_unit_test(test_golden_two_dim),
        cmocka_unit_test(test_by_hand),
        cmocka_unit_test(test_all_ignored),
        cmocka_unit_test(test_targets_out_of_range),
        cmocka_unit_test(test_extreme_scores),
        cmocka_unit_test(test_fused_matches_plain),
        cmocka_unit_test(test_non_finite_scores),
        cmocka_unit_test(test_large_vocab_accuracy),
        cmocka_unit_test(test_gradcheck_mean),
        cmocka_unit_test(test_gradcheck_cs231n),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_any_width),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_onehot_targets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
