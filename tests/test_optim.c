/* Optimizers: five steps of each against torch.optim, defaults and names,
 * checkpoint round trip of the state, configuration and argument errors, the
 * update on the pool, and the scaled step the trainer uses. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"
#include "../lib/internal.h"

enum { NP = 10, STEPS = 5, NKINDS = 6 };

static const char *const names[NKINDS] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop",
                                          "adam"};

static void to_real(tl_real *dst, const double *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (tl_real)src[i];
}

static void test_golden(void **state)
{
    (void)state;
    tu_golden *g = tu_golden_load("optim.txt");
    const double *p0 = tu_golden_get(g, "p0", NP), *grads = tu_golden_get(g, "grads", STEPS * NP);
    for (int k = 0; k < NKINDS; k++) {
        char key[64];
        snprintf(key, sizeof key, "%s_hyper", names[k]);
        const double *h = tu_golden_get(g, key, 6);
        snprintf(key, sizeof key, "%s_p", names[k]);
        const double *want = tu_golden_get(g, key, STEPS * NP);

        tl_optim_config cfg = {.lr = h[0], .momentum = h[1], .rho = h[2], .beta1 = h[3],
                               .beta2 = h[4], .eps = h[5]};
        TU_OK(tl_optim_kind_from_name(names[k], &cfg.kind));
        tl_optim *o;
        TU_OK(tl_optim_create(&o, &cfg, NP));
        tl_real p[NP], gr[NP];
        double worst = 0;
        to_real(p, p0, NP);
        for (int t = 0; t < STEPS; t++) {
            to_real(gr, grads + t * NP, NP);
            TU_OK(tl_optim_step(o, p, gr, NP));
            snprintf(key, sizeof key, "%s after step %d", names[k], t + 1);
            tu_assert_close(key, p, want + t * NP, NP, TU_RTOL, TU_ATOL);
            for (int i = 0; i < NP; i++)
                worst = fmax(worst, fabs(p[i] - want[t * NP + i]) / fabs(want[t * NP + i]));
        }
        printf("optim golden %-8s max relative deviation from torch %.3e (rtol %.0e)\n",
               names[k], worst, TU_RTOL);
        assert_int_equal(tl_optim_steps(o), STEPS);
        tl_optim_destroy(o);
    }
    tu_golden_free(g);
}

/* The defaults documented in semantics.md and the reference's optimizer.py. */
static void test_defaults(void **state)
{
    (void)state;
    static const tl_optim_config want[NKINDS] = {
        {TL_OPTIM_SGD, 0.01, 0, 0, 0, 0, 0, false},
        {TL_OPTIM_MOMENTUM, 0.01, 0.9, 0, 0, 0, 0, false},
        {TL_OPTIM_NESTEROV, 0.01, 0.9, 0, 0, 0, 0, false},
        {TL_OPTIM_ADAGRAD, 0.01, 0, 0, 0, 0, 1e-7, false},
        {TL_OPTIM_RMSPROP, 0.01, 0, 0.99, 0, 0, 1e-7, false},
        {TL_OPTIM_ADAM, 0.001, 0, 0, 0.9, 0.999, 1e-8, false},
    };
    for (int k = 0; k < NKINDS; k++) {
        tl_optim_config c = tl_optim_defaults(want[k].kind);
        assert_int_equal(c.kind, want[k].kind);
        assert_true(c.lr == want[k].lr && c.momentum == want[k].momentum && c.rho == want[k].rho &&
                    c.beta1 == want[k].beta1 && c.beta2 == want[k].beta2 &&
                    c.eps == want[k].eps);
        tl_optim *o;
        TU_OK(tl_optim_create(&o, &c, 3));
        tl_optim_destroy(o);
    }
}

static void test_names(void **state)
{
    (void)state;
    for (int k = 0; k < NKINDS; k++) {
        tl_optim_kind kind;
        TU_OK(tl_optim_kind_from_name(names[k], &kind));
        assert_int_equal(kind, k);
        assert_string_equal(tl_optim_name(kind), names[k]);
    }
    tl_optim_kind kind = TL_OPTIM_ADAM;
    assert_int_equal(tl_optim_kind_from_name("lbfgs", &kind), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "\"lbfgs\""));
    assert_non_null(strstr(tl_last_error(), "sgd, momentum, nesterov, adagrad, rmsprop, adam"));
    assert_int_equal(kind, TL_OPTIM_ADAM);
    assert_int_equal(tl_optim_kind_from_name("Adam", &kind), TL_ERR_ARG);
    assert_int_equal(tl_optim_kind_from_name(NULL, &kind), TL_ERR_ARG);
    assert_string_equal(tl_optim_name((tl_optim_kind)42), "unknown");
}

static void random_grads(tl_rng *rng, tl_real *g, size_t n)
{
    for (size_t i = 0; i < n; i++)
        g[i] = (tl_real)tl_rng_normal(rng);
}

/* Run `steps` steps of o on p with gradients drawn from a copy of *rng. */
static void run(tl_optim *o, tl_real *p, tl_rng rng, int steps)
{
    tl_real g[NP];
    for (int t = 0; t < steps; t++) {
        random_grads(&rng, g, NP);
        TU_OK(tl_optim_step(o, p, g, NP));
    }
}

/* Copying the state buffers and the step counter into a fresh optimizer
 * (what a checkpoint does) continues bit for bit; a fresh optimizer without
 * them does not, unless the kind has no state. */
static void test_state_roundtrip(void **state)
{
    (void)state;
    static const char *const state_names[NKINDS][2] = {
        {NULL, NULL}, {"v", NULL}, {"b", NULL}, {"h", NULL}, {"h", NULL}, {"m", "v"}};
    for (int k = 0; k < NKINDS; k++) {
        tl_optim_config cfg = tl_optim_defaults((tl_optim_kind)k);
        cfg.lr = 0.05;
        tl_optim *a, *b, *fresh;
        TU_OK(tl_optim_create(&a, &cfg, NP));
        TU_OK(tl_optim_create(&b, &cfg, NP));
        TU_OK(tl_optim_create(&fresh, &cfg, NP));
        tl_rng rng;
        tl_rng_seed(&rng, 100 + (uint64_t)k);
        tl_real pa[NP], pb[NP], pf[NP];
        random_grads(&rng, pa, NP);
        run(a, pa, rng, 3);
        tl_rng_normal(&rng);    /* later gradients differ from the first three */

        int count = tl_optim_state_count(a);
        assert_int_equal(count, state_names[k][1] ? 2 : state_names[k][0] ? 1 : 0);
        for (int i = 0; i < count; i++) {
            const char *na, *nb;
            tl_real *sa, *sb;
            size_t la, lb;
            TU_OK(tl_optim_state(a, i, &na, &sa, &la));
            TU_OK(tl_optim_state(b, i, &nb, &sb, &lb));
            assert_string_equal(na, state_names[k][i]);
            assert_string_equal(na, nb);
            assert_int_equal(la, NP);
            assert_int_equal(lb, NP);
            memcpy(sb, sa, NP * sizeof *sa);
        }
        assert_int_equal(tl_optim_state(a, count, NULL, NULL, NULL), TL_ERR_RANGE);
        TU_OK(tl_optim_set_steps(b, tl_optim_steps(a)));
        assert_int_equal(tl_optim_steps(b), 3);

        memcpy(pb, pa, sizeof pa);
        memcpy(pf, pa, sizeof pa);
        run(a, pa, rng, 2);
        run(b, pb, rng, 2);
        run(fresh, pf, rng, 2);
        assert_memory_equal(pa, pb, sizeof pa);
        if (count)
            assert_memory_not_equal(pa, pf, sizeof pa);
        else
            assert_memory_equal(pa, pf, sizeof pa);
        tl_optim_destroy(a);
        tl_optim_destroy(b);
        tl_optim_destroy(fresh);
    }
}

static void test_set_lr(void **state)
{
    (void)state;
    tl_optim_config cfg = tl_optim_defaults(TL_OPTIM_SGD);
    cfg.lr = 0.5;
    tl_optim *o;
    TU_OK(tl_optim_create(&o, &cfg, 2));
    tl_real p[2] = {1, -1}, g[2] = {0.5, 2};
    TU_OK(tl_optim_step(o, p, g, 2));           /* p − 0.5·g */
    TU_OK(tl_optim_set_lr(o, 0.25));
    assert_true(tl_optim_lr(o) == 0.25);
    TU_OK(tl_optim_step(o, p, g, 2));           /* p − 0.25·g */
    tu_assert_close("p", p, (double[]){0.625, -2.5}, 2, TU_RTOL, TU_ATOL);
    tl_optim_config got;
    TU_OK(tl_optim_get_config(o, &got));
    assert_true(got.kind == TL_OPTIM_SGD && got.lr == 0.25);

    assert_int_equal(tl_optim_set_lr(o, 0), TL_ERR_ARG);
    assert_int_equal(tl_optim_set_lr(o, NAN), TL_ERR_ARG);
    assert_int_equal(tl_optim_set_lr(o, INFINITY), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "lr"));
    assert_true(tl_optim_lr(o) == 0.25);
    tl_optim_destroy(o);
}

/* cfg with one field changed must be refused, naming the field. */
static void refused(tl_optim_config cfg, const char *field)
{
    static char dummy;
    tl_optim *o = (tl_optim *)&dummy;   /* non-NULL, so that the reset to NULL shows */
    assert_int_equal(tl_optim_create(&o, &cfg, 4), TL_ERR_ARG);
    assert_null(o);
    if (!strstr(tl_last_error(), field))
        fail_msg("message \"%s\" does not name %s", tl_last_error(), field);
}

static void test_config_errors(void **state)
{
    (void)state;
    tl_optim_config c = tl_optim_defaults(TL_OPTIM_SGD);
    c.lr = 0;
    refused(c, "lr");
    c.lr = -0.1;
    refused(c, "lr");
    c.lr = NAN;
    refused(c, "lr");
    c.lr = INFINITY;
    refused(c, "lr");

    c = tl_optim_defaults(TL_OPTIM_MOMENTUM);
    c.momentum = 1;
    refused(c, "momentum");
    c = tl_optim_defaults(TL_OPTIM_NESTEROV);
    c.momentum = -0.1;
    refused(c, "momentum");
    c = tl_optim_defaults(TL_OPTIM_RMSPROP);
    c.rho = 1;
    refused(c, "rho");
    c = tl_optim_defaults(TL_OPTIM_RMSPROP);
    c.eps = 0;
    refused(c, "eps");
    c = tl_optim_defaults(TL_OPTIM_ADAGRAD);
    c.eps = -1e-7;
    refused(c, "eps");
    c = tl_optim_defaults(TL_OPTIM_ADAM);
    c.beta1 = 1;
    refused(c, "beta1");
    c = tl_optim_defaults(TL_OPTIM_ADAM);
    c.beta2 = NAN;
    refused(c, "beta2");
    refused(tl_optim_defaults((tl_optim_kind)42), "kind 42");

    /* Fields a kind does not use are not checked. */
    c = tl_optim_defaults(TL_OPTIM_SGD);
    c.momentum = 5;
    c.eps = -1;
    tl_optim *o;
    TU_OK(tl_optim_create(&o, &c, 4));
    tl_optim_destroy(o);

    assert_int_equal(tl_optim_create(NULL, &c, 4), TL_ERR_ARG);
    assert_int_equal(tl_optim_create(&o, NULL, 4), TL_ERR_ARG);
}

static void test_step_errors(void **state)
{
    (void)state;
    tl_optim_config c = tl_optim_defaults(TL_OPTIM_ADAM);
    tl_optim *o;
    TU_OK(tl_optim_create(&o, &c, 4));
    tl_real buf[8] = {0, 0, 0, 0, 1, 2, 3, 4}, *p = buf, *g = buf + 4;
    assert_int_equal(tl_optim_step(o, p, g, 3), TL_ERR_SHAPE);
    assert_non_null(strstr(tl_last_error(), "3 parameters, created for 4"));
    assert_int_equal(tl_optim_step(o, NULL, g, 4), TL_ERR_ARG);
    assert_int_equal(tl_optim_step(o, p, NULL, 4), TL_ERR_ARG);
    assert_int_equal(tl_optim_step(o, p, buf + 2, 4), TL_ERR_ARG);
    assert_non_null(strstr(tl_last_error(), "overlap"));
    assert_int_equal(tl_optim_step(NULL, p, g, 4), TL_ERR_ARG);
    assert_int_equal(tl_optim_steps(o), 0);    /* failed steps do not count */
    for (int i = 0; i < 4; i++)
        assert_true(p[i] == 0);
    TU_OK(tl_optim_step(o, p, g, 4));          /* adjacent buffers do not overlap */
    assert_int_equal(tl_optim_steps(o), 1);

    /* A non-finite gradient changes nothing: values, state, step count. */
    tl_real before[4], *m;
    size_t nm;
    const char *mname;
    memcpy(before, p, sizeof before);
    TU_OK(tl_optim_state(o, 0, &mname, &m, &nm));
    tl_real m0 = m[2];
    g[2] = NAN;
    assert_int_equal(tl_optim_step(o, p, g, 4), TL_ERR_NUMERIC);
    assert_non_null(strstr(tl_last_error(), "gradient 2 of 4 is nan"));
    g[2] = INFINITY;
    assert_int_equal(tl_optim_step(o, p, g, 4), TL_ERR_NUMERIC);
    assert_memory_equal(p, before, sizeof before);
    assert_true(m[2] == m0);
    assert_int_equal(tl_optim_steps(o), 1);
    g[2] = 3;

    assert_int_equal(tl_optim_state(NULL, 0, NULL, NULL, NULL), TL_ERR_ARG);
    assert_int_equal(tl_optim_state(o, -1, NULL, NULL, NULL), TL_ERR_RANGE);
    assert_int_equal(tl_optim_state_count(NULL), 0);
    assert_int_equal(tl_optim_set_steps(NULL, 1), TL_ERR_ARG);
    assert_int_equal(tl_optim_get_config(o, NULL), TL_ERR_ARG);
    tl_optim_destroy(o);
    tl_optim_destroy(NULL);
}

/* AdaGrad with eps inside the root (the char-RNN seed) and outside (the
 * default), three steps on two values, against the formulas in double:
 *   h ← h + g²;   p ← p − lr·g/√(h + eps)   resp.   p ← p − lr·g/(√h + eps).
 * eps = 0.01 makes the two differ well above rounding. The choice survives
 * tl_optim_get_config. */
static void test_adagrad_eps_placement(void **state)
{
    (void)state;
    const double lr = 0.5, eps = 0.01, g[3][2] = {{0.3, -2}, {0.1, 1}, {-0.2, 0.05}};
    double got[2][2];
    for (int inside = 0; inside < 2; inside++) {
        tl_optim_config c = tl_optim_defaults(TL_OPTIM_ADAGRAD);
        c.lr = lr;
        c.eps = eps;
        c.eps_inside = inside;
        tl_optim *o;
        TU_OK(tl_optim_create(&o, &c, 2));
        tl_optim_config back;
        tl_optim_get_config(o, &back);
        assert_int_equal(back.eps_inside, inside);
        tl_real p[2] = {1, -1}, gr[2];
        double want[2] = {1, -1}, h[2] = {0, 0};
        for (int s = 0; s < 3; s++) {
            for (int i = 0; i < 2; i++) {
                gr[i] = (tl_real)g[s][i];
                h[i] += (double)gr[i] * gr[i];
                want[i] -= lr * gr[i] / (inside ? sqrt(h[i] + eps) : sqrt(h[i]) + eps);
            }
            TU_OK(tl_optim_step(o, p, gr, 2));
        }
        tu_assert_close(inside ? "eps inside" : "eps outside", p, want, 2, TU_RTOL, TU_ATOL);
        got[inside][0] = p[0];
        got[inside][1] = p[1];
        tl_optim_destroy(o);
    }
    assert_true(fabs(got[0][0] - got[1][0]) > 1e-3); /* the placements differ */
}

/* The update of n parameters over several parts of the pool: the same bits
 * on 1 and 2 threads, and every element as an optimizer of its own would
 * move it (the last NP elements against an optimizer made for them alone,
 * state included). tl_optim_step_clip_norm gives the bits of clipping the
 * gradients in place by their norm and then stepping, and leaves them as
 * they were. */
static void test_parts_and_scale(void **state)
{
    (void)state;
    enum { N = 3 * 65536 + 7 };
    int threads = tl_get_num_threads();
    tl_real *p[3], *g = malloc(N * sizeof *g), *sg = malloc(N * sizeof *g);
    assert_true(g && sg);
    for (int k = 0; k < NKINDS; k++) {
        tl_optim_config cfg = tl_optim_defaults((tl_optim_kind)k);
        tl_optim *o[3], *tail;
        tl_real pt[NP];
        tl_rng rng;
        tl_rng_seed(&rng, 300 + (uint64_t)k);
        for (int j = 0; j < 3; j++) {
            p[j] = malloc(N * sizeof *g);
            assert_non_null(p[j]);
            TU_OK(tl_optim_create(&o[j], &cfg, N));
        }
        TU_OK(tl_optim_create(&tail, &cfg, NP));
        random_grads(&rng, p[0], N);
        memcpy(p[1], p[0], N * sizeof *g);
        memcpy(p[2], p[0], N * sizeof *g);
        memcpy(pt, p[0] + N - NP, sizeof pt);
        for (int t = 0; t < 3; t++) {
            random_grads(&rng, g, N);
            /* t = 1 does not clip */
            double norm = tl__grad_norm(g, N), got = 0;
            double max_norm = t == 1 ? INFINITY : (0.3 + 0.2 * t) * norm;
            const tl_real s = t == 1 ? (tl_real)1 : (tl_real)(max_norm / (norm + 1e-6));
            for (size_t i = 0; i < N; i++)
                sg[i] = s * g[i];
            TU_OK(tl_set_num_threads(1));
            TU_OK(tl_optim_step(o[0], p[0], sg, N));
            TU_OK(tl_optim_step(tail, pt, sg + N - NP, NP));
            TU_OK(tl_set_num_threads(2));
            TU_OK(tl_optim_step(o[1], p[1], sg, N));
            memcpy(sg, g, N * sizeof *g);
            TU_OK(tl_optim_step_clip_norm(o[2], p[2], sg, N, max_norm, &got));
            assert_true(got == norm);
            assert_memory_equal(sg, g, N * sizeof *g);
        }
        for (int j = 1; j < 3; j++) {
            assert_memory_equal(p[0], p[j], N * sizeof *g);
            assert_int_equal(tl_optim_steps(o[j]), 3);
            for (int i = 0; i < tl_optim_state_count(o[0]); i++) {
                tl_real *a, *b;
                TU_OK(tl_optim_state(o[0], i, NULL, &a, NULL));
                TU_OK(tl_optim_state(o[j], i, NULL, &b, NULL));
                assert_memory_equal(a, b, N * sizeof *g);
            }
        }
        assert_memory_equal(pt, p[0] + N - NP, sizeof pt);
        for (int i = 0; i < tl_optim_state_count(o[0]); i++) {
            tl_real *a, *b;
            TU_OK(tl_optim_state(o[0], i, NULL, &a, NULL));
            TU_OK(tl_optim_state(tail, i, NULL, &b, NULL));
            assert_memory_equal(a + N - NP, b, NP * sizeof *g);
        }
        for (int j = 0; j < 3; j++) {
            tl_optim_destroy(o[j]);
            free(p[j]);
        }
        tl_optim_destroy(tail);
    }
    free(g);
    free(sg);
    TU_OK(tl_set_num_threads(threads));
}

/* tl_optim_step_clip_norm refuses a max_norm <= 0 and a non-finite gradient
 * (TL_ERR_NUMERIC, its norm reported) changing nothing: values, state, steps. */
static void test_clip_norm_refuses(void **state)
{
    (void)state;
    enum { N = 70000 };   /* more than one part of the pool's passes */
    tl_real *p = malloc(N * sizeof *p), *p0 = malloc(N * sizeof *p), *g = malloc(N * sizeof *p);
    assert_true(p && p0 && g);
    tl_rng rng;
    tl_rng_seed(&rng, 77);
    random_grads(&rng, p, N);
    random_grads(&rng, g, N);
    memcpy(p0, p, N * sizeof *p);
    tl_optim_config cfg = tl_optim_defaults(TL_OPTIM_ADAM);
    tl_optim *o;
    TU_OK(tl_optim_create(&o, &cfg, N));
    double norm = 0;
    assert_int_equal(tl_optim_step_clip_norm(o, p, g, N, 0, &norm), TL_ERR_ARG);
    g[N - 3] = NAN;
    assert_int_equal(tl_optim_step_clip_norm(o, p, g, N, 1, &norm), TL_ERR_NUMERIC);
    assert_true(isnan(norm));
    assert_non_null(strstr(tl_last_error(), "gradient 69997 of 70000"));
    g[N - 3] = -INFINITY;
    assert_int_equal(tl_optim_step_clip_norm(o, p, g, N, 1, &norm), TL_ERR_NUMERIC);
    assert_true(isinf(norm));
    assert_memory_equal(p, p0, N * sizeof *p);
    assert_int_equal(tl_optim_steps(o), 0);
    for (int i = 0; i < tl_optim_state_count(o); i++) {
        tl_real *buf;
        TU_OK(tl_optim_state(o, i, NULL, &buf, NULL));
        for (size_t k = 0; k < N; k++)
            assert_true(buf[k] == 0);
    }
    tl_optim_destroy(o);
    free(p);
    free(p0);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_set_lr),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_step_errors),
        cmocka_unit_test(test_adagrad_eps_placement),
        cmocka_unit_test(test_parts_and_scale),
        cmocka_unit_test(test_clip_norm_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
