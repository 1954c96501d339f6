/* TimeLSTM: PyTorch goldens (stateful and not), gradient checks in both
 * modes, state semantics for h and c, truncated BPTT, saturation, buffer
 * reuse, errors. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

enum { N = 2, T = 4, D = 3, H = 5 };

static tl_layer *golden_layer(const tu_golden *g, bool stateful)
{
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, stateful, NULL));
    int np;
    tl_param *p = tl_layer_params(l, &np);
    assert_int_equal(np, 3);
    assert_string_equal(p[0].name, "Wx");
    assert_string_equal(p[1].name, "Wh");
    assert_string_equal(p[2].name, "b");
    tu_golden_tensor(g, "Wx", &p[0].value, 2, (int[]){D, 4 * H});
    tu_golden_tensor(g, "Wh", &p[1].value, 2, (int[]){H, 4 * H});
    tu_golden_tensor(g, "b", &p[2].value, 1, (int[]){4 * H});
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

static void free_all(tl_tensor **t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tl_tensor_free(t[i]);
}
#define FREE_ALL(...)                                                                    \
    free_all((tl_tensor *[]){__VA_ARGS__}, sizeof((tl_tensor *[]){__VA_ARGS__}) /        \
                                               sizeof(tl_tensor *))

/* ---- goldens ------------------------------------------------------------ */

/* set_state(h0, c0), forward, two backwards: y, the carried state, dx, dh0
 * and dc0 (unchanged by the second backward: nothing carries over), grads
 * doubled. */
static void golden_case(bool stateful)
{
    tu_golden *g = tu_golden_load("lstm.txt");
    tl_layer *l = golden_layer(g, stateful);
    tl_tensor x = {0}, h0 = {0}, c0 = {0}, dy = {0};
    tu_golden_tensor(g, "x", &x, 3, (int[]){N, T, D});
    tu_golden_tensor(g, "h0", &h0, 2, (int[]){N, H});
    tu_golden_tensor(g, "c0", &c0, 2, (int[]){N, H});
    tu_golden_tensor(g, "dy", &dy, 3, (int[]){N, T, H});

    const tl_tensor *y, *dx, *h, *c, *dh0, *dc0;
    TU_OK(tl_layer_set_state(l, &h0, &c0));
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], N);
    assert_int_equal(y->shape[1], T);
    assert_int_equal(y->shape[2], H);
    tu_assert_close("y", y->data, tu_golden_get(g, "y", N * T * H), N * T * H, TU_RTOL, TU_ATOL);
    TU_OK(tl_layer_get_state(l, &h, &c));
    assert_int_equal(h->ndim, 2);
    assert_int_equal(h->shape[0], N);
    assert_true(tl_tensor_same_shape(h, c));
    tu_assert_close("hT", h->data, tu_golden_get(g, "hT", N * H), N * H, TU_RTOL, TU_ATOL);
    tu_assert_close("cT", c->data, tu_golden_get(g, "cT", N * H), N * H, TU_RTOL, TU_ATOL);

    for (int k = 0; k < 2; k++) {
        TU_OK(tl_layer_backward(l, &dy, &dx));
        tu_assert_close("dx", dx->data, tu_golden_get(g, "dx", N * T * D), N * T * D, TU_RTOL,
                        TU_ATOL);
        TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
        tu_assert_close("dh0", dh0->data, tu_golden_get(g, "dh0", N * H), N * H, TU_RTOL,
                        TU_ATOL);
        tu_assert_close("dc0", dc0->data, tu_golden_get(g, "dc0", N * H), N * H, TU_RTOL,
                        TU_ATOL);
    }
    tl_param *p = tl_layer_params(l, NULL);
    const char *names[] = {"dWx", "dWh", "db"};
    for (int i = 0; i < 3; i++) {
        const double *want = tu_golden_get(g, names[i], p[i].grad.size);
        for (size_t k = 0; k < p[i].grad.size; k++)
            if (fabs(p[i].grad.data[k] - 2 * want[k]) > TU_ATOL + TU_RTOL * fabs(2 * want[k]))
                fail_msg("%s (accumulated twice)[%zu]: got %.10g, expected %.10g", names[i], k,
                         (double)p[i].grad.data[k], 2 * want[k]);
    }
    FREE_ALL(&x, &h0, &c0, &dy);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

static void test_golden_stateful(void **state)
{
    (void)state;
    golden_case(true);
}

static void test_golden_stateless(void **state)
{
    (void)state;
    golden_case(false);
}

/* ---- gradient checks ---------------------------------------------------- */

static void gradcheck_case(bool stateful, uint64_t seed)
{
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, stateful, &rng));
    tl_param *p = tl_layer_params(l, NULL);
    for (int i = 0; i < 4 * H; i++)
        p[2].value.data[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    tl_tensor x = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tl_gradcheck_entry e[8];
    int n;
    TU_OK(tl_gradcheck_layer(l, &x, NULL, &(tl_gradcheck_opts){.seed = seed + 1}, e, 8, &n));
    assert_int_equal(n, 6);
    const char *names[] = {"Wx", "Wh", "b", "x", "h0", "c0"};
    for (int i = 0; i < n; i++)
        assert_string_equal(e[i].name, names[i]);
    tu_check_gradients(stateful ? "TimeLSTM stateful" : "TimeLSTM stateless", e, n,
                       TU_GRADCHECK_BOUND);
    tl_tensor_free(&x);
    tl_layer_destroy(l);
}

static void test_gradcheck_stateful(void **state)
{
    (void)state;
    gradcheck_case(true, 31);
}

static void test_gradcheck_stateless(void **state)
{
    (void)state;
    gradcheck_case(false, 41);
}

/* ---- state -------------------------------------------------------------- */

/* Two layers with the same weights (same seed). */
static void twin_layers(tl_layer **a, bool sa, tl_layer **b, bool sb)
{
    tl_rng r1, r2;
    tl_rng_seed(&r1, 77);
    tl_rng_seed(&r2, 77);
    TU_OK(tl_time_lstm_create(a, D, H, sa, &r1));
    TU_OK(tl_time_lstm_create(b, D, H, sb, &r2));
}

/* Stateful: one call on T = 4 equals two calls on T = 2, outputs and state. */
static void test_stateful_chunks(void **state)
{
    (void)state;
    tl_layer *whole, *chunked;
    twin_layers(&whole, true, &chunked, true);
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_tensor x = {0}, x1 = {0}, x2 = {0}, y_whole = {0}, part = {0}, h_whole = {0},
              c_whole = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    time_slice(&x, 0, 2, &x1);
    time_slice(&x, 2, 4, &x2);

    const tl_tensor *y, *h, *c;
    TU_OK(tl_layer_forward(whole, &x, &y));
    TU_OK(tl_tensor_copy(&y_whole, y));
    TU_OK(tl_layer_get_state(whole, &h, &c));
    TU_OK(tl_tensor_copy(&h_whole, h));
    TU_OK(tl_tensor_copy(&c_whole, c));

    TU_OK(tl_layer_forward(chunked, &x1, &y));
    time_slice(&y_whole, 0, 2, &part);
    assert_same_tensor("first chunk", y, &part);
    TU_OK(tl_layer_forward(chunked, &x2, &y));
    time_slice(&y_whole, 2, 4, &part);
    assert_same_tensor("second chunk (carried state)", y, &part);
    TU_OK(tl_layer_get_state(chunked, &h, &c));
    assert_same_tensor("h after two chunks", h, &h_whole);
    assert_same_tensor("c after two chunks", c, &c_whole);

    FREE_ALL(&x, &x1, &x2, &y_whole, &part, &h_whole, &c_whole);
    tl_layer_destroy(whole);
    tl_layer_destroy(chunked);
}

/* Truncated BPTT: the backward of a second stateful chunk is that of a
 * layer started from the carried state; nothing flows back into chunk 1. */
static void test_truncated_bptt(void **state)
{
    (void)state;
    tl_layer *l, *ref;
    twin_layers(&l, true, &ref, false);
    tl_rng rng;
    tl_rng_seed(&rng, 14);
    tl_tensor x1 = {0}, x2 = {0}, dy = {0}, h1 = {0}, c1 = {0}, dx = {0}, dh0 = {0}, dc0 = {0};
    tu_randn(&x1, &rng, 1, 3, (int[]){N, 2, D});
    tu_randn(&x2, &rng, 1, 3, (int[]){N, 3, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, 3, H});
    const tl_tensor *y, *h, *c, *d, *dh, *dc;

    TU_OK(tl_layer_forward(l, &x1, &y));
    TU_OK(tl_layer_get_state(l, &h, &c));
    TU_OK(tl_tensor_copy(&h1, h));
    TU_OK(tl_tensor_copy(&c1, c));
    TU_OK(tl_layer_forward(l, &x2, &y));
    TU_OK(tl_layer_backward(l, &dy, &d));
    TU_OK(tl_tensor_copy(&dx, d));
    TU_OK(tl_layer_state_grad(l, &dh, &dc));
    TU_OK(tl_tensor_copy(&dh0, dh));
    TU_OK(tl_tensor_copy(&dc0, dc));

    TU_OK(tl_layer_set_state(ref, &h1, &c1));
    TU_OK(tl_layer_forward(ref, &x2, &y));
    TU_OK(tl_layer_backward(ref, &dy, &d));
    assert_same_tensor("dx of the second chunk", &dx, d);
    TU_OK(tl_layer_state_grad(ref, &dh, &dc));
    assert_same_tensor("dh0 of the second chunk", &dh0, dh);
    assert_same_tensor("dc0 of the second chunk", &dc0, dc);
    tl_param *p = tl_layer_params(l, NULL), *q = tl_layer_params(ref, NULL);
    for (int i = 0; i < 3; i++)
        assert_same_tensor(p[i].name, &p[i].grad, &q[i].grad);

    FREE_ALL(&x1, &x2, &dy, &h1, &c1, &dx, &dh0, &dc0);
    tl_layer_destroy(l);
    tl_layer_destroy(ref);
}

/* Not stateful: every forward starts from zeros; get_state still reports the
 * last (h, c), the same as a stateful twin's. */
static void test_stateless_restarts(void **state)
{
    (void)state;
    tl_layer *l, *fresh;
    twin_layers(&l, false, &fresh, true);
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_tensor x = {0}, x2 = {0}, last = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    time_slice(&x, 2, 4, &x2);

    const tl_tensor *y, *y_fresh, *h, *c, *h_fresh, *c_fresh;
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_layer_get_state(l, &h, &c));
    time_slice(y, T - 1, T, &last);
    assert_int_equal(h->size, N * H);
    tu_assert_close_real("get_state h = last step", h->data, last.data, N * H, TU_RTOL, TU_ATOL);
    TU_OK(tl_layer_forward(fresh, &x, &y_fresh));
    TU_OK(tl_layer_get_state(fresh, &h_fresh, &c_fresh));
    assert_same_tensor("get_state c = last step", c, c_fresh);

    TU_OK(tl_layer_forward(l, &x2, &y));
    tl_layer_reset_state(fresh);
    TU_OK(tl_layer_forward(fresh, &x2, &y_fresh));
    assert_same_tensor("stateless second call starts from zeros", y, y_fresh);

    FREE_ALL(&x, &x2, &last);
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
    TU_OK(tl_time_lstm_create(&l, D, H, true, &rng));
    tl_tensor x = {0}, y0 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    const tl_tensor *y, *h, *c;
    TU_OK(tl_layer_get_state(l, &h, &c));
    assert_int_equal(h->size, 0);  /* a new layer holds the zero state */
    assert_int_equal(c->size, 0);

    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_tensor_copy(&y0, y));
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_true(differs(y, &y0));  /* carried state: not the zero start */

    tl_layer_reset_state(l);
    TU_OK(tl_layer_get_state(l, &h, &c));
    assert_int_equal(h->size, 0);
    assert_int_equal(c->size, 0);
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_same_tensor("after reset_state", y, &y0);

    FREE_ALL(&x, &y0);
    tl_layer_destroy(l);
}

/* set_state decides the start of the next forward in both modes; in the
 * stateless mode it is used once. With_c false sets h only, which must act
 * as c = 0. The stateful twin, given (h0, c0 or zeros), checks the outputs. */
static void set_state_case(bool stateful, bool with_c)
{
    tl_layer *l, *ref;
    twin_layers(&l, stateful, &ref, true);
    tl_rng rng;
    tl_rng_seed(&rng, 12);
    tl_tensor x = {0}, h0 = {0}, c0 = {0}, y1 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&h0, &rng, 1, 2, (int[]){N, H});
    if (with_c)
        tu_randn(&c0, &rng, 1, 2, (int[]){N, H});
    else
        TU_OK(tl_tensor_zeros2(&c0, N, H));
    const tl_tensor *y, *y_ref, *h, *c;

    TU_OK(tl_layer_forward(l, &x, &y));  /* a c from before must not survive set_state(h) */
    TU_OK(tl_layer_set_state(l, &h0, with_c ? &c0 : NULL));
    TU_OK(tl_layer_get_state(l, &h, &c));
    assert_same_tensor("get_state h after set_state", h, &h0);
    if (with_c)
        assert_same_tensor("get_state c after set_state", c, &c0);
    else
        assert_int_equal(c->size, 0);  /* c = NULL: zeros */
    h0.data[0] += 1;  /* set_state copied: later edits do not leak in */
    c0.data[1] += 1;
    TU_OK(tl_layer_forward(l, &x, &y));
    h0.data[0] -= 1;
    c0.data[1] -= 1;
    TU_OK(tl_tensor_copy(&y1, y));

    /* Reference: zero start vs (h0, c0) start must differ, and (h0, c0) match. */
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    assert_true(differs(&y1, y_ref));
    tl_layer_reset_state(ref);
    TU_OK(tl_layer_set_state(ref, &h0, &c0));
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    assert_same_tensor("forward from the set state", &y1, y_ref);

    /* Next call: stateful carries on from y1's end, stateless restarts at 0. */
    TU_OK(tl_layer_forward(l, &x, &y));
    if (!stateful)
        tl_layer_reset_state(ref);
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    assert_same_tensor(stateful ? "carried after set_state" : "set_state used only once", y,
                       y_ref);

    FREE_ALL(&x, &h0, &c0, &y1);
    tl_layer_destroy(l);
    tl_layer_destroy(ref);
}

static void test_set_state_stateful(void **state)
{
    (void)state;
    set_state_case(true, true);
    set_state_case(true, false);
}

static void test_set_state_stateless(void **state)
{
    (void)state;
    set_state_case(false, true);
    set_state_case(false, false);
}

/* A c set with h matters: (h0, c0) and (h0, 0) give different outputs. */
static void test_set_state_c_matters(void **state)
{
    (void)state;
    tl_layer *a, *b;
    twin_layers(&a, false, &b, false);
    tl_rng rng;
    tl_rng_seed(&rng, 15);
    tl_tensor x = {0}, h0 = {0}, c0 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&h0, &rng, 1, 2, (int[]){N, H});
    tu_randn(&c0, &rng, 1, 2, (int[]){N, H});
    const tl_tensor *ya, *yb;
    TU_OK(tl_layer_set_state(a, &h0, &c0));
    TU_OK(tl_layer_set_state(b, &h0, NULL));
    TU_OK(tl_layer_forward(a, &x, &ya));
    TU_OK(tl_layer_forward(b, &x, &yb));
    assert_true(differs(ya, yb));
    FREE_ALL(&x, &h0, &c0);
    tl_layer_destroy(a);
    tl_layer_destroy(b);
}

static void test_batch_size_change(void **state)
{
    (void)state;
    tl_layer *sl, *nl;
    twin_layers(&sl, true, &nl, false);
    tl_tensor x2 = {0}, x3 = {0}, h3 = {0}, c3 = {0};
    TU_OK(tl_tensor_zeros3(&x2, 2, T, D));
    TU_OK(tl_tensor_zeros3(&x3, 3, T, D));
    TU_OK(tl_tensor_zeros2(&h3, 3, H));
    TU_OK(tl_tensor_zeros2(&c3, 3, H));
    const tl_tensor *y, *h, *c;

    TU_OK(tl_layer_forward(sl, &x2, &y));
    assert_int_equal(tl_layer_forward(sl, &x3, &y), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "TimeLSTM"));
    assert_non_null(strstr(tl_last_error(), "batch size 2"));
    assert_non_null(strstr(tl_last_error(), "batch size 3"));
    assert_non_null(strstr(tl_last_error(), "reset_state"));
    TU_OK(tl_layer_get_state(sl, &h, &c));
    assert_int_equal(h->shape[0], 2);  /* the refused call changed nothing */
    assert_int_equal(c->shape[0], 2);
    tl_layer_reset_state(sl);
    TU_OK(tl_layer_forward(sl, &x3, &y));
    assert_int_equal(y->shape[0], 3);
    TU_OK(tl_layer_set_state(sl, &h3, &c3));  /* or a state of the new size */
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

    FREE_ALL(&x2, &x3, &h3, &c3);
    tl_layer_destroy(sl);
    tl_layer_destroy(nl);
}

/* Inputs of size ~1e4 drive every pre-activation to |A| ~ 1e4: the gates
 * saturate without overflow, so outputs and gradients stay finite. */
static void test_extreme_inputs(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 16);
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, true, &rng));
    tl_tensor x = {0}, dy = {0};
    tu_randn(&x, &rng, 1e4, 3, (int[]){N, T, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    const tl_tensor *y, *dx, *h, *c, *dh0, *dc0;
    for (int k = 0; k < 2; k++) {  /* the second call starts from a saturated state */
        TU_OK(tl_layer_forward(l, &x, &y));
        for (size_t i = 0; i < y->size; i++)
            assert_true(isfinite(y->data[i]) && fabs(y->data[i]) <= 1);
        TU_OK(tl_layer_get_state(l, &h, &c));
        for (size_t i = 0; i < c->size; i++)
            assert_true(isfinite(c->data[i]) && fabs(c->data[i]) <= 2 * T);
        TU_OK(tl_layer_backward(l, &dy, &dx));
        for (size_t i = 0; i < dx->size; i++)
            assert_true(isfinite(dx->data[i]));
        TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
        for (size_t i = 0; i < dh0->size; i++)
            assert_true(isfinite(dh0->data[i]) && isfinite(dc0->data[i]));
    }
    tl_param *p = tl_layer_params(l, NULL);
    for (int i = 0; i < 3; i++)
        for (size_t k = 0; k < p[i].grad.size; k++)
            assert_true(isfinite(p[i].grad.data[k]));
    FREE_ALL(&x, &dy);
    tl_layer_destroy(l);
}

/* Same buffers every call, also when N*T shrinks. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    tl_rng rng;
    tl_rng_seed(&rng, 13);
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, false, &rng));
    tl_tensor x = {0}, dy = {0}, xs = {0}, dys = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    time_slice(&x, 0, 2, &xs);
    time_slice(&dy, 0, 2, &dys);
    const tl_tensor *y, *dx, *h, *c, *dh0, *dc0;
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    TU_OK(tl_layer_get_state(l, &h, &c));
    TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
    const tl_real *py = y->data, *pdx = dx->data, *ph = h->data, *pc = c->data,
                  *pdh0 = dh0->data, *pdc0 = dc0->data;
    for (int k = 0; k < 3; k++) {
        const tl_tensor *xi = k == 1 ? &xs : &x, *dyi = k == 1 ? &dys : &dy;
        TU_OK(tl_layer_forward(l, xi, &y));
        TU_OK(tl_layer_backward(l, dyi, &dx));
        TU_OK(tl_layer_get_state(l, &h, &c));
        TU_OK(tl_layer_state_grad(l, &dh0, &dc0));
        assert_ptr_equal(y->data, py);
        assert_ptr_equal(dx->data, pdx);
        assert_ptr_equal(h->data, ph);
        assert_ptr_equal(c->data, pc);
        assert_ptr_equal(dh0->data, pdh0);
        assert_ptr_equal(dc0->data, pdc0);
    }
    FREE_ALL(&x, &dy, &xs, &dys);
    tl_layer_destroy(l);
}

/* ---- errors ------------------------------------------------------------- */

static void test_create_errors(void **state)
{
    (void)state;
    tl_layer *l = (tl_layer *)&l;
    assert_int_equal(tl_time_lstm_create(&l, 0, H, true, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "positive"));
    assert_int_equal(tl_time_lstm_create(&l, D, 0, true, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_int_equal(tl_time_lstm_create(NULL, D, H, true, NULL), TL_ERR_ARG);
}

static void test_shape_errors(void **state)
{
    (void)state;
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, true, NULL));
    assert_true(tl_layer_has_state(l));
    assert_string_equal(tl_layer_type(l), "TimeLSTM");
    tl_tensor x = {0}, bad = {0}, ids = {0}, h = {0};
    const tl_tensor *y, *dx, *dh0, *gh, *gc;

    assert_int_equal(tl_layer_backward(l, &x, &dx), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "before"));
    assert_int_equal(tl_layer_state_grad(l, &dh0, NULL), TL_ERR_STATE);

    TU_OK(tl_tensor_zeros2(&bad, N, D));
    assert_int_equal(tl_layer_forward(l, &bad, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "TimeLSTM"));
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

    /* Bad states are refused and leave the held state alone. */
    TU_OK(tl_tensor_zeros1(&bad, H));
    assert_int_equal(tl_layer_set_state(l, &bad, NULL), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros2(&bad, N, H + 1));
    assert_int_equal(tl_layer_set_state(l, &bad, NULL), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(N, 5)"));
    TU_OK(tl_tensor_zeros2(&bad, 0, H));
    assert_int_equal(tl_layer_set_state(l, &bad, NULL), TL_ERR_SHAPE);
    TU_OK(tl_tensor_zeros2(&h, N + 1, H));
    TU_OK(tl_tensor_zeros2(&bad, N, H));
    assert_int_equal(tl_layer_set_state(l, &h, &bad), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "(3, 5)"));
    TU_OK(tl_tensor_zeros3(&bad, N + 1, H, 1));
    assert_int_equal(tl_layer_set_state(l, &h, &bad), TL_ERR_SHAPE);
    TU_OK(tl_layer_get_state(l, &gh, &gc));
    assert_int_equal(gh->shape[0], N);
    assert_int_equal(gc->shape[0], N);
    TU_OK(tl_layer_forward(l, &x, &y));  /* still batch size N */

    FREE_ALL(&x, &bad, &ids, &h);
    tl_layer_destroy(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_stateful),
        cmocka_unit_test(test_golden_stateless),
        cmocka_unit_test(test_gradcheck_stateful),
        cmocka_unit_test(test_gradcheck_stateless),
        cmocka_unit_test(test_stateful_chunks),
        cmocka_unit_test(test_truncated_bptt),
        cmocka_unit_test(test_stateless_restarts),
        cmocka_unit_test(test_reset_state),
        cmocka_unit_test(test_set_state_stateful),
        cmocka_unit_test(test_set_state_stateless),
        cmocka_unit_test(test_set_state_c_matters),
        cmocka_unit_test(test_batch_size_change),
        cmocka_unit_test(test_extreme_inputs),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_create_errors),
        cmocka_unit_test(test_shape_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
