/* Gradient clipping against torch.nn.utils, the first non-finite gradient,
 * and the refusal of NaN gradients (which must leave the buffer untouched). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

enum { NG = 17 };

static void load(const tu_golden *g, const char *name, tl_real *dst, size_t n)
{
    const double *v = tu_golden_get(g, name, n);
    for (size_t i = 0; i < n; i++)
        dst[i] = (tl_real)v[i];
}

static void check_norm_case(const tu_golden *g, const char *name, const char *grads, size_t n)
{
    char key[64];
    tl_real buf[NG];
    load(g, grads, buf, n);
    snprintf(key, sizeof key, "%s_max_norm", name);
    double max_norm = tu_golden_get(g, key, 1)[0], norm = -1;
    TU_OK(tl_clip_grad_norm(buf, n, max_norm, &norm));
    snprintf(key, sizeof key, "%s_norm", name);
    double want = tu_golden_get(g, key, 1)[0];
    if (!(fabs(norm - want) <= TU_RTOL * want))
        fail_msg("%s: norm %.17g, torch %.17g", name, norm, want);
    snprintf(key, sizeof key, "%s_clipped", name);
    tu_assert_close(key, buf, tu_golden_get(g, key, n), n, TU_RTOL, TU_ATOL);
}

static void test_norm_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("clip.txt");
    check_norm_case(g, "big", "grads", NG);
    check_norm_case(g, "small", "grads", NG);
    check_norm_case(g, "edge", "edge_grads", 2);

    /* At norm == max_norm the rule still scales, by 5 / (5 + 1e-6); the
     * float build cannot see that within TU_RTOL, so check it directly. */
    tl_real edge[2] = {3, 4};
    TU_OK(tl_clip_grad_norm(edge, 2, 5, NULL));
    assert_true(edge[0] < 3 && edge[1] < 4);
    tu_golden_free(g);
}

static void test_value_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("clip.txt");
    tl_real buf[NG];
    load(g, "grads", buf, NG);
    TU_OK(tl_clip_grad_value(buf, NG, tu_golden_get(g, "value_c", 1)[0]));
    tu_assert_close("value_clipped", buf, tu_golden_get(g, "value_clipped", NG), NG, TU_RTOL,
                    TU_ATOL);

    tl_real inf[2] = {INFINITY, -INFINITY};
    TU_OK(tl_clip_grad_value(inf, 2, 2));
    assert_true(inf[0] == 2 && inf[1] == -2);
    tu_golden_free(g);
}

static void test_first_nonfinite(void **state)
{
    (void)state;
    tl_real g[8] = {1, -2, 3, 0, 5, NAN, 7, INFINITY};
    assert_int_equal(tl_grad_first_nonfinite(g, 8), 5);
    assert_int_equal(tl_grad_first_nonfinite(g, 5), SIZE_MAX);
    assert_int_equal(tl_grad_first_nonfinite(g + 6, 2), 1);
    assert_int_equal(tl_grad_first_nonfinite(NULL, 0), SIZE_MAX);
    g[0] = -INFINITY;
    assert_int_equal(tl_grad_first_nonfinite(g, 8), 0);
    /* Longer buffers are checked a block at a time: bad values on either
     * side of a block boundary, the first of two, the last element; the
     * largest, smallest and subnormal finite values and -0 are finite. */
#ifdef TL_REAL_DOUBLE
    const tl_real largest = DBL_MAX, smallest = DBL_MIN;
#else
    const tl_real largest = FLT_MAX, smallest = FLT_MIN;
#endif
    enum { N = 5000 };
    tl_real *big = malloc(N * sizeof *big);
    assert_non_null(big);
    for (size_t i = 0; i < N; i++)
        big[i] = i % 4 == 0 ? largest : i % 4 == 1 ? -smallest / 4 : i % 4 == 2 ? (tl_real)-0.0
                                                                                  : (tl_real)i;
    assert_int_equal(tl_grad_first_nonfinite(big, N), SIZE_MAX);
    const size_t at[] = {1023, 1024, 2047, 4999};
    for (size_t j = 0; j < sizeof at / sizeof *at; j++) {
        tl_real keep = big[at[j]];
        big[at[j]] = j % 2 ? NAN : -INFINITY;
        assert_int_equal(tl_grad_first_nonfinite(big, N), at[j]);
        assert_int_equal(tl_grad_first_nonfinite(big, at[j]), SIZE_MAX);
        big[at[j]] = keep;
    }
    big[3000] = INFINITY;
    big[1500] = NAN;
    assert_int_equal(tl_grad_first_nonfinite(big, N), 1500);
    assert_int_equal(tl_grad_first_nonfinite(big + 1501, N - 1501), 1499);
    free(big);
}

static void test_norm_errors(void **state)
{
    (void)state;
    tl_real g[4] = {1, 2, NAN, 4}, copy[4];
    memcpy(copy, g, sizeof g);
    double norm = 0;
    assert_int_equal(tl_clip_grad_norm(g, 4, 1, &norm), TL_ERR_NUMERIC);
    assert_true(isnan(norm));
    assert_non_null(strstr(tl_last_error(), "gradient 2 of 4"));
    assert_memory_equal(g, copy, sizeof g);

    g[2] = -INFINITY;
    memcpy(copy, g, sizeof g);
    assert_int_equal(tl_clip_grad_norm(g, 4, 1, &norm), TL_ERR_NUMERIC);
    assert_true(isinf(norm));
    assert_memory_equal(g, copy, sizeof g);

    if (TU_DOUBLE) {   /* finite values whose squares overflow a double */
        tl_real big[2] = {(tl_real)1e200, (tl_real)1e200};
        assert_int_equal(tl_clip_grad_norm(big, 2, 1, NULL), TL_ERR_NUMERIC);
        assert_non_null(strstr(tl_last_error(), "overflows"));
        assert_true(big[0] == (tl_real)1e200);
    }

    g[2] = 3;
    assert_int_equal(tl_clip_grad_norm(g, 4, 0, &norm), TL_ERR_ARG);
    assert_int_equal(tl_clip_grad_norm(g, 4, -1, &norm), TL_ERR_ARG);
    assert_int_equal(tl_clip_grad_norm(g, 4, NAN, &norm), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "max_norm"));
    assert_int_equal(tl_clip_grad_norm(NULL, 4, 1, &norm), TL_ERR_ARG);

    /* An infinite bound only measures; nothing at all is a norm of 0. */
    memcpy(copy, g, sizeof g);
    TU_OK(tl_clip_grad_norm(g, 4, INFINITY, &norm));
    assert_memory_equal(g, copy, sizeof g);
    assert_true(fabs(norm - sqrt(30.0)) <= 1e-12);
    TU_OK(tl_clip_grad_norm(NULL, 0, 1, &norm));
    assert_true(norm == 0);
}

static void test_value_errors(void **state)
{
    (void)state;
    tl_real g[4] = {5, -5, NAN, 0.5}, copy[4];
    memcpy(copy, g, sizeof g);
    assert_int_equal(tl_clip_grad_value(g, 4, 1), TL_ERR_NUMERIC);
    assert_non_null(strstr(tl_last_error(), "gradient 2 of 4 is NaN"));
    assert_memory_equal(g, copy, sizeof g);

    g[2] = 0;
    assert_int_equal(tl_clip_grad_value(g, 4, 0), TL_ERR_ARG);
    assert_int_equal(tl_clip_grad_value(g, 4, NAN), TL_ERR_ARG);
    assert_int_equal(tl_clip_grad_value(NULL, 4, 1), TL_ERR_ARG);
    TU_OK(tl_clip_grad_value(NULL, 0, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_golden),
        cmocka_unit_test(test_value_golden),
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_norm_errors),
        cmocka_unit_test(test_value_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
