/* Layer registry: every layer type's configuration rebuilds an equal layer;
 * unknown types and bad sizes are refused. */
#include <stdio.h>
#include <string.h>
#include "testutil.h"

/* Rebuild l from its config and compare configs and parameter shapes. */
static void roundtrip(tl_layer *l)
{
    tl_layer_config a, b;
    tl_layer *copy;
    TU_OK(tl_layer_get_config(l, &a));
    assert_string_equal(a.type, tl_layer_type(l));
    TU_OK(tl_layer_create_from_config(&copy, &a, NULL, 0, NULL));
    TU_OK(tl_layer_get_config(copy, &b));
    assert_true(tl_config_equal(&a, &b));
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
    TU_OK(tl_time_gru_create(&l, 4, 6, true, NULL));
    roundtrip(l);
    TU_OK(tl_time_gru_create(&l, 5, 3, false, NULL));
    roundtrip(l);
}

static void test_unknown_type_and_bad_sizes(void **state)
{
    (void)state;
    tl_layer *l = (tl_layer *)1;
    tl_layer_config c = {.type = "TimeTransformer", .in_dim = 3, .out_dim = 3};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_FORMAT);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "TimeTransformer"));
    c = (tl_layer_config){.type = "TimeAffine", .in_dim = -3, .out_dim = 3};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeRNN", .in_dim = 3, .out_dim = 3};
    TU_OK(tl_config_set_int(&c, "activation", 9));
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeLSTM", .in_dim = 3, .out_dim = 0};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_int_equal(tl_layer_create_from_config(NULL, &c, NULL, 0, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeEmbedding", .in_dim = 0, .out_dim = 3};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_ARG);
    c = (tl_layer_config){.type = "TimeSoftmaxWithLoss", .in_dim = 3};
    TU_OK(tl_config_set_int(&c, "norm", 9));
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_ARG);
}

static void test_config_fields(void **state)
{
    (void)state;
    tl_layer_config c = {.type = "TimeThing"};
    int i;
    double r;
    bool b;
    tl_layer *ref;
    TU_OK(tl_config_set_int(&c, "n", 3));
    TU_OK(tl_config_set_real(&c, "p", 0.25));
    TU_OK(tl_config_set_bool(&c, "on", true));
    TU_OK(tl_config_set_layer_index(&c, "ref", 1));
    TU_OK(tl_config_set_int(&c, "n", 4)); /* replaces */
    assert_int_equal(c.nfields, 4);
    TU_OK(tl_config_int(&c, "n", 0, &i));
    assert_int_equal(i, 4);
    TU_OK(tl_config_real(&c, "p", 0, &r));
    assert_true(r == 0.25);
    TU_OK(tl_config_real(&c, "n", 0, &r)); /* an integer reads as a real */
    assert_true(r == 4);
    TU_OK(tl_config_bool(&c, "on", false, &b));
    assert_true(b);
    TU_OK(tl_config_int(&c, "absent", 7, &i));
    assert_int_equal(i, 7);
    assert_int_equal(tl_config_int(&c, "p", 0, &i), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "field 'p' must be an integer, not a real number"));
    assert_int_equal(tl_config_bool(&c, "n", false, &b), TL_ERR_FORMAT);

    /* References index the layers built so far. */
    tl_layer *built[2];
    TU_OK(tl_time_affine_create(&built[0], 2, 2, NULL));
    TU_OK(tl_time_affine_create(&built[1], 2, 2, NULL));
    TU_OK(tl_config_layer(&c, "ref", built, 2, &ref));
    assert_ptr_equal(ref, built[1]);
    assert_int_equal(tl_config_layer(&c, "ref", built, 1, &ref), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "refers to layer 1, but only layers 0 .. 0"));
    TU_OK(tl_config_layer(&c, "none", built, 2, &ref));
    assert_null(ref);
    tl_layer_destroy(built[0]);
    tl_layer_destroy(built[1]);

    static const char *const known[] = {"n", "p", "on", NULL};
    assert_int_equal(tl_config_check_fields(&c, known), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "TimeThing has no field 'ref'"));
    assert_int_equal(tl_config_set_int(&c, "in_dim", 1), TL_ERR_ARG);
    assert_int_equal(tl_config_set_int(&c, "", 1), TL_ERR_ARG);
    char name[16];
    for (int k = c.nfields; k < TL_CONFIG_MAX_FIELDS; k++) {
        snprintf(name, sizeof name, "f%d", k);
        TU_OK(tl_config_set_int(&c, name, k));
    }
    assert_int_equal(tl_config_set_int(&c, "one_more", 1), TL_ERR_ARG);
    tl_layer_config d = c;
    assert_true(tl_config_equal(&c, &d));
    TU_OK(tl_config_set_real(&d, "p", 0.5));
    assert_false(tl_config_equal(&c, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_unknown_type_and_bad_sizes),
        cmocka_unit_test(test_config_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
