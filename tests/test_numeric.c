/* Numerical faults. A non-finite gradient with a finite loss stops training
 * with TL_ERR_NUMERIC naming the step and the first parameter holding one,
 * before the optimizer touches the weights, and the last checkpoint stays as
 * it was (the non-finite loss is in test_train.c, extreme scores of the
 * softmax in test_softmax_loss.c). Saturating gates: TimeLSTM and TimeRNN
 * with pre-activations around ±1e4 give finite outputs and gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

/* ---- A layer that passes x through and poisons its gradient ---- */

typedef struct {
    tl_layer base;
    tl_param p;       /* one value; its gradient becomes NaN from step `at` on */
    long calls, at;
    const tl_tensor *x;
} poison;

static tl_status poison_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    ((poison *)l)->x = x;
    *y = x;
    return TL_OK;
}

static tl_status poison_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    poison *q = (poison *)l;
    if (++q->calls >= q->at)
        q->p.grad.data[0] = (tl_real)NAN;
    *dx = dy;
    return TL_OK;
}

static tl_param *poison_params(tl_layer *l, int *count)
{
    *count = 1;
    return &((poison *)l)->p;
}

static void poison_destroy(tl_layer *l)
{
    poison *q = (poison *)l;
    tl_tensor_free(&q->p.value);
    tl_tensor_free(&q->p.grad);
    free(q);
}

static tl_status poison_config(const tl_layer *l, tl_layer_config *cfg)
{
    snprintf(cfg->type, sizeof cfg->type, "Poison");
    cfg->in_dim = cfg->out_dim = l->in_width;
    return TL_OK;
}

static const tl_layer_ops poison_ops = {.type = "Poison", .forward = poison_forward,
                                        .backward = poison_backward,
                                        .params = poison_params, .config = poison_config,
                                        .destroy = poison_destroy};

static tl_layer *make_poison(int width, long at)
{
    poison *q = calloc(1, sizeof *q);
    assert_non_null(q);
    q->base = (tl_layer){.ops = &poison_ops, .in_dtype = TL_REAL, .in_width = width,
                         .out_width = width};
    q->p.name = "p";
    q->at = at;
    TU_OK(tl_tensor_zeros1(&q->p.value, 1));
    TU_OK(tl_tensor_zeros1(&q->p.grad, 1));
    return &q->base;
}

static void test_nonfinite_gradient_stops_training(void **state)
{
    (void)state;
    enum { V = 5, D = 4, STEPS_OK = 3 };
    tl_rng rng;
    tl_rng_seed(&rng, 11);
    tl_model *m;
    tl_layer *l;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_embedding_create(&l, V, D, &rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_model_add(m, make_poison(D, STEPS_OK + 1)));
    TU_OK(tl_time_affine_create(&l, D, V, &rng));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    TU_OK(tl_model_set_loss(m, l));
    int32_t ids[64];
    for (int i = 0; i < 64; i++)
        ids[i] = (int32_t)(i * 7 % V);
    size_t np;
    tl_real *w;
    TU_OK(tl_model_flat(m, &w, NULL, &np));
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
    tl_optim *opt;
    TU_OK(tl_optim_create(&opt, &oc, np));

    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tl_train_config cfg = {.batch = 2, .time = 4, .epochs = 1, .save_every = 1,
                           .checkpoint = path};
    tl_trainer *t;
    TU_OK(tl_trainer_create(&t, m, opt, NULL, ids, 64, NULL, 0, &cfg));
    assert_int_equal(tl_trainer_run(t, NULL, NULL), TL_ERR_NUMERIC);
    printf("message: %s\n", tl_last_error());
    char want[64];
    snprintf(want, sizeof want, "step %d:", STEPS_OK + 1);
    assert_non_null(strstr(tl_last_error(), want));
    assert_non_null(strstr(tl_last_error(), "first non-finite gradient in layers.1.p[0]"));
    assert_int_equal(tl_trainer_step(t), STEPS_OK);

    /* The weights are those of the last good step, finite, and so is the
     * checkpoint written after it. */
    for (size_t i = 0; i < np; i++)
        assert_true(isfinite(w[i]));
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    char steps[32];
    snprintf(steps, sizeof steps, "\"step\":%d,", STEPS_OK);
    assert_non_null(strstr(tl_checkpoint_meta(ck, "train"), steps));
    tl_real *saved = malloc(np * sizeof *saved);
    assert_non_null(saved);
    TU_OK(tl_checkpoint_tensor(ck, "layers.2.W", saved, (size_t)D * V));
    tl_named_param p;
    TU_OK(tl_model_param(m, 2, &p));
    assert_string_equal(p.name, "layers.2.W");
    assert_memory_equal(saved, p.param->value.data, (size_t)D * V * sizeof *saved);
    free(saved);
    tl_checkpoint_close(ck);
    assert_int_equal(tu_count_files(dir), 1);

    tl_trainer_destroy(t);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

/* ---- Saturation ---- */

static void assert_all_finite(const char *what, const tl_tensor *t)
{
    for (size_t i = 0; i < t->size; i++)
        if (!isfinite(t->data[i]))
            fail_msg("%s[%zu] = %g", what, i, (double)t->data[i]);
}

/* x = ±1e4 (alternating) into a recurrent layer whose input weights are
 * N(0, 1/D): the pre-activations reach thousands, sigmoid and tanh saturate
 * at exactly 0, ±1 and nothing overflows, forward or backward. */
static void check_saturated(tl_layer *l, int D, int H)
{
    enum { N = 2, T = 3 };
    tl_rng rng;
    tl_rng_seed(&rng, 13);
    tl_tensor x = {0}, dy = {0};
    TU_OK(tl_tensor_zeros3(&x, N, T, D));
    for (size_t i = 0; i < x.size; i++)
        x.data[i] = (tl_real)(i % 2 ? 1e4 : -1e4);
    tu_randn(&dy, &rng, 1, 3, (int[]){N, T, H});
    const tl_tensor *y, *dx;
    tl_layer_zero_grad(l);
    TU_OK(tl_layer_forward(l, &x, &y));
    assert_all_finite("y", y);
    for (size_t i = 0; i < y->size; i++)
        assert_true(fabs((double)y->data[i]) <= 1);
    TU_OK(tl_layer_backward(l, &dy, &dx));
    assert_all_finite("dx", dx);
    int np;
    tl_param *p = tl_layer_params(l, &np);
    for (int k = 0; k < np; k++)
        assert_all_finite(p[k].name, &p[k].grad);
    tl_tensor_free(&x);
    tl_tensor_free(&dy);
    tl_layer_destroy(l);
}

static void test_saturated_lstm_and_rnn(void **state)
{
    (void)state;
    enum { D = 6, H = 5 };
    tl_rng rng;
    tl_rng_seed(&rng, 17);
    tl_layer *l;
    TU_OK(tl_time_lstm_create(&l, D, H, false, &rng));
    check_saturated(l, D, H);
    TU_OK(tl_time_rnn_create(&l, D, H, false, TL_ACT_TANH, &rng));
    check_saturated(l, D, H);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nonfinite_gradient_stops_training),
        cmocka_unit_test(test_saturated_lstm_and_rnn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
