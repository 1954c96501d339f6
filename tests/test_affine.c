/* TimeAffine: golden values from PyTorch, gradient check, shape errors. */
#include <math.h>
#include <string.h>
#include "testutil.h"

enum { N = 2, T = 3, D = 4, M = 5 };

static void load_params(tl_layer *l, const tu_golden *g)
{
    int np;
    tl_param *p = tl_layer_params(l, &np);
    assert_int_equal(np, 2);
    assert_string_equal(p[0].name, "W");
    assert_string_equal(p[1].name, "b");
    tu_golden_tensor(g, "W", &p[0].value, 2, (int[]){D, M});
    tu_golden_tensor(g, "b", &p[1].value, 1, (int[]){M});
}

static void test_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("affine.txt");
    tl_layer *l;
    TU_OK(tl_time_affine_create(&l, D, M, NULL));
    load_params(l, g);
    tl_tensor x = {0}, dy = {0};
    tu_golden_tensor(g, "x", &x, 3, (int[]){N, T, D});
    tu_golden_tensor(g, "dy", &dy, 3, (int[]){N, T, M});

    const tl_tensor *y, *dx;
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[2], M);
    tu_assert_close("y", y->data, tu_golden_get(g, "y", N * T * M), N * T * M, TU_RTOL, TU_ATOL);

    /* Run backward twice: gradients must accumulate (2x), dx must not. */
    TU_OK(tl_layer_backward(l, &dy, &dx));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    tu_assert_close("dx", dx->data, tu_golden_get(g, "dx", N * T * D), N * T * D, TU_RTOL, TU_ATOL);
    int np;
    tl_param *p = tl_layer_params(l, &np);
    const double *dW = tu_golden_get(g, "dW", D * M), *db = tu_golden_get(g, "db", M);
    double dW2[D * M], db2[M];
    for (int i = 0; i < D * M; i++)
        dW2[i] = 2 * dW[i];
    for (int i = 0; i < M; i++)
        db2[i] = 2 * db[i];
    tu_assert_close("dW (accumulated twice)", p[0].grad.data, dW2, D * M, TU_RTOL, TU_ATOL);
    tu_assert_close("db (accumulated twice)", p[1].grad.data, db2, M, TU_RTOL, TU_ATOL);

    tl_layer_zero_grad(l);
    for (int i = 0; i < D * M; i++)
        assert_true(p[0].grad.data[i] == 0);

    tl_tensor_free(&x);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

static void test_two_dim_input(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 7);
    tl_layer *l;
    TU_OK(tl_time_affine_create(&l, D, M, &rng));
    tl_tensor x = {0};
    tu_randn(&x, &rng, 1, 2, (int[]){N, D});
    const tl_tensor *y;
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_int_equal(y->ndim, 2);
    assert_int_equal(y->shape[0], N);
    assert_int_equal(y->shape[1], M);
    tl_tensor_free(&x);
    tl_layer_destroy(l);
}

/* One row (batch-1 generation) goes through GEMV instead of GEMM: its
 * output and input gradient must match the same row computed inside a
 * 3-row batch (the GEMM path), and its weight gradient the batch's with the
 * other rows' dy zero. Sizes large enough for blocked kernels. */
static void test_one_row_matches_batch(void **state)
{
    (void)state;
    enum { ROWS = 3, DI = 67, MO = 301 };
    tl_rng rng;
    tl_rng_seed(&rng, 11);
    tl_layer *one, *many;
    TU_OK(tl_time_affine_create(&one, DI, MO, &rng));
    tl_rng_seed(&rng, 11);
    TU_OK(tl_time_affine_create(&many, DI, MO, &rng));
    int np;
    tl_param *p = tl_layer_params(many, &np);
    for (int j = 0; j < MO; j++)   /* a nonzero bias, the same in both */
        p[1].value.data[j] = tl_layer_params(one, &np)[1].value.data[j] = (tl_real)(0.01 * j);
    tl_tensor xb = {0}, dyb = {0};
    tu_randn(&xb, &rng, 1, 3, (int[]){ROWS, 1, DI});
    TU_OK(tl_tensor_zeros3(&dyb, ROWS, 1, MO));
    for (int j = 0; j < MO; j++)
        dyb.data[j] = (tl_real)tl_rng_normal(&rng);
    tl_tensor x1 = tl_tensor_wrap(xb.data, 3, (int[]){1, 1, DI});
    tl_tensor dy1 = tl_tensor_wrap(dyb.data, 3, (int[]){1, 1, MO});
    const tl_tensor *y1, *yb, *dx1, *dxb;
    TU_OK(tl_layer_forward(one, &x1, &y1));
    TU_OK(tl_layer_forward(many, &xb, &yb));
    double want[DI > MO ? DI : MO];
    for (int j = 0; j < MO; j++)
        want[j] = yb->data[j];
    tu_assert_close("y", y1->data, want, MO, TU_RTOL, TU_ATOL);
    TU_OK(tl_layer_backward(one, &dy1, &dx1));
    TU_OK(tl_layer_backward(many, &dyb, &dxb));
    for (int i = 0; i < DI; i++)
        want[i] = dxb->data[i];
    tu_assert_close("dx", dx1->data, want, DI, TU_RTOL, TU_ATOL);
    const tl_real *gw1 = tl_layer_params(one, &np)[0].grad.data;
    for (int i = 0; i < DI * MO; i++)
        if (!(fabs(gw1[i] - p[0].grad.data[i]) <= TU_RTOL * fabs(p[0].grad.data[i]) + TU_ATOL))
            fail_msg("dW[%d]: %g one row, %g batch", i, (double)gw1[i], (double)p[0].grad.data[i]);
    tl_tensor_free(&xb);
    tl_tensor_free(&dyb);
    tl_layer_destroy(one);
    tl_layer_destroy(many);
}

static void test_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 3);
    tl_layer *l;
    TU_OK(tl_time_affine_create(&l, D, M, &rng));
    tl_param *p = tl_layer_params(l, NULL);
    for (int i = 0; i < M; i++)
        p[1].value.data[i] = (tl_real)tl_rng_normal(&rng);
    tl_tensor x = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tl_gradcheck_entry e[8];
    int n;
    TU_OK(tl_gradcheck_layer(l, &x, NULL, &(tl_gradcheck_opts){.seed = 5}, e, 8, &n));
    assert_int_equal(n, 3); /* W, b, x */
    tu_check_gradients("TimeAffine", e, n, TU_GRADCHECK_BOUND);
    tl_tensor_free(&x);
    tl_layer_destroy(l);
}

static void test_errors(void **state)
{
    (void)state;
    tl_layer *l = NULL;
    assert_int_equal(tl_time_affine_create(&l, 0, 3, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "positive"));

    TU_OK(tl_time_affine_create(&l, D, M, NULL));
    tl_tensor x = {0}, ids = {0};
    TU_OK(tl_tensor_zeros3(&x, N, T, D + 1));
    const tl_tensor *y, *dx;
    assert_int_equal(tl_layer_forward(l, &x, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(2, 3, 5)"));
    assert_int_equal(tl_layer_backward(l, &x, &dx), TL_ERR_STATE);

    TU_OK(tl_tensor_zeros(&ids, TL_INT32, 2, (int[]){N, D}));
    assert_int_equal(tl_layer_forward(l, &ids, &y), TL_ERR_ARG);

    TU_OK(tl_tensor_zeros3(&x, N, T, D));
    TU_OK(tl_layer_forward(l, &x, &y));
    tl_tensor bad = {0};
    TU_OK(tl_tensor_zeros3(&bad, N, T, M + 1));
    assert_int_equal(tl_layer_backward(l, &bad, &dx), TL_ERR_SHAPE);
    assert_int_equal(tl_layer_loss(l, &x, &ids, &(double){0}), TL_ERR_STATE);
    assert_false(tl_layer_has_state(l));
    assert_int_equal(tl_layer_set_state(l, &x, NULL), TL_ERR_STATE);

    tl_tensor_free(&x);
    tl_tensor_free(&ids);
    tl_tensor_free(&bad);
    tl_layer_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_two_dim_input),
        cmocka_unit_test(test_one_row_matches_batch),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
