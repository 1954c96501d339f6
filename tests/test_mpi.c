/* Data-parallel training over MPI, run by tests/mpi_run.sh as `mpirun -np 2`:
 *
 * - 2 processes with batch B give the per-step losses (and validation
 *   perplexities, at epoch ends and every 50 steps) of 1 process with batch B,
 *   LSTM and RNN, Adam with active clipping, 200 steps across epoch ends; the
 *   replicas stay identical;
 * - a loop of one's own with the public API (shard, all-reduce weighted by the
 *   targets counted) equals one process, with ignored targets spread unevenly
 *   over the ranks (one rank at times counting none);
 * - --accumulate: K = 2 batches of B/2 rows give the update of one batch of B,
 *   alone and in the group;
 * - a run saved by 2 processes resumes in 1 and the other way (also with a
 *   different split of the rows into batches and parts), continuing the curve;
 * - different data, options or a batch not divisible by the group are refused
 *   on every rank before the first step.
 *
 * Bound: every loss within REL of the single-process loss, relative; 1e-5 in
 * the float build (the bound), 1e-10 in the double build, where only
 * summation order differs. Exits non-zero on any failure, on any rank.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "timelayers/mpi.h"
#include "timelayers/timelayers.h"

#ifdef TL_REAL_DOUBLE
#define REL 1e-10
#else
#define REL 1e-5
#endif

enum { STEPS = 200, V = 24, LEN = 6000, VLEN = 400, T = 8, MAXSTEPS = 512 };

static int rank, failures;
long tl__alloc_live(void); /* lib/internal.h: blocks from the library's allocator not freed */
static tl_comm *world;
static char ckpt[256];

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "rank %d: %s:%d: FAILED %s: ", rank, __FILE__,     \
                    __LINE__, #cond);                                           \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            failures++;                                                         \
        }                                                                       \
    } while (0)

#define OK(expr)                                                                \
    do {                                                                        \
        tl_status st_ = (expr);                                                 \
        if (st_) {                                                              \
            fprintf(stderr, "rank %d: %s:%d: %s: %s\n", rank, __FILE__,        \
                    __LINE__, #expr, tl_last_error());                          \
            MPI_Abort(MPI_COMM_WORLD, 1);                                       \
        }                                                                       \
    } while (0)

/* A token stream with structure (a noisy walk over the vocabulary), so that
 * the loss falls and the gradients are not noise. */
static int32_t train_ids[LEN], valid_ids[VLEN];

static void make_data(void)
{
    tl_rng r;
    tl_rng_seed(&r, 5);
    int32_t *all[2] = {train_ids, valid_ids};
    int n[2] = {LEN, VLEN};
    for (int k = 0; k < 2; k++) {
        int32_t x = 0;
        for (int i = 0; i < n[k]; i++) {
            double u = tl_rng_uniform(&r);
            x = u < 0.7 ? (x + 1) % V : u < 0.9 ? (x * 7 + 3) % V : (int32_t)(u * 1000) % V;
            all[k][i] = x;
        }
    }
}

typedef struct {
    double loss[MAXSTEPS];
    int n;
    double valid[16];
    int nvalid;
} trace;

static void record(void *ctx, const tl_train_progress *p)
{
    trace *t = ctx;
    if (!isnan(p->valid_ppl) && t->nvalid < 16)
        t->valid[t->nvalid++] = p->valid_ppl;
    if (!p->epoch_end && t->n < MAXSTEPS)
        t->loss[t->n++] = log(p->train_ppl);
}

typedef struct {
    tl_cell_kind cell;
    int batch, accumulate;
    long steps;            /* stop after this many steps in total */
    const char *save;      /* write the checkpoint here at the stop */
    const char *resume;    /* start from this checkpoint */
    tl_comm *comm;
    const int32_t *data;   /* training data (default train_ids) */
    double clip;           /* default 0.5 */
} run_spec;

/* Train as spec says and record every step's loss; returns the trainer's status. */
static tl_status run(const run_spec *s, trace *out, tl_real **params, size_t *nparams)
{
    tl_model *m = NULL;
    tl_optim *opt = NULL;
    tl_checkpoint *ck = NULL;
    if (s->resume) {
        OK(tl_checkpoint_open(s->resume, &ck));
        OK(tl_checkpoint_model(ck, &m));
        OK(tl_checkpoint_optim(ck, &opt));
    } else {
        tl_rng rng;
        tl_rng_seed(&rng, 11);
        tl_lm_config lm = {.vocab = V, .embed = 8, .hidden = 16, .layers = 1, .cell = s->cell};
        OK(tl_lm_create(&m, &lm, &rng));
        size_t n;
        OK(tl_model_flat(m, NULL, NULL, &n));
        tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
        oc.lr = 0.01;
        OK(tl_optim_create(&opt, &oc, n));
    }
    tl_train_config cfg = {.batch = s->batch, .time = T, .epochs = 100, .report_every = 1,
                           .clip_norm = s->clip ? s->clip : 0.5, .max_steps = s->steps,
                           .checkpoint = s->save, .accumulate = s->accumulate,
                           .comm = s->comm, .eval_every = 50};
    tl_trainer *tr = NULL;
    memset(out, 0, sizeof *out);
    tl_status st = tl_trainer_create(&tr, m, opt, NULL, s->data ? s->data : train_ids, LEN,
                                     valid_ids, VLEN, &cfg);
    if (!st && ck)
        st = tl_trainer_resume(tr, ck);
    if (!st)
        st = tl_trainer_run(tr, record, out);
    if (params) {
        tl_real *v;
        OK(tl_model_flat(m, &v, NULL, nparams));
        *params = malloc(*nparams * sizeof **params);
        memcpy(*params, v, *nparams * sizeof **params);
    }
    tl_trainer_destroy(tr);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    tl_checkpoint_close(ck);
    return st;
}

/* Largest relative difference of b[i] from a[i], i < n. */
static double max_rel(const double *a, const double *b, int n)
{
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]) / fabs(a[i]);
        worst = d > worst || isnan(d) ? d : worst;
    }
    return worst;
}

/* Compare a group's trace (on rank 0) with steps from .. from + n of the
 * single-process one. */
static void compare(const char *what, const trace *ref, int from, int n, const trace *got)
{
    if (rank != 0)
        return;
    CHECK(got->n == n, "%s: %d steps, expected %d", what, got->n, n);
    double e = max_rel(ref->loss + from, got->loss, got->n < n ? got->n : n);
    CHECK(e <= REL, "%s: losses differ by %.3g relative", what, e);
    printf("%-44s %3d steps, max relative loss difference %.2e\n", what, got->n, e);
}

static void test_equivalence(tl_cell_kind cell, trace *ref)
{
    const char *name = cell == TL_CELL_LSTM ? "LSTM" : "RNN";
    trace got;
    tl_real *p1 = NULL, *p2;
    size_t n1 = 0, n2;
    run_spec one = {.cell = cell, .batch = 8, .steps = STEPS};
    if (rank == 0)
        OK(run(&one, ref, &p1, &n1));
    run_spec two = one;
    two.comm = world;
    OK(run(&two, &got, &p2, &n2));
    char what[64];
    snprintf(what, sizeof what, "%s: 2 processes vs 1, batch 8", name);
    compare(what, ref, 0, STEPS, &got);
    if (rank == 0) {
        /* Epoch ends at steps 93 and 186, and every 50 steps in between. */
        CHECK(ref->nvalid == 6 && got.nvalid == 6, "%s: %d and %d validations", name,
              ref->nvalid, got.nvalid);
        double e = max_rel(ref->valid, got.valid, 6);
        CHECK(e <= REL, "%s: validation perplexities differ by %.3g", name, e);
        printf("%-44s %3d times, max relative difference %.2e\n", "  validation perplexity",
               got.nvalid, e);
        double w = 0;
        for (size_t i = 0; i < n1; i++)
            w = fmax(w, fabs((double)p1[i] - (double)p2[i]));
        printf("%-44s %.2e\n", "  largest parameter difference after training", w);
    }
    /* The replicas are one model, bit for bit. */
    OK(tl_comm_check_same(world, "the parameters", p2, n2 * sizeof *p2));
    free(p1);
    free(p2);
}

/* ---- a loop of one's own with ignored targets --------------------------------- */

/* Whether target (row, t) of step s is ignored: rank 0's rows (0-3) lose most
 * of theirs, rank 1's few, and at every seventh step rank 0 counts none. */
static bool ignored(int row, int t, int s)
{
    if (row < 4)
        return s % 7 == 0 || (row * 5 + t * 3 + s) % 4 != 0;
    return (row + t + s) % 9 == 0;
}

static void own_loop(tl_comm *c, double *losses)
{
    tl_rng rng;
    tl_rng_seed(&rng, 11);
    tl_lm_config lm = {.vocab = V, .embed = 8, .hidden = 16, .layers = 1, .cell = TL_CELL_LSTM};
    tl_model *m;
    OK(tl_lm_create(&m, &lm, &rng));
    tl_real *values, *grads;
    size_t n;
    OK(tl_model_flat(m, &values, &grads, &n));
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    oc.lr = 0.01;
    tl_optim *opt;
    OK(tl_optim_create(&opt, &oc, n));
    /* Rank 1 starts from other weights: the broadcast must make them rank 0's. */
    if (tl_comm_rank(c) == 1)
        values[0] += 1;
    OK(tl_comm_broadcast_params(c, m));
    tl_batcher b;
    OK(tl_batcher_init(&b, train_ids, LEN, 8, T));
    OK(tl_comm_shard_batcher(c, &b));
    int32_t xs[8 * T], ts[8 * T];
    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){b.rows, T});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){b.rows, T});
    for (int s = 0; s < STEPS; s++) {
        tl_batcher_next(&b, xs, ts);
        double count = 0, loss, norm;
        for (int i = 0; i < b.rows * T; i++) {
            if (ignored(b.first + i / T, i % T, s))
                ts[i] = TL_IGNORE_INDEX;
            count += ts[i] != TL_IGNORE_INDEX;
        }
        tl_model_zero_grad(m);
        OK(tl_model_forward(m, &x, &t, &loss));
        OK(tl_model_backward(m));
        double total, sum[1] = {loss * count};
        OK(tl_comm_allreduce_grads(c, m, count, &total));
        OK(tl_comm_sum(c, sum, 1));
        losses[s] = sum[0] / total;
        OK(tl_clip_grad_norm(grads, n, 0.5, &norm));
        OK(tl_optim_step(opt, values, grads, n));
    }
    tl_optim_destroy(opt);
    tl_model_destroy(m);
}

static void test_ignored_targets(void)
{
    trace ref = {.n = STEPS}, got = {.n = STEPS};
    if (rank == 0)
        own_loop(NULL, ref.loss);
    own_loop(world, got.loss);
    compare("own loop, uneven ignored targets: 2 vs 1", &ref, 0, STEPS, &got);
}

/* ---- accumulation, resumption, refusals ----------------------------------------- */

static void test_accumulate(const trace *ref)
{
    trace got;
    run_spec s = {.cell = TL_CELL_LSTM, .batch = 4, .accumulate = 2, .steps = STEPS};
    if (rank == 0) {
        OK(run(&s, &got, NULL, NULL));
        compare("accumulate 2 x batch 4 vs batch 8", ref, 0, STEPS, &got);
    }
    s.comm = world;
    OK(run(&s, &got, NULL, NULL));
    compare("accumulate 2 x batch 4, 2 processes", ref, 0, STEPS, &got);
}

static void test_resume(const trace *ref)
{
    trace got;
    /* Saved by the group at step 120 (after an epoch end), continued alone. */
    run_spec s = {.cell = TL_CELL_LSTM, .batch = 8, .steps = 120, .save = ckpt, .comm = world};
    OK(run(&s, &got, NULL, NULL));
    compare("  first 120 steps, 2 processes", ref, 0, 120, &got);
    if (rank == 0) {
        run_spec r = {.cell = TL_CELL_LSTM, .batch = 8, .steps = STEPS, .resume = ckpt};
        OK(run(&r, &got, NULL, NULL));
        compare("saved by 2 processes, resumed by 1", ref, 120, STEPS - 120, &got);
        /* Saved alone, as 2 parts of 4 rows, at step 70 ... */
        run_spec a = {.cell = TL_CELL_LSTM, .batch = 4, .accumulate = 2, .steps = 70,
                      .save = ckpt};
        OK(run(&a, &got, NULL, NULL));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* ... continued by the group in one batch of 8. */
    run_spec g = {.cell = TL_CELL_LSTM, .batch = 8, .steps = STEPS, .resume = ckpt,
                  .comm = world};
    OK(run(&g, &got, NULL, NULL));
    compare("saved by 1 (accumulate 2), resumed by 2", ref, 70, STEPS - 70, &got);
}

/* Every rank must fail with TL_ERR_ARG naming `what`, before any step. */
static void expect_refusal(const char *what, run_spec *s)
{
    trace got;
    tl_status st = run(s, &got, NULL, NULL);
    CHECK(st == TL_ERR_ARG && strstr(tl_last_error(), what), "expected a refusal naming %s, "
          "got %s: %s", what, tl_status_name(st), tl_last_error());
    CHECK(got.n == 0, "%d steps ran before the refusal", got.n);
    if (rank == 0)
        printf("refused: %s\n", tl_last_error());
}

static void test_refusals(void)
{
    static int32_t other[LEN];
    memcpy(other, train_ids, sizeof other);
    other[LEN / 2] = (other[LEN / 2] + 1) % V;
    run_spec s = {.cell = TL_CELL_LSTM, .batch = 8, .steps = 5, .comm = world,
                  .data = rank == 1 ? other : train_ids};
    expect_refusal("the training data", &s);
    s.data = NULL;
    s.clip = rank == 1 ? 0.25 : 0.5;
    expect_refusal("the options", &s);
    s.clip = 0;
    s.batch = 7;
    expect_refusal("divisible by 2", &s);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size != 2) {
        fprintf(stderr, "test_mpi: run with mpirun -np 2 (got %d processes)\n", size);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    OK(tl_mpi_comm_create(&world, MPI_COMM_WORLD));
    /* One file for the whole job, named by rank 0. */
    int pid = (int)getpid();
    MPI_Bcast(&pid, 1, MPI_INT, 0, MPI_COMM_WORLD);
    snprintf(ckpt, sizeof ckpt, "%s/tl_test_mpi_%d.safetensors",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", pid);
    make_data();

    trace lstm, rnn;
    test_equivalence(TL_CELL_LSTM, &lstm);
    test_equivalence(TL_CELL_RNN, &rnn);
    test_ignored_targets();
    test_accumulate(&lstm);
    test_resume(&lstm);
    test_refusals();

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0)
        unlink(ckpt);
    tl_comm_destroy(world);
    /* Every block the library allocated is freed (LeakSanitizer is off under
     * mpirun: Open MPI's own blocks drown it). */
    CHECK(tl__alloc_live() == 0, "%ld blocks of the library still allocated", tl__alloc_live());
    int all = failures;
    MPI_Allreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
    if (rank == 0)
        printf("%s: %d failure(s)\n", all ? "FAILED" : "passed", all);
    return all ? 1 : 0;
}
