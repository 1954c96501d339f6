/* Layer registry: every layer type's configuration rebuilds an equal layer;
 * unknown types and bad sizes are refused. */
#include <string.h>
#include "testutil.h"

/* Rebuild l from its config and compare configs and parameter shapes. */
static void roundtrip(tl_layer *l)
{
    tl_layer_config a, b;
    tl_layer *copy;
    TU_OK(tl_layer_get_config(l, &a));
    assert_string_equal(a.type, tl_layer_type(l));
    TU_OK(tl_layer_create_from_config(&copy, &a, NULL));
    TU_OK(tl_layer_get_config(copy, &b));
    assert_memory_equal(&a, &b, sizeof a);
    int n1, n2;
    tl_param *p1 = tl_layer_params(l, &n1), *p2 = tl_layer_params(copy, &n2);
    assert_int_equal(n1, n2);
    for (int i = 0; i < n1; i++) {
        assert_string_equal(p1[i].name, p2[i].name);
        assert_true(tl_tensor_same_shape(&p1[i].value, &p2[i].value));
    }
    tl_layer_destroy(copy);
    tl_layer_destroy(l);
}

static void test_roundtrip_every_type(void **state)
{
    (void)state;
    tl_layer *l;
    TU_OK(tl_time_affine_create(&l, 3, 7, NULL));
    roundtrip(l);
    TU_OK(tl_time_rnn_create(&l, 4, 6, true, TL_ACT_SIGMOID, NULL));
    roundtrip(l);
    TU_OK(tl_time_rnn_create(&l, 4, 6, false, TL_ACT_TANH, NULL));
    roundtrip(l);
    TU_OK(tl_time_embedding_create(&l, 9, 4, NULL));
    roundtrip(l);
    TU_OK(tl_time_softmax_loss_create(&l, 9, TL_LOSS_CS231N));
    roundtrip(l);
    TU_OK(tl_time_softmax_loss_create(&l, 0, TL_LOSS_MEAN));
    roundtrip(l);
    TU_OK(tl_time_lstm_create(&l, 4, 6, true, NULL));
    roundtrip(l);
    TU_OK(tl_time_lstm_create(&l, 5, 3, false, NULL));
    roundtrip(l);
}

static void test_unknown_type_and_bad_sizes(void **state)
{
    (void)state;
    tl_layer *l = (tl_layer *)1;
    tl_layer_config c = {.type = "TimeTransformer", .in_dim = 3, .out_dim = 3};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL), TL_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "TimeTransformer"));
    c = (tl_layer_config){.type = "TimeAffine", .in_dim = -3, .out_dim = 3};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeRNN", .in_dim = 3, .out_dim = 3, .variant = 9};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeLSTM", .in_dim = 3, .out_dim = 0};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_int_equal(tl_layer_create_from_config(NULL, &c, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeEmbedding", .in_dim = 0, .out_dim = 3};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeSoftmaxWithLoss", .in_dim = 3, .variant = 9};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL), TL_ERR_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_unknown_type_and_bad_sizes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
