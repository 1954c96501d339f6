/* Thread safety (docs/reliability.md): distinct models may be trained from
 * several threads at once and give exactly the results of training them one
 * after the other; the last-error message is per thread, so a failure on one
 * thread never shows up in another's tl_last_error. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

enum { NTHREADS = 4, STEPS = 12 };

static const char text[] = "the cat sat on the mat. the dog sat on the log. a cat saw a dog.\n";

typedef struct {
    int seed;
    double losses[STEPS];
    bool error_ok;       /* this thread's errors stayed its own */
    tl_status st;
} job;

static pthread_barrier_t barrier;
static bool in_threads;

static void record(void *ctx, const tl_train_progress *p)
{
    job *j = ctx;
    if (!p->epoch_end && p->step >= 1 && p->step <= STEPS)
        j->losses[p->step - 1] = p->train_ppl;
}

/* Train a model of seed j->seed for STEPS steps. In the threaded run every
 * thread also provokes its own error with a distinct message and checks,
 * after the others have provoked theirs, that it still reads its own. */
static void *train(void *arg)
{
    job *j = arg;
    tu_lm s;
    tl_lm_config lm = {.embed = 8, .hidden = 16 + j->seed, .layers = 1};
    tl_train_config cfg = {.batch = 2, .time = 4, .epochs = 100, .max_steps = STEPS,
                           .clip_norm = 1, .report_every = 1};
    tl_status st = tu_lm_make(&s, text, sizeof text - 1, TL_LEVEL_CHAR, lm, (uint64_t)j->seed,
                              &cfg);
    if (in_threads) {
        char mine[32];
        tl_layer *l;
        snprintf(mine, sizeof mine, "(got D=%d, M=1)", -100 - j->seed);
        j->error_ok = tl_time_affine_create(&l, -100 - j->seed, 1, NULL) == TL_ERR_ARG;
        pthread_barrier_wait(&barrier);   /* every thread has failed once */
        j->error_ok = j->error_ok && strstr(tl_last_error(), mine) != NULL;
        pthread_barrier_wait(&barrier);
    }
    if (!st)
        st = tl_trainer_run(s.t, record, j);
    tu_lm_free(&s);
    j->st = st;
    return NULL;
}

static void test_distinct_models_in_threads(void **state)
{
    (void)state;
    job alone[NTHREADS], together[NTHREADS];
    for (int i = 0; i < NTHREADS; i++) {
        alone[i] = (job){.seed = i + 1};
        together[i] = (job){.seed = i + 1};
        train(&alone[i]);
        TU_OK(alone[i].st);
    }
    in_threads = true;
    pthread_t th[NTHREADS];
    assert_int_equal(pthread_barrier_init(&barrier, NULL, NTHREADS), 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, train, &together[i]), 0);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    assert_string_equal(tl_last_error(), "");  /* nothing leaked into this thread */
    for (int i = 0; i < NTHREADS; i++) {
        TU_OK(together[i].st);
        assert_true(together[i].error_ok);
        for (int s = 0; s < STEPS; s++)
            if (together[i].losses[s] != alone[i].losses[s])
                fail_msg("model %d, step %d: perplexity %.17g in a thread, %.17g alone", i, s + 1,
                         together[i].losses[s], alone[i].losses[s]);
    }
    printf("%d models trained concurrently: %d steps each, identical to sequential\n", NTHREADS,
           STEPS);
}

/* ---- One model, two threads: the second is refused, never corrupts ---- */

/* A pass-through layer whose forward waits until the main thread has tried
 * the same model, so that the two calls overlap for certain. */
typedef struct {
    tl_layer base;
    pthread_barrier_t *inside, *tried;
} gate;

static tl_status gate_forward(tl_layer *l, const tl_tensor *x, const tl_tensor **y)
{
    gate *g = (gate *)l;
    pthread_barrier_wait(g->inside);
    pthread_barrier_wait(g->tried);
    *y = x;
    return TL_OK;
}

static tl_status gate_backward(tl_layer *l, const tl_tensor *dy, const tl_tensor **dx)
{
    (void)l;
    *dx = dy;
    return TL_OK;
}

static void gate_destroy(tl_layer *l) { free(l); }

static const tl_layer_ops gate_ops = {.type = "Gate", .forward = gate_forward,
                                      .backward = gate_backward, .destroy = gate_destroy};

static void *predict_once(void *arg)
{
    tl_model *m = arg;
    tl_real x[4] = {1, 2, 3, 4};
    tl_tensor t = tl_tensor_wrap(x, 2, (int[]){2, 2});
    const tl_tensor *y;
    return (void *)(intptr_t)tl_model_predict(m, &t, &y);
}

static void test_one_model_two_threads(void **state)
{
    (void)state;
    pthread_barrier_t inside, tried;
    pthread_barrier_init(&inside, NULL, 2);
    pthread_barrier_init(&tried, NULL, 2);
    gate *g = calloc(1, sizeof *g);
    assert_non_null(g);
    g->base = (tl_layer){.ops = &gate_ops, .in_dtype = TL_REAL, .in_width = 2, .out_width = 2};
    g->inside = &inside;
    g->tried = &tried;
    tl_model *m;
    TU_OK(tl_model_create(&m));
    TU_OK(tl_model_add(m, &g->base));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, predict_once, m), 0);
    pthread_barrier_wait(&inside);          /* the thread is inside the model now */
    tl_real x[4] = {0};
    tl_tensor t = tl_tensor_wrap(x, 2, (int[]){2, 2});
    const tl_tensor *y;
    assert_int_equal(tl_model_predict(m, &t, &y), TL_ERR_STATE);
    assert_non_null(strstr(tl_last_error(), "in use by another thread"));
    printf("second thread: %s\n", tl_last_error());
    pthread_barrier_wait(&tried);
    void *rc;
    pthread_join(th, &rc);
    assert_int_equal((intptr_t)rc, TL_OK);   /* the first call was not disturbed */
    tl_model_destroy(m);
    pthread_barrier_destroy(&inside);
    pthread_barrier_destroy(&tried);
}

int main(void)
{
    tl_clear_error();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_models_in_threads),
        cmocka_unit_test(test_one_model_two_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
