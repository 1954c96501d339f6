/* RNN cell: PyTorch goldens (contiguous and strided), zero state, numerical
 * gradient check of every input of a step, initialisation, argument errors. */
#include <math.h>
#include <string.h>
#include "testutil.h"

enum { N = 3, D = 4, H = 5 };

/* The goldens of an activation are named "tanh_..." and "sigmoid_...". */
static const char *prefix(tl_activation act) { return act == TL_ACT_TANH ? "tanh_" : "sigmoid_"; }

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

/* The golden step and its backward, run twice (gradients must double, dx and
 * dh_prev must not), with every matrix padded by `pad` elements per row. */
static void golden_case(tl_activation act, int pad)
{
    const char *pre = prefix(act);
    tu_golden *g = tu_golden_load("rnn_cell.txt");
    tl_rnn_cell c;
    load_cell(&c, g, act);
    tu_strided x = tu_strided_new(N, D, pad, tu_golden_get(g, "x", N * D));
    tu_strided h = tu_strided_new(N, H, pad, tu_golden_get(g, "h", N * H));
    tu_strided dh_next = tu_strided_new(N, H, pad, tu_golden_get(g, "dh_next", N * H));
    tu_strided out = tu_strided_new(N, H, pad, NULL), dt = tu_strided_new(N, H, pad, NULL);
    tu_strided dx = tu_strided_new(N, D, pad, NULL), dh_prev = tu_strided_new(N, H, pad, NULL);

    tl_rnn_cell_forward(&c, N, x.v, x.ld, h.v, h.ld, out.v, out.ld);
    tu_strided_check("h_next", &out, tu_golden_get_prefixed(g, pre, "h_next", N * H));
    for (int k = 0; k < 2; k++)
        tl_rnn_cell_backward(&c, N, x.v, x.ld, h.v, h.ld, out.v, out.ld, dh_next.v, dh_next.ld,
                             dt.v, dt.ld, dx.v, dx.ld, dh_prev.v, dh_prev.ld);
    tu_strided_check("dx", &dx, tu_golden_get_prefixed(g, pre, "dx", N * D));
    tu_strided_check("dh_prev", &dh_prev, tu_golden_get_prefixed(g, pre, "dh_prev", N * H));
    tu_strided_check("dh_next (input, unchanged)", &dh_next, tu_golden_get(g, "dh_next", N * H));
    tu_check_param_grads(g, pre, c.params, TL_RNN_NPARAMS, 2);

    TU_STRIDED_FREE_ALL(&x, &h, &dh_next, &out, &dt, &dx, &dh_prev);
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

    TU_FREE_ALL(&x, &dh, &db);
    tl_rnn_cell_free(&c);
}

/* ---- numerical gradient check ------------------------------------------ */

/* L = Σ R ⊙ cell(x, h) with a fixed random R, so dL/dh' = R. */
typedef struct {
    tl_rnn_cell *c;
    tl_tensor x, h, R, out;
} cell_objective;

static double objective(void *ctx)
{
    cell_objective *o = ctx;
    tl_rnn_cell_forward(o->c, N, o->x.data, D, o->h.data, H, o->out.data, H);
    double s = 0;
    for (size_t i = 0; i < o->out.size; i++)
        s += (double)o->out.data[i] * o->R.data[i];
    return s;
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
    tl_gradcheck_entry e[TL_RNN_NPARAMS + 2];
    int n = TL_RNN_NPARAMS;
    tu_central_difference_params(objective, &o, c.params, TL_RNN_NPARAMS, e);
    e[n++] = tu_central_difference(objective, &o, "x", o.x.data, dx, N * D);
    e[n++] = tu_central_difference(objective, &o, "h_prev", o.h.data, dh, N * H);
    tu_check_gradients(act == TL_ACT_TANH ? "RNN cell tanh" : "RNN cell sigmoid", e, n,
                       TU_GRADCHECK_BOUND);

    TU_FREE_ALL(&o.x, &o.h, &o.R, &o.out);
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
    tu_assert_init_scale(&c.params[TL_RNN_WX].value, BD, 0.005);
    tu_assert_init_scale(&c.params[TL_RNN_WH].value, BH, 0.01);
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
