/* Internal kernels (lib/kernels): vector sigmoid and tanh against double
 * precision references, their extreme inputs, and the LSTM gate loops against
 * the cell's formulas. Every test runs at each SIMD level the build and the
 * CPU offer (the portable loops always, AVX2 when present). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "../lib/kernels/kernels.h"

#ifdef TL_REAL_DOUBLE
#define EPS DBL_EPSILON
#define TINY DBL_TRUE_MIN
#else
#define EPS FLT_EPSILON
#define TINY FLT_TRUE_MIN
#endif

/* The SIMD levels to test; leaves the highest one active. */
static int simd_levels(tl_simd out[2])
{
    int n = 0;
    tl_simd_limit(TL_SIMD_AVX2);
    if (tl_simd_active() == TL_SIMD_AVX2)
        out[n++] = TL_SIMD_AVX2;
    out[n++] = TL_SIMD_NONE;
    tl_simd_limit(out[0]);
    return n;
}

static double ref_sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* A few ulps: |y - ref| <= 4·eps·|ref| + 4 least subnormals (results below
 * the normal range carry an absolute rounding error). */
static void check_ulps(const char *what, tl_simd level, const tl_real *x, const tl_real *y,
                       double (*ref)(double), size_t n)
{
    for (size_t k = 0; k < n; k++) {
        double want = ref(x[k]);
        if (!(fabs(y[k] - want) <= 4 * EPS * fabs(want) + 4 * TINY))
            fail_msg("%s (simd %d) at x = %.9g: got %.9g, expected %.9g", what, (int)level,
                     (double)x[k], (double)y[k], want);
    }
}

static void test_accuracy(void **state)
{
    (void)state;
    /* A fine sweep over the whole interesting range, both polynomial
     * intervals of tanh and the subnormal tail of sigmoid, plus tiny values. */
    enum { SWEEP = 45001, EXTRA = 8 };
    size_t n = SWEEP + EXTRA;
    tl_real *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (int k = 0; k < SWEEP; k++)
        x[k] = (tl_real)(-112.5 + 0.005 * k);
    const double extra[EXTRA] = {1e-30, -1e-30, 1e-6, -3e-4, 0.6249, 0.6251, -103.9, -87.5};
    for (int k = 0; k < EXTRA; k++)
        x[SWEEP + k] = (tl_real)extra[k];
    tl_simd levels[2];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        tl_vsigmoid((int)n, x, y);
        check_ulps("sigmoid", levels[l], x, y, ref_sigmoid, n);
        tl_vtanh((int)n, x, y);
        check_ulps("tanh", levels[l], x, y, tanh, n);
    }
    tl_simd_limit(levels[0]);
    free(x);
    free(y);
}

static void test_extremes(void **state)
{
    (void)state;
    enum { M = 11 };
    const tl_real x[M] = {1e4f, -1e4f, 20, -20, 200, -200, INFINITY, -INFINITY, NAN, 0, -0.0f};
    const tl_real want_tanh[M] = {1, -1, 1, -1, 1, -1, 1, -1, NAN, 0, -0.0f};
    tl_simd levels[2];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        tl_real s[M], t[M];
        tl_vsigmoid(M, x, s);
        tl_vtanh(M, x, t);
        for (int k = 0; k < M; k++) {
            if (isnan(x[k])) {
                if (!isnan(s[k]) || !isnan(t[k]))
                    fail_msg("simd %d: NaN gave sigmoid %g, tanh %g", (int)levels[l],
                             (double)s[k], (double)t[k]);
                continue;
            }
            /* Saturations are exact: sigmoid at ±1e4 and ±inf, tanh everywhere
             * but 0 here. sigmoid(±20), sigmoid(±200) are ordinary values in
             * double. */
            double want_sig = ref_sigmoid(x[k]);
            double tol = fabs(x[k]) >= 1e4 ? 0 : 4 * EPS * want_sig + 4 * TINY;
            if (!(fabs(s[k] - want_sig) <= tol) || t[k] != want_tanh[k] ||
                signbit(t[k]) != signbit(want_tanh[k]))
                fail_msg("simd %d at x = %g: sigmoid %.9g (want %.9g), tanh %.9g (want %.9g)",
                         (int)levels[l], (double)x[k], (double)s[k], want_sig, (double)t[k],
                         (double)want_tanh[k]);
        }
    }
    tl_simd_limit(levels[0]);
}

/* The gate loops against the formulas of lstm_cell.c in double. One row of
 * H = 13 units (a full block of 8 and a masked tail), all units and a prefix
 * of 5 that must leave the others alone; with and without c_prev; dA written
 * over the gates and dc_prev over dc, as TimeLSTM does. */
static void check_gates(int H, int n, bool with_cprev, tl_rng *rng)
{
    double a[4 * 13], cp[13], dh[13], dc[13];
    for (int k = 0; k < 4 * H; k++)
        a[k] = 3 * tl_rng_normal(rng);
    for (int k = 0; k < H; k++) {
        cp[k] = tl_rng_normal(rng);
        dh[k] = tl_rng_normal(rng);
        dc[k] = tl_rng_normal(rng);
    }
    /* Reference: the activations, c', h', then dA and dc_prev. */
    double gate[4 * 13], cn[13], hn[13], dA[4 * 13], dcp[13];
    for (int j = 0; j < H; j++) {
        double f = ref_sigmoid(a[j]), g = tanh(a[H + j]), i = ref_sigmoid(a[2 * H + j]),
               o = ref_sigmoid(a[3 * H + j]);
        double c = (with_cprev ? f * cp[j] : 0) + g * i, tc = tanh(c);
        gate[j] = f, gate[H + j] = g, gate[2 * H + j] = i, gate[3 * H + j] = o;
        cn[j] = c;
        hn[j] = o * tc;
        double ds = dc[j] + dh[j] * o * (1 - tc * tc);
        dA[j] = with_cprev ? ds * cp[j] * f * (1 - f) : 0;
        dA[H + j] = ds * i * (1 - g * g);
        dA[2 * H + j] = ds * g * i * (1 - i);
        dA[3 * H + j] = dh[j] * tc * o * (1 - o);
        dcp[j] = ds * f;
    }
    tl_real ra[4 * 13], rcp[13], rcn[13], rhn[13], rdh[13], rdc[13];
    for (int k = 0; k < 4 * H; k++)
        ra[k] = (tl_real)a[k];
    for (int k = 0; k < H; k++) {
        rcp[k] = (tl_real)cp[k];
        rdh[k] = (tl_real)dh[k];
        rdc[k] = (tl_real)dc[k];
        rcn[k] = rhn[k] = -7;
    }
    tl_lstm_gates_forward(n, H, ra, with_cprev ? rcp : NULL, rcn, rhn);
    for (int q = 0; q < 4; q++) {
        tu_assert_close("gates", ra + q * H, gate + q * H, (size_t)n, TU_RTOL, TU_ATOL);
        for (int j = n; j < H; j++)
            assert_true(ra[q * H + j] == (tl_real)a[q * H + j]);
    }
    tu_assert_close("c_next", rcn, cn, (size_t)n, TU_RTOL, TU_ATOL);
    tu_assert_close("h_next", rhn, hn, (size_t)n, TU_RTOL, TU_ATOL);
    for (int j = n; j < H; j++)
        assert_true(rcn[j] == -7 && rhn[j] == -7);

    /* Backward from the reference state, in place. */
    for (int k = 0; k < 4 * H; k++)
        ra[k] = (tl_real)gate[k];
    for (int k = 0; k < H; k++)
        rcn[k] = (tl_real)cn[k];
    tl_lstm_gates_backward(n, H, ra, with_cprev ? rcp : NULL, rcn, rdh, rdc, ra, rdc);
    for (int q = 0; q < 4; q++)
        tu_assert_close("dA", ra + q * H, dA + q * H, (size_t)n, TU_RTOL, TU_ATOL);
    tu_assert_close("dc_prev", rdc, dcp, (size_t)n, TU_RTOL, TU_ATOL);
    for (int j = n; j < H; j++)
        assert_true(rdc[j] == (tl_real)dc[j]);
}

static void test_lstm_gates(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 11);
    tl_simd levels[2];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (int with_cprev = 0; with_cprev < 2; with_cprev++) {
            check_gates(13, 13, with_cprev, &rng);
            check_gates(13, 5, with_cprev, &rng);
            check_gates(8, 8, with_cprev, &rng);
        }
    }
    tl_simd_limit(levels[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_lstm_gates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
