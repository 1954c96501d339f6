/* Internal kernels (lib/kernels): vector sigmoid, tanh and exp against
 * double precision references, their extreme inputs, the LSTM and GRU gate
 * loops against the cells' formulas, the packed recurrent products and the
 * one-row products (tl_gemm with M = 1, float and bf16 weights; the bf16
 * rounding exactly) and the library's own GEMM (tl_sgemm)
 * against double references, and TimeLSTM and TimeGRU on the packed kernels and
 * threads against their plain BLAS paths. Every test runs at each SIMD level the build and the CPU
 * offer (the portable loops always, AVX2 when present). */
#include <float.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "../lib/internal.h"
#include "../lib/kernels/kernels.h"

#ifdef TL_REAL_DOUBLE
#define EPS DBL_EPSILON
#define TINY DBL_TRUE_MIN
#else
#define EPS FLT_EPSILON
#define TINY FLT_TRUE_MIN
#endif

/* The SIMD levels to test, highest first; leaves the highest one active. */
static int simd_levels(tl_simd out[3])
{
    int n = 0;
    for (int l = TL_SIMD_AVX512; l > TL_SIMD_NONE; l--) {
        tl_simd_limit((tl_simd)l);
        if (tl_simd_active() == (tl_simd)l)
            out[n++] = (tl_simd)l;
    }
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
    tl_simd levels[3];
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
    tl_simd levels[3];
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

/* tl_vexp_sum over x − shift in [−120, 0] against exp in double: each value
 * within the few ulps of check_ulps, exactly 0 below −104 in float (e^−104 is
 * below half the least subnormal), and the sum within 48·eps of the exact sum
 * (4 ulps per value plus float lanes adding at most 40 values). Lengths 1 to
 * 40 cover every tail; the sweep is not a multiple of 8 and crosses blocks of
 * 512; one call runs in place. */
static void check_exp_sum(tl_simd level, int n, const tl_real *x, tl_real shift, tl_real *y,
                          bool in_place)
{
    if (in_place)
        memcpy(y, x, (size_t)n * sizeof *x);
    double got = tl_vexp_sum(n, in_place ? y : x, shift, y), want = 0;
    for (int k = 0; k < n; k++) {
        tl_real d = x[k] - shift;   /* the subtraction the primitive makes */
        double e = exp(d);
        want += e;
        if (!(fabs(y[k] - e) <= 4 * EPS * e + 4 * TINY))
            fail_msg("exp (simd %d, n %d) at x - shift = %.9g: got %.9g, expected %.9g",
                     (int)level, n, (double)d, (double)y[k], e);
#ifndef TL_REAL_DOUBLE
        if (d < -104 && y[k] != 0)
            fail_msg("exp (simd %d) at x - shift = %.9g: got %g, expected 0", (int)level,
                     (double)d, (double)y[k]);
#endif
    }
    if (!(fabs(got - want) <= 48 * EPS * want))
        fail_msg("exp sum (simd %d, n %d): got %.17g, expected %.17g", (int)level, n, got, want);
}

static void test_exp_sum(void **state)
{
    (void)state;
    enum { SWEEP = 24003 };
    const tl_real shift = 2.75f;
    tl_real *x = malloc(SWEEP * sizeof *x), *y = malloc(SWEEP * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    tl_simd levels[3];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (int k = 0; k < SWEEP; k++)
            x[k] = shift - (tl_real)(120.0 * k / (SWEEP - 1));
        check_exp_sum(levels[l], SWEEP, x, shift, y, false);
        for (int n = 1; n <= 40; n++) {
            for (int k = 0; k < n; k++)
                x[k] = shift - (tl_real)(k * 2.9);   /* down to −113.1 */
            check_exp_sum(levels[l], n, x, shift, y, false);
        }
        check_exp_sum(levels[l], 40, x, shift, y, true);
        /* A NaN anywhere (here in a tail lane) gives NaN there and in the
         * sum; −inf gives exactly 0 and leaves the sum alone. */
        const tl_real z[11] = {0, -1, -2, -INFINITY, -4, -5, -6, -7, -8, NAN, -10};
        tl_real out[11];
        double sum = tl_vexp_sum(11, z, 0, out);
        if (!isnan(out[9]) || !isnan(sum) || out[3] != 0 || out[0] != 1)
            fail_msg("simd %d: NaN gave %g, sum %g; -inf gave %g; 0 gave %g", (int)levels[l],
                     (double)out[9], sum, (double)out[3], (double)out[0]);
        sum = tl_vexp_sum(9, z, 0, out);
        if (!(fabs(sum - (1 + exp(-1) + exp(-2) + exp(-4) + exp(-5) + exp(-6) + exp(-7) +
                          exp(-8))) <= 16 * EPS))
            fail_msg("simd %d: sum with -inf %.17g", (int)levels[l], sum);
    }
    tl_simd_limit(levels[0]);
    free(x);
    free(y);
}

/* The softmax row's passes give the same bits at every SIMD level: the
 * maximum and minimum with the bias added (into another row and in place)
 * or without, and the scaling with its accumulation (first or added, with
 * and without acc); the exponential with its sum at the AVX-512 and AVX2
 * levels (the portable one is libm's). Lengths 1 to 70 cover every tail of
 * 8 and 16 lanes, 10,007 crosses blocks of 512 with a tail; the values run
 * into subnormal exponentials and below −104, and one row holds a −inf and
 * a NaN. */
enum { ROW_OUTS = 6 };

typedef struct {
    tl_real hi, lo;
    double sum;
} row_stats;

static void row_passes(int n, const tl_real *x, const tl_real *b, bool bad, bool first,
                       tl_real *out[ROW_OUTS], row_stats *r)
{
    tl_real *s = out[0], *ip = out[1], *e = out[2], *d = out[3], *d2 = out[4], *acc = out[5];
    tl_real lo, lo2;
    r->hi = tl_vadd_max(n, x, b, s, &lo);
    r->lo = lo;
    assert_true(tl_vadd_max(n, s, NULL, NULL, &lo2) == r->hi && lo2 == lo);
    memcpy(ip, x, (size_t)n * sizeof *ip);
    assert_true(tl_vadd_max(n, ip, b, ip, &lo2) == r->hi && lo2 == lo);
    assert_memory_equal(ip, s, (size_t)n * sizeof *ip);
    if (bad) {
        ip[n - 3] = (tl_real)-INFINITY;
        ip[n / 2] = (tl_real)NAN;
    }
    r->sum = tl_vexp_sum(n, ip, r->hi, e);
    memcpy(d, s, (size_t)n * sizeof *d);
    memcpy(d2, s, (size_t)n * sizeof *d2);
    memcpy(acc, b, (size_t)n * sizeof *acc);
    tl_vscale_acc(n, (tl_real)0.37, d, acc, first);
    tl_vscale_acc(n, (tl_real)-1.5, d2, NULL, false);
}

static void test_row_passes_bits(void **state)
{
    (void)state;
    enum { BIG = 10007, NLEN = 72 };
    tl_real *x = malloc(BIG * sizeof *x), *b = malloc(BIG * sizeof *b);
    tl_real *out[3][ROW_OUTS];
    row_stats r[3];
    assert_non_null(x);
    assert_non_null(b);
    tl_rng rng;
    tl_rng_seed(&rng, 77);
    for (int k = 0; k < BIG; k++) {
        x[k] = (tl_real)(8 * tl_rng_normal(&rng));
        b[k] = (tl_real)tl_rng_normal(&rng);
    }
    for (int k = 0; k < 300; k++)   /* e^(x − max) subnormal, then 0 */
        x[700 + k] = (tl_real)(-75 - 0.15 * k);
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < ROW_OUTS; i++)
            assert_non_null(out[l][i] = malloc(BIG * sizeof(tl_real)));
    tl_simd levels[3];
    int nl = simd_levels(levels);
    for (int c = 0; c < NLEN + 2; c++) {
        int n = c < NLEN ? c + 1 : BIG;
        for (int l = 0; l < nl; l++) {
            tl_simd_limit(levels[l]);
            row_passes(n, c < NLEN ? x + 3 * c : x, b, c == NLEN + 1, c % 2, out[l], &r[l]);
            if (l == 0)
                continue;
            bool exp_too = levels[l] != TL_SIMD_NONE;
            if (r[l].hi != r[0].hi || r[l].lo != r[0].lo ||
                (exp_too && memcmp(&r[l].sum, &r[0].sum, sizeof r[0].sum)))
                fail_msg("n %d: max %g min %g sum %.17g at simd %d; %g %g %.17g at simd %d", n,
                         (double)r[l].hi, (double)r[l].lo, r[l].sum, (int)levels[l],
                         (double)r[0].hi, (double)r[0].lo, r[0].sum, (int)levels[0]);
            for (int i = 0; i < ROW_OUTS; i++)
                if ((i != 2 || exp_too) && memcmp(out[l][i], out[0][i], (size_t)n * sizeof(tl_real)))
                    fail_msg("n %d: output %d differs between simd %d and %d", n, i,
                             (int)levels[l], (int)levels[0]);
        }
    }
    tl_simd_limit(levels[0]);
    for (int l = 0; l < 3; l++)
        for (int i = 0; i < ROW_OUTS; i++)
            free(out[l][i]);
    free(x);
    free(b);
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
    tl_simd levels[3];
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

/* The GRU gate loops against the formulas of gru_cell.c in double: one row of
 * H units, all of them or a prefix of n that must leave the others alone;
 * with and without h_prev; dh_prev written over dh, as TimeGRU does. */
static void check_gru_gates(int H, int n, bool with_h, tl_rng *rng)
{
    double a[3 * 13], hh[3 * 13], hp[13], dh[13];
    for (int k = 0; k < 3 * H; k++) {
        a[k] = 3 * tl_rng_normal(rng);
        hh[k] = 2 * tl_rng_normal(rng);
    }
    for (int k = 0; k < H; k++) {
        hp[k] = with_h ? tl_rng_normal(rng) : 0;
        dh[k] = tl_rng_normal(rng);
    }
    double gate[4 * 13], hn[13], dAh[3 * 13], dAx[3 * 13], dhp[13];
    for (int j = 0; j < H; j++) {
        double r = ref_sigmoid(a[j] + hh[j]), z = ref_sigmoid(a[H + j] + hh[H + j]);
        double nn = tanh(a[2 * H + j] + r * hh[2 * H + j]);
        gate[j] = r, gate[H + j] = z, gate[2 * H + j] = nn, gate[3 * H + j] = hh[2 * H + j];
        hn[j] = (1 - z) * nn + z * hp[j];
        double dn = dh[j] * (1 - z) * (1 - nn * nn);
        dAh[j] = dAx[j] = dn * hh[2 * H + j] * r * (1 - r);
        dAh[H + j] = dAx[H + j] = dh[j] * (hp[j] - nn) * z * (1 - z);
        dAh[2 * H + j] = dn * r;
        dAx[2 * H + j] = dn;
        dhp[j] = dh[j] * z;
    }
    tl_real ra[4 * 13], rhh[3 * 13], rhp[13], rhn[13], rdh[13], rdAh[3 * 13], rdAx[3 * 13];
    for (int k = 0; k < 3 * H; k++) {
        ra[k] = (tl_real)a[k];
        rhh[k] = (tl_real)hh[k];
    }
    for (int k = 0; k < H; k++) {
        ra[3 * H + k] = -7;
        rhp[k] = (tl_real)hp[k];
        rdh[k] = (tl_real)dh[k];
        rhn[k] = -7;
    }
    tl_gru_gates_forward(n, H, ra, rhh, with_h ? rhp : NULL, rhn);
    for (int q = 0; q < 4; q++) {
        tu_assert_close("gates", ra + q * H, gate + q * H, (size_t)n, TU_RTOL, TU_ATOL);
        for (int j = n; j < H; j++)
            assert_true(ra[q * H + j] == (q < 3 ? (tl_real)a[q * H + j] : -7));
    }
    tu_assert_close("h_next", rhn, hn, (size_t)n, TU_RTOL, TU_ATOL);
    for (int j = n; j < H; j++)
        assert_true(rhn[j] == -7);

    for (int k = 0; k < 4 * H; k++)
        ra[k] = (tl_real)gate[k];
    tl_gru_gates_backward(n, H, ra, with_h ? rhp : NULL, rdh, rdAh, rdAx, rdh);
    for (int q = 0; q < 3; q++) {
        tu_assert_close("dAh", rdAh + q * H, dAh + q * H, (size_t)n, TU_RTOL, TU_ATOL);
        tu_assert_close("dAx", rdAx + q * H, dAx + q * H, (size_t)n, TU_RTOL, TU_ATOL);
    }
    tu_assert_close("dh_prev", rdh, dhp, (size_t)n, TU_RTOL, TU_ATOL);
    for (int j = n; j < H; j++)
        assert_true(rdh[j] == (tl_real)dh[j]);
}

static void test_gru_gates(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 13);
    tl_simd levels[3];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (int with_h = 0; with_h < 2; with_h++) {
            check_gru_gates(13, 13, with_h, &rng);
            check_gru_gates(13, 5, with_h, &rng);
            check_gru_gates(8, 8, with_h, &rng);
        }
    }
    tl_simd_limit(levels[0]);
}

/* got = c + Σ_k x[k·xs]·y[k·ys] (only c when !in_range) within the rigorous
 * float bound of a sum of K + 1 terms, (K+1)·eps·(|c| + Σ|x·y|). */
static void check_dot(const char *what, tl_real got, double c, bool in_range, int K,
                      const tl_real *x, int xs, const tl_real *y, int ys)
{
    double want = c, bound = fabs(c);
    for (int k = 0; in_range && k < K; k++) {
        double term = (double)x[(size_t)k * xs] * y[(size_t)k * ys];
        want += term;
        bound += fabs(term);
    }
    if (!(fabs(got - want) <= (K + 1) * EPS * bound))
        fail_msg("%s (K = %d): %.9g, expected %.9g", what, K, (double)got, want);
}

/* The recurrent products on units [u0, u1) of a (G gate blocks of H units)
 * layer against a double reference (check_dot); columns outside the range
 * must not change. */
static void check_rec(int N, int H, int G, int parts, tl_rng *rng)
{
    int W = G * H;
    tl_tensor wh = {0}, h = {0}, a = {0}, dA = {0}, dh = {0};
    tu_randn(&wh, rng, 1 / sqrt(H), 2, (int[]){H, W});
    tu_randn(&h, rng, 1, 2, (int[]){N, H});
    tu_randn(&a, rng, 1, 2, (int[]){N, W});
    tu_randn(&dA, rng, 1, 2, (int[]){N, W});
    tu_randn(&dh, rng, 1, 2, (int[]){N, H});
    tl_rec rec;
    float *pack = aligned_alloc(64, (tl_rec_pack_floats(H, G, 2) + 16) * sizeof *pack);
    assert_non_null(pack);
    for (int part = 0; part < parts; part++) {
        int u0, u1;
        tl_rec_prepare(&rec, wh.data, H, G, false, 2, pack);
        tl_rec_split(&rec, part, parts, &u0, &u1);
        tl_tensor out = {0};
        TU_OK(tl_tensor_copy(&out, &a));
        tl_rec_forward(&rec, N, h.data, H, u0, u1, out.data, W);
        for (int n = 0; n < N; n++)
            for (int col = 0; col < W; col++)
                check_dot("forward", out.data[n * W + col], a.data[n * W + col],
                          col % H >= u0 && col % H < u1, H, h.data + n * H, 1, wh.data + col, W);
        tl_rec_prepare(&rec, wh.data, H, G, true, 2, pack);
        TU_OK(tl_tensor_copy(&out, &dh));
        tl_rec_backward(&rec, N, dA.data, W, u0, u1, out.data, H);
        for (int n = 0; n < N; n++)
            for (int u = 0; u < H; u++)
                check_dot("backward", out.data[n * H + u], dh.data[n * H + u], u >= u0 && u < u1,
                          W, dA.data + n * W, 1, wh.data + (size_t)u * W, 1);
        tl_tensor_free(&out);
    }
    free(pack);
    tl_tensor *all[] = {&wh, &h, &a, &dA, &dh};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        tl_tensor_free(all[i]);
}

static void test_recurrent_products(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 12);
    /* Odd H, H below, at and just above the 16-wide panels, N = 1, N not a
     * multiple of the 6 or 8 row blocks (1 or 2 rows past a multiple of 6,
     * which AVX2 runs as 4 + 3 or 4 + 4 rows: 7, 13, 14, 20, 32), the sizes
     * of the benchmarks' N. */
    const int Hs[] = {1, 7, 16, 17, 33, 100}, Ns[] = {1, 2, 5, 7, 9, 13, 14, 20, 32};
    tl_simd levels[3];
    int nl = simd_levels(levels);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (size_t i = 0; i < sizeof Hs / sizeof *Hs; i++)
            for (size_t j = 0; j < sizeof Ns / sizeof *Ns; j++)
                for (int G = 1; G <= 4; G += 3)
                    for (int parts = 1; parts <= 3; parts++)
                        check_rec(Ns[j], Hs[i], G, parts, &rng);
    }
    tl_simd_limit(levels[0]);
}

/* c = alpha·a·B + beta·c0 for one row (tl_gemm with M = 1, the batch-1
 * products): every column against a double reference within the rigorous
 * bound (K + 3)·eps·(|alpha|·Σ|a·b| + |beta·c0|) (alpha is folded into a, one
 * rounding more); c0 is NaN where beta = 0, which must not be read. a is a
 * row, or with trans_a a column of stride 3. Returns c (caller frees). */
static tl_real *check_gemv(int n, int K, tl_real alpha, tl_real beta, bool trans_a, tl_rng *rng)
{
    tl_tensor a = {0}, b = {0}, c0 = {0};
    int lda = trans_a ? 3 : K;
    tu_randn(&a, rng, 1, 2, (int[]){trans_a ? K : 1, trans_a ? 3 : K > 0 ? K : 1});
    tu_randn(&b, rng, 1, 2, (int[]){K > 0 ? K : 1, n});
    tu_randn(&c0, rng, 1, 1, (int[]){n});
    tl_real *c = malloc((size_t)n * sizeof *c);
    assert_non_null(c);
    for (int j = 0; j < n; j++) {
        if (beta == 0)
            c0.data[j] = (tl_real)NAN;
        c[j] = c0.data[j];
    }
    tl_gemm(trans_a, false, 1, n, K, alpha, a.data, lda, b.data, n, beta, c, n);
    for (int j = 0; j < n; j++) {
        double want = beta == 0 ? 0 : (double)beta * c0.data[j], bound = fabs(want);
        for (int k = 0; k < K; k++) {
            double term = (double)alpha * a.data[trans_a ? k * 3 : k] * b.data[(size_t)k * n + j];
            want += term;
            bound += fabs(term);
        }
        if (!(fabs(c[j] - want) <= (K + 3) * EPS * bound))
            fail_msg("gemv n = %d K = %d alpha %g beta %g column %d: %.9g, expected %.9g", n, K,
                     (double)alpha, (double)beta, j, (double)c[j], want);
    }
    tl_tensor_free(&a);
    tl_tensor_free(&b);
    tl_tensor_free(&c0);
    return c;
}

/* One-row products at every SIMD level: columns around the 8- and 16-lane
 * vectors and K around the 8-row blocks, alpha and beta cases, a strided a;
 * large ones (several 1,024-column chunks, a partial last one; split over
 * the pool by columns or by rows) give the same bits with one and two
 * threads set (float build: the library's kernel). */
static void test_gemv(void **state)
{
    (void)state;
    const int ns[] = {1, 7, 8, 15, 16, 17, 33, 100}, Ks[] = {1, 7, 8, 9, 17, 64};
    const tl_real ab[][2] = {{1, 1}, {1, 0}, {(tl_real)-0.5, (tl_real)0.25}};
    tl_simd levels[3];
    int nl = simd_levels(levels);
    tl_rng rng;
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        tl_rng_seed(&rng, 31);
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                for (size_t p = 0; p < sizeof ab / sizeof *ab; p++)
                    for (int t = 0; t < 2; t++)
                        free(check_gemv(ns[i], Ks[k], ab[p][0], ab[p][1], t, &rng));
        /* n not a multiple of 16; split by columns (the first three) and by
         * rows (segments of whole 8-row blocks and a shorter last one). */
        const int big[][2] = {{1029, 130}, {10000, 23}, {2600, 65}, {2048, 300}, {700, 513}};
        for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
            tl_rng r1 = rng, r2 = rng;
            TU_OK(tl_set_num_threads(1));
            tl_real *one = check_gemv(big[i][0], big[i][1], 1, 1, false, &r1);
            TU_OK(tl_set_num_threads(2));
            tl_real *two = check_gemv(big[i][0], big[i][1], 1, 1, false, &r2);
            TU_OK(tl_set_num_threads(1));
#ifndef TL_REAL_DOUBLE /* the double build calls dgemv, whose threads may round otherwise */
            assert_memory_equal(one, two, (size_t)big[i][0] * sizeof *one);
#endif
            free(one);
            free(two);
            rng = r1;
        }
    }
    tl_simd_limit(levels[0]);
}

#ifndef TL_REAL_DOUBLE
/* Every other one-row product on the same B runs backwards (gemv.c): three
 * products in a row on the same operands give the same bits, split by rows,
 * by columns and not at all (several chunks), with one and two threads, at
 * every SIMD level. */
static void test_gemv_direction(void **state)
{
    (void)state;
    const int shapes[][2] = {{2048, 300}, {10000, 23}, {3000, 9}, {100, 64}};  /* n, K */
    tl_simd levels[3];
    int nl = simd_levels(levels);
    tl_rng rng;
    tl_rng_seed(&rng, 33);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (int threads = 1; threads <= 2; threads++) {
            TU_OK(tl_set_num_threads(threads));
            for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
                int n = shapes[i][0], K = shapes[i][1];
                tl_tensor a = {0}, b = {0}, c0 = {0};
                tu_randn(&a, &rng, 1, 1, (int[]){K});
                tu_randn(&b, &rng, 1, 2, (int[]){K, n});
                tu_randn(&c0, &rng, 1, 1, (int[]){n});
                float *c = malloc(3 * (size_t)n * sizeof *c);
                assert_non_null(c);
                for (int r = 0; r < 3; r++) {
                    memcpy(c + (size_t)r * n, c0.data, (size_t)n * sizeof *c);
                    tl_gemv_rows(n, K, 0.5f, a.data, 1, b.data, n, 0.75f, c + (size_t)r * n);
                }
                assert_memory_equal(c, c + n, (size_t)n * sizeof *c);
                assert_memory_equal(c, c + 2 * (size_t)n, (size_t)n * sizeof *c);
                free(c);
                TU_FREE_ALL(&a, &b, &c0);
            }
        }
    }
    TU_OK(tl_set_num_threads(1));
    tl_simd_limit(levels[0]);
}

static uint32_t bits_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float float_of(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The bf16 rounding by definition: of the two bf16 values around a finite
 * x (its upper half truncated toward zero, and the next one away from
 * zero), the nearer in exact (double) arithmetic, the even one on a tie; a
 * NaN gives some NaN of the same sign. */
static bool bf16_rounding_ok(uint32_t u, uint16_t got)
{
    float x = float_of(u);
    if (isnan(x))
        return isnan(tl_bf16_to_float(got)) && (got >> 15) == (u >> 31);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    double dlo = fabs((double)x - tl_bf16_to_float(lo));
    /* Past the largest bf16 the next value is the infinity, at the
     * distance of a unit above it for the purpose of rounding. */
    double dhi = (hi & 0x7fff) == 0x7f80 ? ldexp(1, 128) - fabs((double)x)
                                         : fabs((double)x - tl_bf16_to_float(hi));
    if ((u & 0x7fffffffu) == 0x7f800000u)
        return got == lo;
    uint16_t want = dlo < dhi ? lo : dhi < dlo ? hi : (lo & 1) ? hi : lo;
    return got == want;
}

/* tl_bf16_from_float: chosen cases exactly (ties both ways, around the
 * largest value, infinities, NaNs, subnormals, signed zeros), then the
 * definition above on every upper half with several lower halves and on
 * random bit patterns; tl_bf16_to_float is exact and its inverse. */
static void test_bf16_round(void **state)
{
    (void)state;
    static const uint32_t cases[][2] = {
        {0x3f800000u, 0x3f80}, {0x3f808000u, 0x3f80}, {0x3f818000u, 0x3f82},
        {0x3f808001u, 0x3f81}, {0x3f807fffu, 0x3f80}, {0xbf808000u, 0xbf80},
        {0xbf818000u, 0xbf82}, {0x7f800000u, 0x7f80}, {0xff800000u, 0xff80},
        {0x7f7fffffu, 0x7f80}, {0x7f7f7fffu, 0x7f7f}, {0x7f7f8000u, 0x7f80},
        {0xff7fffffu, 0xff80}, {0x7fc00000u, 0x7fc0}, {0x7f800001u, 0x7fc0},
        {0xff800001u, 0xffc0}, {0x7fffffffu, 0x7fff}, {0x00000000u, 0x0000},
        {0x80000000u, 0x8000}, {0x00000001u, 0x0000}, {0x00008000u, 0x0000},
        {0x00018000u, 0x0002}, {0x00008001u, 0x0001}, {0x007fffffu, 0x0080},
        {0x807fffffu, 0x8080}, {0x00800000u, 0x0080},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint16_t got = tl_bf16_from_float(float_of(cases[i][0]));
        if (got != cases[i][1])
            fail_msg("bf16 of 0x%08x: 0x%04x, expected 0x%04x", (unsigned)cases[i][0],
                     (unsigned)got, (unsigned)cases[i][1]);
    }
    static const uint32_t lows[] = {0, 1, 0x7fff, 0x8000, 0x8001, 0xffff, 0x4000, 0xc000};
    for (uint32_t h = 0; h < 0x10000u; h++) {
        float f = tl_bf16_to_float((uint16_t)h);
        assert_int_equal(bits_of(f), h << 16);
        if (!isnan(f))
            assert_int_equal(tl_bf16_from_float(f), h);
        for (size_t l = 0; l < sizeof lows / sizeof *lows; l++) {
            uint32_t u = h << 16 | lows[l];
            if (!bf16_rounding_ok(u, tl_bf16_from_float(float_of(u))))
                fail_msg("bf16 of 0x%08x: 0x%04x", (unsigned)u,
                         (unsigned)tl_bf16_from_float(float_of(u)));
        }
    }
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)tl_rng_next(&rng);
        if (!bf16_rounding_ok(u, tl_bf16_from_float(float_of(u))))
            fail_msg("bf16 of 0x%08x: 0x%04x", (unsigned)u,
                     (unsigned)tl_bf16_from_float(float_of(u)));
    }
}

/* tl_gemv_rows_bf16: B random, rounded to bf16; every column against the
 * double reference of the same bf16 weights within the bound of the float
 * kernel, (K + 3)·eps·(|alpha|·Σ|a·b| + |beta·c0|) (widening a bf16 is
 * exact, so the arithmetic is the float kernel's); c0 NaN where beta = 0.
 * Returns c (caller frees). */
static float *check_gemv_bf16(int n, int K, float alpha, float beta, int inc, tl_rng *rng)
{
    tl_tensor a = {0}, b = {0};
    tu_randn(&a, rng, 1, 1, (int[]){K * inc});
    tu_randn(&b, rng, 1, 2, (int[]){K, n});
    uint16_t *b16 = malloc((size_t)K * n * sizeof *b16);
    float *c = malloc((size_t)n * sizeof *c), *c0 = malloc((size_t)n * sizeof *c0);
    assert_true(b16 && c && c0);
    for (size_t i = 0; i < (size_t)K * n; i++) {
        b16[i] = tl_bf16_from_float(b.data[i]);
        b.data[i] = tl_bf16_to_float(b16[i]);
    }
    for (int j = 0; j < n; j++)
        c[j] = c0[j] = beta == 0 ? NAN : (float)tl_rng_normal(rng);
    tl_gemv_rows_bf16(n, K, alpha, a.data, inc, b16, n, beta, c);
    for (int j = 0; j < n; j++) {
        double want = beta == 0 ? 0 : (double)beta * c0[j], bound = fabs(want);
        for (int k = 0; k < K; k++) {
            double term = (double)alpha * a.data[k * inc] * b.data[(size_t)k * n + j];
            want += term;
            bound += fabs(term);
        }
        if (!(fabs(c[j] - want) <= (K + 3) * EPS * bound))
            fail_msg("bf16 gemv n = %d K = %d alpha %g beta %g column %d: %.9g, expected %.9g",
                     n, K, (double)alpha, (double)beta, j, (double)c[j], want);
    }
    tl_tensor_free(&a);
    tl_tensor_free(&b);
    free(b16);
    free(c0);
    return c;
}

/* The bf16 kernel at every SIMD level, over the sizes of test_gemv and a
 * strided a; large ones give the same bits with one and two threads set. */
static void test_gemv_bf16(void **state)
{
    (void)state;
    const int ns[] = {1, 7, 8, 15, 16, 17, 33, 100}, Ks[] = {1, 7, 8, 9, 17, 64};
    const float ab[][2] = {{1, 1}, {1, 0}, {-0.5f, 0.25f}};
    tl_simd levels[3];
    int nl = simd_levels(levels);
    tl_rng rng;
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        tl_rng_seed(&rng, 32);
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
            for (size_t k = 0; k < sizeof Ks / sizeof *Ks; k++)
                for (size_t p = 0; p < sizeof ab / sizeof *ab; p++)
                    for (int inc = 1; inc <= 3; inc += 2)
                        free(check_gemv_bf16(ns[i], Ks[k], ab[p][0], ab[p][1], inc, &rng));
        const int big[][2] = {{1029, 130}, {10000, 23}, {2600, 65}};
        for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
            tl_rng r1 = rng, r2 = rng;
            TU_OK(tl_set_num_threads(1));
            float *one = check_gemv_bf16(big[i][0], big[i][1], 1, 1, 1, &r1);
            TU_OK(tl_set_num_threads(2));
            float *two = check_gemv_bf16(big[i][0], big[i][1], 1, 1, 1, &r2);
            TU_OK(tl_set_num_threads(1));
            assert_memory_equal(one, two, (size_t)big[i][0] * sizeof *one);
            free(one);
            free(two);
            rng = r1;
        }
    }
    tl_simd_limit(levels[0]);
}

/* A bf16 set in use: tl_gemm's one-row products on its weights (as stored
 * and transposed) give exactly tl_gemv_rows_bf16 on the copies; a product
 * on another view of the same memory (other ldb), of more than one row, or
 * after tl_bf16_use(NULL) is the float one. */
static void test_bf16_set(void **state)
{
    (void)state;
    enum { K = 19, N = 37 };
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_tensor W = {0}, E = {0}, x = {0};
    tu_randn(&W, &rng, 1, 2, (int[]){K, N});   /* used as stored: K x N */
    tu_randn(&E, &rng, 1, 2, (int[]){N, K});   /* used transposed: Eᵀ is K x N */
    tu_randn(&x, &rng, 1, 2, (int[]){2, K});
    tl_bf16_set set = {0};
    TU_OK(tl_bf16_set_add(&set, W.data, false, K, N, N));
    TU_OK(tl_bf16_set_add(&set, E.data, true, K, N, K));
    assert_int_equal(set.n, 2);
    uint16_t w16[K * N], e16[K * N];
    for (int k = 0; k < K; k++)
        for (int j = 0; j < N; j++) {
            w16[k * N + j] = tl_bf16_from_float(W.data[k * N + j]);
            e16[k * N + j] = tl_bf16_from_float(E.data[j * K + k]);
        }
    assert_memory_equal(set.w[0].copy, w16, sizeof w16);
    assert_memory_equal(set.w[1].copy, e16, sizeof e16);
    float want[N], got[N], plain[N], two[2 * N], two_plain[2 * N];
    tl_gemm(false, false, 1, N, K, 1, x.data, K, W.data, N, 0, plain, N);
    tl_gemm(false, false, 2, N, K, 1, x.data, K, W.data, N, 0, two_plain, N);
    tl_bf16_use(&set);
    tl_gemv_rows_bf16(N, K, 1, x.data, 1, w16, N, 0, want);
    tl_gemm(false, false, 1, N, K, 1, x.data, K, W.data, N, 0, got, N);
    assert_memory_equal(got, want, sizeof want);
    tl_gemv_rows_bf16(N, K, 0.5f, x.data, 1, e16, N, 0, want);
    tl_gemm(false, true, 1, N, K, 0.5f, x.data, K, E.data, K, 0, got, N);
    assert_memory_equal(got, want, sizeof want);
    tl_gemm(false, false, 2, N, K, 1, x.data, K, W.data, N, 0, two, N);
    assert_memory_equal(two, two_plain, sizeof two);
    /* The first N - 1 columns of W: another matrix for the lookup. */
    tl_gemm(false, false, 1, N - 1, K, 1, x.data, K, W.data, N, 0, got, N - 1);
    assert_memory_equal(got, plain, (N - 1) * sizeof *got);
    tl_bf16_use(NULL);
    tl_gemm(false, false, 1, N, K, 1, x.data, K, W.data, N, 0, got, N);
    assert_memory_equal(got, plain, sizeof plain);
    tl_bf16_set_free(&set);
    assert_int_equal(set.n, 0);
    tl_tensor_free(&W);
    tl_tensor_free(&E);
    tl_tensor_free(&x);
}
#endif

/* The general product: the library's own GEMM in the float build (whatever
 * tl_gemm would choose), tl_gemm (dgemm) in the double build. */
#ifdef TL_REAL_DOUBLE
#define GEMM tl_gemm
#else
#define GEMM tl_sgemm
#endif

/* C = alpha·op(A)·op(B) + beta·C0 for M x N x K with every leading dimension
 * pad larger than needed: each element against a double reference within
 * the rigorous bound (K + 3)·eps·(Σ|alpha·a·b| + |beta·c0|) (alpha is folded
 * into A or multiplies a dot product's sum, one rounding; every partial sum,
 * within a K slice and where slices join, one more: at most K + K/256 + 2
 * roundings of u = eps/2; a dot product's lanes take fewer). C0 is NaN
 * where beta = 0 (it must not be read); the padding of C keeps its value.
 * Returns C (M x ldc, caller frees). */
static tl_real *check_gemm(bool ta, bool tb, int M, int N, int K, int pad, tl_real alpha,
                           tl_real beta, tl_rng *rng)
{
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    tl_tensor a = {0}, b = {0}, c0 = {0};
    tu_randn(&a, rng, 1, 2, (int[]){ta ? (K ? K : 1) : M, lda});
    tu_randn(&b, rng, 1, 2, (int[]){tb ? N : (K ? K : 1), ldb});
    tu_randn(&c0, rng, 1, 2, (int[]){M, ldc});
    tl_real *c = malloc((size_t)M * ldc * sizeof *c);
    assert_non_null(c);
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++)
            if (beta == 0)
                c0.data[(size_t)i * ldc + j] = (tl_real)NAN;
    memcpy(c, c0.data, (size_t)M * ldc * sizeof *c);
    GEMM(ta, tb, M, N, K, alpha, a.data, lda, b.data, ldb, beta, c, ldc);
    for (int i = 0; i < M; i++) {
        for (int j = N; j < ldc; j++)
            if (memcmp(&c[(size_t)i * ldc + j], &c0.data[(size_t)i * ldc + j], sizeof *c))
                fail_msg("gemm %d x %d x %d: padding of row %d changed", M, N, K, i);
        for (int j = 0; j < N; j++) {
            double want = beta == 0 ? 0 : (double)beta * c0.data[(size_t)i * ldc + j];
            double bound = fabs(want);
            for (int k = 0; k < K; k++) {
                double x = ta ? a.data[(size_t)k * lda + i] : a.data[(size_t)i * lda + k];
                double y = tb ? b.data[(size_t)j * ldb + k] : b.data[(size_t)k * ldb + j];
                want += alpha * x * y;
                bound += fabs(alpha * x * y);
            }
            double got = c[(size_t)i * ldc + j];
            if (!(fabs(got - want) <= (K + 3) * EPS * bound))
                fail_msg("gemm%s%s %d x %d x %d pad %d alpha %g beta %g, C[%d, %d] = %.9g, "
                         "expected %.9g (bound %.3g)", ta ? " Aᵀ" : "", tb ? " Bᵀ" : "", M, N, K,
                         pad, (double)alpha, (double)beta, i, j, got, want,
                         (K + 3) * EPS * bound);
        }
    }
    tl_tensor_free(&a);
    tl_tensor_free(&b);
    tl_tensor_free(&c0);
    return c;
}

/* check_gemm on one thread and on two, from the same random numbers: the
 * same bits (in the float build: dgemm's threads may round otherwise). */
static void check_gemm_threads(bool ta, bool tb, int M, int N, int K, int pad, tl_real alpha,
                               tl_real beta, tl_rng *rng)
{
    tl_rng r2 = *rng;
    TU_OK(tl_set_num_threads(1));
    tl_real *one = check_gemm(ta, tb, M, N, K, pad, alpha, beta, rng);
    TU_OK(tl_set_num_threads(2));
    tl_real *two = check_gemm(ta, tb, M, N, K, pad, alpha, beta, &r2);
    TU_OK(tl_set_num_threads(1));
#ifndef TL_REAL_DOUBLE
    assert_memory_equal(one, two, (size_t)M * (N + pad) * sizeof *one);
#endif
    free(one);
    free(two);
}

/* The general product at every SIMD level, all four transpose cases: every
 * combination of small sizes around the register tiles (12 x 32 on AVX-512,
 * 6 x 16 otherwise, and the edge tiles of 4 or 8 rows, 2 or 4, and half
 * width: exact and partial fits), leading dimensions 0-2 larger, alpha and beta cases
 * (beta = 0 over NaN, 1, others); K = 0; then products larger than one block
 * in each direction (M > 192 rows, N > 1024 columns, K > 256: several K
 * slices), split by rows and by columns, each with one and with two threads
 * set: the same bits; the last two, with parts allowed down to 4,096
 * multiply-adds, are cut into parts of several sizes, more than one per
 * thread (one part on one thread). */
static void test_gemm(void **state)
{
    (void)state;
    const int dims[] = {1, 2, 4, 8, 13, 16, 17, 33, 48};
    const tl_real ab[][2] = {{1, 0}, {1, 1}, {(tl_real)-0.5, (tl_real)0.25}, {2, -1}};
    const int big[][3] = {{100, 1100, 9}, {200, 33, 520}, {197, 129, 60}, {13, 40, 1030},
                          {40, 700, 60}, {400, 40, 60}};
    enum { ND = sizeof dims / sizeof *dims };
    tl_simd levels[3];
    int nl = simd_levels(levels), n = 0;
    tl_rng rng;
    tl_rng_seed(&rng, 41);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = t & 2;
            for (int i = 0; i < ND * ND * ND; i++, n++) {
                const tl_real *p = ab[n % 4];
                free(check_gemm(ta, tb, dims[i % ND], dims[i / ND % ND], dims[i / ND / ND],
                                n % 3, p[0], p[1], &rng));
            }
            free(check_gemm(ta, tb, 5, 7, 0, 1, 1, 0, &rng));
            free(check_gemm(ta, tb, 5, 7, 0, 1, 1, (tl_real)0.5, &rng));
            for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
#ifndef TL_REAL_DOUBLE
                tl__sgemm_min_part(i >= 4 ? 4096 : 0);
#endif
                const tl_real *p = ab[i % 2];
                check_gemm_threads(ta, tb, big[i][0], big[i][1], big[i][2], 3, p[0], p[1], &rng);
            }
#ifndef TL_REAL_DOUBLE
            tl__sgemm_min_part(0);
#endif
        }
    }
    tl_simd_limit(levels[0]);
}

/* A narrow last panel (gemm.c: at most 8 columns at AVX-512, 4 at AVX2 and
 * portable), computed as dot products when op(A) = A and op(B) = Bᵀ and by
 * the tiles otherwise, at every SIMD level against check_gemm's double
 * reference and bound: N % 32 in 1..8 or N % 16 in 1..4 (50: only the
 * 16-column levels), N below the tail width, N over two column blocks;
 * rows not a multiple of any row tile and beyond one block of A; K = 1 and
 * K over one and two slices, no multiple of a vector; op(A) both ways, beta
 * 0 (over NaN) and 1, alpha 1 and -0.5. Then products with such a tail split
 * by rows and by columns (the tail in the last part) on one and two
 * threads, with parts down to 4,096 multiply-adds: the same bits. */
static void test_gemm_narrow(void **state)
{
    (void)state;
    const int ns[] = {1, 3, 8, 20, 33, 36, 38, 39, 40, 50, 100, 1060};
    const int ms[] = {1, 3, 5, 13, 17, 199};
    const int ks[] = {1, 7, 37, 263, 531};
    const int big[][3] = {{199, 100, 700}, {60, 1060, 300}, {175, 36, 1001}};
    enum { NN = sizeof ns / sizeof *ns, NM = sizeof ms / sizeof *ms, NK = sizeof ks / sizeof *ks };
    tl_simd levels[3];
    int nl = simd_levels(levels);
    tl_rng rng;
    tl_rng_seed(&rng, 47);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (int i = 0; i < NN * NM; i++)
            for (int v = 0; v < 4; v++) {
                bool ta = v & 1;
                tl_real beta = v & 2 ? 1 : 0, alpha = i % 3 == 2 ? (tl_real)-0.5 : 1;
                free(check_gemm(ta, true, ms[i / NN], ns[i % NN], ks[(i + v) % NK], (i + v) % 3,
                                alpha, beta, &rng));
            }
        for (size_t i = 0; i < sizeof big / sizeof *big; i++)
            for (int v = 0; v < 8; v++) {
#ifndef TL_REAL_DOUBLE
                tl__sgemm_min_part(v & 4 ? 4096 : 0);
#endif
                bool ta = v & 1;
                tl_real beta = v & 2 ? 1 : 0;
                check_gemm_threads(ta, true, big[i][0], big[i][1], big[i][2], 1, 1, beta, &rng);
            }
#ifndef TL_REAL_DOUBLE
        tl__sgemm_min_part(0);
#endif
    }
    tl_simd_limit(levels[0]);
}

#ifndef TL_REAL_DOUBLE
/* A row of C computed alone (M = 1) has the bits it has in the whole
 * product, at every SIMD level: the full tiles, the edge tiles and the dot
 * products of a narrow last panel (N % 32 of 4 and 6; N % 16 of 4 for AVX2)
 * give each element the same operations whatever rows they are computed
 * with. The test of 1 and 2 threads cannot show this: both cut the rows at
 * multiples of the row tile. */
static void test_gemm_row_alone(void **state)
{
    (void)state;
    const int shapes[][3] = {{199, 100, 700}, {37, 38, 263}, {13, 36, 1001}};
    tl_simd levels[3];
    int nl = simd_levels(levels);
    tl_rng rng;
    tl_rng_seed(&rng, 53);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            for (int ta = 0; ta < 2; ta++) {
                int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2];
                int lda = ta ? M : K;
                tl_tensor a = {0}, b = {0};
                tu_randn(&a, &rng, 1, 2, (int[]){ta ? K : M, lda});
                tu_randn(&b, &rng, 1, 2, (int[]){N, K});
                tl_real *all = malloc((size_t)M * N * sizeof *all), *row = malloc(N * sizeof *row);
                assert_true(all && row);
                tl_sgemm(ta, true, M, N, K, 1, a.data, lda, b.data, K, 0, all, N);
                for (int r = 0; r < M; r += r < 13 ? 1 : 37) {
                    const tl_real *ar = ta ? a.data + r : a.data + (size_t)r * lda;
                    tl_sgemm(ta, true, 1, N, K, 1, ar, lda, b.data, K, 0, row, N);
                    if (memcmp(row, all + (size_t)r * N, N * sizeof *row))
                        fail_msg("gemm%s Bᵀ %d x %d x %d, level %d: row %d alone has other "
                                 "bits", ta ? " Aᵀ" : "", M, N, K, (int)levels[l], r);
                }
                free(all);
                free(row);
                tl_tensor_free(&a);
                tl_tensor_free(&b);
            }
    }
    tl_simd_limit(levels[0]);
}

/* op(B) packed once (tl_sgemm_pack_b) and read by tl_sgemm_prepacked gives
 * tl_sgemm's bits, at every SIMD level, for both stored forms of B, shapes
 * with edge panels, several K slices and column blocks, alpha and beta
 * cases, on one and two threads; also where the packed copy leaves out a
 * narrow last panel (N = 7: nothing packed at the AVX-512 level; 36, 100, 1060), which the
 * product then packs or takes as dot products. */
static void test_gemm_prepacked(void **state)
{
    (void)state;
    const int shapes[][3] = {{5, 7, 3}, {13, 100, 300}, {128, 100, 600}, {30, 1100, 40},
                             {200, 33, 520}, {1, 50, 70}, {17, 36, 263}, {40, 1060, 300}};
    tl_simd levels[3];
    int nl = simd_levels(levels);
    tl_rng rng;
    tl_rng_seed(&rng, 43);
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
            for (int t = 0; t < 4; t++) {
                bool ta = t & 1, tb = t & 2;
                int M = shapes[i][0], N = shapes[i][1], K = shapes[i][2], pad = t;
                int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
                tl_real alpha = t == 1 ? (tl_real)-0.5 : 1, beta = t == 2 ? 1 : 0;
                tl_tensor a = {0}, b = {0}, c = {0};
                tu_randn(&a, &rng, 1, 2, (int[]){ta ? K : M, lda});
                tu_randn(&b, &rng, 1, 2, (int[]){tb ? N : K, ldb});
                tu_randn(&c, &rng, 1, 2, (int[]){M, ldc});
                size_t n = tl_sgemm_packed_size(K, N), size = (size_t)M * ldc * sizeof(tl_real);
                tl_real *bp = malloc((n ? n : 1) * sizeof *bp), *want = malloc(size),
                        *got = malloc(size);
                assert_true(bp && want && got);
                memcpy(want, c.data, size);
                tl_sgemm(ta, tb, M, N, K, alpha, a.data, lda, b.data, ldb, beta, want, ldc);
                for (int threads = 1; threads <= 2; threads++) {
                    TU_OK(tl_set_num_threads(threads));
                    memset(bp, 0xff, n * sizeof *bp);   /* NaN where nothing is packed */
                    tl_sgemm_pack_b(tb, K, N, b.data, ldb, bp);
                    memcpy(got, c.data, size);
                    tl_sgemm_prepacked(ta, tb, M, N, K, alpha, a.data, lda, b.data, ldb, bp,
                                       beta, got, ldc);
                    if (memcmp(want, got, size))
                        fail_msg("prepacked gemm%s%s %d x %d x %d, %d thread(s), level %d: "
                                 "not tl_sgemm's bits", ta ? " Aᵀ" : "", tb ? " Bᵀ" : "", M, N,
                                 K, threads, (int)levels[l]);
                }
                TU_OK(tl_set_num_threads(1));
                free(bp);
                free(want);
                free(got);
                tl_tensor_free(&a);
                tl_tensor_free(&b);
                tl_tensor_free(&c);
            }
    }
    tl_simd_limit(levels[0]);
}
#endif

/* A recurrent layer (TimeLSTM, TimeGRU) forward and backward twice (the
 * second forward starts from the carried state) under the current SIMD level
 * and thread setting. */
typedef tl_status (*create_fn)(tl_layer **out, int in_dim, int hidden, bool stateful,
                               tl_rng *rng);

enum { MAX_RUN = 12 };
typedef struct {
    tl_tensor t[MAX_RUN];
    const char *name[MAX_RUN];
    int n;
} layer_run;

static void keep(layer_run *out, const char *name, const tl_tensor *t)
{
    assert_true(out->n < MAX_RUN);
    out->name[out->n] = name;
    TU_OK(tl_tensor_copy(&out->t[out->n++], t));
}

static void run_layer(layer_run *out, create_fn create, int N, int T, int D, int H, int threads)
{
    tl_rng rng;
    tl_rng_seed(&rng, 21);
    tl_layer *l;
    TU_OK(create(&l, D, H, true, &rng));
    int np;
    tl_param *p = tl_layer_params(l, &np);
    for (int i = 2; i < np; i++)  /* nonzero biases */
        for (size_t k = 0; k < p[i].value.size; k++)
            p[i].value.data[k] = (tl_real)(0.5 * tl_rng_normal(&rng));
    TU_OK(tl_set_num_threads(threads));
    tl_tensor x = {0}, dy = {0};
    for (int pass = 0; pass < 2; pass++) {
        const tl_tensor *y, *dx;
        tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
        tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
        TU_OK(tl_layer_forward(l, &x, &y));
        keep(out, pass ? "y2" : "y1", y);
        TU_OK(tl_layer_backward(l, &dy, &dx));
        keep(out, pass ? "dx2" : "dx1", dx);
    }
    const tl_tensor *dh0, *dc0;
    TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
    keep(out, "dh0", dh0);
    if (dc0)
        keep(out, "dc0", dc0);
    for (int i = 0; i < np; i++)
        keep(out, p[i].name, &p[i].grad);
    TU_OK(tl_set_num_threads(1));
    tl_tensor_free(&x);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
}

static void layer_run_free(layer_run *r)
{
    for (int i = 0; i < r->n; i++)
        tl_tensor_free(&r->t[i]);
}

/* exact: bit for bit; otherwise float rounding (TU_RTOL, TU_ATOL). */
static void compare_runs(const layer_run *a, const layer_run *b, bool exact)
{
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->t[i].size, b->t[i].size);
        if (exact)
            assert_memory_equal(a->t[i].data, b->t[i].data, a->t[i].size * sizeof(tl_real));
        else
            tu_assert_close_real(a->name[i], a->t[i].data, b->t[i].data, a->t[i].size, TU_RTOL,
                                 TU_ATOL);
    }
}

/* The packed path against the plain BLAS one, and two threads against one,
 * float rounding apart (the recurrent kernels give the same bits on any
 * thread, but OpenBLAS, which gets the thread count too, need not). Odd H,
 * N = 1 (BLAS in both), H not a multiple of the panel width; the last shapes
 * are large enough to be split (for TimeRNN's one gate block too), the last
 * one's backward windows large enough for their copies to be split too. */
static void check_paths(create_fn create)
{
    const int shapes[][4] = {{1, 3, 3, 5}, {2, 4, 5, 17}, {7, 5, 4, 33}, {8, 3, 6, 70},
                             {9, 3, 5, 150}};
    tl_simd levels[3];
    int nl = simd_levels(levels);
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        const int *s = shapes[i];
        layer_run plain = {0};
        tl_simd_limit(TL_SIMD_NONE);
        run_layer(&plain, create, s[0], s[1], s[2], s[3], 1);
        for (int l = 0; l < nl; l++) {
            layer_run fast = {0}, two = {0};
            tl_simd_limit(levels[l]);
            run_layer(&fast, create, s[0], s[1], s[2], s[3], 1);
            run_layer(&two, create, s[0], s[1], s[2], s[3], 2);
            compare_runs(&fast, &plain, levels[l] == TL_SIMD_NONE);
            compare_runs(&two, &fast, false);
            layer_run_free(&fast);
            layer_run_free(&two);
        }
        layer_run_free(&plain);
    }
    tl_simd_limit(levels[0]);
}

static tl_status create_lstm(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    return tl_time_lstm_create(out, in_dim, hidden, stateful, rng);
}

static tl_status create_gru(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    return tl_time_gru_create(out, in_dim, hidden, stateful, rng);
}

static void test_time_lstm_paths(void **state)
{
    (void)state;
    check_paths(create_lstm);
}

static tl_status create_rnn(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng)
{
    return tl_time_rnn_create(out, in_dim, hidden, stateful, TL_ACT_TANH, rng);
}

static void test_time_rnn_paths(void **state)
{
    (void)state;
    check_paths(create_rnn);
}

static void test_time_gru_paths(void **state)
{
    (void)state;
    check_paths(create_gru);
}

static void test_threads_setting(void **state)
{
    (void)state;
    int before = tl_get_num_threads();
    assert_true(before >= 1 && before <= 64);
    assert_int_equal(tl_set_num_threads(0), TL_ERR_ARG);
    assert_int_equal(tl_set_num_threads(65), TL_ERR_ARG);
    assert_int_equal(tl_get_num_threads(), before);
    TU_OK(tl_set_num_threads(3));
    assert_int_equal(tl_get_num_threads(), 3);
    TU_OK(tl_set_num_threads(before));
}

/* Every part of a job runs exactly once, plain and homed, for part counts
 * below, at and above the thread count, many jobs in a row (workers that
 * start late or spin meet jobs of both kinds). */
typedef struct {
    _Atomic int runs[64];
    _Atomic int bad_parts;
    int parts;
} count_job;

static void count_part(void *ctx, int part, int parts)
{
    count_job *j = ctx;
    if (parts != j->parts || part < 0 || part >= parts)
        atomic_fetch_add(&j->bad_parts, 1);
    else
        atomic_fetch_add(&j->runs[part], 1);
}

static void test_parallel_run_parts(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 3; threads++) {
        TU_OK(tl_set_num_threads(threads));
        for (int rep = 0; rep < 200; rep++)
            for (int parts = 1; parts <= 64; parts += 1 + parts / 4) {
                count_job j = {.parts = parts};
                if (rep % 2)
                    tl_parallel_run_homed(parts, count_part, &j);
                else
                    tl_parallel_run(parts, count_part, &j);
                assert_int_equal(atomic_load(&j.bad_parts), 0);
                for (int p = 0; p < parts; p++)
                    if (atomic_load(&j.runs[p]) != 1)
                        fail_msg("%d threads, %s job of %d parts: part %d ran %d times", threads,
                                 rep % 2 ? "homed" : "plain", parts, p, atomic_load(&j.runs[p]));
            }
    }
    TU_OK(tl_set_num_threads(1));
}

/* A part that runs a parallel step of its own. */
typedef struct {
    count_job outer, inner[64];
} nested_job;

static void nested_part(void *ctx, int part, int parts)
{
    nested_job *j = ctx;
    count_part(&j->outer, part, parts);
    tl_parallel_run(j->inner[part].parts, count_part, &j->inner[part]);
}

/* A started job's part that holds its thread until the test lets it go. */
enum { HELD = 64 };   /* more parts than the pool can have workers */
typedef struct {
    _Atomic int running, released, runs[HELD];
} held_job;

static void held_part(void *ctx, int part, int parts)
{
    held_job *j = ctx;
    (void)parts;
    atomic_fetch_add(&j->running, 1);
    while (!atomic_load(&j->released))
        sched_yield();
    atomic_fetch_add(&j->runs[part], 1);
}

/* While a started job has parts to run, the caller's parallel steps run on
 * its own thread and the job stays pending (the workers are busy with it);
 * once every part is done, the caller's next parallel step finishes the job
 * and runs on the pool. Each worker holds the part it claims (the pool may
 * keep workers of an earlier, larger setting), so with HELD parts some stay
 * unclaimed until the finish. */
static void test_parallel_start_claimed(void **state)
{
    (void)state;
    TU_OK(tl_set_num_threads(2));
    for (int rep = 0; rep < 50; rep++) {
        held_job h = {0};
        tl_pending job;
        tl_parallel_start(HELD, held_part, &h, &job);
        if (job.pooled) {
            while (atomic_load(&h.running) < 1)
                sched_yield();
            count_job fg = {.parts = 4};
            tl_parallel_run(fg.parts, count_part, &fg);
            assert_true(job.pooled);   /* parts unclaimed: the job goes on */
            for (int p = 0; p < fg.parts; p++)
                assert_int_equal(atomic_load(&fg.runs[p]), 1);
        }
        atomic_store(&h.released, 1);
        tl_parallel_finish(&job);
        for (int p = 0; p < HELD; p++)
            assert_int_equal(atomic_load(&h.runs[p]), 1);

        count_job bg = {.parts = 3}, fg = {.parts = 4};
        tl_parallel_start(bg.parts, count_part, &bg, &job);
        if (job.pooled) {
            /* the worker claims every part; the caller claims none here */
            for (int s = 0; s < 1000000 && (atomic_load(&bg.runs[0]) + atomic_load(&bg.runs[1]) +
                                             atomic_load(&bg.runs[2])) < 3; s++)
                sched_yield();
            if (atomic_load(&bg.runs[0]) + atomic_load(&bg.runs[1]) + atomic_load(&bg.runs[2]) == 3) {
                /* all run; a worker may still be counting its last as done */
                for (int k = 0; k < 1000 && job.pooled; k++) {
                    memset(&fg, 0, sizeof fg);
                    fg.parts = 4;
                    tl_parallel_run(fg.parts, count_part, &fg);
                    sched_yield();
                }
                assert_false(job.pooled);   /* all done: finished by a step */
            }
        }
        tl_parallel_finish(&job);
        for (int p = 0; p < bg.parts; p++)
            assert_int_equal(atomic_load(&bg.runs[p]), 1);
    }
    TU_OK(tl_set_num_threads(1));
}

/* A started job (tl_parallel_start) runs every part exactly once, by the
 * finish at the latest, while the caller goes on; parallel steps of the
 * caller in between (which may finish the job first once its parts are
 * done: test_parallel_start_claimed), and a second start, run completely. */
static void test_parallel_start_parts(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 3; threads++) {
        TU_OK(tl_set_num_threads(threads));
        for (int rep = 0; rep < 200; rep++)
            for (int parts = 1; parts <= 64; parts += 1 + parts / 4) {
                count_job bg = {.parts = parts}, fg = {.parts = 1 + rep % 7},
                          again = {.parts = 3};
                tl_pending job, second;
                tl_parallel_start(parts, count_part, &bg, &job);
                if (rep % 2)
                    tl_parallel_run_homed(fg.parts, count_part, &fg);
                else
                    tl_parallel_run(fg.parts, count_part, &fg);
                tl_parallel_start(again.parts, count_part, &again, &second);
                if (job.pooled) {
                    assert_false(second.pooled);
                    for (int p = 0; p < 3; p++)
                        assert_int_equal(atomic_load(&again.runs[p]), 1);
                }
                tl_parallel_finish(&second);
                for (int p = 0; p < 3; p++)
                    assert_int_equal(atomic_load(&again.runs[p]), 1);
                for (int p = 0; p < fg.parts; p++)
                    assert_int_equal(atomic_load(&fg.runs[p]), 1);
                if (rep % 3 == 0)
                    tl_parallel_finish(&job);
                else {
                    /* The job still owns the pool: this step runs here. */
                    count_job more = {.parts = 5};
                    tl_parallel_run(more.parts, count_part, &more);
                    for (int p = 0; p < more.parts; p++)
                        assert_int_equal(atomic_load(&more.runs[p]), 1);
                    tl_parallel_finish(&job);
                }
                assert_false(job.pooled);
                tl_parallel_finish(&job);   /* a second finish does nothing */
                assert_int_equal(atomic_load(&bg.bad_parts) + atomic_load(&fg.bad_parts) +
                                     atomic_load(&again.bad_parts), 0);
                for (int p = 0; p < parts; p++)
                    if (atomic_load(&bg.runs[p]) != 1)
                        fail_msg("%d threads, started job of %d parts: part %d ran %d times",
                                 threads, parts, p, atomic_load(&bg.runs[p]));
            }
    }
    /* Parts with parallel steps inside: those run on the part's thread. */
    for (int threads = 1; threads <= 3; threads++) {
        TU_OK(tl_set_num_threads(threads));
        for (int rep = 0; rep < 100; rep++) {
            static nested_job j;
            memset(&j, 0, sizeof j);
            j.outer.parts = 1 + rep % 9;
            for (int p = 0; p < j.outer.parts; p++)
                j.inner[p].parts = 1 + (p + rep) % 6;
            tl_pending job;
            tl_parallel_start(j.outer.parts, nested_part, &j, &job);
            tl_parallel_finish(&job);
            for (int p = 0; p < j.outer.parts; p++) {
                assert_int_equal(atomic_load(&j.outer.runs[p]), 1);
                assert_int_equal(atomic_load(&j.inner[p].bad_parts), 0);
                for (int q = 0; q < j.inner[p].parts; q++)
                    assert_int_equal(atomic_load(&j.inner[p].runs[q]), 1);
            }
        }
    }
    TU_OK(tl_set_num_threads(1));
}

/* The exponential's main loops decide for several vectors at once whether
 * they are in the normal range, and tl_vexp_sum_ahead fetches another row
 * on the way: neither may change a value. Every element gets the bits it
 * gets alone (a call of length 1: one masked lane), the sum is tl_vexp_sum's
 * (also in place), at every SIMD level; small values (below −86.5 and
 * −104) sit among normal ones in a group of vectors, and a NaN in such a
 * group gives NaN there and in the sum, its neighbours keep their values. */
static void test_exp_sum_ahead(void **state)
{
    (void)state;
    enum { BIG = 10007 };
    const tl_real shift = 1.5f;
    tl_real *x = malloc(BIG * sizeof *x), *y = malloc(BIG * sizeof *y);
    tl_real *y2 = malloc(BIG * sizeof *y2), *next = malloc(BIG * sizeof *next);
    assert_true(x && y && y2 && next);
    tl_rng rng;
    tl_rng_seed(&rng, 31);
    for (int k = 0; k < BIG; k++) {
        x[k] = (tl_real)(shift - fabs(6 * tl_rng_normal(&rng)));
        next[k] = (tl_real)k;
        if (tl_rng_below(&rng, 97) == 0)   /* a subnormal result or exactly 0 */
            x[k] = (tl_real)(shift - 87 - 30 * tl_rng_uniform(&rng));
    }
    tl_simd levels[3];
    int nl = simd_levels(levels);
    const int lens[] = {1, 15, 16, 31, 33, 63, 64, 65, 127, 130, 512, 577, BIG};
    for (int l = 0; l < nl; l++) {
        tl_simd_limit(levels[l]);
        for (size_t c = 0; c < sizeof lens / sizeof *lens; c++) {
            int n = lens[c];
            double sum = tl_vexp_sum_ahead(n, x, shift, y, next);
            double plain = tl_vexp_sum(n, x, shift, y2);
            if (memcmp(&sum, &plain, sizeof sum) || memcmp(y, y2, (size_t)n * sizeof *y))
                fail_msg("simd %d, n %d: fetching next changed the results", (int)levels[l], n);
            memcpy(y2, x, (size_t)n * sizeof *y2);
            plain = tl_vexp_sum_ahead(n, y2, shift, y2, next);
            if (memcmp(&sum, &plain, sizeof sum) || memcmp(y, y2, (size_t)n * sizeof *y))
                fail_msg("simd %d, n %d: in place gave other results", (int)levels[l], n);
            for (int k = 0; k < n; k++) {
                tl_real alone;
                tl_vexp_sum(1, x + k, shift, &alone);
                if (memcmp(&alone, y + k, sizeof alone))
                    fail_msg("simd %d, n %d, element %d (x - shift = %.9g): %.9g in the row, "
                             "%.9g alone", (int)levels[l], n, k, (double)(x[k] - shift),
                             (double)y[k], (double)alone);
            }
        }
        for (int k = 0; k < 64; k++)
            y2[k] = x[k];
        y2[37] = (tl_real)NAN;
        double sum = tl_vexp_sum_ahead(64, y2, shift, y2, next);
        assert_true(isnan(y2[37]) && isnan(sum));
        for (int k = 0; k < 64; k++)
            if (k != 37 && memcmp(&y2[k], &y[k], sizeof *y))
                fail_msg("simd %d: a NaN at 37 changed element %d", (int)levels[l], k);
    }
    tl_simd_limit(levels[0]);
    free(x);
    free(y);
    free(y2);
    free(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accuracy),
        cmocka_unit_test(test_extremes),
        cmocka_unit_test(test_exp_sum),
        cmocka_unit_test(test_row_passes_bits),
        cmocka_unit_test(test_lstm_gates),
        cmocka_unit_test(test_recurrent_products),
        cmocka_unit_test(test_gemv),
#ifndef TL_REAL_DOUBLE
        cmocka_unit_test(test_gemv_direction),
        cmocka_unit_test(test_bf16_round),
        cmocka_unit_test(test_gemv_bf16),
        cmocka_unit_test(test_bf16_set),
#endif
        cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_gemm_narrow),
#ifndef TL_REAL_DOUBLE
        cmocka_unit_test(test_gemm_row_alone),
        cmocka_unit_test(test_gemm_prepacked),
#endif
        cmocka_unit_test(test_time_lstm_paths),
        cmocka_unit_test(test_gru_gates),
        cmocka_unit_test(test_time_gru_paths),
        cmocka_unit_test(test_time_rnn_paths),
        cmocka_unit_test(test_threads_setting),
        cmocka_unit_test(test_parallel_run_parts),
        cmocka_unit_test(test_parallel_start_parts),
        cmocka_unit_test(test_parallel_start_claimed),
        cmocka_unit_test(test_exp_sum_ahead),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
