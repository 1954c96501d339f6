/* Tensors, status messages and the RNG. */
#include <math.h>
#include <string.h>
#include "testutil.h"

static void test_resize_reuses_memory(void **state)
{
    (void)state;
    tl_tensor t = {0};
    TU_OK(tl_tensor_zeros3(&t, 2, 3, 4));
    assert_int_equal(t.size, 24);
    assert_true(t.owned);
    tl_real *p = t.data;
    TU_OK(tl_tensor_resize(&t, TL_REAL, 2, (int[]){4, 6}));
    assert_ptr_equal(t.data, p); /* same size: no reallocation */
    TU_OK(tl_tensor_resize(&t, TL_REAL, 1, (int[]){5}));
    assert_ptr_equal(t.data, p); /* smaller: no reallocation */
    TU_OK(tl_tensor_resize(&t, TL_REAL, 1, (int[]){100}));
    assert_int_equal(t.size, 100);
    for (int i = 0; i < 100; i++)
        assert_true(t.data[i] == 0);
    tl_tensor_free(&t);
    assert_null(t.data);
    assert_int_equal(t.size, 0);
}

static void test_absurd_sizes_refused(void **state)
{
    (void)state;
    tl_tensor t = {0};
    assert_int_equal(tl_tensor_zeros3(&t, 1 << 20, 1 << 20, 4), TL_ERR_NOMEM);
    assert_non_null(strstr(tl_last_error(), "TL_MAX_ELEMENTS"));
    assert_null(t.data);
    assert_int_equal(tl_tensor_zeros2(&t, -1, 3), TL_ERR_SHAPE);
    assert_int_equal(tl_tensor_resize(&t, TL_REAL, 4, (int[]){1, 1, 1, 1}), TL_ERR_ARG);
    assert_int_equal(tl_tensor_resize(NULL, TL_REAL, 1, (int[]){1}), TL_ERR_ARG);
}

static void test_copy_and_wrap(void **state)
{
    (void)state;
    tl_real buf[6] = {1, 2, 3, 4, 5, 6};
    tl_tensor w = tl_tensor_wrap(buf, 2, (int[]){2, 3});
    assert_false(w.owned);
    assert_int_equal(w.size, 6);
    tl_tensor c = {0};
    TU_OK(tl_tensor_copy(&c, &w));
    assert_true(tl_tensor_same_shape(&c, &w));
    assert_memory_equal(c.data, buf, sizeof buf);
    char s[32];
    assert_string_equal(tl_tensor_shape_str(&c, s, sizeof s), "(2, 3)");
    tl_tensor_free(&w); /* borrowed: must not free buf */
    assert_true(buf[0] == 1);
    tl_tensor_free(&c);
}

static void test_status_names(void **state)
{
    (void)state;
    assert_string_equal(tl_status_name(TL_ERR_SHAPE), "TL_ERR_SHAPE");
    assert_string_equal(tl_status_name((tl_status)999), "TL_ERR_UNKNOWN");
    tl_clear_error();
    assert_string_equal(tl_last_error(), "");
}

static void test_rng(void **state)
{
    (void)state;
    tl_rng a, b;
    tl_rng_seed(&a, 42);
    tl_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        assert_true(tl_rng_next(&a) == tl_rng_next(&b));
    double sum = 0, sq = 0;
    int n = 100000;
    for (int i = 0; i < n; i++) {
        double z = tl_rng_normal(&a);
        sum += z;
        sq += z * z;
    }
    assert_true(fabs(sum / n) < 0.02);
    assert_true(fabs(sq / n - 1) < 0.02);
    for (int i = 0; i < 1000; i++) {
        assert_true(tl_rng_below(&a, 7) < 7);
        double u = tl_rng_uniform(&a);
        assert_true(u >= 0 && u < 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resize_reuses_memory),
        cmocka_unit_test(test_absurd_sizes_refused),
        cmocka_unit_test(test_copy_and_wrap),
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_rng),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
