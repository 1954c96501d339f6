#include <math.h>
#include <stdio.h>
#include <string.h>
#include "recurrent_checks.h"
#include "../lib/layers/recurrent.h"

enum { N = RC_N, T = RC_T, D = RC_D, H = RC_H, MAX_STATE = 2 };

static const char *const state_name[MAX_STATE] = {"h", "c"};

/* The held state tensors (the ones beyond k->nstate must be NULL). */
static void get_states(const rc_layer *k, tl_layer *l, const tl_tensor *s[MAX_STATE])
{
    TU_OK(tl_layer_get_state(l, &s[0], &s[1]));
    if (k->nstate == 1)
        assert_null(s[1]);
}

/* The gradients of the initial states (the ones beyond k->nstate must be NULL). */
static void state_grads(const rc_layer *k, tl_layer *l, const tl_tensor *ds[MAX_STATE])
{
    TU_OK(tl_layer_state_grad(l, &ds[0], &ds[1]));
    if (k->nstate == 1)
        assert_null(ds[1]);
}

static tl_status set_states(const rc_layer *k, tl_layer *l, const tl_tensor *s)
{
    return tl_layer_set_state(l, &s[0], k->nstate > 1 ? &s[1] : NULL);
}

tl_layer *rc_twin(const rc_layer *k, bool stateful)
{
    tl_rng rng;
    tl_rng_seed(&rng, 77);
    tl_layer *l;
    TU_OK(k->create(&l, D, H, stateful, &rng));
    return l;
}

/* ---- goldens and gradient checks --------------------------------------- */

void rc_golden(const rc_layer *k, bool stateful)
{
    static const char *const s0_name[] = {"h0", "c0"}, *const sT_name[] = {"hT", "cT"},
                             *const ds_name[] = {"dh0", "dc0"};
    const char *pre = k->golden_prefix;
    tu_golden *g = tu_golden_load(k->golden_file);
    tl_layer *l;
    TU_OK(k->create(&l, D, H, stateful, NULL));
    int np;
    tl_param *p = tl_layer_params(l, &np);
    assert_int_equal(np, 3 + k->extra_biases);
    assert_string_equal(p[0].name, "Wx");
    assert_string_equal(p[1].name, "Wh");
    assert_string_equal(p[2].name, "b");
    tu_golden_tensor(g, "Wx", &p[0].value, 2, (int[]){D, k->gates * H});
    tu_golden_tensor(g, "Wh", &p[1].value, 2, (int[]){H, k->gates * H});
    tu_golden_tensor(g, "b", &p[2].value, 1, (int[]){k->gates * H});
    for (int i = 3; i < np; i++)
        tu_golden_tensor(g, p[i].name, &p[i].value, 1, (int[]){H});

    tl_tensor x = {0}, s0[MAX_STATE] = {0}, dy = {0};
    tu_golden_tensor(g, "x", &x, 3, (int[]){N, T, D});
    for (int i = 0; i < k->nstate; i++)
        tu_golden_tensor(g, s0_name[i], &s0[i], 2, (int[]){N, H});
    tu_golden_tensor(g, "dy", &dy, 3, (int[]){N, T, H});

    const tl_tensor *y, *dx, *s[MAX_STATE], *ds[MAX_STATE];
    TU_OK(set_states(k, l, s0));
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_int_equal(y->ndim, 3);
    assert_int_equal(y->shape[0], N);
    assert_int_equal(y->shape[1], T);
    assert_int_equal(y->shape[2], H);
    tu_assert_close("y", y->data, tu_golden_get_prefixed(g, pre, "y", N * T * H), N * T * H,
                    TU_RTOL, TU_ATOL);
    get_states(k, l, s);
    for (int i = 0; i < k->nstate; i++) {
        assert_int_equal(s[i]->ndim, 2);
        assert_int_equal(s[i]->shape[0], N);
        assert_int_equal(s[i]->shape[1], H);
        tu_assert_close(sT_name[i], s[i]->data, tu_golden_get_prefixed(g, pre, sT_name[i], N * H),
                        N * H, TU_RTOL, TU_ATOL);
    }

    for (int rep = 0; rep < 2; rep++) {
        TU_OK(tl_layer_backward(l, &dy, &dx));
        tu_assert_close("dx", dx->data, tu_golden_get_prefixed(g, pre, "dx", N * T * D),
                        N * T * D, TU_RTOL, TU_ATOL);
        state_grads(k, l, ds);
        for (int i = 0; i < k->nstate; i++)
            tu_assert_close(ds_name[i], ds[i]->data,
                            tu_golden_get_prefixed(g, pre, ds_name[i], N * H), N * H, TU_RTOL,
                            TU_ATOL);
    }
    tu_check_param_grads(g, pre, p, np, 2);
    TU_FREE_ALL(&x, &s0[0], &s0[1], &dy);
    tl_layer_destroy(l);
    tu_golden_free(g);
}

void rc_gradcheck(const rc_layer *k, bool stateful, uint64_t seed)
{
    if (!TU_DOUBLE)
        skip();
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_layer *l;
    TU_OK(k->create(&l, D, H, stateful, &rng));
    int np;
    tl_param *p = tl_layer_params(l, &np);
    for (int i = 2; i < np; i++)  /* every bias nonzero */
        for (size_t j = 0; j < p[i].value.size; j++)
            p[i].value.data[j] = (tl_real)(0.5 * tl_rng_normal(&rng));
    tl_tensor x = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tl_gradcheck_entry e[8];
    int n;
    TU_OK(tl_gradcheck_layer(l, &x, NULL, &(tl_gradcheck_opts){.seed = seed + 1}, e, 8, &n));
    assert_int_equal(n, np + 1 + k->nstate);
    const char *names[] = {"x", "h0", "c0"};
    for (int i = 0; i < n; i++)
        assert_string_equal(e[i].name, i < np ? p[i].name : names[i - np]);
    char what[48];
    snprintf(what, sizeof what, "%s%s%s %s", k->type, *k->variant ? " " : "", k->variant,
             stateful ? "stateful" : "stateless");
    tu_check_gradients(what, e, n, TU_GRADCHECK_BOUND);
    tl_tensor_free(&x);
    tl_layer_destroy(l);
}

void rc_windows(const rc_layer *k, uint64_t seed)
{
    static const int steps[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        tl__recurrent_window_steps(steps[i]);
        if (k->golden_file)
            rc_golden(k, true);
        if (TU_DOUBLE)
            rc_gradcheck(k, true, seed);
    }
    tl__recurrent_window_steps(0);
}

/* ---- state --------------------------------------------------------------- */

void rc_stateful_chunks(const rc_layer *k)
{
    tl_layer *whole = rc_twin(k, true), *chunked = rc_twin(k, true);
    tl_rng rng;
    tl_rng_seed(&rng, 8);
    tl_tensor x = {0}, x1 = {0}, x2 = {0}, y_whole = {0}, part = {0}, s_whole[MAX_STATE] = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_time_slice(&x, 0, 2, &x1);
    tu_time_slice(&x, 2, 4, &x2);

    const tl_tensor *y, *s[MAX_STATE];
    TU_OK(tl_layer_forward(whole, &x, &y));
    TU_OK(tl_tensor_copy(&y_whole, y));
    get_states(k, whole, s);
    for (int i = 0; i < k->nstate; i++)
        TU_OK(tl_tensor_copy(&s_whole[i], s[i]));

    TU_OK(tl_layer_forward(chunked, &x1, &y));
    tu_time_slice(&y_whole, 0, 2, &part);
    tu_assert_same_tensor("first chunk", y, &part);
    TU_OK(tl_layer_forward(chunked, &x2, &y));
    tu_time_slice(&y_whole, 2, 4, &part);
    tu_assert_same_tensor("second chunk (carried state)", y, &part);
    get_states(k, chunked, s);
    for (int i = 0; i < k->nstate; i++) {
        char what[48];
        snprintf(what, sizeof what, "%s after two chunks", state_name[i]);
        tu_assert_same_tensor(what, s[i], &s_whole[i]);
    }

    TU_FREE_ALL(&x, &x1, &x2, &y_whole, &part, &s_whole[0], &s_whole[1]);
    tl_layer_destroy(whole);
    tl_layer_destroy(chunked);
}

void rc_truncated_bptt(const rc_layer *k)
{
    tl_layer *l = rc_twin(k, true), *ref = rc_twin(k, false);
    tl_rng rng;
    tl_rng_seed(&rng, 14);
    tl_tensor x1 = {0}, x2 = {0}, dy = {0}, dx = {0}, s1[MAX_STATE] = {0},
              ds0[MAX_STATE] = {0};
    tu_randn(&x1, &rng, 1, 3, (int[]){N, 2, D});
    tu_randn(&x2, &rng, 1, 3, (int[]){N, 3, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, 3, H});
    const tl_tensor *y, *d, *s[MAX_STATE], *ds[MAX_STATE];

    TU_OK(tl_layer_forward(l, &x1, &y));
    get_states(k, l, s);
    for (int i = 0; i < k->nstate; i++)
        TU_OK(tl_tensor_copy(&s1[i], s[i]));
    TU_OK(tl_layer_forward(l, &x2, &y));
    TU_OK(tl_layer_backward(l, &dy, &d));
    TU_OK(tl_tensor_copy(&dx, d));
    state_grads(k, l, ds);
    for (int i = 0; i < k->nstate; i++)
        TU_OK(tl_tensor_copy(&ds0[i], ds[i]));

    TU_OK(set_states(k, ref, s1));
    TU_OK(tl_layer_forward(ref, &x2, &y));
    TU_OK(tl_layer_backward(ref, &dy, &d));
    tu_assert_same_tensor("dx of the second chunk", &dx, d);
    state_grads(k, ref, ds);
    for (int i = 0; i < k->nstate; i++) {
        char what[48];
        snprintf(what, sizeof what, "d%s0 of the second chunk", state_name[i]);
        tu_assert_same_tensor(what, &ds0[i], ds[i]);
    }
    int np;
    tl_param *p = tl_layer_params(l, &np), *q = tl_layer_params(ref, NULL);
    for (int i = 0; i < np; i++)
        tu_assert_same_tensor(p[i].name, &p[i].grad, &q[i].grad);

    TU_FREE_ALL(&x1, &x2, &dy, &dx, &s1[0], &s1[1], &ds0[0], &ds0[1]);
    tl_layer_destroy(l);
    tl_layer_destroy(ref);
}

/* Two references: a stateful twin (its state after the same call, its
 * output after reset_state) and a new stateless twin (its first call). */
void rc_stateless_restarts(const rc_layer *k)
{
    tl_layer *l = rc_twin(k, false), *st = rc_twin(k, true), *fresh = rc_twin(k, false);
    tl_rng rng;
    tl_rng_seed(&rng, 9);
    tl_tensor x = {0}, x2 = {0}, last = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_time_slice(&x, 2, 4, &x2);

    const tl_tensor *y, *y_ref, *s[MAX_STATE], *s_st[MAX_STATE];
    TU_OK(tl_layer_forward(l, &x, &y));
    get_states(k, l, s);
    tu_time_slice(y, T - 1, T, &last);
    assert_int_equal(s[0]->size, N * H);
    tu_assert_close_real("get_state h = last step", s[0]->data, last.data, N * H, TU_RTOL,
                         TU_ATOL);
    TU_OK(tl_layer_forward(st, &x, &y_ref));
    get_states(k, st, s_st);
    for (int i = 0; i < k->nstate; i++) {
        char what[48];
        snprintf(what, sizeof what, "get_state %s = last step", state_name[i]);
        tu_assert_same_tensor(what, s[i], s_st[i]);
    }

    TU_OK(tl_layer_forward(l, &x2, &y));
    tl_layer_reset_state(st);
    TU_OK(tl_layer_forward(st, &x2, &y_ref));
    tu_assert_same_tensor("stateless second call starts from zeros", y, y_ref);
    TU_OK(tl_layer_forward(fresh, &x2, &y_ref));
    tu_assert_same_tensor("stateless second call = a new layer's first", y, y_ref);

    TU_FREE_ALL(&x, &x2, &last);
    tl_layer_destroy(l);
    tl_layer_destroy(st);
    tl_layer_destroy(fresh);
}

void rc_reset_state(const rc_layer *k)
{
    tl_rng rng;
    tl_rng_seed(&rng, 10);
    tl_layer *l;
    TU_OK(k->create(&l, D, H, true, &rng));
    tl_tensor x = {0}, y0 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    const tl_tensor *y, *s[MAX_STATE];
    get_states(k, l, s);
    for (int i = 0; i < k->nstate; i++)
        assert_int_equal(s[i]->size, 0);  /* a new layer holds the zero state */

    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_tensor_copy(&y0, y));
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_true(tu_differs(y, &y0));  /* carried state: not the zero start */

    tl_layer_reset_state(l);
    get_states(k, l, s);
    for (int i = 0; i < k->nstate; i++)
        assert_int_equal(s[i]->size, 0);
    TU_OK(tl_layer_forward(l, &x, &y));
    tu_assert_same_tensor("after reset_state", y, &y0);

    TU_FREE_ALL(&x, &y0);
    tl_layer_destroy(l);
}

/* One case of rc_set_state: `used` runs a forward first (a state from
 * before must not survive set_state); with_c false sets h only. The
 * stateful twin, given (h0, c0 or zeros), checks the outputs. */
static void set_state_case(const rc_layer *k, bool stateful, bool used, bool with_c)
{
    tl_layer *l = rc_twin(k, stateful), *ref = rc_twin(k, true);
    tl_rng rng;
    tl_rng_seed(&rng, 12);
    tl_tensor x = {0}, s0[MAX_STATE] = {0}, y1 = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&s0[0], &rng, 1, 2, (int[]){N, H});
    if (k->nstate > 1) {
        if (with_c)
            tu_randn(&s0[1], &rng, 1, 2, (int[]){N, H});
        else
            TU_OK(tl_tensor_zeros2(&s0[1], N, H));
    }
    const tl_tensor *y, *y_ref, *s[MAX_STATE];

    if (used)
        TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_layer_set_state(l, &s0[0], with_c ? &s0[1] : NULL));
    get_states(k, l, s);
    tu_assert_same_tensor("get_state h after set_state", s[0], &s0[0]);
    if (with_c)
        tu_assert_same_tensor("get_state c after set_state", s[1], &s0[1]);
    else if (k->nstate > 1)
        assert_int_equal(s[1]->size, 0);  /* c = NULL: zeros */
    for (int i = 0; i < k->nstate; i++)
        s0[i].data[i] += 1;  /* set_state copied: later edits do not leak in */
    TU_OK(tl_layer_forward(l, &x, &y));
    for (int i = 0; i < k->nstate; i++)
        s0[i].data[i] -= 1;
    TU_OK(tl_tensor_copy(&y1, y));

    /* Reference: zero start vs set start must differ, and the set start match. */
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    assert_true(tu_differs(&y1, y_ref));
    tl_layer_reset_state(ref);
    TU_OK(set_states(k, ref, s0));
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    tu_assert_same_tensor("forward from the set state", &y1, y_ref);

    /* Next call: stateful carries on from y1's end, stateless restarts at 0. */
    TU_OK(tl_layer_forward(l, &x, &y));
    if (!stateful)
        tl_layer_reset_state(ref);
    TU_OK(tl_layer_forward(ref, &x, &y_ref));
    tu_assert_same_tensor(stateful ? "carried after set_state" : "set_state used only once", y,
                          y_ref);

    TU_FREE_ALL(&x, &s0[0], &s0[1], &y1);
    tl_layer_destroy(l);
    tl_layer_destroy(ref);
}

void rc_set_state(const rc_layer *k, bool stateful)
{
    for (int used = 0; used < 2; used++) {
        set_state_case(k, stateful, used, false);
        if (k->nstate > 1)
            set_state_case(k, stateful, used, true);
    }
}

void rc_batch_size_change(const rc_layer *k)
{
    tl_layer *sl = rc_twin(k, true), *nl = rc_twin(k, false);
    tl_tensor x2 = {0}, x3 = {0}, s3[MAX_STATE] = {0};
    TU_OK(tl_tensor_zeros3(&x2, 2, T, D));
    TU_OK(tl_tensor_zeros3(&x3, 3, T, D));
    for (int i = 0; i < k->nstate; i++)
        TU_OK(tl_tensor_zeros2(&s3[i], 3, H));
    const tl_tensor *y, *s[MAX_STATE];

    TU_OK(tl_layer_forward(sl, &x2, &y));
    assert_int_equal(tl_layer_forward(sl, &x3, &y), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), k->type));
    assert_non_null(strstr(tl_last_error(), "batch size 2"));
    assert_non_null(strstr(tl_last_error(), "batch size 3"));
    assert_non_null(strstr(tl_last_error(), "reset_state"));
    get_states(k, sl, s);
    for (int i = 0; i < k->nstate; i++)
        assert_int_equal(s[i]->shape[0], 2);  /* the refused call changed nothing */
    tl_layer_reset_state(sl);
    TU_OK(tl_layer_forward(sl, &x3, &y));
    assert_int_equal(y->shape[0], 3);
    TU_OK(set_states(k, sl, s3));  /* or a state of the new size */
    assert_int_equal(tl_layer_forward(sl, &x2, &y), TL_ERR_STATE);
    TU_OK(tl_layer_forward(sl, &x3, &y));

    /* Stateless: the batch size may change, unless a set state disagrees. */
    TU_OK(tl_layer_forward(nl, &x2, &y));
    TU_OK(tl_layer_forward(nl, &x3, &y));
    TU_OK(tl_layer_forward(nl, &x2, &y));
    TU_OK(tl_layer_set_state(nl, &s3[0], NULL));
    assert_int_equal(tl_layer_forward(nl, &x2, &y), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "set_state"));
    TU_OK(tl_layer_forward(nl, &x3, &y));

    TU_FREE_ALL(&x2, &x3, &s3[0], &s3[1]);
    tl_layer_destroy(sl);
    tl_layer_destroy(nl);
}

void rc_buffer_reuse(const rc_layer *k)
{
    tl_rng rng;
    tl_rng_seed(&rng, 13);
    tl_layer *l;
    TU_OK(k->create(&l, D, H, false, &rng));
    tl_tensor x = {0}, dy = {0}, xs = {0}, dys = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){N, T, D});
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    tu_time_slice(&x, 0, 2, &xs);
    tu_time_slice(&dy, 0, 2, &dys);
    const tl_tensor *y, *dx, *s[MAX_STATE], *ds[MAX_STATE];
    TU_OK(tl_layer_forward(l, &x, &y));
    TU_OK(tl_layer_backward(l, &dy, &dx));
    get_states(k, l, s);
    state_grads(k, l, ds);
    const tl_real *py = y->data, *pdx = dx->data, *ps[MAX_STATE], *pds[MAX_STATE];
    for (int i = 0; i < k->nstate; i++) {
        ps[i] = s[i]->data;
        pds[i] = ds[i]->data;
    }
    for (int rep = 0; rep < 3; rep++) {
        const tl_tensor *xi = rep == 1 ? &xs : &x, *dyi = rep == 1 ? &dys : &dy;
        TU_OK(tl_layer_forward(l, xi, &y));
        TU_OK(tl_layer_backward(l, dyi, &dx));
        get_states(k, l, s);
        state_grads(k, l, ds);
        assert_ptr_equal(y->data, py);
        assert_ptr_equal(dx->data, pdx);
        for (int i = 0; i < k->nstate; i++) {
            assert_ptr_equal(s[i]->data, ps[i]);
            assert_ptr_equal(ds[i]->data, pds[i]);
        }
    }
    TU_FREE_ALL(&x, &dy, &xs, &dys);
    tl_layer_destroy(l);
}

/* ---- errors -------------------------------------------------------------- */

void rc_create_errors(const rc_layer *k)
{
    tl_layer *l = (tl_layer *)&l;
    assert_int_equal(k->create(&l, 0, H, true, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_non_null(strstr(tl_last_error(), "positive"));
    assert_int_equal(k->create(&l, D, 0, true, NULL), TL_ERR_ARG);
    assert_null(l);
    assert_int_equal(k->create(NULL, D, H, true, NULL), TL_ERR_ARG);
}

void rc_shape_errors(const rc_layer *k)
{
    tl_layer *l;
    TU_OK(k->create(&l, D, H, true, NULL));
    assert_true(tl_layer_has_state(l));
    assert_string_equal(tl_layer_type(l), k->type);
    tl_tensor x = {0}, bad = {0}, ids = {0};
    const tl_tensor *y, *dx, *dh0, *s[MAX_STATE];

    assert_int_equal(tl_layer_backward(l, &x, &dx), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "before"));
    assert_int_equal(tl_layer_state_grad(l, &dh0, NULL), TL_ERR_STATE);

    TU_OK(tl_tensor_zeros2(&bad, N, D));
    assert_int_equal(tl_layer_forward(l, &bad, &y), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), k->type));
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
    if (k->bad_states)
        k->bad_states(l);
    get_states(k, l, s);
    for (int i = 0; i < k->nstate; i++)
        assert_int_equal(s[i]->shape[0], N);
    TU_OK(tl_layer_forward(l, &x, &y));  /* still batch size N */

    TU_FREE_ALL(&x, &bad, &ids);
    tl_layer_destroy(l);
}

/* A backward window large enough that its copies (X and Hprev rows in, dX
 * rows out) run in parts, one per step, against windows of one step, whose
 * copies run whole: dx, the state gradients and the parameter gradients
 * agree to rounding (the windows only regroup the parameter GEMMs' sums). */
void rc_window_copies(const rc_layer *k, uint64_t seed)
{
    enum { BN = 8, BT = 16, BD = 40, BH = 40 };   /* a 16-step window: 10,240 floats */
    static const int steps[2] = {0, 1};           /* the default (all 16 steps), then 1 */
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_tensor x = {0}, dy = {0};
    tu_randn(&x, &rng, 1, 3, (int[]){BN, BT, BD});
    tu_randn(&dy, &rng, 1, 3, (int[]){BN, BT, BH});
    tl_layer *l[2];
    const tl_tensor *dx[2], *ds[2][MAX_STATE];
    for (int i = 0; i < 2; i++) {
        tl_rng w;
        tl_rng_seed(&w, seed + 1);
        TU_OK(k->create(&l[i], BD, BH, true, &w));
        tl__recurrent_window_steps(steps[i]);
        const tl_tensor *y;
        TU_OK(tl_layer_forward(l[i], &x, &y));
        TU_OK(tl_layer_backward(l[i], &dy, &dx[i]));
        state_grads(k, l[i], ds[i]);
    }
    tl__recurrent_window_steps(0);
    tu_assert_close_real("dx", dx[0]->data, dx[1]->data, BN * BT * BD, TU_RTOL, TU_ATOL);
    for (int s = 0; s < k->nstate; s++)
        tu_assert_close_real(state_name[s], ds[0][s]->data, ds[1][s]->data, BN * BH, TU_RTOL,
                             TU_ATOL);
    int np[2];
    tl_param *p[2] = {tl_layer_params(l[0], &np[0]), tl_layer_params(l[1], &np[1])};
    assert_int_equal(np[0], np[1]);
    for (int i = 0; i < np[0]; i++)
        tu_assert_close_real(p[0][i].name, p[0][i].grad.data, p[1][i].grad.data,
                        (int)p[0][i].grad.size, TU_RTOL, TU_ATOL);
    TU_FREE_ALL(&x, &dy);
    tl_layer_destroy(l[0]);
    tl_layer_destroy(l[1]);
}
