/* The model's workspace (lib/workspace.h): takes are 64-byte aligned, lie
 * one after the other inside what tl_workspace_begin reserved, a new call
 * starts over, and a take past the reservation stops the process instead of
 * handing out memory that another take owns. */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "testutil.h"
#include "../lib/workspace.h"

static void takes_are_aligned_and_disjoint(void **state)
{
    (void)state;
    tl_workspace w = {0};
    size_t sizes[] = {100, 64, 1, 4000};
    size_t total = 0;
    for (int i = 0; i < 4; i++)
        total += tl_workspace_bytes(sizes[i]);
    assert_int_equal(tl_workspace_begin(&w, total, "test"), TL_OK);
    unsigned char *prev_end = NULL;
    for (int i = 0; i < 4; i++) {
        unsigned char *p = tl_workspace_take(&w, sizes[i]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        if (prev_end)
            assert_true(p >= prev_end);
        assert_true(p + sizes[i] <= w.data + w.cap);
        prev_end = p + sizes[i];
    }
    assert_null(tl_workspace_take(&w, 0));
    /* A smaller call reuses the block and starts at its beginning. */
    unsigned char *first = w.data;
    assert_int_equal(tl_workspace_begin(&w, 128, "test"), TL_OK);
    assert_ptr_equal(tl_workspace_take(&w, 128), first);
    tl_workspace_free(&w);
}

/* The last take may end inside its own rounding: 260 bytes reserved, 260
 * taken (the fused output pass takes exactly what it reserved). */
static void last_take_may_be_unrounded(void **state)
{
    (void)state;
    tl_workspace w = {0};
    assert_int_equal(tl_workspace_begin(&w, 64 + 260, "test"), TL_OK);
    assert_non_null(tl_workspace_take(&w, 10));
    assert_non_null(tl_workspace_take(&w, 260));
    tl_workspace_free(&w);
}

/* In a child: an earlier call reserves 4096 bytes, this one `reserve`, takes
 * `before` bytes, then `bytes`. True if the child was stopped by SIGABRT:
 * the block is larger than the reservation, the guard must still hold. */
static bool take_aborts(size_t reserve, size_t before, size_t bytes)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stderr))
            _exit(3);
        tl_workspace w = {0};
        if (tl_workspace_begin(&w, 4096, "test") != TL_OK ||
            tl_workspace_begin(&w, reserve, "test") != TL_OK)
            _exit(2);
        if (before)
            tl_workspace_take(&w, before);
        tl_workspace_take(&w, bytes);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void take_past_the_reservation_aborts(void **state)
{
    (void)state;
    assert_false(take_aborts(256, 0, 256));
    assert_false(take_aborts(256, 128, 128));
    assert_true(take_aborts(256, 0, 257));
    assert_true(take_aborts(256, 200, 64));   /* 200 uses 256: nothing is left */
    assert_true(take_aborts(0, 0, 1));
}

/* Memory lent to a job (tl_workspace_lend): a later call needing only the
 * memory before it runs alongside; one reaching into it, a finish and a
 * free wait for the job: every part has run once when they return. The
 * job's parts write the lent memory, which the next call must not have
 * taken while they ran. */
typedef struct {
    unsigned char *lent;
    size_t bytes;
    _Atomic int runs[8];
} lent_job;

static void lent_part(void *ctx, int part, int parts)
{
    lent_job *j = ctx;
    size_t lo = j->bytes * (size_t)part / (size_t)parts;
    size_t hi = j->bytes * (size_t)(part + 1) / (size_t)parts;
    memset(j->lent + lo, 0x5a, hi - lo);
    atomic_fetch_add(&j->runs[part], 1);
}

static void lent_memory_waits_for_its_job(void **state)
{
    (void)state;
    enum { FROM = 4096, LENT = 1 << 20, PARTS = 8 };
    for (int threads = 1; threads <= 2; threads++) {
        TU_OK(tl_set_num_threads(threads));
        for (int how = 0; how < 4; how++) {
            tl_workspace w = {0};
            assert_int_equal(tl_workspace_begin(&w, FROM + LENT, "test"), TL_OK);
            unsigned char *p = tl_workspace_take(&w, FROM + LENT);
            lent_job j = {.lent = p + FROM, .bytes = LENT};
            tl_parallel_start(PARTS, lent_part, &j, tl_workspace_lend(&w, FROM));
            bool pooled = w.lent.pooled;   /* not when the pool backs off */
            /* Needing no more than the memory before the lent part. */
            assert_int_equal(tl_workspace_begin(&w, FROM, "test"), TL_OK);
            memset(tl_workspace_take(&w, FROM), 0, FROM);
            if (how == 0)
                assert_int_equal(tl_workspace_begin(&w, FROM + 1, "test"), TL_OK);
            else if (how == 1)   /* grows: the old block is freed */
                assert_int_equal(tl_workspace_begin(&w, 2 * (FROM + LENT), "test"), TL_OK);
            else if (how == 2)
                tl_workspace_finish(&w);
            for (int i = 0; how < 3 && i < PARTS; i++)
                assert_int_equal(atomic_load(&j.runs[i]), 1);
            /* Only a call that reached the lent memory waited for the job. */
            assert_int_equal(w.lent_waited, how <= 1 && pooled);
            if (how == 0)   /* (how == 1 freed it) */
                for (size_t i = 0; i < LENT; i += 4093)
                    assert_int_equal(j.lent[i], 0x5a);
            tl_workspace_free(&w);   /* how == 3: the free waits */
            for (int i = 0; i < PARTS; i++)
                assert_int_equal(atomic_load(&j.runs[i]), 1);
        }
    }
    TU_OK(tl_set_num_threads(1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(takes_are_aligned_and_disjoint),
        cmocka_unit_test(last_take_may_be_unrounded),
        cmocka_unit_test(take_past_the_reservation_aborts),
        cmocka_unit_test(lent_memory_waits_for_its_job),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
