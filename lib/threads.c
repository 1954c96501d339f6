/* The thread setting and the pool behind tl_parallel_run.
 *
 * A parallel step is short (tens of microseconds to a millisecond) and comes
 * every time step, so workers spin on the job word for a while after a step
 * and only then sleep on a condition variable: consecutive steps find them
 * awake, and during the big OpenBLAS products between passes they are asleep
 * and leave the cores to OpenBLAS.
 *
 * The job word packs a generation counter with the number of parts, so a
 * worker reads both at once: it runs part i of generation g only when
 * i < parts(g), and the caller waits for exactly parts - 1 workers, which
 * keeps fn and ctx stable for every worker that reads them.
 */
#include <cblas.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#include "internal.h"
#include "timelayers/threads.h"

enum { MAX_THREADS = 64, DEFAULT_CAP = 4, SPIN = 4000 };

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic int setting;

static struct {
    pthread_mutex_t mutex;      /* guards sleepers, started and the condition */
    pthread_cond_t wake;
    int sleepers, started;
    _Atomic unsigned long job;  /* generation << 8 | parts */
    _Atomic int pending;        /* workers still running the current job */
    atomic_flag busy;           /* a caller owns the pool */
    void (*fn)(void *, int, int);
    void *ctx;
    unsigned long first_seen[MAX_THREADS]; /* the job word when worker i was started */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, ATOMIC_FLAG_INIT,
          NULL, NULL, {0}};

static void pause_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void init_setting(void)
{
    const char *env = getenv("TL_NUM_THREADS");
    char *end;
    long n = env ? strtol(env, &end, 10) : 0;
    if (env && *env && !*end && n >= 1 && n <= MAX_THREADS) {
        atomic_store(&setting, (int)n);
        return;
    }
    int blas = openblas_get_num_threads();
    atomic_store(&setting, blas < 1 ? 1 : blas > DEFAULT_CAP ? DEFAULT_CAP : blas);
}

int tl_get_num_threads(void)
{
    pthread_once(&init_once, init_setting);
    return atomic_load(&setting);
}

tl_status tl_set_num_threads(int n)
{
    if (n < 1 || n > MAX_THREADS)
        return tl_fail(TL_ERR_ARG, "tl_set_num_threads: %d is not in [1, %d]", n, MAX_THREADS);
    pthread_once(&init_once, init_setting);
    atomic_store(&setting, n);
    openblas_set_num_threads(n);
    return TL_OK;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    /* Not the job word now: the first job may have been published already. */
    unsigned long seen = pool.first_seen[id];
    for (;;) {
        unsigned long job = atomic_load(&pool.job);
        for (int s = 0; job == seen && s < SPIN; s++) {
            pause_cpu();
            job = atomic_load(&pool.job);
        }
        if (job == seen) {
            pthread_mutex_lock(&pool.mutex);
            pool.sleepers++;
            while ((job = atomic_load(&pool.job)) == seen)
                pthread_cond_wait(&pool.wake, &pool.mutex);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.mutex);
        }
        seen = job;
        int parts = (int)(job & 0xff);
        if (id < parts) {
            pool.fn(pool.ctx, id, parts);
            atomic_fetch_sub(&pool.pending, 1);
        }
    }
    return NULL;
}

/* Start workers 1 .. parts-1 that do not exist yet; false if none could. */
static bool start_workers(int parts)
{
    pthread_mutex_lock(&pool.mutex);
    while (pool.started < parts - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.first_seen[pool.started + 1] = atomic_load(&pool.job);
        int err = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (err)
            break;
        pool.started++;
    }
    bool ok = pool.started >= parts - 1;
    pthread_mutex_unlock(&pool.mutex);
    return ok;
}

void tl_parallel_run(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx)
{
    if (parts > 1 && atomic_flag_test_and_set(&pool.busy))
        parts = 1;  /* another caller has the pool */
    else if (parts > 1 && !start_workers(parts)) {
        atomic_flag_clear(&pool.busy);
        parts = 1;  /* no threads to be had: the same work on this thread */
    }
    if (parts <= 1) {
        fn(ctx, 0, 1);
        return;
    }
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store(&pool.pending, parts - 1);
    unsigned long gen = (atomic_load(&pool.job) >> 8) + 1;
    atomic_store(&pool.job, gen << 8 | (unsigned long)parts);
    pthread_mutex_lock(&pool.mutex);
    if (pool.sleepers)
        pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);
    fn(ctx, 0, parts);
    while (atomic_load(&pool.pending) > 0)
        pause_cpu();
    atomic_flag_clear(&pool.busy);
}
