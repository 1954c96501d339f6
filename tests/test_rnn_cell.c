/* RNN cell: PyTorch goldens (contiguous and strided), zero state, numerical
 * gradient check of every input of a step, initialisation, argument errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

enum { N = 3, D = 4, H = 5 };

static const char *act_name(tl_activation act) { return act == TL_ACT_TANH ? "tanh" : "sigmoid"; }

static const double *gold(const tu_golden *g, tl_activation act, const char *what, size_t n)
{
    char key[64];
    snprintf(key, sizeof key, "%s_%s", act_name(act), what);
    return tu_golden_get(g, key, n);
}

static void load_cell(tl_rnn_cell *c, const tu_golden *g, tl_activation act)
{
    TU_OK(tl_rnn_cell_init(c, D, H, act, NULL));
    assert_string_equal(c->params[TL_RNN_WX].name, "Wx");
    assert_string_equal(c->params[TL_RNN_WH].name, "Wh");
    assert_string_equal(c->params[TL_RNN_B].name, "b");
    tu_golden_tensor(g, "Wx", &c->params[TL_RNN_WX].value, 2, (int[]){D, H});
    tu_golden_tensor(g, "Wh", &c->params[TL_RNN_WH].value, 2, (int[]){H, H});
    tu_golden_tensor(g, "b", &c->params[TL_RNN_B].value, 1, (int[]){H});
}

/* A (rows, width) matrix stored with leading dimension width + pad; the pad
 * holds NaN so that reading it poisons the result and writing it shows. */
typedef struct {
    int rows, width, ld;
    tl_real *v;
} strided;

static strided strided_new(int rows, int width, int pad, const double *init)
{
    strided s = {rows, width, width + pad, NULL};
    s.v = malloc((size_t)rows * s.ld * sizeof(tl_real));
    assert_non_null(s.v);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < s.ld; j++)
            s.v[r * s.ld + j] = j < width ? (init ? (tl_real)init[r * width + j] : 0) : NAN;
    return s;
}

/* Compare with a dense golden array and check the pad is untouched. */
static void strided_check(const char *what, const strided *s, const double *expect, double scale)
{
    for (int r = 0; r < s->rows; r++) {
        double want[H > D ? H : D];
        for (int j = 0; j < s->width; j++)
            want[j] = scale * expect[r * s->width + j];
        tu_assert_close(what, s->v + r * s->ld, want, (size_t)s->width, TU_RTOL, TU_ATOL);
        for (int j = s->width; j < s->ld; j++)
            if (!isnan(s->v[r * s->ld + j]))
                fail_msg("%s: row %d: padding element %d was written", what, r, j);
    }
}

/* The golden step and its backward, run twice (gradients must double, dx and
 * dh_prev must not), with every matrix padded by `pad` elements per row. */
static void golden_case(tl_activation act, int pad)
{
    tu_golden *g = tu_golden_load("rnn_cell.txt");
    tl_rnn_cell c;
    load_cell(&c, g, act);
    strided x = strided_new(N, D, pad, tu_golden_get(g, "x", N * D));
    strided h = strided_new(N, H, pad, tu_golden_get(g, "h", N * H));
    strided dh_next = strided_new(N, H, pad, tu_golden_get(g, "dh_next", N * H));
    strided out = strided_new(N, H, pad, NULL), dt = strided_new(N, H, pad, NULL);
    strided dx = strided_new(N, D, pad, NULL), dh_prev = strided_new(N, H, pad, NULL);

    tl_rnn_cell_forward(&c, N, x.v, x.ld, h.v, h.ld, out.v, out.ld);
    strided_check("h_next", &out, gold(g, act, "h_next", N * H), 1);
    for (int k = 0; k < 2; k++)
        tl_rnn_cell_backward(&c, N, x.v, x.ld, h.v, h.ld, out.v, out.ld, dh_next.v, dh_next.ld,
                             dt.v, dt.ld, dx.v, dx.ld, dh_prev.v, dh_prev.ld);
    strided_check("dx", &dx, gold(g, act, "dx", N * D), 1);
    strided_check("dh_prev", &dh_prev, gold(g, act, "dh_prev", N * H), 1);
    strided_check("dh_next (input, unchanged)", &dh_next, tu_golden_get(g, "dh_next", N * H), 1);

    const char *names[] = {"dWx", "dWh", "db"};
    for (int i = 0; i < TL_RNN_NPARAMS; i++) {
        const tl_tensor *gr = &c.params[i].grad;
        const double *want = gold(g, act, names[i], gr->size);
        for (size_t k = 0; k < gr->size; k++)
            if (fabs(gr->data[k] - 2 * want[k]) > TU_ATOL + TU_RTOL * fabs(2 * want[k]))
                fail_msg("%s %s (accumulated twice)[%zu]: got %.10g, expected %.10g",
                         act_name(act), names[i], k, (double)gr->data[k], 2 * want[k]);
    }
    strided *all[] = {&x, &h, &dh_next, &out, &dt, &dx, &dh_prev};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        free(all[i]->v);
    tl_rnn_cell_free(&c);
    tu_golden_free(g);
}

static void test_golden_tanh(void **state)
{
    (void)state;
    golden_case(TL_ACT_TANH, 0);
}

static void test_golden_sigmoid(void **state)
{
    (void)state;
    golden_case(TL_ACT_SIGMOID, 0);
}

static void test_golden_strided(void **state)
{
    (void)state;
    golden_case(TL_ACT_TANH, 3);
    golden_case(TL_ACT_SIGMOID, 2);
}

/* h_prev = NULL behaves as a zero state: same output, no dWh, dh_prev optional. */
static void test_zero_state(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_rnn_cell c;
    TU_OK(tl_rnn_cell_init(&c, D, H, TL_ACT_TANH, &rng));
    tl_tensor x = {0}, dh = {0};
    tu_randn(&x, &rng, 1, 2, (int[]){N, D});
    tu_randn(&dh, &rng, 1, 2, (int[]){N, H});
    tl_real zeros[N * H] = {0}, a[N * H], b[N * H], dt[N * H], dx_a[N * D], dx_b[N * D],
            dhp[N * H];

    tl_rnn_cell_forward(&c, N, x.data, D, NULL, H, a, H);
    tl_rnn_cell_forward(&c, N, x.data, D, zeros, H, b, H);
    tu_assert_close_real("h_next from NULL vs zeros", a, b, N * H, TU_RTOL, TU_ATOL);

    tl_rnn_cell_backward(&c, N, x.data, D, NULL, H, a, H, dh.data, H, dt, H, dx_a, D, NULL, H);
    for (int i = 0; i < H * H; i++)
        assert_true(c.params[TL_RNN_WH].grad.data[i] == 0);
    tl_tensor db = {0};
    TU_OK(tl_tensor_copy(&db, &c.params[TL_RNN_B].grad));
    tl_rnn_cell_backward(&c, N, x.data, D, zeros, H, a, H, dh.data, H, dt, H, dx_b, D, dhp, H);
    tu_assert_close_real("dx from NULL vs zeros", dx_a, dx_b, N * D, TU_RTOL, TU_ATOL);
    for (int i = 0; i < H; i++)
        assert_true(fabs(c.params[TL_RNN_B].grad.data[i] - 2 * db.data[i]) <=
                    TU_ATOL + TU_RTOL * fabs(2 * db.data[i]));
    for (int i = 0; i < H * H; i++)
        assert_true(c.params[TL_RNN_WH].grad.data[i] == 0);  /* h = 0 contributes nothing */

    tl_tensor_free(&x);
    tl_tensor_free(&dh);
    tl_tensor_free(&db);
    tl_rnn_cell_free(&c);
}

/* ---- numerical gradient check ------------------------------------------ */

/* L = Σ R ⊙ cell(x, h) with a fixed random R, so dL/dh' = R. */
typedef struct {
    tl_rnn_cell *c;
    tl_tensor x, h, R, out;
} cell_objective;

static double objective(cell_objective *o)
{
    tl_rnn_cell_forward(o->c, N, o->x.data, D, o->h.data, H, o->out.data, H);
    double s = 0;
    for (size_t i = 0; i < o->out.size; i++)
        s += (double)o->out.data[i] * o->R.data[i];
    return s;
}

/* Central differences over every element of v against `analytic`, with the
 * step and the relative-error formula of lib/gradcheck.c. */
static tl_gradcheck_entry central_difference(cell_objective *o, const char *name, tl_real *v,
                                             const tl_real *analytic, size_t n)
{
    const double eps = 1e-5;
    tl_gradcheck_entry e = {0};
    snprintf(e.name, sizeof e.name, "%s", name);
    for (size_t i = 0; i < n; i++) {
        tl_real saved = v[i];
        v[i] = (tl_real)(saved + eps);
        double lp = objective(o);
        v[i] = (tl_real)(saved - eps);
        double lm = objective(o);
        v[i] = saved;
        double num = (lp - lm) / (2 * eps), abs_err = fabs(analytic[i] - num);
        double rel = abs_err / fmax(1e-8, fabs(analytic[i]) + fabs(num));
        e.max_rel_error = fmax(e.max_rel_error, rel);
        e.max_abs_error = fmax(e.max_abs_error, abs_err);
        e.checked++;
    }
    return e;
}

static void gradcheck_case(tl_activation act)
{
    tl_rng rng;
    tl_rng_seed(&rng, act == TL_ACT_TANH ? 17 : 18);
    tl_rnn_cell c;
    TU_OK(tl_rnn_cell_init(&c, D, H, act, &rng));
    for (int i = 0; i < H; i++)
        c.params[TL_RNN_B].value.data[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    cell_objective o = {.c = &c};
    tu_randn(&o.x, &rng, 1, 2, (int[]){N, D});
    tu_randn(&o.h, &rng, 1, 2, (int[]){N, H});
    tu_randn(&o.R, &rng, 1, 2, (int[]){N, H});
    TU_OK(tl_tensor_zeros2(&o.out, N, H));

    tl_real dt[N * H], dx[N * D], dh[N * H];
    objective(&o);
    tl_rnn_cell_backward(&c, N, o.x.data, D, o.h.data, H, o.out.data, H, o.R.data, H, dt, H, dx,
                         D, dh, H);
    tl_gradcheck_entry e[5];
    int n = 0;
    tl_tensor grads[TL_RNN_NPARAMS] = {0};
    for (int i = 0; i < TL_RNN_NPARAMS; i++) {
        TU_OK(tl_tensor_copy(&grads[i], &c.params[i].grad));
        e[n++] = central_difference(&o, c.params[i].name, c.params[i].value.data, grads[i].data,
                                    grads[i].size);
    }
    e[n++] = central_difference(&o, "x", o.x.data, dx, N * D);
    e[n++] = central_difference(&o, "h_prev", o.h.data, dh, N * H);
    char what[32];
    snprintf(what, sizeof what, "RNN cell %s", act_name(act));
    tu_check_gradients(what, e, n, TU_GRADCHECK_BOUND);

    for (int i = 0; i < TL_RNN_NPARAMS; i++)
        tl_tensor_free(&grads[i]);
    tl_tensor *owned[] = {&o.x, &o.h, &o.R, &o.out};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_rnn_cell_free(&c);
}

static void test_gradcheck_tanh(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    gradcheck_case(TL_ACT_TANH);
}

static void test_gradcheck_sigmoid(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    gradcheck_case(TL_ACT_SIGMOID);
}

/* ---- initialisation and errors ----------------------------------------- */

static void sample_moments(const tl_tensor *t, double *mean, double *sd)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < t->size; i++) {
        s += t->data[i];
        s2 += (double)t->data[i] * t->data[i];
    }
    *mean = s / (double)t->size;
    *sd = sqrt(s2 / (double)t->size - *mean * *mean);
}

static void test_init(void **state)
{
    (void)state;
    enum { BD = 400, BH = 100 };
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_rnn_cell c;
    TU_OK(tl_rnn_cell_init(&c, BD, BH, TL_ACT_SIGMOID, &rng));
    assert_int_equal(c.in_dim, BD);
    assert_int_equal(c.hidden, BH);
    assert_int_equal(c.act, TL_ACT_SIGMOID);
    assert_int_equal(c.params[TL_RNN_WX].value.shape[0], BD);
    assert_int_equal(c.params[TL_RNN_WX].value.shape[1], BH);
    assert_int_equal(c.params[TL_RNN_WH].value.shape[0], BH);
    assert_int_equal(c.params[TL_RNN_B].value.ndim, 1);
    /* 40,000 and 10,000 draws: the sample sd is within 3% of 1/sqrt(fan-in)
     * with overwhelming probability, and the mean near 0. */
    double mean, sd;
    sample_moments(&c.params[TL_RNN_WX].value, &mean, &sd);
    assert_true(fabs(sd * sqrt(BD) - 1) < 0.03);
    assert_true(fabs(mean) < 0.005);
    sample_moments(&c.params[TL_RNN_WH].value, &mean, &sd);
    assert_true(fabs(sd * sqrt(BH) - 1) < 0.03);
    assert_true(fabs(mean) < 0.01);
    for (int i = 0; i < BH; i++)
        assert_true(c.params[TL_RNN_B].value.data[i] == 0);
    tl_rnn_cell_free(&c);
    tl_rnn_cell_free(&c);  /* freeing twice is harmless */

    TU_OK(tl_rnn_cell_init(&c, D, H, TL_ACT_TANH, NULL));
    for (int i = 0; i < TL_RNN_NPARAMS; i++)
        for (size_t k = 0; k < c.params[i].value.size; k++)
            assert_true(c.params[i].value.data[k] == 0 && c.params[i].grad.data[k] == 0);
    tl_rnn_cell_free(&c);
}

static void test_init_errors(void **state)
{
    (void)state;
    tl_rnn_cell c;
    assert_int_equal(tl_rnn_cell_init(&c, 0, H, TL_ACT_TANH, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "D=0"));
    tl_rnn_cell_free(&c);
    assert_int_equal(tl_rnn_cell_init(&c, D, -2, TL_ACT_TANH, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "H=-2"));
    tl_rnn_cell_free(&c);
    assert_int_equal(tl_rnn_cell_init(&c, D, H, (tl_activation)7, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "activation 7"));
    tl_rnn_cell_free(&c);
    assert_int_equal(tl_rnn_cell_init(NULL, D, H, TL_ACT_TANH, NULL), TL_ERR_ARG);
    /* H*H beyond TL_MAX_ELEMENTS is refused before allocating. */
    assert_int_equal(tl_rnn_cell_init(&c, 1, 1 << 17, TL_ACT_TANH, NULL), TL_ERR_NOMEM);
    tl_rnn_cell_free(&c);
    tl_rnn_cell_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_tanh),
        cmocka_unit_test(test_golden_sigmoid),
        cmocka_unit_test(test_golden_strided),
        cmocka_unit_test(test_zero_state),
        cmocka_unit_test(test_gradcheck_tanh),
        cmocka_unit_test(test_gradcheck_sigmoid),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
