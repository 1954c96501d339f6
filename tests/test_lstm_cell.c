/* LSTM cell: PyTorch goldens (contiguous, strided, in place), zero state,
 * numerical gradient check of every input of a step, saturated gates,
 * initialisation, argument errors. */
#include <math.h>
#include <string.h>
#include "testutil.h"

enum { N = 3, D = 4, H = 5, G = 4 * H };

static void load_cell(tl_lstm_cell *c, const tu_golden *g)
{
    TU_OK(tl_lstm_cell_init(c, D, H, NULL));
    assert_string_equal(c->params[TL_LSTM_WX].name, "Wx");
    assert_string_equal(c->params[TL_LSTM_WH].name, "Wh");
    assert_string_equal(c->params[TL_LSTM_B].name, "b");
    tu_golden_tensor(g, "Wx", &c->params[TL_LSTM_WX].value, 2, (int[]){D, G});
    tu_golden_tensor(g, "Wh", &c->params[TL_LSTM_WH].value, 2, (int[]){H, G});
    tu_golden_tensor(g, "b", &c->params[TL_LSTM_B].value, 1, (int[]){G});
}

/* The golden step and its backward, run twice (gradients must double, dx,
 * dc_prev and dh_prev must not), with every matrix padded by `pad` elements
 * per row. */
static void golden_case(int pad)
{
    tu_golden *g = tu_golden_load("lstm_cell.txt");
    tl_lstm_cell c;
    load_cell(&c, g);
    tu_strided x = tu_strided_new(N, D, pad, tu_golden_get(g, "x", N * D));
    tu_strided h = tu_strided_new(N, H, pad, tu_golden_get(g, "h", N * H));
    tu_strided cs = tu_strided_new(N, H, pad, tu_golden_get(g, "c", N * H));
    tu_strided dh_next = tu_strided_new(N, H, pad, tu_golden_get(g, "dh_next", N * H));
    tu_strided dc_next = tu_strided_new(N, H, pad, tu_golden_get(g, "dc_next", N * H));
    tu_strided gates = tu_strided_new(N, G, pad, NULL), dA = tu_strided_new(N, G, pad, NULL);
    tu_strided c_next = tu_strided_new(N, H, pad, NULL), h_next = tu_strided_new(N, H, pad, NULL);
    tu_strided dx = tu_strided_new(N, D, pad, NULL), dc_prev = tu_strided_new(N, H, pad, NULL);
    tu_strided dh_prev = tu_strided_new(N, H, pad, NULL);

    tl_lstm_cell_forward(&c, N, x.v, x.ld, h.v, h.ld, cs.v, cs.ld, gates.v, gates.ld, c_next.v,
                         c_next.ld, h_next.v, h_next.ld);
    tu_strided_check("h_next", &h_next, tu_golden_get(g, "h_next", N * H));
    tu_strided_check("c_next", &c_next, tu_golden_get(g, "c_next", N * H));
    for (int k = 0; k < 2; k++)
        tl_lstm_cell_backward(&c, N, x.v, x.ld, h.v, h.ld, cs.v, cs.ld, gates.v, gates.ld,
                              c_next.v, c_next.ld, dh_next.v, dh_next.ld, dc_next.v, dc_next.ld,
                              dA.v, dA.ld, dx.v, dx.ld, dc_prev.v, dc_prev.ld, dh_prev.v,
                              dh_prev.ld);
    tu_strided_check("dx", &dx, tu_golden_get(g, "dx", N * D));
    tu_strided_check("dh_prev", &dh_prev, tu_golden_get(g, "dh_prev", N * H));
    tu_strided_check("dc_prev", &dc_prev, tu_golden_get(g, "dc_prev", N * H));
    tu_strided_check("dh_next (input, unchanged)", &dh_next, tu_golden_get(g, "dh_next", N * H));
    tu_strided_check("dc_next (input, unchanged)", &dc_next, tu_golden_get(g, "dc_next", N * H));
    tu_check_param_grads(g, "", c.params, TL_LSTM_NPARAMS, 2);

    TU_STRIDED_FREE_ALL(&x, &h, &cs, &dh_next, &dc_next, &gates, &dA, &c_next, &h_next, &dx,
                        &dc_prev, &dh_prev);
    tl_lstm_cell_free(&c);
    tu_golden_free(g);
}

static void test_golden(void **state)
{
    (void)state;
    golden_case(0);
}

static void test_golden_strided(void **state)
{
    (void)state;
    golden_case(3);
}

/* The aliasing lstm.h allows: the state updated in place by forward, and in
 * backward dA written over the gates, dc and dh updated in place. */
static void test_golden_in_place(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("lstm_cell.txt");
    tl_lstm_cell c;
    load_cell(&c, g);
    tl_tensor x = {0}, h = {0}, cs = {0}, hs = {0}, cn = {0}, hn = {0}, gates = {0}, dh = {0},
              dc = {0}, dx = {0};
    tu_golden_tensor(g, "x", &x, 2, (int[]){N, D});
    tu_golden_tensor(g, "h", &h, 2, (int[]){N, H});
    tu_golden_tensor(g, "c", &cs, 2, (int[]){N, H});
    TU_OK(tl_tensor_zeros2(&gates, N, G));

    TU_OK(tl_tensor_copy(&hs, &h));
    TU_OK(tl_tensor_copy(&cn, &cs));
    tl_lstm_cell_forward(&c, N, x.data, D, hs.data, H, cn.data, H, gates.data, G, cn.data, H,
                         hs.data, H);
    tu_assert_close("h_next in place", hs.data, tu_golden_get(g, "h_next", N * H), N * H,
                    TU_RTOL, TU_ATOL);
    tu_assert_close("c_next in place", cn.data, tu_golden_get(g, "c_next", N * H), N * H,
                    TU_RTOL, TU_ATOL);

    TU_OK(tl_tensor_zeros2(&hn, N, H));
    TU_OK(tl_tensor_zeros2(&dx, N, D));
    tu_golden_tensor(g, "dh_next", &dh, 2, (int[]){N, H});
    tu_golden_tensor(g, "dc_next", &dc, 2, (int[]){N, H});
    tl_lstm_cell_forward(&c, N, x.data, D, h.data, H, cs.data, H, gates.data, G, cn.data, H,
                         hn.data, H);
    tl_lstm_cell_backward(&c, N, x.data, D, h.data, H, cs.data, H, gates.data, G, cn.data, H,
                          dh.data, H, dc.data, H, gates.data, G, dx.data, D, dc.data, H, dh.data,
                          H);
    tu_assert_close("dx", dx.data, tu_golden_get(g, "dx", N * D), N * D, TU_RTOL, TU_ATOL);
    tu_assert_close("dh_prev in place", dh.data, tu_golden_get(g, "dh_prev", N * H), N * H,
                    TU_RTOL, TU_ATOL);
    tu_assert_close("dc_prev in place", dc.data, tu_golden_get(g, "dc_prev", N * H), N * H,
                    TU_RTOL, TU_ATOL);
    tu_check_param_grads(g, "", c.params, TL_LSTM_NPARAMS, 1);

    TU_FREE_ALL(&x, &h, &cs, &hs, &cn, &hn, &gates, &dh, &dc, &dx);
    tl_lstm_cell_free(&c);
    tu_golden_free(g);
}

/* h_prev = c_prev = NULL behaves as the zero state: same outputs, no dWh,
 * dc_prev and dh_prev optional. */
static void test_zero_state(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_lstm_cell c;
    TU_OK(tl_lstm_cell_init(&c, D, H, &rng));
    for (int i = 0; i < G; i++)
        c.params[TL_LSTM_B].value.data[i] = (tl_real)tl_rng_normal(&rng);
    tl_tensor x = {0}, dh = {0}, dc = {0};
    tu_randn(&x, &rng, 1, 2, (int[]){N, D});
    tu_randn(&dh, &rng, 1, 2, (int[]){N, H});
    tu_randn(&dc, &rng, 1, 2, (int[]){N, H});
    tl_real zeros[N * H] = {0}, ga[N * G], gb[N * G], ca[N * H], cb[N * H], ha[N * H],
            hb[N * H], dA[N * G], dx_a[N * D], dx_b[N * D], dcp[N * H], dhp[N * H];

    tl_lstm_cell_forward(&c, N, x.data, D, NULL, H, NULL, H, ga, G, ca, H, ha, H);
    tl_lstm_cell_forward(&c, N, x.data, D, zeros, H, zeros, H, gb, G, cb, H, hb, H);
    tu_assert_close_real("gates from NULL vs zeros", ga, gb, N * G, TU_RTOL, TU_ATOL);
    tu_assert_close_real("c_next from NULL vs zeros", ca, cb, N * H, TU_RTOL, TU_ATOL);
    tu_assert_close_real("h_next from NULL vs zeros", ha, hb, N * H, TU_RTOL, TU_ATOL);

    tl_lstm_cell_backward(&c, N, x.data, D, NULL, H, NULL, H, ga, G, ca, H, dh.data, H, dc.data,
                          H, dA, G, dx_a, D, NULL, H, NULL, H);
    for (int i = 0; i < H * G; i++)
        assert_true(c.params[TL_LSTM_WH].grad.data[i] == 0);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < H; j++)
            assert_true(dA[n * G + j] == 0);  /* df = ds⊙c⊙f(1−f) vanishes with c = 0 */
    tl_tensor db = {0};
    TU_OK(tl_tensor_copy(&db, &c.params[TL_LSTM_B].grad));
    tl_lstm_cell_backward(&c, N, x.data, D, zeros, H, zeros, H, gb, G, cb, H, dh.data, H,
                          dc.data, H, dA, G, dx_b, D, dcp, H, dhp, H);
    tu_assert_close_real("dx from NULL vs zeros", dx_a, dx_b, N * D, TU_RTOL, TU_ATOL);
    for (int i = 0; i < G; i++)
        assert_true(fabs(c.params[TL_LSTM_B].grad.data[i] - 2 * db.data[i]) <=
                    TU_ATOL + TU_RTOL * fabs(2 * db.data[i]));
    for (int i = 0; i < H * G; i++)
        assert_true(c.params[TL_LSTM_WH].grad.data[i] == 0);  /* h = 0 contributes nothing */

    TU_FREE_ALL(&x, &dh, &dc, &db);
    tl_lstm_cell_free(&c);
}

/* Pre-activations of ±1e4 saturate the gates exactly, with no overflow:
 * A_f = +1e4, A_g = −1e4, A_i = +1e4, A_o = −1e4 give f = 1, g = −1, i = 1,
 * o = 0, so c' = c − 1 and h' = 0; and with every sign flipped f = 0,
 * g = 1, i = 0, o = 1, so c' = 0 and h' = 0. Backward stays finite. */
static void test_saturated_gates(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    tl_lstm_cell c;
    TU_OK(tl_lstm_cell_init(&c, D, H, NULL));
    tl_tensor x = {0}, h = {0}, cs = {0}, dh = {0}, dc = {0};
    TU_OK(tl_tensor_zeros2(&x, N, D));
    tu_randn(&h, &rng, 1, 2, (int[]){N, H});
    tu_randn(&cs, &rng, 1, 2, (int[]){N, H});
    tu_randn(&dh, &rng, 1, 2, (int[]){N, H});
    tu_randn(&dc, &rng, 1, 2, (int[]){N, H});
    tl_real gates[N * G], cn[N * H], hn[N * H], dA[N * G], dx[N * D], dcp[N * H], dhp[N * H];
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < H; j++)
                c.params[TL_LSTM_B].value.data[k * H + j] = (tl_real)(k % 2 ? -sign : sign) * 1e4;
        tl_lstm_cell_forward(&c, N, x.data, D, h.data, H, cs.data, H, gates, G, cn, H, hn, H);
        for (int i = 0; i < N * H; i++) {
            double want_c = sign > 0 ? cs.data[i] - 1 : 0;
            assert_true(fabs(cn[i] - want_c) <= TU_ATOL + TU_RTOL * fabs(want_c));
            assert_true(isfinite(hn[i]) && fabs(hn[i]) <= TU_ATOL);
        }
        tl_lstm_cell_backward(&c, N, x.data, D, h.data, H, cs.data, H, gates, G, cn, H, dh.data,
                              H, dc.data, H, dA, G, dx, D, dcp, H, dhp, H);
        for (int i = 0; i < N * G; i++)
            assert_true(isfinite(dA[i]));
        for (int i = 0; i < N * H; i++)
            assert_true(isfinite(dcp[i]) && isfinite(dhp[i]));
    }
    TU_FREE_ALL(&x, &h, &cs, &dh, &dc);
    tl_lstm_cell_free(&c);
}

/* ---- numerical gradient check ------------------------------------------ */

/* L = Σ Rh ⊙ h' + Σ Rc ⊙ c' with fixed random Rh, Rc, so dL/dh' = Rh and
 * dL/dc' = Rc. */
typedef struct {
    tl_lstm_cell *c;
    tl_tensor x, h, cs, Rh, Rc, gates, cn, hn;
} cell_objective;

static double objective(void *ctx)
{
    cell_objective *o = ctx;
    tl_lstm_cell_forward(o->c, N, o->x.data, D, o->h.data, H, o->cs.data, H, o->gates.data, G,
                         o->cn.data, H, o->hn.data, H);
    double s = 0;
    for (size_t i = 0; i < o->hn.size; i++)
        s += (double)o->hn.data[i] * o->Rh.data[i] + (double)o->cn.data[i] * o->Rc.data[i];
    return s;
}

static void test_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 17);
    tl_lstm_cell c;
    TU_OK(tl_lstm_cell_init(&c, D, H, &rng));
    for (int i = 0; i < G; i++)
        c.params[TL_LSTM_B].value.data[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    cell_objective o = {.c = &c};
    tu_randn(&o.x, &rng, 1, 2, (int[]){N, D});
    tu_randn(&o.h, &rng, 1, 2, (int[]){N, H});
    tu_randn(&o.cs, &rng, 1, 2, (int[]){N, H});
    tu_randn(&o.Rh, &rng, 1, 2, (int[]){N, H});
    tu_randn(&o.Rc, &rng, 1, 2, (int[]){N, H});
    TU_OK(tl_tensor_zeros2(&o.gates, N, G));
    TU_OK(tl_tensor_zeros2(&o.cn, N, H));
    TU_OK(tl_tensor_zeros2(&o.hn, N, H));

    tl_real dA[N * G], dx[N * D], dcp[N * H], dhp[N * H];
    objective(&o);
    tl_lstm_cell_backward(&c, N, o.x.data, D, o.h.data, H, o.cs.data, H, o.gates.data, G,
                          o.cn.data, H, o.Rh.data, H, o.Rc.data, H, dA, G, dx, D, dcp, H, dhp, H);
    tl_gradcheck_entry e[TL_LSTM_NPARAMS + 3];
    int n = TL_LSTM_NPARAMS;
    tu_central_difference_params(objective, &o, c.params, TL_LSTM_NPARAMS, e);
    e[n++] = tu_central_difference(objective, &o, "x", o.x.data, dx, N * D);
    e[n++] = tu_central_difference(objective, &o, "h_prev", o.h.data, dhp, N * H);
    e[n++] = tu_central_difference(objective, &o, "c_prev", o.cs.data, dcp, N * H);
    tu_check_gradients("LSTM cell", e, n, TU_GRADCHECK_BOUND);

    TU_FREE_ALL(&o.x, &o.h, &o.cs, &o.Rh, &o.Rc, &o.gates, &o.cn, &o.hn);
    tl_lstm_cell_free(&c);
}

/* ---- initialisation and errors ----------------------------------------- */

static void test_init(void **state)
{
    (void)state;
    enum { BD = 400, BH = 100 };
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_lstm_cell c;
    TU_OK(tl_lstm_cell_init(&c, BD, BH, &rng));
    assert_int_equal(c.in_dim, BD);
    assert_int_equal(c.hidden, BH);
    assert_int_equal(c.params[TL_LSTM_WX].value.shape[0], BD);
    assert_int_equal(c.params[TL_LSTM_WX].value.shape[1], 4 * BH);
    assert_int_equal(c.params[TL_LSTM_WH].value.shape[0], BH);
    assert_int_equal(c.params[TL_LSTM_WH].value.shape[1], 4 * BH);
    assert_int_equal(c.params[TL_LSTM_B].value.ndim, 1);
    assert_int_equal(c.params[TL_LSTM_B].value.shape[0], 4 * BH);
    /* 160,000 and 40,000 draws: the sample sd is within 3% of 1/sqrt(fan-in)
     * with overwhelming probability, and the mean near 0. */
    tu_assert_init_scale(&c.params[TL_LSTM_WX].value, BD, 0.005);
    tu_assert_init_scale(&c.params[TL_LSTM_WH].value, BH, 0.01);
    for (int i = 0; i < 4 * BH; i++)
        assert_true(c.params[TL_LSTM_B].value.data[i] == 0);
    tl_lstm_cell_free(&c);
    tl_lstm_cell_free(&c);  /* freeing twice is harmless */

    TU_OK(tl_lstm_cell_init(&c, D, H, NULL));
    for (int i = 0; i < TL_LSTM_NPARAMS; i++)
        for (size_t k = 0; k < c.params[i].value.size; k++)
            assert_true(c.params[i].value.data[k] == 0 && c.params[i].grad.data[k] == 0);
    tl_lstm_cell_free(&c);
}

static void test_init_errors(void **state)
{
    (void)state;
    tl_lstm_cell c;
    assert_int_equal(tl_lstm_cell_init(&c, 0, H, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "D=0"));
    tl_lstm_cell_free(&c);
    assert_int_equal(tl_lstm_cell_init(&c, D, -2, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "H=-2"));
    tl_lstm_cell_free(&c);
    assert_int_equal(tl_lstm_cell_init(NULL, D, H, NULL), TL_ERR_ARG);
    /* 4H beyond the int range, and H*4H beyond TL_MAX_ELEMENTS, are refused
     * before allocating. */
    assert_int_equal(tl_lstm_cell_init(&c, 1, 1 << 30, NULL), TL_ERR_NOMEM);
    assert_non_null(strstr(tl_last_error(), "4*H"));
    tl_lstm_cell_free(&c);
    assert_int_equal(tl_lstm_cell_init(&c, 1, 1 << 16, NULL), TL_ERR_NOMEM);
    tl_lstm_cell_free(&c);
    tl_lstm_cell_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_golden_strided),
        cmocka_unit_test(test_golden_in_place),
        cmocka_unit_test(test_zero_state),
        cmocka_unit_test(test_saturated_gates),
        cmocka_unit_test(test_gradcheck),
        cmocka_unit_test(test_init),
        cmocka_unit_test(test_init_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
