/* The language-model builder: layer order and sizes, parameter count,
 * refusal of bad configurations, cell names. */
#include <string.h>
#include "testutil.h"

static void expect_layer(tl_model *m, int i, const char *type, int in, int out)
{
    tl_layer_config c;
    TU_OK(tl_layer_get_config(tl_model_layer(m, i), &c));
    assert_string_equal(c.type, type);
    assert_int_equal(c.in_dim, in);
    assert_int_equal(c.out_dim, out);
}

static void test_stack(void **state)
{
    (void)state;
    enum { V = 50, D = 8, H = 12 };
    for (int cell = 0; cell < 3; cell++) {
        tl_model *m;
        tl_lm_config c = {.vocab = V, .embed = D, .hidden = H, .layers = 3,
                          .cell = (tl_cell_kind)cell};
        TU_OK(tl_lm_create(&m, &c, NULL));
        const char *rec = cell == TL_CELL_LSTM ? "TimeLSTM"
                          : cell == TL_CELL_GRU ? "TimeGRU"
                                                : "TimeRNN";
        int g = cell == TL_CELL_LSTM ? 4 : cell == TL_CELL_GRU ? 3 : 1;
        size_t bhn = cell == TL_CELL_GRU ? H : 0;  /* TimeGRU's recurrent bias of n */
        assert_int_equal(tl_model_num_layers(m), 5);
        expect_layer(m, 0, "TimeEmbedding", V, D);
        expect_layer(m, 1, rec, D, H);
        expect_layer(m, 2, rec, H, H);
        expect_layer(m, 3, rec, H, H);
        expect_layer(m, 4, "TimeAffine", H, V);
        tl_layer_config lc;
        TU_OK(tl_layer_get_config(tl_model_loss_layer(m), &lc));
        assert_string_equal(lc.type, "TimeSoftmaxWithLoss");
        for (int i = 1; i <= 3; i++) {
            bool stateful = false;
            TU_OK(tl_layer_get_config(tl_model_layer(m, i), &lc));
            TU_OK(tl_config_bool(&lc, "stateful", false, &stateful));
            assert_true(stateful);
        }
        size_t n;
        TU_OK(tl_model_flat(m, NULL, NULL, &n));
        size_t expect = (size_t)V * D + (size_t)g * H * (D + H + 1) +
                        2 * (size_t)g * H * (H + H + 1) + 3 * bhn + (size_t)H * V + V;
        assert_int_equal(n, expect);
        tl_model_destroy(m);
    }
}

static void test_bad_configs(void **state)
{
    (void)state;
    tl_model *m = (tl_model *)1;
    tl_lm_config good = {.vocab = 5, .embed = 2, .hidden = 3, .layers = 1};
    tl_lm_config c = good;
    c.layers = 0;
    assert_int_equal(tl_lm_create(&m, &c, NULL), TL_ERR_ARG);
    assert_null(m);
    c = good;
    c.vocab = -1;
    assert_int_equal(tl_lm_create(&m, &c, NULL), TL_ERR_ARG);
    c = good;
    c.cell = (tl_cell_kind)9;
    assert_int_equal(tl_lm_create(&m, &c, NULL), TL_ERR_ARG);
    assert_int_equal(tl_lm_create(NULL, &good, NULL), TL_ERR_ARG);
    assert_int_equal(tl_lm_create(&m, NULL, NULL), TL_ERR_ARG);
}

/* A model over TL_LM_MAX_PARAMS is refused before anything is allocated,
 * with a message that names the limit. One-layer RNN with V = D = 1 has
 * 1 + H(1 + H + 1) + H + 1 = (H + 1)(H + 2) parameters (test_stack checks the
 * count against a built model): H = 32767 is the first over 2^30. */
static void test_param_limit(void **state)
{
    (void)state;
    tl_model *m = (tl_model *)1;
    tl_lm_config c = {.vocab = 1, .embed = 1, .hidden = 32767, .layers = 1, .cell = TL_CELL_RNN};
    assert_true((size_t)32768 * 32769 > TL_LM_MAX_PARAMS);
    assert_int_equal(tl_lm_create(&m, &c, NULL), TL_ERR_ARG);
    assert_null(m);
    assert_non_null(strstr(tl_last_error(), "need 1073774592 parameters, more than the limit of "
                                            "1073741824 (TL_LM_MAX_PARAMS)"));
    /* Hidden size 1e9, and sizes whose product overflows size_t. */
    c = (tl_lm_config){.vocab = 10, .embed = 16, .hidden = 1000000000, .layers = 1};
    assert_int_equal(tl_lm_create(&m, &c, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "TL_LM_MAX_PARAMS"));
    c = (tl_lm_config){.vocab = INT32_MAX, .embed = INT32_MAX, .hidden = INT32_MAX,
                       .layers = 64};
    assert_int_equal(tl_lm_create(&m, &c, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "need over"));
    assert_null(m);
}

static void test_cell_names(void **state)
{
    (void)state;
    tl_cell_kind k;
    TU_OK(tl_cell_kind_from_name("lstm", &k));
    assert_int_equal(k, TL_CELL_LSTM);
    TU_OK(tl_cell_kind_from_name("rnn", &k));
    assert_string_equal(tl_cell_kind_name(k), "rnn");
    TU_OK(tl_cell_kind_from_name("gru", &k));
    assert_int_equal(k, TL_CELL_GRU);
    assert_string_equal(tl_cell_kind_name(k), "gru");
    assert_int_equal(tl_cell_kind_from_name("GRU2", &k), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "'GRU2' (expected lstm, rnn or gru)"));
    assert_string_equal(tl_cell_kind_name((tl_cell_kind)3), "unknown");
    assert_int_equal(tl_cell_kind_from_name(NULL, &k), TL_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stack),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_param_limit),
        cmocka_unit_test(test_cell_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
