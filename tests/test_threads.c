/* Thread safety (docs/reliability.md): distinct models may be trained from
 * several threads at once and give exactly the results of training them one
 * after the other; the last-error message is per thread, so a failure on one
 * thread never shows up in another's tl_last_error. */
#include <pthread.h>
#include <stdio.h>
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

int main(void)
{
    tl_clear_error();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_models_in_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
