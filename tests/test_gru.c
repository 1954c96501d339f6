/* TimeGRU: PyTorch goldens (stateful and not, nonzero biases), gradient checks
 * in both modes (every parameter, x and h0) and with recurrent dropout, the
 * forward under dropout against a direct evaluation of the formulas, the
 * shared state semantics (recurrent_checks.c), saturation, errors. */
#include <math.h>
#include <string.h>
#include "recurrent_checks.h"
#include "../lib/kernels/kernels.h"

enum { N = RC_N, T = RC_T, D = RC_D, H = RC_H };

static tl_status create(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    return tl_time_gru_create(out, in_dim, hidden, stateful, rng);
}

/* TimeGRU has no c: set_state with one is refused. */
static void bad_states(tl_layer *l)
{
    tl_tensor h = {0}, c = {0};
    TU_OK(tl_tensor_zeros2(&h, N, H));
    TU_OK(tl_tensor_zeros2(&c, N, H));
    assert_int_equal(tl_layer_set_state(l, &h, &c), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "c = NULL"));
    TU_FREE_ALL(&h, &c);
}

static const rc_layer gru = {
    .type = "TimeGRU", .variant = "", .create = create, .nstate = 1, .gates = 3,
    .extra_biases = 1, .golden_file = "gru.txt", .golden_prefix = "", .bad_states = bad_states,
};

/* Recurrent dropout REC_P in training mode, one fixed mask (seed 7, step 1,
 * layer index 0). */
#define REC_P 0.3
static const tl_layer_mode rec_mode = {.training = true, .seed = 7, .step = 1};

static tl_status create_rec_dropout(tl_layer **out, int in_dim, int hidden, bool stateful,
                                    tl_rng *rng)
{
    tl_status st = tl_time_gru_create(out, in_dim, hidden, stateful, rng);
    if (st)
        return st;
    tl_layer_set_mode(*out, &rec_mode);
    return tl_time_gru_set_recurrent_dropout(*out, REC_P);
}

static const rc_layer gru_rec_dropout = {
    .type = "TimeGRU", .variant = "rec_dropout 0.3", .create = create_rec_dropout, .nstate = 1,
    .gates = 3, .extra_biases = 1,
};

RC_TEST(test_golden_stateful, rc_golden(&gru, true))
RC_TEST(test_golden_stateless, rc_golden(&gru, false))
RC_TEST(test_gradcheck_stateful, rc_gradcheck(&gru, true, 31))
RC_TEST(test_gradcheck_stateless, rc_gradcheck(&gru, false, 41))
RC_TEST(test_gradcheck_rec_dropout, rc_gradcheck(&gru_rec_dropout, true, 51))
RC_TEST(test_windows, rc_windows(&gru, 71))
RC_TEST(test_window_copies, rc_window_copies(&gru, 91))
RC_TEST(test_windows_rec_dropout, rc_windows(&gru_rec_dropout, 81))
RC_STATE_TESTS(&gru)
RC_TEST(test_create_errors, rc_create_errors(&gru))

/* Inputs of size ~1e4 saturate r and z and n: outputs stay in [-1, 1] (h' is
 * a convex combination of n and h), gradients finite. */
static void test_extreme_inputs(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 16);
    tl_layer *l;
    TU_OK(tl_time_gru_create(&l, D, H, true, &rng));
    tl_tensor x = {0}, dy = {0};
    tu_randn(&x, &rng, 1e4, 3, (int[]){N, T, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    const tl_tensor *y, *dx, *dh0;
    for (int k = 0; k < 2; k++) {
        TU_OK(tl_layer_forward(l, &x, &y));
        for (size_t i = 0; i < y->size; i++)
            assert_true(isfinite(y->data[i]) && fabs(y->data[i]) <= 1);
        TU_OK(tl_layer_backward(l, &dy, &dx));
        for (size_t i = 0; i < dx->size; i++)
            assert_true(isfinite(dx->data[i]));
        TU_OK(tl_layer_state_grad(l, &dh0, NULL));
        for (size_t i = 0; i < dh0->size; i++)
            assert_true(isfinite(dh0->data[i]));
    }
    int np;
    tl_param *p = tl_layer_params(l, &np);
    assert_int_equal(np, TL_GRU_NPARAMS);
    for (int i = 0; i < np; i++)
        for (size_t k = 0; k < p[i].grad.size; k++)
            assert_true(isfinite(p[i].grad.data[k]));
    TU_FREE_ALL(&x, &dy);
    tl_layer_destroy(l);
}

/* The GRU's forward from h0 over x written out in double: the mask M (NULL:
 * ones) multiplies h_{t-1} in h·Wh alone, not in the carry z⊙h. */
static void reference_forward(tl_layer *l, const tl_tensor *x, const tl_tensor *h0,
                              const tl_real *M, double *y)
{
    const tl_param *p = tl_layer_params(l, NULL);
    const tl_real *Wx = p[0].value.data, *Wh = p[1].value.data, *b = p[2].value.data,
                  *bhn = p[3].value.data;
    for (int n = 0; n < N; n++) {
        double h[H], a[3 * H], hh[3 * H];
        for (int u = 0; u < H; u++)
            h[u] = h0->data[n * H + u];
        for (int t = 0; t < T; t++) {
            const tl_real *xt = x->data + (size_t)(n * T + t) * D;
            for (int j = 0; j < 3 * H; j++) {
                a[j] = b[j];
                hh[j] = j >= 2 * H ? bhn[j - 2 * H] : 0;
                for (int k = 0; k < D; k++)
                    a[j] += xt[k] * Wx[k * 3 * H + j];
                for (int k = 0; k < H; k++)
                    hh[j] += h[k] * (M ? M[n * H + k] : 1) * Wh[k * 3 * H + j];
            }
            for (int u = 0; u < H; u++) {
                double r = 1 / (1 + exp(-(a[u] + hh[u])));
                double z = 1 / (1 + exp(-(a[H + u] + hh[H + u])));
                double nn = tanh(a[2 * H + u] + r * hh[2 * H + u]);
                h[u] = (1 - z) * nn + z * h[u];
                y[(n * T + t) * H + u] = h[u];
            }
        }
    }
}

/* Training mode uses the mask of tl_dropout_mask under the layer's key
 * (stream 1), where reference_forward puts it; evaluation mode none; and the
 * description carries the rate. */
static void test_rec_dropout_forward(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 61);
    tl_layer *l, *m;
    TU_OK(create_rec_dropout(&l, D, H, false, &rng));
    tl_param *p = tl_layer_params(l, NULL);
    for (int i = 2; i < 4; i++)
        for (size_t j = 0; j < p[i].value.size; j++)
            p[i].value.data[j] = (tl_real)(0.5 * tl_rng_normal(&rng));
    tl_tensor x = {0}, h0 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&h0, &rng, 1, 2, (int[]){N, H});
    tl_real M[N * H];
    tl_dropout_mask(M, N * H, tl_rng_key(rec_mode.seed, rec_mode.step, 0, 1), REC_P);
    int zeros = 0;
    for (int i = 0; i < N * H; i++)
        zeros += M[i] == 0;
    assert_true(zeros > 0 && zeros < N * H); /* the mask does something */
    double ref[N * T * H];
    const tl_tensor *y;
    for (int training = 1; training >= 0; training--) {
        tl_layer_mode mode = rec_mode;
        mode.training = training;
        tl_layer_set_mode(l, &mode);
        TU_OK(tl_layer_set_state(l, &h0, NULL));
        TU_OK(tl_layer_forward(l, &x, &y));
        reference_forward(l, &x, &h0, training ? M : NULL, ref);
        tu_assert_close(training ? "y, training" : "y, evaluation", y->data, ref, y->size,
                        TU_RTOL, TU_ATOL);
    }
    tl_layer_config cfg;
    double rate = 0;
    TU_OK(tl_layer_get_config(l, &cfg));
    TU_OK(tl_config_real(&cfg, "rec_dropout", 0, &rate));
    assert_true(rate == REC_P);
    TU_OK(tl_layer_create_from_config(&m, &cfg, NULL, 0, NULL));
    TU_OK(tl_layer_get_config(m, &cfg));
    TU_OK(tl_config_real(&cfg, "rec_dropout", 0, &rate));
    assert_true(rate == REC_P);
    /* Rates outside [0, 1) and layers of another type are refused. */
    assert_int_equal(tl_time_gru_set_recurrent_dropout(l, 1), TL_ERR_ARG);
    assert_int_equal(tl_time_gru_set_recurrent_dropout(l, -0.1), TL_ERR_ARG);
    assert_int_equal(tl_time_gru_set_recurrent_dropout(l, NAN), TL_ERR_ARG);
    tl_layer *lstm;
    TU_OK(tl_time_lstm_create(&lstm, D, H, false, NULL));
    assert_int_equal(tl_time_gru_set_recurrent_dropout(lstm, 0.1), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "not a TimeGRU"));
    tl_layer_destroy(lstm);
    tl_layer_destroy(m);
    tl_layer_destroy(l);
    TU_FREE_ALL(&x, &h0);
}

/* The configuration rebuilds the layer (checkpoints). */
static void test_config(void **state)
{
    (void)state;
    tl_layer *l, *m;
    TU_OK(tl_time_gru_create(&l, D, H, false, NULL));
    tl_layer_config cfg;
    TU_OK(tl_layer_get_config(l, &cfg));
    assert_string_equal(cfg.type, "TimeGRU");
    assert_int_equal(cfg.in_dim, D);
    assert_int_equal(cfg.out_dim, H);
    bool stateful = true;
    TU_OK(tl_config_bool(&cfg, "stateful", true, &stateful));
    assert_false(stateful);
    TU_OK(tl_layer_create_from_config(&m, &cfg, NULL, 0, NULL));
    assert_string_equal(tl_layer_type(m), "TimeGRU");
    int np;
    tl_param *p = tl_layer_params(m, &np);
    assert_int_equal(np, 4);
    assert_string_equal(p[3].name, "bhn");
    assert_int_equal(p[3].value.shape[0], H);
    tl_layer_destroy(l);
    tl_layer_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_stateful),
        cmocka_unit_test(test_golden_stateless),
        cmocka_unit_test(test_gradcheck_stateful),
        cmocka_unit_test(test_gradcheck_stateless),
        cmocka_unit_test(test_gradcheck_rec_dropout),
        cmocka_unit_test(test_rec_dropout_forward),
        cmocka_unit_test(test_windows), cmocka_unit_test(test_window_copies),
        cmocka_unit_test(test_windows_rec_dropout),
        RC_STATE_TEST_ENTRIES,
        cmocka_unit_test(test_extreme_inputs),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
