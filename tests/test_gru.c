/* TimeGRU: PyTorch goldens (stateful and not, nonzero biases), gradient checks
 * in both modes (every parameter, x and h0), the shared state semantics
 * (recurrent_checks.c), saturation, errors. */
#include <math.h>
#include <string.h>
#include "recurrent_checks.h"

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

RC_TEST(test_golden_stateful, rc_golden(&gru, true))
RC_TEST(test_golden_stateless, rc_golden(&gru, false))
RC_TEST(test_gradcheck_stateful, rc_gradcheck(&gru, true, 31))
RC_TEST(test_gradcheck_stateless, rc_gradcheck(&gru, false, 41))
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
        RC_STATE_TEST_ENTRIES,
        cmocka_unit_test(test_extreme_inputs),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
