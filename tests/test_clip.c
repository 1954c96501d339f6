/* Gradient clipping against torch.nn.utils, the first non-finite gradient,
 * the refusal of NaN gradients (which must leave the buffer untouched), and
 * the passes on the pool: the same bits on 1 and 2 threads, the documented
 * order of the norm's sum, and that sum against a compensated one. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "../lib/internal.h"

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

/* Values over many magnitudes, some zero, signs mixed. */
static void spread(tl_real *g, size_t n, uint64_t seed)
{
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++)
        g[i] = i % 97 == 3 ? 0 : (tl_real)(tl_rng_normal(&rng) * pow(10, (double)(i % 7) - 3));
}

/* The norm's sum as lib/clip.c documents it: element i into lane i mod 8 of
 * its part (the last n mod 8 elements into lane 0), lane k the sum of the
 * parts' lanes k in part order, the lanes summed in order. */
static double documented_norm(const tl_real *g, size_t n)
{
    size_t len, whole = n - n % 8;
    int parts = tl_pass_parts(n, &len);
    double lane[8] = {0};
    for (int k = 0; k < parts; k++) {
        double acc[8] = {0};
        for (size_t i = (size_t)k * len; i < n && i < (size_t)(k + 1) * len; i++)
            acc[i < whole ? i % 8 : 0] += (double)g[i] * g[i];
        for (int l = 0; l < 8; l++)
            lane[l] += acc[l];
    }
    double sum = 0;
    for (int l = 0; l < 8; l++)
        sum += lane[l];
    return sqrt(sum);
}

/* Σ g² with Neumaier's compensation: within a few ulps of the exact sum of
 * the squares as double rounds them (a float's square is exact). */
static double reference_sum(const tl_real *g, size_t n)
{
    double s = 0, c = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (double)g[i] * g[i], t = s + x;
        c += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
        s = t;
    }
    return s + c;
}

/* Over several parts of the pool and within one: the norm, the clipped
 * values and the first non-finite gradient are the same bits on 1 and 2
 * threads; the norm is the documented sum (within one part, the single
 * 8-lane pass of earlier versions), and that sum lies within n·2^-53
 * of the compensated one, relative (the bound of a sum of n positive terms,
 * each rounded once). */
static void test_parts(void **state)
{
    (void)state;
    int threads = tl_get_num_threads();
    const size_t sizes[] = {1000, 65536 + 5, 5 * 65536 + 13};
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        size_t n = sizes[z], len;
        int parts = tl_pass_parts(n, &len);
        assert_true(parts >= 1 && parts <= TL_PASS_MAX_PARTS && len % 8 == 0);
        assert_true((size_t)(parts - 1) * len < n && (size_t)parts * len >= n);
        tl_real *g = malloc(n * sizeof *g), *c[2];
        assert_non_null(g);
        spread(g, n, 40 + z);
        double norm[2], want = documented_norm(g, n);
        for (int t = 0; t < 2; t++) {
            c[t] = malloc(n * sizeof *g);
            assert_non_null(c[t]);
            memcpy(c[t], g, n * sizeof *g);
            TU_OK(tl_set_num_threads(t + 1));
            TU_OK(tl_clip_grad_norm(c[t], n, want / 3, &norm[t]));
            if (norm[t] != want)
                fail_msg("n %zu, %d thread(s): norm %.17g, documented %.17g", n, t + 1, norm[t],
                         want);
        }
        double ref = reference_sum(g, n), got = want * want;
        if (!(fabs(got - ref) <= (double)n * 0x1p-53 * ref))
            fail_msg("n %zu: sum of squares %.17g, compensated %.17g", n, got, ref);
        assert_memory_equal(c[0], c[1], n * sizeof *g);
        const tl_real s = (tl_real)(want / 3 / (want + 1e-6));
        for (size_t i = 0; i < n; i++)
            if (c[0][i] != g[i] * s)
                fail_msg("n %zu: clipped %zu is %.9g, want %.9g", n, i, (double)c[0][i],
                         (double)(g[i] * s));

        /* the first of several bad values, in different parts */
        g[n - 1] = NAN;
        g[n / 2] = INFINITY;
        g[n / 3 + 1] = -INFINITY;
        for (int t = 0; t < 2; t++) {
            TU_OK(tl_set_num_threads(t + 1));
            assert_int_equal(tl_grad_first_nonfinite(g, n), n / 3 + 1);
            assert_int_equal(tl_grad_first_nonfinite(g, n / 3 + 1), SIZE_MAX);
            memcpy(c[t], g, n * sizeof *g);
            assert_int_equal(tl_clip_grad_value(c[t], n, 1), TL_ERR_NUMERIC);
            char want_msg[64];
            snprintf(want_msg, sizeof want_msg, "gradient %zu of %zu is NaN", n - 1, n);
            assert_non_null(strstr(tl_last_error(), want_msg));
            assert_memory_equal(c[t], g, (n - 1) * sizeof *g);
            c[t][n - 1] = 0;
            TU_OK(tl_clip_grad_value(c[t], n, 0.5));
        }
        assert_memory_equal(c[0], c[1], n * sizeof *g);
        for (size_t i = 0; i < n; i++)
            assert_true(fabs(c[0][i]) <= 0.5 && (i == n - 1 || c[0][i] == g[i] ||
                                                 fabs(c[0][i]) == (tl_real)0.5));
        free(c[0]);
        free(c[1]);
        free(g);
    }

    /* Where the order shows: lane 0 of part 0 holds 2^53, lane 1 of each of
     * the 15 other parts 1. Lane by lane the sum is 2^53 + 15 (rounded to
     * 2^53 + 16); part by part each 1 would be lost (half an ulp, rounded
     * to even), and the norms differ by 4 ulps. */
    size_t len, n = 16 * 65536;
    assert_int_equal(tl_pass_parts(n, &len), 16);
    tl_real *g = calloc(n, sizeof *g);
    assert_non_null(g);
    g[0] = g[8] = (tl_real)0x1p26;
    for (size_t k = 1; k < 16; k++)
        g[k * len + 1] = 1;
    double norm;
    TU_OK(tl_clip_grad_norm(g, n, INFINITY, &norm));
    assert_true(norm == sqrt(0x1p53 + 15) && norm != sqrt(0x1p53));
    free(g);
    TU_OK(tl_set_num_threads(threads));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norm_golden),
        cmocka_unit_test(test_value_golden),
        cmocka_unit_test(test_first_nonfinite),
        cmocka_unit_test(test_norm_errors),
        cmocka_unit_test(test_value_errors),
        cmocka_unit_test(test_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
