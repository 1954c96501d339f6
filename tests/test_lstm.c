/* TimeLSTM: PyTorch goldens (stateful and not), gradient checks in both
 * modes, state semantics for h and c, truncated BPTT, saturation, buffer
 * reuse, errors. The checks shared with TimeRNN are in recurrent_checks.c;
 * the ones about c alone are here. */
#include <math.h>
#include <string.h>
#include "recurrent_checks.h"

enum { N = RC_N, T = RC_T, D = RC_D, H = RC_H };

static tl_status create(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    return tl_time_lstm_create(out, in_dim, hidden, stateful, rng);
}

/* A c that does not match h, or is not a matrix, is refused. */
static void bad_states(tl_layer *l)
{
    tl_tensor h = {0}, bad = {0};
    TU_OK(tl_tensor_zeros2(&h, N + 1, H));
    TU_OK(tl_tensor_zeros2(&bad, N, H));
    assert_int_equal(tl_layer_set_state(l, &h, &bad), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(3, 5)"));
    TU_OK(tl_tensor_zeros3(&bad, N + 1, H, 1));
    assert_int_equal(tl_layer_set_state(l, &h, &bad), TL_ERR_SHAPE);
    TU_FREE_ALL(&h, &bad);
}

static const rc_layer lstm = {
    .type = "TimeLSTM", .variant = "", .create = create, .nstate = 2, .gates = 4,
    .golden_file = "lstm.txt", .golden_prefix = "", .bad_states = bad_states,
};

/* Recurrent dropout 0.3 in training mode, one fixed mask (seed 7, step 1). */
static tl_status create_rec_dropout(tl_layer **out, int in_dim, int hidden, bool stateful,
                                    tl_rng *rng)
{
    tl_status st = tl_time_lstm_create(out, in_dim, hidden, stateful, rng);
    if (st)
        return st;
    tl_layer_set_mode(*out, &(tl_layer_mode){.training = true, .seed = 7, .step = 1});
    return tl_time_lstm_set_recurrent_dropout(*out, 0.3);
}

static const rc_layer lstm_rec_dropout = {
    .type = "TimeLSTM", .variant = "rec_dropout 0.3", .create = create_rec_dropout,
    .nstate = 2, .gates = 4,
};

RC_TEST(test_golden_stateful, rc_golden(&lstm, true))
RC_TEST(test_golden_stateless, rc_golden(&lstm, false))
RC_TEST(test_gradcheck_stateful, rc_gradcheck(&lstm, true, 31))
RC_TEST(test_gradcheck_stateless, rc_gradcheck(&lstm, false, 41))
RC_TEST(test_windows, rc_windows(&lstm, 71))
RC_TEST(test_window_copies, rc_window_copies(&lstm, 91))
RC_TEST(test_windows_rec_dropout, rc_windows(&lstm_rec_dropout, 81))
RC_STATE_TESTS(&lstm)
RC_TEST(test_create_errors, rc_create_errors(&lstm))

/* A c set with h matters: (h0, c0) and (h0, 0) give different outputs. */
static void test_set_state_c_matters(void **state)
{
    (void)state;
    tl_layer *a = rc_twin(&lstm, false), *b = rc_twin(&lstm, false);
    tl_rng rng;
    tl_rng_seed(&rng, 15);
    tl_tensor x = {0}, h0 = {0}, c0 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&h0, &rng, 1, 2, (int[]){N, H});
    tu_randn(&c0, &rng, 1, 2, (int[]){N, H});
    const tl_tensor *ya, *yb;
    TU_OK(tl_layer_set_state(a, &h0, &c0));
    TU_OK(tl_layer_set_state(b, &h0, NULL));
    TU_OK(tl_layer_forward(a, &x, &ya));
    TU_OK(tl_layer_forward(b, &x, &yb));
    assert_true(tu_differs(ya, yb));
    TU_FREE_ALL(&x, &h0, &c0);
    tl_layer_destroy(a);
    tl_layer_destroy(b);
}

/* Inputs of size ~1e4 drive every pre-activation to |A| ~ 1e4: the gates
 * saturate without overflow, so outputs and gradients stay finite. */
static void test_extreme_inputs(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 16);
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, true, &rng));
    tl_tensor x = {0}, dy = {0};
    tu_randn(&x, &rng, 1e4, 3, (int[]){N, T, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    const tl_tensor *y, *dx, *h, *c, *dh0, *dc0;
    for (int k = 0; k < 2; k++) {  /* the second call starts from a saturated state */
        TU_OK(tl_layer_forward(l, &x, &y));
        for (size_t i = 0; i < y->size; i++)
            assert_true(isfinite(y->data[i]) && fabs(y->data[i]) <= 1);
        TU_OK(tl_layer_get_state(l, &h, &c));
        for (size_t i = 0; i < c->size; i++)
            assert_true(isfinite(c->data[i]) && fabs(c->data[i]) <= 2 * T);
        TU_OK(tl_layer_backward(l, &dy, &dx));
        for (size_t i = 0; i < dx->size; i++)
            assert_true(isfinite(dx->data[i]));
        TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
        for (size_t i = 0; i < dh0->size; i++)
            assert_true(isfinite(dh0->data[i]) && isfinite(dc0->data[i]));
    }
    tl_param *p = tl_layer_params(l, NULL);
    for (int i = 0; i < 3; i++)
        for (size_t k = 0; k < p[i].grad.size; k++)
            assert_true(isfinite(p[i].grad.data[k]));
    TU_FREE_ALL(&x, &dy);
    tl_layer_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_stateful),
        cmocka_unit_test(test_golden_stateless),
        cmocka_unit_test(test_gradcheck_stateful),
        cmocka_unit_test(test_gradcheck_stateless),
        cmocka_unit_test(test_windows), cmocka_unit_test(test_window_copies),
        cmocka_unit_test(test_windows_rec_dropout),
        RC_STATE_TEST_ENTRIES,
        cmocka_unit_test(test_set_state_c_matters),
        cmocka_unit_test(test_extreme_inputs),
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
