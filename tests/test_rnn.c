/* TimeRNN: PyTorch goldens (tanh, sigmoid; stateful and not), gradient checks
 * in both modes, state semantics, buffer reuse, errors. The checks shared
 * with TimeLSTM are in recurrent_checks.c. */
#include <string.h>
#include "recurrent_checks.h"

enum { N = RC_N, D = RC_D, H = RC_H };

static tl_status create_tanh(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    return tl_time_rnn_create(out, in_dim, hidden, stateful, TL_ACT_TANH, rng);
}

static tl_status create_sigmoid(tl_layer **out, int in_dim, int hidden, bool stateful,
                                tl_rng *rng)
{
    return tl_time_rnn_create(out, in_dim, hidden, stateful, TL_ACT_SIGMOID, rng);
}

/* TimeRNN has no c: set_state with one is refused. */
static void bad_states(tl_layer *l)
{
    tl_tensor h = {0}, c = {0};
    TU_OK(tl_tensor_zeros2(&h, N, H));
    TU_OK(tl_tensor_zeros2(&c, N, H));
    assert_int_equal(tl_layer_set_state(l, &h, &c), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "c = NULL"));
    TU_FREE_ALL(&h, &c);
}

static const rc_layer rnn_tanh = {
    .type = "TimeRNN", .variant = "tanh", .create = create_tanh, .nstate = 1, .gates = 1,
    .golden_file = "rnn.txt", .golden_prefix = "tanh_", .bad_states = bad_states,
};
static const rc_layer rnn_sigmoid = {
    .type = "TimeRNN", .variant = "sigmoid", .create = create_sigmoid, .nstate = 1, .gates = 1,
    .golden_file = "rnn.txt", .golden_prefix = "sigmoid_", .bad_states = bad_states,
};

RC_TEST(test_golden_tanh_stateful, rc_golden(&rnn_tanh, true))
RC_TEST(test_golden_tanh_stateless, rc_golden(&rnn_tanh, false))
RC_TEST(test_golden_sigmoid_stateful, rc_golden(&rnn_sigmoid, true))
RC_TEST(test_golden_sigmoid_stateless, rc_golden(&rnn_sigmoid, false))
RC_TEST(test_gradcheck_tanh_stateful, rc_gradcheck(&rnn_tanh, true, 31))
RC_TEST(test_gradcheck_tanh_stateless, rc_gradcheck(&rnn_tanh, false, 41))
RC_TEST(test_gradcheck_sigmoid_stateful, rc_gradcheck(&rnn_sigmoid, true, 51))
RC_TEST(test_gradcheck_sigmoid_stateless, rc_gradcheck(&rnn_sigmoid, false, 61))
RC_TEST(test_windows, rc_windows(&rnn_tanh, 71))
RC_TEST(test_window_copies, rc_window_copies(&rnn_tanh, 91))
RC_STATE_TESTS(&rnn_tanh)

/* The shared size checks, and the activation TimeRNN adds. */
static void test_create_errors(void **state)
{
    (void)state;
    rc_create_errors(&rnn_tanh);
    tl_layer *l = (tl_layer *)&l;
    assert_int_equal(tl_time_rnn_create(&l, D, H, true, (tl_activation)2, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "activation"));
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_tanh_stateful),
        cmocka_unit_test(test_golden_tanh_stateless),
        cmocka_unit_test(test_golden_sigmoid_stateful),
        cmocka_unit_test(test_golden_sigmoid_stateless),
        cmocka_unit_test(test_gradcheck_tanh_stateful),
        cmocka_unit_test(test_gradcheck_tanh_stateless),
        cmocka_unit_test(test_gradcheck_sigmoid_stateful),
        cmocka_unit_test(test_gradcheck_sigmoid_stateless),
        cmocka_unit_test(test_windows), cmocka_unit_test(test_window_copies),
        RC_STATE_TEST_ENTRIES,
        cmocka_unit_test(test_create_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
