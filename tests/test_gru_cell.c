/* GRU cell: PyTorch goldens with nonzero bias_ih and bias_hh (contiguous,
 * strided, in place), zero state, numerical gradient check of every
 * parameter and input of a step, saturated gates, initialisation, errors. */
#include <math.h>
#include <string.h>
#include "testutil.h"

enum { N = 3, D = 4, H = 5, G = 3 * H, GW = 4 * H };

static void load_cell(tl_gru_cell *c, const tu_golden *g)
{
    TU_OK(tl_gru_cell_init(c, D, H, NULL));
    const char *names[] = {"Wx", "Wh", "b", "bhn"};
    for (int i = 0; i < TL_GRU_NPARAMS; i++)
        assert_string_equal(c->params[i].name, names[i]);
    tu_golden_tensor(g, "Wx", &c->params[TL_GRU_WX].value, 2, (int[]){D, G});
    tu_golden_tensor(g, "Wh", &c->params[TL_GRU_WH].value, 2, (int[]){H, G});
    tu_golden_tensor(g, "b", &c->params[TL_GRU_B].value, 1, (int[]){G});
    tu_golden_tensor(g, "bhn", &c->params[TL_GRU_BHN].value, 1, (int[]){H});
}

/* The golden step and its backward, run twice (gradients must double, dx and
 * dh_prev must not), with every matrix padded by `pad` elements per row. */
static void golden_case(int pad)
{
    tu_golden *g = tu_golden_load("gru_cell.txt");
    tl_gru_cell c;
    load_cell(&c, g);
    tu_strided x = tu_strided_new(N, D, pad, tu_golden_get(g, "x", N * D));
    tu_strided h = tu_strided_new(N, H, pad, tu_golden_get(g, "h", N * H));
    tu_strided dh_next = tu_strided_new(N, H, pad, tu_golden_get(g, "dh_next", N * H));
    tu_strided gates = tu_strided_new(N, GW, pad, NULL), hh = tu_strided_new(N, G, pad, NULL);
    tu_strided dAh = tu_strided_new(N, G, pad, NULL), dAx = tu_strided_new(N, G, pad, NULL);
    tu_strided h_next = tu_strided_new(N, H, pad, NULL), dx = tu_strided_new(N, D, pad, NULL);
    tu_strided dh_prev = tu_strided_new(N, H, pad, NULL);

    tl_gru_cell_forward(&c, N, x.v, x.ld, h.v, h.ld, gates.v, gates.ld, hh.v, hh.ld, h_next.v,
                        h_next.ld);
    tu_strided_check("h_next", &h_next, tu_golden_get(g, "h_next", N * H));
    for (int k = 0; k < 2; k++)
        tl_gru_cell_backward(&c, N, x.v, x.ld, h.v, h.ld, gates.v, gates.ld, dh_next.v,
                             dh_next.ld, dAh.v, dAh.ld, dAx.v, dAx.ld, dx.v, dx.ld, dh_prev.v,
                             dh_prev.ld);
    tu_strided_check("dx", &dx, tu_golden_get(g, "dx", N * D));
    tu_strided_check("dh_prev", &dh_prev, tu_golden_get(g, "dh_prev", N * H));
    tu_strided_check("dh_next (input, unchanged)", &dh_next, tu_golden_get(g, "dh_next", N * H));
    tu_check_param_grads(g, "", c.params, TL_GRU_NPARAMS, 2);

    TU_STRIDED_FREE_ALL(&x, &h, &dh_next, &gates, &hh, &dAh, &dAx, &h_next, &dx, &dh_prev);
    tl_gru_cell_free(&c);
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

/* The aliasing gru.h allows: h updated in place by forward, dh in place by
 * backward. */
static void test_golden_in_place(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("gru_cell.txt");
    tl_gru_cell c;
    load_cell(&c, g);
    tl_tensor x = {0}, h = {0}, hs = {0}, gates = {0}, hh = {0}, dh = {0}, dx = {0}, dAh = {0},
              dAx = {0};
    tu_golden_tensor(g, "x", &x, 2, (int[]){N, D});
    tu_golden_tensor(g, "h", &h, 2, (int[]){N, H});
    TU_OK(tl_tensor_zeros2(&gates, N, GW));
    TU_OK(tl_tensor_zeros2(&hh, N, G));
    TU_OK(tl_tensor_zeros2(&dAh, N, G));
    TU_OK(tl_tensor_zeros2(&dAx, N, G));
    TU_OK(tl_tensor_zeros2(&dx, N, D));
    TU_OK(tl_tensor_copy(&hs, &h));
    tl_gru_cell_forward(&c, N, x.data, D, hs.data, H, gates.data, GW, hh.data, G, hs.data, H);
    tu_assert_close("h_next in place", hs.data, tu_golden_get(g, "h_next", N * H), N * H,
                    TU_RTOL, TU_ATOL);
    tu_golden_tensor(g, "dh_next", &dh, 2, (int[]){N, H});
    tl_gru_cell_backward(&c, N, x.data, D, h.data, H, gates.data, GW, dh.data, H, dAh.data, G,
                         dAx.data, G, dx.data, D, dh.data, H);
    tu_assert_close("dx", dx.data, tu_golden_get(g, "dx", N * D), N * D, TU_RTOL, TU_ATOL);
    tu_assert_close("dh_prev in place", dh.data, tu_golden_get(g, "dh_prev", N * H), N * H,
                    TU_RTOL, TU_ATOL);
    tu_check_param_grads(g, "", c.params, TL_GRU_NPARAMS, 1);
    TU_FREE_ALL(&x, &h, &hs, &gates, &hh, &dh, &dx, &dAh, &dAx);
    tl_gru_cell_free(&c);
    tu_golden_free(g);
}

/* h_prev = NULL behaves as the zero state: same outputs and dx, no dWh,
 * while bhn still gets its gradient (it enters n without h). */
static void test_zero_state(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 5);
    tl_gru_cell c;
    TU_OK(tl_gru_cell_init(&c, D, H, &rng));
    for (int i = 0; i < G; i++)
        c.params[TL_GRU_B].value.data[i] = (tl_real)tl_rng_normal(&rng);
    for (int i = 0; i < H; i++)
        c.params[TL_GRU_BHN].value.data[i] = (tl_real)tl_rng_normal(&rng);
    tl_tensor x = {0}, dh = {0};
    tu_randn(&x, &rng, 1, 2, (int[]){N, D});
    tu_randn(&dh, &rng, 1, 2, (int[]){N, H});
    tl_real zeros[N * H] = {0}, ga[N * GW], gb[N * GW], hh[N * G], ha[N * H], hb[N * H],
            dAh[N * G], dAx[N * G], dx_a[N * D], dx_b[N * D], dhp[N * H];

    tl_gru_cell_forward(&c, N, x.data, D, NULL, H, ga, GW, hh, G, ha, H);
    tl_gru_cell_forward(&c, N, x.data, D, zeros, H, gb, GW, hh, G, hb, H);
    tu_assert_close_real("gates from NULL vs zeros", ga, gb, N * GW, TU_RTOL, TU_ATOL);
    tu_assert_close_real("h_next from NULL vs zeros", ha, hb, N * H, TU_RTOL, TU_ATOL);

    tl_gru_cell_backward(&c, N, x.data, D, NULL, H, ga, GW, dh.data, H, dAh, G, dAx, G, dx_a, D,
                         NULL, H);
    for (int i = 0; i < H * G; i++)
        assert_true(c.params[TL_GRU_WH].grad.data[i] == 0);
    bool bhn_grad = false;
    for (int i = 0; i < H; i++)
        bhn_grad |= c.params[TL_GRU_BHN].grad.data[i] != 0;
    assert_true(bhn_grad);
    tl_gru_cell_backward(&c, N, x.data, D, zeros, H, gb, GW, dh.data, H, dAh, G, dAx, G, dx_b, D,
                         dhp, H);
    tu_assert_close_real("dx from NULL vs zeros", dx_a, dx_b, N * D, TU_RTOL, TU_ATOL);
    for (int i = 0; i < H * G; i++)
        assert_true(c.params[TL_GRU_WH].grad.data[i] == 0);  /* h = 0 contributes nothing */
    TU_FREE_ALL(&x, &dh);
    tl_gru_cell_free(&c);
}

/* Biases of ±1e4 saturate the gates exactly, without overflow: with r, z
 * driven to 1 and n to ±1, h' = h; with z driven to 0, h' = n = ±1.
 * Backward stays finite. */
static void test_saturated_gates(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 6);
    tl_gru_cell c;
    TU_OK(tl_gru_cell_init(&c, D, H, NULL));
    tl_tensor x = {0}, h = {0}, dh = {0};
    TU_OK(tl_tensor_zeros2(&x, N, D));
    tu_randn(&h, &rng, 1, 2, (int[]){N, H});
    tu_randn(&dh, &rng, 1, 2, (int[]){N, H});
    tl_real gates[N * GW], hh[N * G], hn[N * H], dAh[N * G], dAx[N * G], dx[N * D], dhp[N * H];
    for (int sign = -1; sign <= 1; sign += 2) {
        for (int j = 0; j < H; j++) {
            c.params[TL_GRU_B].value.data[j] = (tl_real)1e4;              /* r = 1 */
            c.params[TL_GRU_B].value.data[H + j] = (tl_real)(sign * 1e4); /* z = 1 or 0 */
            c.params[TL_GRU_B].value.data[2 * H + j] = (tl_real)(sign * 1e4);
        }
        tl_gru_cell_forward(&c, N, x.data, D, h.data, H, gates, GW, hh, G, hn, H);
        for (int i = 0; i < N * H; i++) {
            double want = sign > 0 ? h.data[i] : -1;
            assert_true(fabs(hn[i] - want) <= TU_ATOL + TU_RTOL * fabs(want));
        }
        tl_gru_cell_backward(&c, N, x.data, D, h.data, H, gates, GW, dh.data, H, dAh, G, dAx, G,
                             dx, D, dhp, H);
        for (int i = 0; i < N * G; i++)
            assert_true(isfinite(dAh[i]) && isfinite(dAx[i]));
        for (int i = 0; i < N * H; i++)
            assert_true(isfinite(dhp[i]));
    }
    TU_FREE_ALL(&x, &h, &dh);
    tl_gru_cell_free(&c);
}

/* ---- numerical gradient check ------------------------------------------ */

/* L = Σ R ⊙ h' with a fixed random R, so dL/dh' = R. */
typedef struct {
    tl_gru_cell *c;
    tl_tensor x, h, R, gates, hh, hn;
} cell_objective;

static double objective(void *ctx)
{
    cell_objective *o = ctx;
    tl_gru_cell_forward(o->c, N, o->x.data, D, o->h.data, H, o->gates.data, GW, o->hh.data, G,
                        o->hn.data, H);
    double s = 0;
    for (size_t i = 0; i < o->hn.size; i++)
        s += (double)o->hn.data[i] * o->R.data[i];
    return s;
}

static void test_gradcheck(void **state)
{
    (void)state;
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, 17);
    tl_gru_cell c;
    TU_OK(tl_gru_cell_init(&c, D, H, &rng));
    for (int i = 0; i < G; i++)
        c.params[TL_GRU_B].value.data[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    for (int i = 0; i < H; i++)
        c.params[TL_GRU_BHN].value.data[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    cell_objective o = {.c = &c};
    tu_randn(&o.x, &rng, 1, 2, (int[]){N, D});
    tu_randn(&o.h, &rng, 1, 2, (int[]){N, H});
    tu_randn(&o.R, &rng, 1, 2, (int[]){N, H});
    TU_OK(tl_tensor_zeros2(&o.gates, N, GW));
    TU_OK(tl_tensor_zeros2(&o.hh, N, G));
    TU_OK(tl_tensor_zeros2(&o.hn, N, H));

    tl_real dAh[N * G], dAx[N * G], dx[N * D], dhp[N * H];
    objective(&o);
    tl_gru_cell_backward(&c, N, o.x.data, D, o.h.data, H, o.gates.data, GW, o.R.data, H, dAh, G,
                         dAx, G, dx, D, dhp, H);
    tl_gradcheck_entry e[TL_GRU_NPARAMS + 2];
    int n = TL_GRU_NPARAMS;
    tu_central_difference_params(objective, &o, c.params, TL_GRU_NPARAMS, e);
    e[n++] = tu_central_difference(objective, &o, "x", o.x.data, dx, N * D);
    e[n++] = tu_central_difference(objective, &o, "h_prev", o.h.data, dhp, N * H);
    tu_check_gradients("GRU cell", e, n, TU_GRADCHECK_BOUND);

    TU_FREE_ALL(&o.x, &o.h, &o.R, &o.gates, &o.hh, &o.hn);
    tl_gru_cell_free(&c);
}

/* ---- initialisation and errors ----------------------------------------- */

static void test_init(void **state)
{
    (void)state;
    enum { BD = 400, BH = 100 };
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_gru_cell c;
    TU_OK(tl_gru_cell_init(&c, BD, BH, &rng));
    assert_int_equal(c.params[TL_GRU_WX].value.shape[0], BD);
    assert_int_equal(c.params[TL_GRU_WX].value.shape[1], 3 * BH);
    assert_int_equal(c.params[TL_GRU_WH].value.shape[0], BH);
    assert_int_equal(c.params[TL_GRU_WH].value.shape[1], 3 * BH);
    assert_int_equal(c.params[TL_GRU_B].value.shape[0], 3 * BH);
    assert_int_equal(c.params[TL_GRU_BHN].value.shape[0], BH);
    /* 120,000 and 30,000 draws: sd within 3% of 1/sqrt(fan-in). */
    tu_assert_init_scale(&c.params[TL_GRU_WX].value, BD, 0.005);
    tu_assert_init_scale(&c.params[TL_GRU_WH].value, BH, 0.01);
    for (int i = 0; i < 3 * BH; i++)
        assert_true(c.params[TL_GRU_B].value.data[i] == 0);
    for (int i = 0; i < BH; i++)
        assert_true(c.params[TL_GRU_BHN].value.data[i] == 0);
    tl_gru_cell_free(&c);
    tl_gru_cell_free(&c);  /* freeing twice is harmless */
}

static void test_init_errors(void **state)
{
    (void)state;
    tl_gru_cell c;
    assert_int_equal(tl_gru_cell_init(&c, 0, H, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "D=0"));
    tl_gru_cell_free(&c);
    assert_int_equal(tl_gru_cell_init(&c, D, -2, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "H=-2"));
    tl_gru_cell_free(&c);
    assert_int_equal(tl_gru_cell_init(NULL, D, H, NULL), TL_ERR_ARG);
    assert_int_equal(tl_gru_cell_init(&c, 1, 1 << 30, NULL), TL_ERR_NOMEM);
    assert_non_null(strstr(tl_last_error(), "4*H"));
    tl_gru_cell_free(&c);
    assert_int_equal(tl_gru_cell_init(&c, 1, 1 << 16, NULL), TL_ERR_NOMEM);
    tl_gru_cell_free(&c);
    tl_gru_cell_free(NULL);
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
