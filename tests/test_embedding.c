/* TimeEmbedding: PyTorch goldens (repeated ids), gradient check, scatter-add,
 * single-step input, id range checks, buffer reuse, errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { N = 2, T = 4, V = 6, D = 3 };

static tl_layer *golden_layer(const tu_golden *g)
{
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, V, D, NULL));
    int np;
    tl_param *p = tl_layer_params(l, &np);
    assert_int_equal(np, 1);
    assert_string_equal(p[0].name, "W");
    tu_golden_tensor(g, "W", &p[0].value, 2, (int[]){V, D});
    return l;
}

/* Forward, then backward twice: y as nn.Embedding, dW accumulated (2x). */
static void test_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("embedding.txt");
    tl_layer *l = golden_layer(g);
    tl_tensor ids = {0}, dy = {0};
    tu_golden_ids(g, "ids", &ids, 2, (int[]){N, T});
    tu_golden_tensor(g, "dy", &dy, 3, (int[]){N, T, D});

    const tl_tensor *y, *dx = &ids;
    TU_OK(tl_layer_forward(l, &ids, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], N);
    assert_int_equal(y->shape[1], T);
    assert_int_equal(y->shape[2], D);
    tu_assert_close("y", y->data, tu_golden_get(g, "y", N * T * D), N * T * D, TU_RTOL, TU_ATOL);

    TU_OK(tl_layer_backward(l, &dy, &dx));
    assert_null(dx);
    TU_OK(tl_layer_backward(l, &dy, &dx));
    const double *dW = tu_golden_get(g, "dW", V * D);
    double dW2[V * D];
    for (int i = 0; i < V * D; i++)
        dW2[i] = 2 * dW[i];
    tl_param *p = tl_layer_params(l, NULL);
    tu_assert_close("dW (accumulated twice)", p[0].grad.data, dW2, V * D, TU_RTOL, TU_ATOL);

    tl_tensor_free(&ids);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

/* Repeated ids add up: ids {4, 4, 1, 4} with dy rows 1, 10, 100, 1000 give
 * dW[4] = 1 + 10 + 1000 = 1011, dW[1] = 100, every other row 0. */
static void test_scatter_add_repeated_ids(void **state)
{
    (void)state;
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, V, D, NULL));
    int32_t id_data[4] = {4, 4, 1, 4};
    tl_tensor ids = tl_tensor_wrap_ids(id_data, 2, (int[]){1, 4});
    tl_real dy_data[4 * D];
    const double row_value[4] = {1, 10, 100, 1000};
    for (int r = 0; r < 4; r++)
        for (int j = 0; j < D; j++)
            dy_data[r * D + j] = (tl_real)row_value[r];
    tl_tensor dy = tl_tensor_wrap(dy_data, 3, (int[]){1, 4, D});
    const tl_tensor *y, *dx;
    TU_OK(tl_layer_forward(l, &ids, &y));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    double expect[V * D] = {0};
    for (int j = 0; j < D; j++) {
        expect[4 * D + j] = 1011;
        expect[1 * D + j] = 100;
    }
    tl_param *p = tl_layer_params(l, NULL);
    tu_assert_close("dW", p[0].grad.data, expect, V * D, 0, 0);
    tl_layer_destroy(l);
}

/* (N,) ids give (N, D) rows of W. */
static void test_single_step(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 4);
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, V, D, &rng));
    int32_t id_data[3] = {5, 0, 5};
    tl_tensor ids = tl_tensor_wrap_ids(id_data, 1, (int[]){3});
    const tl_tensor *y;
    TU_OK(tl_layer_forward(l, &ids, &y));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], 3);
    assert_int_equal(y->shape[1], D);
    const tl_real *W = tl_layer_params(l, NULL)[0].value.data;
    for (int n = 0; n < 3; n++)
        tu_assert_close_real("y row", y->data + n * D, W + id_data[n] * D, D, 0, 0);
    tl_layer_destroy(l);
}

/* The reference's initialisation: N(0, 1)/100, zeros without an rng. */
static void test_init(void **state)
{
    (void)state;
    enum { BV = 200, BD = 50 };
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, BV, BD, &rng));
    tl_param *p = tl_layer_params(l, NULL);
    double sq = 0;
    for (size_t i = 0; i < p[0].value.size; i++)
        sq += (double)p[0].value.data[i] * p[0].value.data[i];
    double sd = sqrt(sq / (BV * BD));
    assert_true(sd > 0.0095 && sd < 0.0105);
    tl_layer_destroy(l);
    TU_OK(tl_time_embedding_create(&l, BV, BD, NULL));
    p = tl_layer_params(l, NULL);
    for (size_t i = 0; i < p[0].value.size; i++)
        assert_true(p[0].value.data[i] == 0);
    tl_layer_destroy(l);
}

static void test_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, V, D, &rng));
    tl_tensor ids = {0};
    tu_randint(&ids, &rng, V, 2, (int[]){N, T});
    ids.ids[3] = ids.ids[0]; /* a repeated id for sure */
    tl_gradcheck_entry e[4];
    int n;
    TU_OK(tl_gradcheck_layer(l, &ids, NULL, &(tl_gradcheck_opts){.seed = 2}, e, 4, &n));
    assert_int_equal(n, 1); /* W only: ids are not differentiable */
    tu_check_gradients("TimeEmbedding", e, n, TU_GRADCHECK_BOUND);
    tl_tensor_free(&ids);
    tl_layer_destroy(l);
}

/* An id outside [0, V) is refused by name and position before anything is
 * read or written: the previous output and the gradient stay as they were. */
static void test_ids_out_of_range(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, V, D, &rng));
    tl_tensor ids = {0}, saved = {0};
    tu_randint(&ids, &rng, V, 2, (int[]){N, T});
    const tl_tensor *y, *y2;
    TU_OK(tl_layer_forward(l, &ids, &y));
    TU_OK(tl_tensor_copy(&saved, y));
    const tl_real *data = y->data;

    const int32_t bad[] = {V, -1, 1000000, INT32_MIN};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        tl_tensor b = {0};
        tu_randint(&b, &rng, V, 2, (int[]){N, T});
        b.ids[1 * T + 2] = bad[k];
        y2 = NULL;
        assert_int_equal(tl_layer_forward(l, &b, &y2), TL_ERR_RANGE);
        assert_null(y2);
        const char *msg = tl_last_error();
        char value[16];
        snprintf(value, sizeof value, "%d", (int)bad[k]);
        assert_non_null(strstr(msg, "TimeEmbedding"));
        assert_non_null(strstr(msg, "[1, 2]"));
        assert_non_null(strstr(msg, value));
        assert_ptr_equal(y->data, data);
        tu_assert_close_real("y after a rejected forward", y->data, saved.data, saved.size, 0, 0);
        tl_tensor_free(&b);
    }
    tl_param *p = tl_layer_params(l, NULL);
    for (size_t i = 0; i < p[0].grad.size; i++)
        assert_true(p[0].grad.data[i] == 0);
    tl_tensor_free(&ids);
    tl_tensor_free(&saved);
    tl_layer_destroy(l);
}

/* Same (N, T) twice: the same output buffer. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 10);
    tl_layer *l;
    TU_OK(tl_time_embedding_create(&l, V, D, &rng));
    tl_tensor ids = {0}, dy = {0};
    tu_randint(&ids, &rng, V, 2, (int[]){N, T});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, D});
    const tl_tensor *y, *dx;
    TU_OK(tl_layer_forward(l, &ids, &y));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    const tl_real *py = y->data;
    tu_randint(&ids, &rng, V, 2, (int[]){N, T});
    TU_OK(tl_layer_forward(l, &ids, &y));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    assert_ptr_equal(y->data, py);
    tl_tensor_free(&ids);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
}

static void test_errors(void **state)
{
    (void)state;
    tl_layer *l = (tl_layer *)&l;
    assert_int_equal(tl_time_embedding_create(&l, 0, D, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "positive"));
    assert_int_equal(tl_time_embedding_create(&l, V, -1, NULL), TL_ERR_ARG);
    assert_int_equal(tl_time_embedding_create(NULL, V, D, NULL), TL_ERR_ARG);

    TU_OK(tl_time_embedding_create(&l, V, D, NULL));
    assert_string_equal(tl_layer_type(l), "TimeEmbedding");
    assert_false(tl_layer_is_loss(l));
    assert_false(tl_layer_has_state(l));
    assert_int_equal(l->in_dtype, TL_INT32);
    assert_int_equal(l->in_width, 0);
    assert_int_equal(l->out_width, D);
    tl_layer_config cfg;
    TU_OK(tl_layer_get_config(l, &cfg));
    assert_int_equal(cfg.in_dim, V);
    assert_int_equal(cfg.out_dim, D);

    tl_tensor ids = {0}, x = {0}, dy = {0};
    const tl_tensor *y, *dx;
    TU_OK(tl_tensor_zeros3(&dy, N, T, D));
    assert_int_equal(tl_layer_backward(l, &dy, &dx), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "before"));
    TU_OK(tl_tensor_zeros(&ids, TL_INT32, 3, (int[]){N, T, 1}));
    assert_int_equal(tl_layer_forward(l, &ids, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(2, 4, 1)"));
    TU_OK(tl_tensor_zeros2(&x, N, T));
    assert_int_equal(tl_layer_forward(l, &x, &y), TL_ERR_ARG); /* real numbers, not ids */

    TU_OK(tl_tensor_zeros(&ids, TL_INT32, 2, (int[]){N, T}));
    TU_OK(tl_layer_forward(l, &ids, &y));
    TU_OK(tl_tensor_zeros3(&dy, N, T, D + 1));
    assert_int_equal(tl_layer_backward(l, &dy, &dx), TL_ERR_SHAPE);
    assert_int_equal(tl_layer_loss(l, &x, &ids, &(double){0}), TL_ERR_STATE);

    tl_tensor_free(&ids);
    tl_tensor_free(&x);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_scatter_add_repeated_ids),
        cmocka_unit_test(test_single_step),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_ids_out_of_range),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
