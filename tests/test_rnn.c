/* TimeRNN: PyTorch goldens (tanh, sigmoid; stateful and not), gradient checks
 * in both modes, state semantics, buffer reuse, errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { N = 2, T = 4, D = 3, H = 5 };

static const char *act_name(tl_activation act) { return act == TL_ACT_TANH ? "tanh" : "sigmoid"; }

static const double *gold(const tu_golden *g, tl_activation act, const char *what, size_t n)
{
    char key[64];
    snprintf(key, sizeof key, "%s_%s", act_name(act), what);
    return tu_golden_get(g, key, n);
}

static tl_layer *golden_layer(const tu_golden *g, bool stateful, tl_activation act)
{
    tl_layer *l;
    TU_OK(tl_time_rnn_create(&l, D, H, stateful, act, NULL));
    int np;
    tl_param *p = tl_layer_params(l, &np);
    assert_int_equal(np, 3);
    assert_string_equal(p[0].name, "Wx");
    assert_string_equal(p[1].name, "Wh");
    assert_string_equal(p[2].name, "b");
    tu_golden_tensor(g, "Wx", &p[0].value, 2, (int[]){D, H});
    tu_golden_tensor(g, "Wh", &p[1].value, 2, (int[]){H, H});
    tu_golden_tensor(g, "b", &p[2].value, 1, (int[]){H});
    return l;
}

/* x[:, t0:t1, :] as a new (N, t1 - t0, W) tensor. */
static void time_slice(const tl_tensor *x, int t0, int t1, tl_tensor *out)
{
    int n = x->shape[0], t = x->shape[1], w = x->shape[2];
    TU_OK(tl_tensor_resize(out, TL_REAL, 3, (int[]){n, t1 - t0, w}));
    for (int i = 0; i < n; i++)
        memcpy(out->data + (size_t)i * (t1 - t0) * w, x->data + ((size_t)i * t + t0) * w,
               (size_t)(t1 - t0) * w * sizeof(tl_real));
}

static void assert_same_tensor(const char *what, const tl_tensor *a, const tl_tensor *b)
{
    if (!tl_tensor_same_shape(a, b)) {
        char sa[48], sb[48];
        fail_msg("%s: shape %s vs %s", what, tl_tensor_shape_str(a, sa, sizeof sa),
                 tl_tensor_shape_str(b, sb, sizeof sb));
    }
    tu_assert_close_real(what, a->data, b->data, a->size, TU_RTOL, TU_ATOL);
}

static bool differs(const tl_tensor *a, const tl_tensor *b)
{
    for (size_t i = 0; i < a->size; i++)
        if (fabs(a->data[i] - b->data[i]) > 1e-3)
            return true;
    return false;
}

/* ---- goldens ------------------------------------------------------------ */

/* set_state(h0), forward, two backwards: y, the carried state, dx and dh0
 * (unchanged by the second backward: nothing carries over), grads doubled. */
static void golden_case(bool stateful, tl_activation act)
{
    tu_golden *g = tu_golden_load("rnn.txt");
    tl_layer *l = golden_layer(g, stateful, act);
    tl_tensor x = {0}, h0 = {0}, dy = {0};
    tu_golden_tensor(g, "x", &x, 3, (int[]){N, T, D});
    tu_golden_tensor(g, "h0", &h0, 2, (int[]){N, H});
    tu_golden_tensor(g, "dy", &dy, 3, (int[]){N, T, H});

    const tl_tensor *y, *dx, *h, *c = &x, *dh0, *dc0 = &x;
    TU_OK(tl_layer_set_state(l, &h0, NULL));
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], N);
    assert_int_equal(y->shape[1], T);
    assert_int_equal(y->shape[2], H);
    tu_assert_close("y", y->data, gold(g, act, "y", N * T * H), N * T * H, TU_RTOL, TU_ATOL);
    TU_OK(tl_layer_get_state(l, &h, &c));
    assert_null(c);
    assert_int_equal(h->ndim, 2);
    assert_int_equal(h->shape[0], N);
    tu_assert_close("hT", h->data, gold(g, act, "hT", N * H), N * H, TU_RTOL, TU_ATOL);

    for (int k = 0; k < 2; k++) {
        TU_OK(tl_layer_backward(l, &dy, &dx));
        tu_assert_close("dx", dx->data, gold(g, act, "dx", N * T * D), N * T * D, TU_RTOL,
                        TU_ATOL);
        TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
        assert_null(dc0);
        tu_assert_close("dh0", dh0->data, gold(g, act, "dh0", N * H), N * H, TU_RTOL, TU_ATOL);
    }
    tl_param *p = tl_layer_params(l, NULL);
    const char *names[] = {"dWx", "dWh", "db"};
    for (int i = 0; i < 3; i++) {
        const double *want = gold(g, act, names[i], p[i].grad.size);
        for (size_t k = 0; k < p[i].grad.size; k++)
            if (fabs(p[i].grad.data[k] - 2 * want[k]) > TU_ATOL + TU_RTOL * fabs(2 * want[k]))
                fail_msg("%s %s (accumulated twice)[%zu]: got %.10g, expected %.10g",
                         act_name(act), names[i], k, (double)p[i].grad.data[k], 2 * want[k]);
    }
    tl_tensor_free(&x);
    tl_tensor_free(&h0);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

static void test_golden_tanh_stateful(void **state)
{
    (void)state;
    golden_case(true, TL_ACT_TANH);
}

static void test_golden_tanh_stateless(void **state)
{
    (void)state;
    golden_case(false, TL_ACT_TANH);
}

static void test_golden_sigmoid_stateful(void **state)
{
    (void)state;
    golden_case(true, TL_ACT_SIGMOID);
}

static void test_golden_sigmoid_stateless(void **state)
{
    (void)state;
    golden_case(false, TL_ACT_SIGMOID);
}

/* ---- gradient checks ---------------------------------------------------- */

static void gradcheck_case(bool stateful, tl_activation act, uint64_t seed)
{
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_layer *l;
    TU_OK(tl_time_rnn_create(&l, D, H, stateful, act, &rng));
    tl_param *p = tl_layer_params(l, NULL);
    for (int i = 0; i < H; i++)
        p[2].value.data[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    tl_tensor x = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tl_gradcheck_entry e[8];
    int n;
    TU_OK(tl_gradcheck_layer(l, &x, NULL, &(tl_gradcheck_opts){.seed = seed + 1}, e, 8, &n));
    assert_int_equal(n, 5);
    const char *names[] = {"Wx", "Wh", "b", "x", "h0"};
    for (int i = 0; i < n; i++)
        assert_string_equal(e[i].name, names[i]);
    char what[48];
    snprintf(what, sizeof what, "TimeRNN %s %s", act_name(act),
             stateful ? "stateful" : "stateless");
    tu_check_gradients(what, e, n, TU_GRADCHECK_BOUND);
    tl_tensor_free(&x);
    tl_layer_destroy(l);
}

static void test_gradcheck_tanh_stateful(void **state)
{
    (void)state;
    gradcheck_case(true, TL_ACT_TANH, 31);
}

static void test_gradcheck_tanh_stateless(void **state)
{
    (void)state;
    gradcheck_case(false, TL_ACT_TANH, 41);
}

static void test_gradcheck_sigmoid_stateful(void **state)
{
    (void)state;
    gradcheck_case(true, TL_ACT_SIGMOID, 51);
}

static void test_gradcheck_sigmoid_stateless(void **state)
{
    (void)state;
    gradcheck_case(false, TL_ACT_SIGMOID, 61);
}

/* ---- state -------------------------------------------------------------- */

/* Two layers with the same weights (same seed). */
static void twin_layers(tl_layer **a, bool sa, tl_layer **b, bool sb)
{
    tl_rng r1, r2;
    tl_rng_seed(&r1, 77);
    tl_rng_seed(&r2, 77);
    TU_OK(tl_time_rnn_create(a, D, H, sa, TL_ACT_TANH, &r1));
    TU_OK(tl_time_rnn_create(b, D, H, sb, TL_ACT_TANH, &r2));
}

/* Stateful: one call on T = 4 equals two calls on T = 2, outputs and state. */
static void test_stateful_chunks(void **state)
{
    (void)state;
    tl_layer *whole, *chunked;
    twin_layers(&whole, true, &chunked, true);
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_tensor x = {0}, x1 = {0}, x2 = {0}, y_whole = {0}, part = {0}, h_whole = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    time_slice(&x, 0, 2, &x1);
    time_slice(&x, 2, 4, &x2);

    const tl_tensor *y, *h;
    TU_OK(tl_layer_forward(whole, &x, &y));
    TU_OK(tl_tensor_copy(&y_whole, y));
    TU_OK(tl_layer_get_state(whole, &h, NULL));
    TU_OK(tl_tensor_copy(&h_whole, h));

    TU_OK(tl_layer_forward(chunked, &x1, &y));
    time_slice(&y_whole, 0, 2, &part);
    assert_same_tensor("first chunk", y, &part);
    TU_OK(tl_layer_forward(chunked, &x2, &y));
    time_slice(&y_whole, 2, 4, &part);
    assert_same_tensor("second chunk (carried state)", y, &part);
    TU_OK(tl_layer_get_state(chunked, &h, NULL));
    assert_same_tensor("state after two chunks", h, &h_whole);

    tl_tensor *owned[] = {&x, &x1, &x2, &y_whole, &part, &h_whole};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_layer_destroy(whole);
    tl_layer_destroy(chunked);
}

/* Not stateful: every forward starts from zeros; get_state still reports the
 * last h. */
static void test_stateless_restarts(void **state)
{
    (void)state;
    tl_layer *l, *fresh;
    twin_layers(&l, false, &fresh, false);
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_tensor x = {0}, x2 = {0}, last = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    time_slice(&x, 2, 4, &x2);

    const tl_tensor *y, *y_fresh, *h;
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_layer_get_state(l, &h, NULL));
    time_slice(y, T - 1, T, &last);
    assert_int_equal(h->size, N * H);
    tu_assert_close_real("get_state = last step", h->data, last.data, N * H, TU_RTOL, TU_ATOL);

    TU_OK(tl_layer_forward(l, &x2, &y));
    TU_OK(tl_layer_forward(fresh, &x2, &y_fresh));
    assert_same_tensor("stateless second call starts from zeros", y, y_fresh);

    tl_tensor_free(&x);
    tl_tensor_free(&x2);
    tl_tensor_free(&last);
    tl_layer_destroy(l);
    tl_layer_destroy(fresh);
}

/* reset_state brings a stateful layer back to the zero start. */
static void test_reset_state(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 10);
    tl_layer *l;
    TU_OK(tl_time_rnn_create(&l, D, H, true, TL_ACT_TANH, &rng));
    tl_tensor x = {0}, y0 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    const tl_tensor *y, *h;
    TU_OK(tl_layer_get_state(l, &h, NULL));
    assert_int_equal(h->size, 0);  /* a new layer holds the zero state */

    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_tensor_copy(&y0, y));
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_true(differs(y, &y0));  /* carried state: not the zero start */

    tl_layer_reset_state(l);
    TU_OK(tl_layer_get_state(l, &h, NULL));
    assert_int_equal(h->size, 0);
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_same_tensor("after reset_state", y, &y0);

    tl_tensor_free(&x);
    tl_tensor_free(&y0);
    tl_layer_destroy(l);
}

/* set_state decides the start of the next forward in both modes; in the
 * stateless mode it is used once. The stateful twin checks the outputs. */
static void set_state_case(bool stateful)
{
    tl_layer *l, *ref;
    twin_layers(&l, stateful, &ref, true);
    tl_rng rng;
    tl_rng_seed(&rng, 12);
    tl_tensor x = {0}, h0 = {0}, y1 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&h0, &rng, 1, 2, (int[]){N, H});
    const tl_tensor *y, *y_ref, *h;

    TU_OK(tl_layer_set_state(l, &h0, NULL));
    TU_OK(tl_layer_get_state(l, &h, NULL));
    assert_same_tensor("get_state after set_state", h, &h0);
    h0.data[0] += 1;  /* set_state copied: later edits do not leak in */
    TU_OK(tl_layer_forward(l, &x, &y));
    h0.data[0] -= 1;
    TU_OK(tl_tensor_copy(&y1, y));

    /* Reference: zero start vs h0 start must differ, and h0 must match. */
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    assert_true(differs(&y1, y_ref));
    tl_layer_reset_state(ref);
    TU_OK(tl_layer_set_state(ref, &h0, NULL));
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    assert_same_tensor("forward from the set state", &y1, y_ref);

    /* Next call: stateful carries on from y1's end, stateless restarts at 0. */
    TU_OK(tl_layer_forward(l, &x, &y));
    if (stateful) {
        TU_OK(tl_layer_forward(ref, &x, &y_ref));
    } else {
        tl_layer_reset_state(ref);
        TU_OK(tl_layer_forward(ref, &x, &y_ref));
    }
    assert_same_tensor(stateful ? "carried after set_state" : "set_state used only once", y,
                       y_ref);

    tl_tensor_free(&x);
    tl_tensor_free(&h0);
    tl_tensor_free(&y1);
    tl_layer_destroy(l);
    tl_layer_destroy(ref);
}

static void test_set_state_stateful(void **state)
{
    (void)state;
    set_state_case(true);
}

static void test_set_state_stateless(void **state)
{
    (void)state;
    set_state_case(false);
}

static void test_batch_size_change(void **state)
{
    (void)state;
    tl_layer *sl, *nl;
    twin_layers(&sl, true, &nl, false);
    tl_tensor x2 = {0}, x3 = {0}, h3 = {0};
    TU_OK(tl_tensor_zeros3(&x2, 2, T, D));
    TU_OK(tl_tensor_zeros3(&x3, 3, T, D));
    TU_OK(tl_tensor_zeros2(&h3, 3, H));
    const tl_tensor *y, *h;

    TU_OK(tl_layer_forward(sl, &x2, &y));
    assert_int_equal(tl_layer_forward(sl, &x3, &y), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "batch size 2"));
    assert_non_null(strstr(tl_last_error(), "batch size 3"));
    assert_non_null(strstr(tl_last_error(), "reset_state"));
    TU_OK(tl_layer_get_state(sl, &h, NULL));
    assert_int_equal(h->shape[0], 2);  /* the refused call changed nothing */
    tl_layer_reset_state(sl);
    TU_OK(tl_layer_forward(sl, &x3, &y));
    assert_int_equal(y->shape[0], 3);
    TU_OK(tl_layer_set_state(sl, &h3, NULL));   /* or a state of the new size */
    assert_int_equal(tl_layer_forward(sl, &x2, &y), TL_ERR_STATE);
    TU_OK(tl_layer_forward(sl, &x3, &y));

    /* Stateless: the batch size may change, unless a set state disagrees. */
    TU_OK(tl_layer_forward(nl, &x2, &y));
    TU_OK(tl_layer_forward(nl, &x3, &y));
    TU_OK(tl_layer_forward(nl, &x2, &y));
    TU_OK(tl_layer_set_state(nl, &h3, NULL));
    assert_int_equal(tl_layer_forward(nl, &x2, &y), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "set_state"));
    TU_OK(tl_layer_forward(nl, &x3, &y));

    tl_tensor_free(&x2);
    tl_tensor_free(&x3);
    tl_tensor_free(&h3);
    tl_layer_destroy(sl);
    tl_layer_destroy(nl);
}

/* The state does not stop the layer from being reused: same buffers every
 * call, also when N*T shrinks. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 13);
    tl_layer *l;
    TU_OK(tl_time_rnn_create(&l, D, H, false, TL_ACT_TANH, &rng));
    tl_tensor x = {0}, dy = {0}, xs = {0}, dys = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    time_slice(&x, 0, 2, &xs);
    time_slice(&dy, 0, 2, &dys);
    const tl_tensor *y, *dx, *dh0;
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    TU_OK(tl_layer_state_grad(l, &dh0, NULL));
    const tl_real *py = y->data, *pdx = dx->data, *pdh0 = dh0->data;
    for (int k = 0; k < 3; k++) {
        const tl_tensor *xi = k == 1 ? &xs : &x, *dyi = k == 1 ? &dys : &dy;
        TU_OK(tl_layer_forward(l, xi, &y));
        TU_OK(tl_layer_backward(l, dyi, &dx));
        TU_OK(tl_layer_state_grad(l, &dh0, NULL));
        assert_ptr_equal(y->data, py);
        assert_ptr_equal(dx->data, pdx);
        assert_ptr_equal(dh0->data, pdh0);
    }
    tl_tensor *owned[] = {&x, &dy, &xs, &dys};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_layer_destroy(l);
}

/* ---- errors ------------------------------------------------------------- */

static void test_create_errors(void **state)
{
    (void)state;
    tl_layer *l = (tl_layer *)&l;
    assert_int_equal(tl_time_rnn_create(&l, 0, H, true, TL_ACT_TANH, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "positive"));
    assert_int_equal(tl_time_rnn_create(&l, D, 0, true, TL_ACT_TANH, NULL), TL_ERR_ARG);
    assert_int_equal(tl_time_rnn_create(&l, D, H, true, (tl_activation)2, NULL), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "activation"));
    assert_null(l);
    assert_int_equal(tl_time_rnn_create(NULL, D, H, true, TL_ACT_TANH, NULL), TL_ERR_ARG);
}

static void test_shape_errors(void **state)
{
    (void)state;
    tl_layer *l;
    TU_OK(tl_time_rnn_create(&l, D, H, true, TL_ACT_TANH, NULL));
    assert_true(tl_layer_has_state(l));
    assert_string_equal(tl_layer_type(l), "TimeRNN");
    tl_tensor x = {0}, bad = {0}, ids = {0}, c = {0};
    const tl_tensor *y, *dx, *dh0;

    assert_int_equal(tl_layer_backward(l, &x, &dx), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "before"));
    assert_int_equal(tl_layer_state_grad(l, &dh0, NULL), TL_ERR_STATE);

    TU_OK(tl_tensor_zeros2(&bad, N, D));
    assert_int_equal(tl_layer_forward(l, &bad, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(N, T, 3)"));
    TU_OK(tl_tensor_zeros3(&bad, N, T, D + 1));
    assert_int_equal(tl_layer_forward(l, &bad, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(2, 4, 4)"));
    TU_OK(tl_tensor_zeros3(&bad, N, 0, D));
    assert_int_equal(tl_layer_forward(l, &bad, &y), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros(&ids, TL_INT32, 3, (int[]){N, T, D}));
    assert_int_equal(tl_layer_forward(l, &ids, &y), TL_ERR_ARG);

    TU_OK(tl_tensor_zeros3(&x, N, T, D));
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_tensor_zeros3(&bad, N, T, H + 1));
    assert_int_equal(tl_layer_backward(l, &bad, &dx), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros3(&bad, N, T - 1, H));
    assert_int_equal(tl_layer_backward(l, &bad, &dx), TL_ERR_SHAPE);

    TU_OK(tl_tensor_zeros1(&bad, H));
    assert_int_equal(tl_layer_set_state(l, &bad, NULL), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros2(&bad, N, H + 1));
    assert_int_equal(tl_layer_set_state(l, &bad, NULL), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(N, 5)"));
    TU_OK(tl_tensor_zeros2(&bad, 0, H));
    assert_int_equal(tl_layer_set_state(l, &bad, NULL), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros2(&bad, N, H));
    TU_OK(tl_tensor_zeros2(&c, N, H));
    assert_int_equal(tl_layer_set_state(l, &bad, &c), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "c = NULL"));

    tl_tensor *owned[] = {&x, &bad, &ids, &c};
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        tl_tensor_free(owned[i]);
    tl_layer_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_tanh_stateful),
        cmocka_unit_test(test_golden_tanh_stateless),
        cmocka_unit_test(test_golden_sigmoid_stateful),
        cmocka_unit_test(test_golden_sigmoid_stateless),
        cmocka_unit_test(test_gradcheck_tanh_stateful),
        cmocka_unit_test(test_gradcheck_tanh_stateless),
        cmocka_unit_test(test_gradcheck_sigmoid_stateful),
        cmocka_unit_test(test_gradcheck_sigmoid_stateless),
        cmocka_unit_test(test_stateful_chunks),
        cmocka_unit_test(test_stateless_restarts),
        cmocka_unit_test(test_reset_state),
        cmocka_unit_test(test_set_state_stateful),
        cmocka_unit_test(test_set_state_stateless),
        cmocka_unit_test(test_batch_size_change),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
