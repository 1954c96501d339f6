/* Layer registry: every layer type's configuration rebuilds an equal layer;
 * unknown types and bad sizes are refused; a type registered from outside
 * the library round-trips through a checkpoint. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* A layer type of the test's own: y = -x, no parameters, one field. */
typedef struct {
    tl_layer base;
    bool flag;
    tl_tensor y, dx;
} negate;

static tl_status negate_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    negate *n = (negate *)l;
    tl_status st = tl_tensor_resize(&n->y, TL_REAL, x->ndim, x->shape);
    if (st)
        return st;
    for (size_t i = 0; i < x->size; i++)
        n->y.data[i] = -x->data[i];
    *y = &n->y;
    return TL_OK;
}

static tl_status negate_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    negate *n = (negate *)l;
    tl_status st = tl_tensor_resize(&n->dx, TL_REAL, dy->ndim, dy->shape);
    if (st)
        return st;
    for (size_t i = 0; i < dy->size; i++)
        n->dx.data[i] = -dy->data[i];
    *dx = &n->dx;
    return TL_OK;
}

static tl_param *negate_params(tl_layer *l, int *count)
{
    (void)l;
    *count = 0;
    return NULL;
}

static tl_status negate_config(const tl_layer *l, tl_layer_config *cfg)
{
    *cfg = (tl_layer_config){.type = "TestNegate", .in_dim = l->in_width, .out_dim = l->in_width};
    return tl_config_set_bool(cfg, "flag", ((const negate *)l)->flag);
}

static void negate_destroy(tl_layer *l)
{
    negate *n = (negate *)l;
    tl_tensor_free(&n->y);
    tl_tensor_free(&n->dx);
    free(n);
}

static const tl_layer_ops negate_ops = {
    .type = "TestNegate", .forward = negate_forward, .backward = negate_backward,
    .params = negate_params, .config = negate_config, .destroy = negate_destroy,
};

static tl_status negate_from_config(tl_layer **out, const tl_layer_config *c,
                                    tl_layer *const *built, int nbuilt, tl_rng *rng)
{
    (void)built, (void)nbuilt, (void)rng;
    bool flag;
    tl_status st = tl_config_bool(c, "flag", false, &flag);
    if (st)
        return st;
    if (c->in_dim <= 0 || c->out_dim != c->in_dim)
        return tl_fail(TL_ERR_ARG, "TestNegate: widths %d, %d", c->in_dim, c->out_dim);
    negate *n = calloc(1, sizeof *n);
    if (!n)
        return tl_fail(TL_ERR_NOMEM, "TestNegate");
    n->base = (tl_layer){.ops = &negate_ops, .in_dtype = TL_REAL, .in_width = c->in_dim,
                         .out_width = c->in_dim};
    n->flag = flag;
    *out = &n->base;
    return TL_OK;
}

static const tl_layer_class negate_type = {
    .name = "TestNegate", .fields = (const char *const[]){"flag", NULL},
    .create = negate_from_config,
};

static void test_register_and_checkpoint(void **state)
{
    (void)state;
    tl_layer *l = NULL;
    tl_layer_config c = {.type = "TestNegate", .in_dim = 4, .out_dim = 4};
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "tl_layer_register"));
    TU_OK(tl_layer_register(&negate_type));
    TU_OK(tl_layer_create_from_config(&l, &c, NULL, 0, NULL));
    tl_layer_destroy(l);
    TU_OK(tl_config_set_int(&c, "other", 1));
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_FORMAT);
    assert_non_null(strstr(tl_last_error(), "TestNegate has no field 'other'"));

    /* Embedding -> TestNegate -> Affine -> loss, saved and rebuilt from the file. */
    tl_rng rng;
    tl_rng_seed(&rng, 3);
    tl_model *m, *back;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&l, 7, 4, &rng));
    TU_OK(tl_model_add(m, l));
    c = (tl_layer_config){.type = "TestNegate", .in_dim = 4, .out_dim = 4};
    TU_OK(tl_config_set_bool(&c, "flag", true));
    TU_OK(tl_layer_create_from_config(&l, &c, NULL, 0, NULL));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_affine_create(&l, 4, 7, &rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_softmax_loss_create(&l, 7, TL_LOSS_MEAN));
    TU_OK(tl_model_set_loss(m, l));
    char dir[80], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/negate.safetensors", dir);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    TU_OK(tl_checkpoint_model(ck, &back));
    tl_checkpoint_close(ck);
    tl_layer_config got;
    TU_OK(tl_model_layer_config(back, 1, &got));
    assert_string_equal(got.type, "TestNegate");
    bool flag = false;
    TU_OK(tl_config_bool(&got, "flag", false, &flag));
    assert_true(flag);
    int32_t ids[6] = {0, 1, 2, 3, 4, 5}, next[6] = {1, 2, 3, 4, 5, 6};
    tl_tensor x = tl_tensor_wrap_ids(ids, 2, (int[]){2, 3});
    tl_tensor t = tl_tensor_wrap_ids(next, 2, (int[]){2, 3});
    double a, b;
    TU_OK(tl_model_forward(m, &x, &t, &a));
    TU_OK(tl_model_forward(back, &x, &t, &b));
    assert_true(a == b);
    tl_model_destroy(m);
    tl_model_destroy(back);
    tu_remove_dir(dir);
}

static tl_status never(tl_layer **out, const tl_layer_config *c, tl_layer *const *built,
                       int nbuilt, tl_rng *rng)
{
    (void)out, (void)c, (void)built, (void)nbuilt, (void)rng;
    return tl_fail(TL_ERR_STATE, "not for building");
}

/* Types registered by the threads of test_register_limits: 4 x 8 names. */
enum { THREADS = 4, PER_THREAD = 8 };
static char names[TL_MAX_LAYER_CLASSES + 1][16];
static tl_layer_class many[TL_MAX_LAYER_CLASSES + 1];

static void *register_some(void *arg)
{
    int first = (int)(intptr_t)arg;
    intptr_t failed = 0;
    for (int i = first; i < first + PER_THREAD; i++)
        failed += tl_layer_register(&many[i]) != TL_OK;
    return (void *)failed;
}

static void test_register_limits(void **state)
{
    (void)state;
    assert_int_equal(tl_layer_register(NULL), TL_ERR_ARG);
    tl_layer_class bad = {.name = NULL, .create = never};
    assert_int_equal(tl_layer_register(&bad), TL_ERR_ARG);
    bad = (tl_layer_class){.name = "NoCreate"};
    assert_int_equal(tl_layer_register(&bad), TL_ERR_ARG);
    bad = (tl_layer_class){.name = "", .create = never};
    assert_int_equal(tl_layer_register(&bad), TL_ERR_ARG);
    bad = (tl_layer_class){.name = "AbcdefghijAbcdefghijAbcdefghij12", .create = never};
    assert_int_equal(tl_layer_register(&bad), TL_ERR_ARG);   /* 32 characters */
    assert_non_null(strstr(tl_last_error(), "1 to 31 characters"));
    bad = (tl_layer_class){.name = "TimeLSTM", .create = never};
    assert_int_equal(tl_layer_register(&bad), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "built-in"));
    assert_int_equal(tl_layer_register(&negate_type), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "registered already"));

    /* Threads register at once; the table then fills up (TestNegate holds a slot). */
    for (int i = 0; i <= TL_MAX_LAYER_CLASSES; i++) {
        snprintf(names[i], sizeof names[i], "Many%d", i);
        many[i] = (tl_layer_class){.name = names[i], .create = never};
    }
    pthread_t th[THREADS];
    for (int k = 0; k < THREADS; k++)
        assert_int_equal(pthread_create(&th[k], NULL, register_some,
                                        (void *)(intptr_t)(k * PER_THREAD)), 0);
    for (int k = 0; k < THREADS; k++) {
        void *failed;
        assert_int_equal(pthread_join(th[k], &failed), 0);
        assert_int_equal((intptr_t)failed, 0);
    }
    int n = THREADS * PER_THREAD + 1;
    for (; n < TL_MAX_LAYER_CLASSES; n++)
        TU_OK(tl_layer_register(&many[n - 1]));
    assert_int_equal(tl_layer_register(&many[TL_MAX_LAYER_CLASSES]), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "the most there can be"));
    /* Every registered type is found; its create's error comes through. */
    tl_layer *l = NULL;
    tl_layer_config c = {.in_dim = 1, .out_dim = 1};
    snprintf(c.type, sizeof c.type, "%s", names[TL_MAX_LAYER_CLASSES - 2]);
    assert_int_equal(tl_layer_create_from_config(&l, &c, NULL, 0, NULL), TL_ERR_STATE);
    assert_null(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_every_type),
        cmocka_unit_test(test_unknown_type_and_bad_sizes),
        cmocka_unit_test(test_config_fields),
        cmocka_unit_test(test_register_and_checkpoint),
        cmocka_unit_test(test_register_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
