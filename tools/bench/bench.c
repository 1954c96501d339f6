/* timelayers-bench: training and generation speed of the reference
 * configurations of the "Performance" issue (run by `timelayers bench`).
 *
 *   A  word level, textbook PTB model  V=10000 D=H=100   N=20 T=35
 *   B  char level                      V=65    D=64 H=512 N=32 T=64
 *   C  large word level                V=10000 D=H=650   N=20 T=35
 *
 * All are Embedding -> 1-layer LSTM -> Affine -> softmax cross-entropy;
 * A-RNN and B-RNN are A and B with a tanh RNN in place of the LSTM; A-GRU,
 * B-GRU and C-GRU are A, B and C with a GRU. The
 * regularised variants of A and C (not run by default): -drop and -locked
 * add TimeDropout 0.5 (standard, locked) after the embedding and the LSTM,
 * -rec recurrent dropout 0.5 inside it, -tied ties the affine to the
 * embedding. A variant's child also builds its base model and alternates
 * training steps between the two (the order flipped every step), so the
 * ratio of their step times is measured over the same seconds of a shared,
 * noisy machine: the median of the per-pair ratios.
 * A training step is zero_grad + forward + backward + global-norm clip +
 * SGD step (tl_optim_step_clip_norm, as the trainer) on random token ids
 * (speed does not depend on the data).
 *
 * FLOP counts (multiply-add = 2 FLOP; backward = 2x forward for the GEMMs):
 *   per token forward  F = 2*G*H*(D+H) + 2*H*V   (G = 4 gate blocks LSTM, 3 GRU, 1 RNN)
 *   training step      3 * N*T * F
 *   generation         F per token
 * which gives the 4.54, 14.9 and 41.5 GFLOP per step.
 *
 * Each configuration runs in a child process so that its peak RSS
 * (getrusage ru_maxrss) is its own. The baseline it is compared with is
 * parameters + gradients + optimizer state + activations kept for backward,
 * counted as N*T*(D + 6H + V) reals: embedding output, LSTM gates (4H), cell
 * states and hidden states, and the softmax probabilities.
 */
#include <cblas.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "fma_peak.h"
#include "../../lib/kernels/kernels.h"
#include "../cli/blas_core.h"
#include "../cli/args.h"
#include "../cli/options.h"
#include "timelayers/clip.h"
#include "timelayers/generate.h"
#include "timelayers/threads.h"
#include "timelayers/lm.h"
#include "timelayers/optim.h"
#include "timelayers/status.h"

static const char usage[] =
    "Usage: timelayers bench [OPTIONS]\n"
    "Training-step and generation speed of the reference configurations:\n"
    "  A  V=10000 D=H=100    N=20 T=35   (word level, textbook PTB model)\n"
    "  B  V=65 D=64 H=512    N=32 T=64   (char level)\n"
    "  C  V=10000 D=H=650    N=20 T=35   (large word level)\n"
    "\n"
    "  A-RNN, B-RNN     A and B with a tanh RNN instead of the LSTM\n"
    "  A-GRU, B-GRU, C-GRU  A, B and C with a GRU (PyTorch's nn.GRU) instead\n"
    "  A-drop, C-drop   A and C with dropout 0.5 after the embedding and the LSTM\n"
    "  A-locked, ...    the same with locked (variational) dropout\n"
    "  A-rec, C-rec     A and C with recurrent dropout 0.5 inside the LSTM\n"
    "  A-tied, C-tied   A and C with the affine tied to the embedding\n"
    "                   (a variant alternates its steps with its base's and prints\n"
    "                   the median of the per-pair step-time ratios; its memory\n"
    "                   figures then include the base model)\n"
    "\n"
    "  --config LIST    configurations to run, e.g. A,C (default: A, B, C, A-RNN, B-RNN,\n"
    "                   A-GRU, B-GRU, C-GRU)\n"
    "  --threads N      threads of OpenBLAS and of the recurrent kernels, 1-64\n"
    "                   (default: TL_NUM_THREADS, else OpenBLAS's count capped at 4)\n"
    "  --simd avx2      run the library's kernels at their AVX2 level on an AVX-512\n"
    "                   CPU (the FMA bound then uses the AVX2 peak): a stand-in for\n"
    "                   an AVX2-only CPU; OpenBLAS keeps its own kernels\n"
    "  --warmup N       untimed training steps first (default 2)\n"
    "  --steps N        timed training steps; the median is reported (default 10)\n"
    "  --repeat N       timed generation runs; the median is reported (default 3)\n"
    "  --gen-tokens N   tokens sampled per generation run at batch 1 (default 1000)\n"
    "  --no-train       generation only      --no-gen   training only\n"
    "  --gen-bf16       also time generation with bf16 weights (tl_generate_bf16),\n"
    "                   its runs alternated with the float ones (after two untimed\n"
    "                   runs of 8 tokens of each kind, as for float alone)\n"
    "  --profile        also time each layer's forward and backward, clip and SGD\n"
    "  --unfused        train with tl_model_forward + tl_model_backward instead of\n"
    "                   tl_model_forward_backward (output layer and loss unfused)\n"
    "  --rounds N       run the configurations N times in turn (default 1) and print\n"
    "                   each variant's N ratios and their median\n"
    "  --json           print one JSON object per configuration instead of text\n"
    "  --help           this text\n"
    "\n"
    "FLOP per training step = 3*N*T*(2*G*H*(D+H) + 2*H*V), G = 4 (LSTM), 3 (GRU), 1 (RNN);\n"
    "per generated token 2*G*H*(D+H) + 2*H*V. '% peak' is relative to a 1024^3 sgemm timed here with\n"
    "the same thread count. The FMA peak is a hand-written multiply-add loop per\n"
    "instruction set (portable C, AVX2+FMA, AVX-512), timed in each thread's CPU time\n"
    "on 1 and on 2 threads; the FMA bound of a configuration is the best peak at the\n"
    "bench's thread count divided by the FLOP per token, and '% of FMA bound' is the\n"
    "measured tokens/s over it. 'CPU' figures divide by the process's CPU time\n"
    "instead of wall time (spinning threads count): on a shared machine they show\n"
    "the speed of the code apart from the waits for a core.\n"
    "Peak RSS is each configuration's own (child process).\n"
    "OpenBLAS picks its kernels from the CPU model ('core' in the output); where it\n"
    "does not know the CPU (some VMs: 'Prescott') set e.g. OPENBLAS_CORETYPE=Haswell.\n";

typedef struct {
    const char *name;
    int V, D, H, N, T;
    tl_cell_kind cell;
    int base;                   /* a variant: the index of its base configuration, else -1 */
    double dropout, rec_dropout;
    tl_dropout_kind kind;
    bool tie;
} bench_config;

enum { NBASE = 8 };             /* the configurations run by default: the first NBASE */

static const bench_config configs[] = {
    {"A", 10000, 100, 100, 20, 35, TL_CELL_LSTM, -1, 0, 0, 0, false},
    {"B", 65, 64, 512, 32, 64, TL_CELL_LSTM, -1, 0, 0, 0, false},
    {"C", 10000, 650, 650, 20, 35, TL_CELL_LSTM, -1, 0, 0, 0, false},
    {"A-RNN", 10000, 100, 100, 20, 35, TL_CELL_RNN, -1, 0, 0, 0, false},
    {"B-RNN", 65, 64, 512, 32, 64, TL_CELL_RNN, -1, 0, 0, 0, false},
    {"A-GRU", 10000, 100, 100, 20, 35, TL_CELL_GRU, -1, 0, 0, 0, false},
    {"B-GRU", 65, 64, 512, 32, 64, TL_CELL_GRU, -1, 0, 0, 0, false},
    {"C-GRU", 10000, 650, 650, 20, 35, TL_CELL_GRU, -1, 0, 0, 0, false},
    {"A-drop", 10000, 100, 100, 20, 35, TL_CELL_LSTM, 0, 0.5, 0, TL_DROPOUT_STANDARD, false},
    {"A-locked", 10000, 100, 100, 20, 35, TL_CELL_LSTM, 0, 0.5, 0, TL_DROPOUT_LOCKED, false},
    {"A-rec", 10000, 100, 100, 20, 35, TL_CELL_LSTM, 0, 0, 0.5, 0, false},
    {"A-tied", 10000, 100, 100, 20, 35, TL_CELL_LSTM, 0, 0, 0, 0, true},
    {"C-drop", 10000, 650, 650, 20, 35, TL_CELL_LSTM, 2, 0.5, 0, TL_DROPOUT_STANDARD, false},
    {"C-locked", 10000, 650, 650, 20, 35, TL_CELL_LSTM, 2, 0.5, 0, TL_DROPOUT_LOCKED, false},
    {"C-rec", 10000, 650, 650, 20, 35, TL_CELL_LSTM, 2, 0, 0.5, 0, false},
    {"C-tied", 10000, 650, 650, 20, 35, TL_CELL_LSTM, 2, 0, 0, 0, true},
};
#define NCONFIGS ((int)(sizeof configs / sizeof *configs))

typedef struct {
    int threads, warmup, steps, repeat, gen_tokens, rounds;
    int train, gen, gen_bf16, profile, json, unfused;
} bench_opts;

/* Phases timed by --profile: each layer's forward and backward, loss, clip,
 * SGD, zero_grad. */
enum { PROF_MAX_LAYERS = 8, PROF_PHASES = 2 * PROF_MAX_LAYERS + 5 };

typedef struct {
    double step_s, step_cpu_s, gen_tok_s, gen_bf16_tok_s, gen_bf16_ratio, sgemm_peak, sgemm_peak_cpu, fma_peak, rss_mb, baseline_mb;
    double ratio[2];        /* a variant: median of step time / its base's, wall and CPU */
    double params_mb, grads_mb, optim_mb, act_mb;
    double prof[PROF_PHASES];
    int nlayers;
    char layer_names[PROF_MAX_LAYERS][32];
} bench_result;

#define TRY(expr)                    \
    do {                             \
        tl_status st_ = (expr);      \
        if (st_)                     \
            return st_;              \
    } while (0)

/* The library's own messages come from tl_last_error(); the bench's own
 * failures (allocation) are reported through this. */
static const char *bench_error;

/* The level of the library's hand-written kernels (--simd caps it). */
static const char *simd_name(void)
{
    static const char *const names[] = {"portable", "AVX2", "AVX-512"};
    return names[tl_simd_active()];
}

static tl_status nomem(void)
{
    bench_error = "out of memory";
    return TL_ERR_NOMEM;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process (all threads). */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int gate_blocks(const bench_config *c)
{
    return c->cell == TL_CELL_LSTM ? 4 : c->cell == TL_CELL_GRU ? 3 : 1;
}

static double flop_per_token(const bench_config *c)
{
    return 2.0 * gate_blocks(c) * c->H * (double)(c->D + c->H) + 2.0 * c->H * (double)c->V;
}

/* GFLOP/s of the best of five 1024^3 sgemm calls (after one untimed call):
 * peak[0] in wall time, peak[1] in CPU time per thread (CPU time of the
 * process / OpenBLAS's thread count), which a shared machine lowers less. */
static void sgemm_peak(double peak[2])
{
    enum { S = 1024 };
    peak[0] = peak[1] = NAN;
    float *a = malloc(sizeof(float) * S * S * 3);
    if (!a)
        return;
    float *b = a + S * S, *c = b + S * S;
    for (size_t i = 0; i < (size_t)S * S; i++) {
        a[i] = (float)(i % 7) * 0.1f;
        b[i] = (float)(i % 5) * 0.1f;
    }
    double best = INFINITY, best_cpu = INFINITY;
    for (int r = 0; r < 6; r++) {
        double t0 = now(), c0 = cpu_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, S, S, 1.0f, a, S, b, S, 0.0f,
                    c, S);
        double t = now() - t0, tc = (cpu_now() - c0) / openblas_get_num_threads();
        if (r > 0 && t < best)
            best = t;
        if (r > 0 && tc < best_cpu)
            best_cpu = tc;
    }
    free(a);
    peak[0] = 2.0 * S * S * (double)S / best * 1e-9;
    peak[1] = 2.0 * S * S * (double)S / best_cpu * 1e-9;
}

/* sgemm_peak() in a child process: a child inherits its parent's peak RSS,
 * so the parent must never hold the 12 MB of matrices itself. */
static void sgemm_peak_in_child(double peak[2])
{
    int fd[2];
    peak[0] = peak[1] = NAN;
    if (pipe(fd) < 0)
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        sgemm_peak(peak);
        ssize_t w = write(fd[1], peak, 2 * sizeof *peak);
        _exit(w == (ssize_t)(2 * sizeof *peak) ? 0 : 1);
    }
    close(fd[1]);
    if (pid > 0 && read(fd[0], peak, 2 * sizeof *peak) != (ssize_t)(2 * sizeof *peak))
        peak[0] = peak[1] = NAN;
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

static void random_ids(tl_rng *rng, int32_t *ids, size_t n, int V)
{
    for (size_t i = 0; i < n; i++)
        ids[i] = (int32_t)tl_rng_below(rng, (uint64_t)V);
}

static void fill_memory(const bench_config *c, tl_model *m, tl_optim *opt, bench_result *r)
{
    const double MB = 1.0 / (1024.0 * 1024.0);
    tl_real *values, *grads;
    size_t n = 0, state = 0;
    if (tl_model_flat(m, &values, &grads, &n) == TL_OK) {
        for (int i = 0; i < tl_optim_state_count(opt); i++) {
            const char *name;
            tl_real *buf;
            size_t len;
            if (tl_optim_state(opt, i, &name, &buf, &len) == TL_OK)
                state += len;
        }
    }
    /* Kept per token: the embedding output, the LSTM's gates, cell and
     * hidden states (6H), the GRU's r, z, n, hn and hidden state (5H) or the
     * RNN's hidden state (H), the dscores. */
    double per_h = c->cell == TL_CELL_LSTM ? 6.0 : c->cell == TL_CELL_GRU ? 5.0 : 1.0;
    double act = (double)c->N * c->T * (c->D + per_h * c->H + c->V);
    r->params_mb = (double)n * sizeof(tl_real) * MB;
    r->grads_mb = r->params_mb;
    r->optim_mb = (double)state * sizeof(tl_real) * MB;
    r->act_mb = act * sizeof(tl_real) * MB;
    r->baseline_mb = r->params_mb + r->grads_mb + r->optim_mb + r->act_mb;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    r->rss_mb = (double)ru.ru_maxrss / 1024.0;   /* kilobytes on Linux */
}

/* One step through the layers one by one, timing each phase into prof[];
 * clipping and the update apart (tl_clip_grad_norm, tl_optim_step), where the
 * timed step and the trainer do both in tl_optim_step_clip_norm. */
static tl_status profiled_step(tl_model *m, tl_optim *opt, const tl_tensor *xs,
                               const tl_tensor *ts, tl_real *values, tl_real *grads, size_t n,
                               double *prof)
{
    int L = tl_model_num_layers(m);
    const tl_tensor *y = xs, *d;
    double loss, norm, t = now(), t1;
    tl_model_zero_grad(m);
    prof[2 * PROF_MAX_LAYERS + 3] += (t1 = now()) - t;
    t = t1;
    for (int i = 0; i < L; i++) {
        TRY(tl_layer_forward(tl_model_layer(m, i), y, &y));
        prof[i] += (t1 = now()) - t;
        t = t1;
    }
    TRY(tl_layer_loss(tl_model_loss_layer(m), y, ts, &loss));
    TRY(tl_layer_backward(tl_model_loss_layer(m), NULL, &d));
    prof[2 * PROF_MAX_LAYERS] += (t1 = now()) - t;
    t = t1;
    for (int i = L - 1; i >= 0 && d; i--) {
        TRY(tl_layer_backward(tl_model_layer(m, i), d, &d));
        prof[PROF_MAX_LAYERS + i] += (t1 = now()) - t;
        t = t1;
    }
    TRY(tl_clip_grad_norm(grads, n, 0.25, &norm));
    prof[2 * PROF_MAX_LAYERS + 1] += (t1 = now()) - t;
    t = t1;
    TRY(tl_optim_step(opt, values, grads, n));
    prof[2 * PROF_MAX_LAYERS + 2] += now() - t;
    return TL_OK;
}

static tl_status train_step(tl_model *m, tl_optim *opt, const tl_tensor *xs, const tl_tensor *ts,
                            tl_real *values, tl_real *grads, size_t n, int unfused)
{
    double loss, norm;
    tl_model_zero_grad(m);
    if (unfused) {
        TRY(tl_model_forward(m, xs, ts, &loss));
        TRY(tl_model_backward(m));
    } else {
        TRY(tl_model_forward_backward(m, xs, ts, &loss));
    }
    return tl_optim_step_clip_norm(opt, values, grads, n, 0.25, &norm);
}

/* One timed training step: wall and CPU seconds into t[0], t[1]. */
static tl_status timed_step(tl_model *m, tl_optim *opt, const tl_tensor *xs, const tl_tensor *ts,
                            int unfused, double t[2])
{
    tl_real *values, *grads;
    size_t n;
    TRY(tl_model_flat(m, &values, &grads, &n));
    double t0 = now(), c0 = cpu_now();
    TRY(train_step(m, opt, xs, ts, values, grads, n, unfused));
    t[0] = now() - t0;
    t[1] = cpu_now() - c0;
    return TL_OK;
}

/* Timed steps of m; with a base model (a variant's), each step of m is
 * paired with one of base on the same batch, in alternating order, and
 * r->ratio is the median of the pairs' time ratios. */
static tl_status run_training(const bench_config *c, const bench_opts *o, tl_model *m,
                              tl_optim *opt, tl_model *base, tl_optim *base_opt, tl_rng *rng,
                              bench_result *r)
{
    tl_real *values, *grads;
    size_t n;
    TRY(tl_model_flat(m, &values, &grads, &n));
    size_t ntok = (size_t)c->N * c->T;
    int32_t *ids = malloc(2 * ntok * sizeof *ids);
    double *times = malloc(4 * (size_t)o->steps * sizeof *times), *cpu = times + o->steps;
    double *wall_ratio = cpu + o->steps, *cpu_ratio = wall_ratio + o->steps;
    tl_status st = ids && times ? TL_OK : nomem();
    tl_tensor xs = tl_tensor_wrap_ids(ids, 2, (int[]){c->N, c->T});
    tl_tensor ts = tl_tensor_wrap_ids(ids + ntok, 2, (int[]){c->N, c->T});
    for (int s = 0; !st && s < o->warmup + o->steps; s++) {
        random_ids(rng, ids, 2 * ntok, c->V);
        double t[2], tb[2];
        if (base && s % 2)
            st = timed_step(base, base_opt, &xs, &ts, o->unfused, tb);
        if (!st)
            st = timed_step(m, opt, &xs, &ts, o->unfused, t);
        if (!st && base && s % 2 == 0)
            st = timed_step(base, base_opt, &xs, &ts, o->unfused, tb);
        if (!st && s >= o->warmup) {
            times[s - o->warmup] = t[0];
            cpu[s - o->warmup] = t[1];
            if (base) {
                wall_ratio[s - o->warmup] = t[0] / tb[0];
                cpu_ratio[s - o->warmup] = t[1] / tb[1];
            }
        }
    }
    if (!st) {
        r->step_s = median(times, o->steps);
        r->step_cpu_s = median(cpu, o->steps);
        r->ratio[0] = base ? median(wall_ratio, o->steps) : NAN;
        r->ratio[1] = base ? median(cpu_ratio, o->steps) : NAN;
    }
    /* Profiled steps call the loss layer directly, which then uses a
     * gradient buffer of its own: they run after the memory is read. */
    if (!st)
        fill_memory(c, m, opt, r);
    for (int s = 0; !st && o->profile && s < o->steps; s++) {
        random_ids(rng, ids, 2 * ntok, c->V);
        st = profiled_step(m, opt, &xs, &ts, values, grads, n, r->prof);
    }
    for (int i = 0; o->profile && i < PROF_PHASES; i++)
        r->prof[i] /= o->steps;
    free(ids);
    free(times);
    return st;
}

/* Tokens per second of one generation run of n tokens (float or bf16
 * weights). */
static tl_status time_generation(int n, tl_model *m, tl_rng *rng, bool bf16, int32_t *out,
                                 double *rate)
{
    int32_t prompt = 0;
    tl_sample_opts so = {.temperature = 1.0};
    double t0 = now();
    tl_status st = (bf16 ? tl_generate_bf16 : tl_generate)(m, &prompt, 1, n, &so, rng, out);
    *rate = n / (now() - t0);
    return st;
}

/* --repeat runs with float weights and, with --gen-bf16, as many with bf16
 * weights, the two kinds alternated (the order flips every pair) so that
 * their ratio is the median of back-to-back pairs. Two untimed runs of 8
 * tokens of each kind first: a process's first tl_generate_bf16 calls get
 * fresh memory for the copies from the system (on the VM of
 * docs/performance.md its page faults cost about 75 ms per 13 MB), later
 * calls reuse the C library's; the timed calls still make their copies. */
static tl_status run_generation(const bench_opts *o, tl_model *m, tl_rng *rng, bench_result *r)
{
    int32_t *out = malloc((size_t)(o->gen_tokens > 8 ? o->gen_tokens : 8) * sizeof *out);
    double *rates = malloc(3 * (size_t)o->repeat * sizeof *rates);
    tl_status st = out && rates ? TL_OK : nomem();
    double *bf16 = st ? NULL : rates + o->repeat, *pair = st ? NULL : bf16 + o->repeat;
    for (int k = 0; !st && k < 2; k++) {
        st = time_generation(8, m, rng, false, out, &rates[0]);
        if (!st && o->gen_bf16)
            st = time_generation(8, m, rng, true, out, &bf16[0]);
    }
    for (int k = 0; !st && k < o->repeat; k++) {
        bool flip = o->gen_bf16 && k % 2;
        int n = o->gen_tokens;
        st = time_generation(n, m, rng, flip, out, flip ? &bf16[k] : &rates[k]);
        if (!st && o->gen_bf16)
            st = time_generation(n, m, rng, !flip, out, flip ? &rates[k] : &bf16[k]);
        if (!st && o->gen_bf16)
            pair[k] = bf16[k] / rates[k];
    }
    if (!st) {
        r->gen_tok_s = median(rates, o->repeat);
        if (o->gen_bf16) {
            r->gen_bf16_tok_s = median(bf16, o->repeat);
            r->gen_bf16_ratio = median(pair, o->repeat);
        }
    }
    free(out);
    free(rates);
    return st;
}

/* The configuration's model, with SGD at lr 1 and the same initial weights
 * for the same (V, D, H, cell). */
static tl_status build(const bench_config *c, tl_model **m, tl_optim **opt)
{
    tl_rng rng;
    tl_rng_seed(&rng, 1234);
    tl_lm_config lc = {.vocab = c->V, .embed = c->D, .hidden = c->H, .layers = 1,
                       .cell = c->cell, .dropout = c->dropout, .dropout_kind = c->kind,
                       .rec_dropout = c->rec_dropout, .tie = c->tie};
    *opt = NULL;
    TRY(tl_lm_create(m, &lc, &rng));
    size_t n;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_SGD);
    oc.lr = 1.0;
    tl_status st = tl_model_flat(*m, NULL, NULL, &n);
    if (!st)
        st = tl_optim_create(opt, &oc, n);
    if (st) {
        tl_model_destroy(*m);
        *m = NULL;
    }
    return st;
}

static tl_status run_config(const bench_config *c, const bench_opts *o, bench_result *r)
{
    tl_rng rng;
    tl_rng_seed(&rng, 4321);
    tl_model *m, *base = NULL;
    tl_optim *opt, *base_opt = NULL;
    TRY(build(c, &m, &opt));
    r->nlayers = tl_model_num_layers(m) < PROF_MAX_LAYERS ? tl_model_num_layers(m)
                                                          : PROF_MAX_LAYERS;
    for (int i = 0; i < r->nlayers; i++)
        snprintf(r->layer_names[i], sizeof r->layer_names[i], "%s",
                 tl_layer_type(tl_model_layer(m, i)));
    r->ratio[0] = r->ratio[1] = NAN;
    tl_status st = TL_OK;
    if (c->base >= 0 && o->train)
        st = build(&configs[c->base], &base, &base_opt);
    if (!st && o->train)   /* reads the memory after the timed steps */
        st = run_training(c, o, m, opt, base, base_opt, &rng, r);
    else if (!st)
        fill_memory(c, m, opt, r);
    if (!st && o->gen)
        st = run_generation(o, m, &rng, r);
    tl_optim_destroy(base_opt);
    tl_model_destroy(base);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    return st;
}

static void print_result(const bench_config *c, const bench_opts *o, const bench_result *r)
{
    double tok = (double)c->N * c->T, gflop = 3 * tok * flop_per_token(c) * 1e-9;
    int threads = openblas_get_num_threads();
    /* Tokens/s at the FMA peak, and the same per CPU second (the peak of the
     * cores the process kept busy: CPU time / thread count of them). */
    double bound = r->fma_peak / (gflop / tok);
    double cpu_tok_s = tok / (r->step_cpu_s / tl_get_num_threads());
    if (o->json) {
        printf("{\"config\":\"%s\",\"V\":%d,\"D\":%d,\"H\":%d,\"N\":%d,\"T\":%d,\"threads\":%d,"
               "\"openblas_core\":\"%s\",\"simd\":\"%s\",\"sgemm_peak_gflops\":%.2f,"
               "\"sgemm_peak_cpu_gflops\":%.2f,\"gflop_per_step\":%.3f", c->name, c->V, c->D,
               c->H, c->N, c->T, threads, openblas_get_corename(), simd_name(), r->sgemm_peak,
               r->sgemm_peak_cpu, gflop);
        if (o->train)
            printf(",\"step_ms\":%.3f,\"train_tok_s\":%.1f,\"train_gflops\":%.2f,"
                   "\"train_peak_pct\":%.1f,\"step_cpu_ms\":%.3f,\"fma_peak_gflops\":%.2f,"
                   "\"fma_bound_tok_s\":%.1f,\"fma_bound_pct\":%.1f,\"fma_bound_cpu_pct\":%.1f",
                   r->step_s * 1e3, tok / r->step_s, gflop / r->step_s,
                   100 * gflop / r->step_s / r->sgemm_peak, r->step_cpu_s * 1e3, r->fma_peak,
                   bound, 100 * tok / r->step_s / bound, 100 * cpu_tok_s / bound);
        if (o->gen)
            printf(",\"gen_tokens\":%d,\"gen_tok_s\":%.1f,\"gen_gflops\":%.3f", o->gen_tokens,
                   r->gen_tok_s, r->gen_tok_s * flop_per_token(c) * 1e-9);
        if (o->gen && o->gen_bf16)
            printf(",\"gen_bf16_tok_s\":%.1f,\"gen_bf16_ratio\":%.4f", r->gen_bf16_tok_s,
                   r->gen_bf16_ratio);
        printf(",\"peak_rss_mb\":%.1f,\"baseline_mb\":%.1f", r->rss_mb, r->baseline_mb);
        if (!isnan(r->ratio[0]))
            printf(",\"base\":\"%s\",\"step_ratio\":%.4f,\"step_cpu_ratio\":%.4f",
                   configs[c->base].name, r->ratio[0], r->ratio[1]);
        for (int i = 0; o->profile && o->train && i < r->nlayers; i++)
            printf(",\"prof_fwd_%d_ms\":%.3f,\"prof_bwd_%d_ms\":%.3f", i, r->prof[i] * 1e3, i,
                   r->prof[PROF_MAX_LAYERS + i] * 1e3);
        if (o->profile && o->train)
            printf(",\"prof_loss_ms\":%.3f,\"prof_clip_ms\":%.3f,\"prof_sgd_ms\":%.3f,"
                   "\"prof_zero_grad_ms\":%.3f", r->prof[2 * PROF_MAX_LAYERS] * 1e3,
                   r->prof[2 * PROF_MAX_LAYERS + 1] * 1e3, r->prof[2 * PROF_MAX_LAYERS + 2] * 1e3,
                   r->prof[2 * PROF_MAX_LAYERS + 3] * 1e3);
        printf("}\n");
        fflush(stdout);
        return;
    }
    char extra[96] = "";
    if (c->dropout > 0)
        snprintf(extra, sizeof extra, ", dropout %g (%s)", c->dropout,
                 tl_dropout_kind_name(c->kind));
    if (c->rec_dropout > 0)
        snprintf(extra, sizeof extra, ", recurrent dropout %g", c->rec_dropout);
    if (c->tie)
        snprintf(extra, sizeof extra, ", tied");
    printf("config %s: V=%d D=%d H=%d N=%d T=%d, 1-layer %s%s, %d OpenBLAS thread%s, %d library "
           "thread%s (core %s, own kernels %s), sgemm peak %.1f GFLOP/s (%.1f per CPU "
           "time)\n", c->name, c->V, c->D, c->H, c->N, c->T,
           c->cell == TL_CELL_LSTM ? "LSTM" : c->cell == TL_CELL_GRU ? "GRU" : "RNN (tanh)", extra,
           threads, threads == 1 ? "" : "s", tl_get_num_threads(),
           tl_get_num_threads() == 1 ? "" : "s", openblas_get_corename(), simd_name(),
           r->sgemm_peak, r->sgemm_peak_cpu);
    if (o->train)
        printf("  training:   %8.2f ms/step (median of %d)  %9.0f tokens/s  %6.2f GFLOP/s "
               "(%.2f GFLOP/step, %.0f%% of peak)\n", r->step_s * 1e3, o->steps, tok / r->step_s,
               gflop / r->step_s, gflop, 100 * gflop / r->step_s / r->sgemm_peak);
    if (o->train)
        printf("  FMA bound:  %9.0f tokens/s (%.1f GFLOP/s): %.0f%% reached (%.0f%% per CPU "
               "second, %.2f ms CPU/step)\n", bound, r->fma_peak, 100 * tok / r->step_s / bound,
               100 * cpu_tok_s / bound, r->step_cpu_s * 1e3);
    if (!isnan(r->ratio[0]))
        printf("  vs %s:       step time ratio %.3f (wall), %.3f (CPU time): median of %d "
               "pairs of steps, alternated\n", configs[c->base].name, r->ratio[0], r->ratio[1],
               o->steps);
    if (o->gen)
        printf("  generation: %9.0f tokens/s at batch 1 (median of %d runs of %d tokens, "
               "%.2f GFLOP/s)\n", r->gen_tok_s, o->repeat, o->gen_tokens,
               r->gen_tok_s * flop_per_token(c) * 1e-9);
    if (o->gen && o->gen_bf16)
        printf("  bf16 gen:   %9.0f tokens/s at batch 1 with bf16 weights (median of %d runs "
               "alternated with those above; %.2fx the float rate, median of the pairs)\n",
               r->gen_bf16_tok_s, o->repeat, r->gen_bf16_ratio);
    printf("  memory:     peak RSS %.1f MB%s; baseline %.1f MB = params %.1f + grads %.1f + "
           "optimizer %.1f + activations %.1f (ratio %.2f)\n", r->rss_mb,
           !o->train ? "" : c->base >= 0 ? " after training, with the base model" : " after training", r->baseline_mb, r->params_mb, r->grads_mb,
           r->optim_mb, r->act_mb, r->rss_mb / r->baseline_mb);
    if (o->profile && o->train) {
        printf("  profile (ms/step, mean of %d):", o->steps);
        for (int i = 0; i < r->nlayers; i++)
            printf(" %s fwd %.2f bwd %.2f;", r->layer_names[i], r->prof[i] * 1e3,
                   r->prof[PROF_MAX_LAYERS + i] * 1e3);
        printf(" softmax loss fwd+bwd %.2f; clip %.2f; sgd %.2f; zero_grad %.2f\n",
               r->prof[2 * PROF_MAX_LAYERS] * 1e3, r->prof[2 * PROF_MAX_LAYERS + 1] * 1e3,
               r->prof[2 * PROF_MAX_LAYERS + 2] * 1e3, r->prof[2 * PROF_MAX_LAYERS + 3] * 1e3);
    }
    fflush(stdout);
}

/* Run one configuration in a child process (its own peak RSS); returns the
 * child's exit status, and a variant's step-time ratios to its base (wall,
 * CPU) in ratio[] (else NAN). */
static int run_child(const bench_config *c, const bench_opts *o, const double peak[2],
                     double fma, double ratio[2])
{
    int fd[2];
    ratio[0] = ratio[1] = NAN;
    if (pipe(fd) < 0) {
        perror("timelayers-bench: pipe");
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("timelayers-bench: fork");
        close(fd[0]);
        close(fd[1]);
        return 1;
    }
    if (pid == 0) {
        close(fd[0]);
        bench_result r = {.sgemm_peak = peak[0], .sgemm_peak_cpu = peak[1], .fma_peak = fma};
        if (run_config(c, o, &r)) {
            fprintf(stderr, "timelayers-bench: config %s: %s\n", c->name,
                    bench_error ? bench_error : tl_last_error());
            _exit(1);
        }
        print_result(c, o, &r);
        _exit(write(fd[1], r.ratio, sizeof r.ratio) == (ssize_t)sizeof r.ratio ? 0 : 1);
    }
    close(fd[1]);
    double t[2];
    if (read(fd[0], t, sizeof t) == (ssize_t)sizeof t)
        ratio[0] = t[0], ratio[1] = t[1];
    close(fd[0]);
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        perror("timelayers-bench: waitpid");
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

/* --rounds: every round's ratio of a variant to its base, and their median. */
static void print_ratios(const bench_opts *o, const bench_config *c, double (*ratio)[2],
                         int rounds)
{
    double wall[1000], cpu[1000];
    printf(o->json ? "{\"ratios\":\"%s/%s\",\"rounds\":[" : "%s / %s, step time per round:",
           c->name, configs[c->base].name);
    for (int k = 0; k < rounds; k++) {
        printf(o->json ? "%s[%.4f,%.4f]" : "%s %.3f (CPU %.3f)", k && o->json ? "," : "",
               ratio[k][0], ratio[k][1]);
        wall[k] = ratio[k][0];
        cpu[k] = ratio[k][1];
    }
    double mw = median(wall, rounds), mc = median(cpu, rounds);
    printf(o->json ? "],\"median\":[%.4f,%.4f]}\n" : "; median %.3f (CPU %.3f)\n", mw, mc);
    fflush(stdout);
}

/* The FMA peaks of every instruction set the CPU runs, on 1 and 2 threads
 * and on the bench's own count; returns the best at the bench's count (the
 * bound every configuration is compared with). */
static double measure_fma(const bench_opts *o)
{
    int threads = tl_get_num_threads(), counts[3] = {1, 2, threads};
    int ncounts = threads > 2 ? 3 : 2;
    double best = NAN;
    if (o->json)
        printf("{\"fma_peak\":true");
    else
        printf("FMA peak (GFLOP/s, hand-written loop, CPU time):");
    for (int isa = 0; isa < FMA_ISAS; isa++) {
        if (!fma_isa_available((fma_isa)isa))
            continue;
        if (!o->json)
            printf(" %s", fma_isa_name((fma_isa)isa));
        for (int k = 0; k < ncounts; k++) {
            double g = fma_peak((fma_isa)isa, counts[k]);
            bool usable = isa <= (int)tl_simd_active();   /* the level --simd allows */
            if (counts[k] == threads && usable && (isnan(best) || g > best))
                best = g;
            if (o->json)
                printf(",\"%s_%d\":%.2f", fma_isa_name((fma_isa)isa), counts[k], g);
            else
                printf("%s %d: %.1f", k ? "," : "", counts[k], g);
        }
        if (!o->json)
            printf(";");
    }
    printf(o->json ? "}\n" : "\n");
    fflush(stdout);
    return best;
}

static int parse_configs(const char *s, int *which)
{
    memset(which, 0, NCONFIGS * sizeof *which);
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, ",");
        int k;
        for (k = 0; k < NCONFIGS; k++)
            if (strlen(configs[k].name) == len && strncasecmp(configs[k].name, p, len) == 0)
                break;
        if (len && k == NCONFIGS) {
            fprintf(stderr, "timelayers bench: --config: unknown configuration in '%s' "
                            "(expected a comma-separated list of A, B, C, A-RNN, B-RNN, "
                            "A-GRU, B-GRU, C-GRU, A-drop, A-locked, A-rec, A-tied, C-drop, "
                            "C-locked, C-rec, C-tied)\n", s);
            return 0;
        }
        if (len)
            which[k] = 1;
        p += len + (p[len] == ',');
    }
    return 1;
}

int main(int argc, char **argv)
{
    enum { O_WARMUP = 256, O_GEN_TOKENS, O_NO_TRAIN, O_NO_GEN, O_PROFILE, O_JSON, O_UNFUSED,
           O_ROUNDS, O_GEN_BF16, O_SIMD };
    static const struct option longopts[] = {
        {"config", 1, 0, 'c'},          {"threads", 1, 0, 'j'},
        {"steps", 1, 0, 's'},           {"repeat", 1, 0, 'r'},
        {"warmup", 1, 0, O_WARMUP},     {"gen-tokens", 1, 0, O_GEN_TOKENS},
        {"no-train", 0, 0, O_NO_TRAIN}, {"no-gen", 0, 0, O_NO_GEN},
        {"profile", 0, 0, O_PROFILE},   {"json", 0, 0, O_JSON},
        {"unfused", 0, 0, O_UNFUSED},   {"rounds", 1, 0, O_ROUNDS},
        {"gen-bf16", 0, 0, O_GEN_BF16}, {"simd", 1, 0, O_SIMD},
        {"help", 0, 0, 'h'},            CLI_VERSION_OPTION, {0, 0, 0, 0},
    };
    bench_opts o = {.warmup = 2, .steps = 10, .repeat = 3, .gen_tokens = 1000, .rounds = 1,
                    .train = 1, .gen = 1};
    int which[NCONFIGS], c;
    for (int k = 0; k < NCONFIGS; k++)
        which[k] = k < NBASE;
    cli_fix_openblas_env(argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING, longopts, NULL)) != -1) {
        int ok = 1;
        switch (c) {
        case 'c': ok = parse_configs(optarg, which); break;
        case 'j': ok = cli_parse_int("threads", optarg, 1, 64, &o.threads); break;
        case 's': ok = cli_parse_int("steps", optarg, 1, 1000000, &o.steps); break;
        case 'r': ok = cli_parse_int("repeat", optarg, 1, 1000000, &o.repeat); break;
        case O_WARMUP: ok = cli_parse_int("warmup", optarg, 0, 1000000, &o.warmup); break;
        case O_GEN_TOKENS:
            ok = cli_parse_int("gen-tokens", optarg, 1, 100000000, &o.gen_tokens);
            break;
        case O_NO_TRAIN: o.train = 0; break;
        case O_NO_GEN: o.gen = 0; break;
        case O_GEN_BF16: o.gen_bf16 = 1; break;
        case O_PROFILE: o.profile = 1; break;
        case O_JSON: o.json = 1; break;
        case O_UNFUSED: o.unfused = 1; break;
        case O_ROUNDS: ok = cli_parse_int("rounds", optarg, 1, 1000, &o.rounds); break;
        case O_SIMD:
            if (!strcmp(optarg, "avx2"))
                tl_simd_limit(TL_SIMD_AVX2);
            else if (strcmp(optarg, "avx512")) {
                fprintf(stderr, "timelayers bench: --simd: '%s' is not avx2 or avx512\n",
                        optarg);
                ok = 0;
            }
            break;
        case 'h': fputs(usage, stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_bad_option("bench", c, argv);
        }
        if (!ok) {
            fprintf(stderr, "Run 'timelayers bench --help' for usage.\n");
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "timelayers bench: unexpected argument '%s'\nRun 'timelayers bench "
                        "--help' for usage.\n", argv[optind]);
        return 2;
    }
    if (o.threads > 0 && tl_set_num_threads(o.threads) != TL_OK) {
        fprintf(stderr, "timelayers bench: --threads: %s\n", tl_last_error());
        return 2;
    }
    double peak[2];
    sgemm_peak_in_child(peak);
    double fma = measure_fma(&o);
    int rc = 0;
    double (*ratio)[1000][2] = calloc(NCONFIGS, sizeof *ratio);   /* [config][round] */
    if (!ratio) {
        fprintf(stderr, "timelayers bench: out of memory\n");
        return 1;
    }
    for (int round = 0; round < o.rounds; round++)
        for (int k = 0; k < NCONFIGS; k++)
            if (which[k] && run_child(&configs[k], &o, peak, fma, ratio[k][round]))
                rc = 1;
    for (int k = 0; !rc && o.train && o.rounds > 1 && k < NCONFIGS; k++)
        if (which[k] && configs[k].base >= 0)
            print_ratios(&o, &configs[k], ratio[k], o.rounds);
    free(ratio);
    return rc;
}
