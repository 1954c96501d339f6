/* The thread setting and the pool behind tl_parallel_run.
 *
 * A parallel step is short (tens of microseconds to a millisecond) and comes
 * every time step, so workers spin for a while after a step and only then
 * sleep on a condition variable: consecutive steps find them awake, and
 * during the big OpenBLAS products between passes they are asleep and leave
 * the cores to OpenBLAS.
 *
 * Parts are handed out dynamically: the caller and every awake worker claim
 * the next part until none is left, so a worker that is late (asleep, or
 * descheduled on a busy machine) costs nothing beyond the part it holds; the
 * caller never waits for a worker that has not started. A claim is a
 * compare-and-swap on one word holding the job's generation and the next
 * part, so a late worker can never claim a part of a job other than the one
 * it saw published.
 *
 * A homed job (tl_parallel_run_homed) cuts its parts into one block per
 * thread (the caller's first, then worker 1's, ...), each in a word of its
 * own holding the generation and the block's unclaimed range [lo, hi). A
 * thread runs its block from the front, then takes the others' unclaimed
 * parts from their ends, so on an unloaded machine each part goes to the same
 * thread every time (the per-step kernels find their share of the weights
 * and state in that core's caches), and a late worker's block is done by the
 * others as in a plain job.
 *
 * A started job (tl_parallel_start) is published the same way but the caller
 * does not wait: it goes on with other work, and the pool stays taken until
 * it calls tl_parallel_finish, which runs the parts no worker has claimed and
 * waits for the others. Parallel steps in between (a part's, another
 * thread's, and the caller's while parts of the job remain) find the pool
 * taken and run on their own thread: the workers are busy with the job.
 * Once every part is done, a parallel step of the caller finishes the job
 * and takes the pool, so that a long parallel layer after a short job is
 * not left on one thread (finishing as soon as every part was claimed, and
 * waiting for the last ones, cost config A 3% a step). The fused output
 * pass leaves its last dW product so while the layers below run backward.
 *
 * On a machine with more runnable threads than cores the pool does not pay:
 * workers get the CPU too late to claim anything (measured: the caller ran
 * every part while the worker's spinning took CPU time from it), or one is
 * preempted holding a part and the caller waits a whole time slice. The
 * caller therefore counts the parts it ran itself and times its work and its
 * wait: when over a window of jobs it ran nearly all parts (9 in 10) or
 * waited longer than it worked, it runs the next BACKOFF jobs alone, then
 * tries the pool again. Healthy, it runs about 1/threads of the parts and
 * waits at most about one part.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "internal.h"
#include "kernels/kernels.h"
#include "timelayers/threads.h"

enum { MAX_THREADS = 64, DEFAULT_CAP = 4, SPIN = 4000, WINDOW = 64, BACKOFF = 2048 };

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic int setting;

static struct {
    pthread_mutex_t mutex;       /* guards sleepers, started and the condition */
    pthread_cond_t wake;
    int sleepers, started;
    _Atomic uint64_t claim;      /* generation << 32 | next part */
    _Atomic int parts, done;
    atomic_flag busy;            /* a caller owns the pool */
    void (*fn)(void *, int, int);
    void *ctx;
    uint32_t first_gen[MAX_THREADS]; /* the generation when worker i was started */
    _Atomic int blocks;              /* homed job: its blocks (0: a plain job) */
    /* The caller's bookkeeping, touched only by the owner of busy. */
    double worked, waited;           /* seconds over the current window */
    int jobs, backoff;               /* jobs in the window; jobs left to run alone */
    long parts_all, parts_own;       /* parts in the window, and those the caller ran */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, 0, ATOMIC_FLAG_INIT,
          NULL, NULL, {0}, 0, 0, 0, 0, 0, 0, 0};

/* The blocks of a homed job: generation << 32 | lo << 16 | hi, one cache
 * line each, so that a thread claiming from its own block does not contend
 * with the others'. */
static struct {
    _Alignas(64) _Atomic uint64_t range;
} block[MAX_THREADS];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void pause_cpu(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static uint32_t generation(void) { return (uint32_t)(atomic_load(&pool.claim) >> 32); }

static void init_setting(void)
{
    const char *env = getenv("TL_NUM_THREADS");
    char *end;
    long n = env ? strtol(env, &end, 10) : 0;
    if (env && *env && !*end && n >= 1 && n <= MAX_THREADS) {
        atomic_store(&setting, (int)n);
        return;
    }
    int blas = tl_blas_get_threads();
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
    tl_blas_set_threads(n);
    return TL_OK;
}

/* Claim a part of block b of job gen, its first unclaimed one (front) or its
 * last; false when none is left. */
static bool claim_in_block(int b, uint32_t gen, bool front, int *part)
{
    uint64_t r = atomic_load(&block[b].range);
    for (;;) {
        int lo = (int)(r >> 16 & 0xffff), hi = (int)(r & 0xffff);
        if ((uint32_t)(r >> 32) != gen || lo >= hi)
            return false;
        if (atomic_compare_exchange_weak(&block[b].range, &r, front ? r + (1u << 16) : r - 1)) {
            *part = front ? lo : hi - 1;
            return true;
        }
    }
}

/* Claim a part of job gen for thread id (0: the caller): from the shared
 * counter, or in a homed job from its own block, else from the end of
 * another's. */
static bool claim(uint32_t gen, int id, int *part)
{
    int blocks = atomic_load(&pool.blocks);
    if (blocks) {
        if (id < blocks && claim_in_block(id, gen, true, part))
            return true;
        for (int i = 0; i < blocks; i++)
            if ((id + i) % blocks != id && claim_in_block((id + i) % blocks, gen, false, part))
                return true;
        return false;
    }
    for (;;) {
        uint64_t c = atomic_load(&pool.claim);
        if ((uint32_t)(c >> 32) != gen || (int)(uint32_t)c >= atomic_load(&pool.parts))
            return false;
        if (atomic_compare_exchange_weak(&pool.claim, &c, c + 1)) {
            *part = (int)(uint32_t)c;
            return true;
        }
    }
}

/* Claim and run parts of job gen until none is left; returns how many this
 * thread ran. fn, ctx and the part count are read only after a successful
 * claim, when the job cannot have been replaced. (A late worker may read
 * blocks of a newer job: its claims then fail on the generation.) */
static int run_parts(uint32_t gen, int id)
{
    int ran = 0;
    for (int part; claim(gen, id, &part); ran++) {
        pool.fn(pool.ctx, part, atomic_load(&pool.parts));
        atomic_fetch_add(&pool.done, 1);
    }
    return ran;
}

static void *worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    /* Not the generation now: the first job may have been published already. */
    uint32_t seen = pool.first_gen[id];
    for (;;) {
        uint32_t gen = generation();
        for (int s = 0; gen == seen && s < SPIN; s++) {
            pause_cpu();
            gen = generation();
        }
        if (gen == seen) {
            pthread_mutex_lock(&pool.mutex);
            pool.sleepers++;
            while ((gen = generation()) == seen)
                pthread_cond_wait(&pool.wake, &pool.mutex);
            pool.sleepers--;
            pthread_mutex_unlock(&pool.mutex);
        }
        seen = gen;
        run_parts(gen, id);
    }
    return NULL;
}

/* Start workers 1 .. n-1 that do not exist yet; false if none exists. */
static bool start_workers(int n)
{
    pthread_mutex_lock(&pool.mutex);
    while (pool.started < n - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pool.first_gen[pool.started + 1] = generation();
        int err = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (err)
            break;
        pool.started++;
    }
    bool ok = pool.started >= 1;
    pthread_mutex_unlock(&pool.mutex);
    return ok;
}

/* Take the pool for a job: false when it runs on the calling thread alone
 * (one thread, the pool taken by another caller or by a started job, backing
 * off, or no worker to be had). */
static bool take_pool(int threads)
{
    if (threads < 2 || atomic_flag_test_and_set(&pool.busy))
        return false;
    if (pool.backoff > 0 || !start_workers(threads)) {
        if (pool.backoff > 0)
            pool.backoff--;
        atomic_flag_clear(&pool.busy);
        return false;
    }
    return true;
}

/* Publish a job on the taken pool; returns its generation. Published in two
 * steps. A worker still in the last job may have read its claim word (that
 * job's generation, every part taken) and be about to compare it with the
 * part count: were the new count stored while the word was unchanged, the
 * old word could look unfinished, its compare-and-swap would succeed, and the
 * worker would run a part of the new job that the new job hands out again.
 * So the word first moves to a closed generation, in which nothing can be
 * claimed; then the job's fields change, and the next generation opens it. */
static uint32_t publish(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx,
                        int blocks)
{
    uint32_t closed = generation() + 1, gen = closed + 1;
    atomic_store(&pool.claim, (uint64_t)closed << 32 | INT32_MAX);
    pool.fn = fn;
    pool.ctx = ctx;
    atomic_store(&pool.parts, parts);
    atomic_store(&pool.done, 0);
    for (int b = 0; b < blocks; b++) {
        uint64_t lo = (uint64_t)parts * b / blocks, hi = (uint64_t)parts * (b + 1) / blocks;
        atomic_store(&block[b].range, (uint64_t)gen << 32 | lo << 16 | hi);
    }
    atomic_store(&pool.blocks, blocks);
    atomic_store(&pool.claim, (uint64_t)gen << 32 | (blocks ? (uint32_t)parts : 0));
    pthread_mutex_lock(&pool.mutex);
    if (pool.sleepers)
        pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mutex);
    return gen;
}

/* Wait for the parts other threads claimed: their workers are running. */
static void wait_done(int parts)
{
    for (int s = 0; atomic_load(&pool.done) < parts; s++)
        if (s < SPIN)
            pause_cpu();
        else
            sched_yield();
}

/* The job this thread left on the pool with tl_parallel_start, if any. */
static _Thread_local tl_pending *started;

static void run(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx, bool homed)
{
    if (parts >= 2 && started && atomic_load(&pool.done) >= started->parts)
        tl_parallel_finish(started);   /* nothing left to wait for */
    int threads = tl_get_num_threads();
    if (parts < 2 || !take_pool(threads)) {
        for (int p = 0; p < parts; p++)
            fn(ctx, p, parts);
        return;
    }
    uint32_t gen = publish(parts, fn, ctx, homed && parts <= 0xffff ? threads : 0);
    double t0 = now();
    pool.parts_own += run_parts(gen, 0);
    pool.parts_all += parts;
    double t1 = now();
    wait_done(parts);
    pool.worked += t1 - t0;
    pool.waited += now() - t1;
    if (++pool.jobs == WINDOW) {
        if (pool.waited > pool.worked || 10 * pool.parts_own >= 9 * pool.parts_all)
            pool.backoff = BACKOFF;
        pool.worked = pool.waited = 0;
        pool.jobs = 0;
        pool.parts_all = pool.parts_own = 0;
    }
    atomic_flag_clear(&pool.busy);
}

void tl_parallel_run(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx)
{
    run(parts, fn, ctx, false);
}

void tl_parallel_run_homed(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx)
{
    run(parts, fn, ctx, true);
}

/* The job stays published, and the pool taken, until tl_parallel_finish:
 * the workers claim its parts while the caller does other work, and every
 * parallel step meanwhile (the caller's, a part's) runs on its own thread.
 * It is left out of the back-off window (the caller's share of it depends
 * on the work it overlaps). */
void tl_parallel_start(int parts, void (*fn)(void *ctx, int part, int parts), void *ctx,
                       tl_pending *job)
{
    job->pooled = parts >= 1 && take_pool(tl_get_num_threads());
    if (!job->pooled) {
        for (int p = 0; p < parts; p++)
            fn(ctx, p, parts);
        return;
    }
    job->parts = parts;
    job->gen = publish(parts, fn, ctx, 0);
    started = job;
}

void tl_parallel_finish(tl_pending *job)
{
    if (!job->pooled)
        return;
    job->pooled = false;
    /* Cleared first: a parallel step inside the parts run here must not
     * finish the job again. */
    started = NULL;
    run_parts(job->gen, 0);
    wait_done(job->parts);
    atomic_flag_clear(&pool.busy);
}
