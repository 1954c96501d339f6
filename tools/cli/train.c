/* timelayers train: corpus -> model -> trainer -> checkpoint. */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>
#include "cli.h"
#include "group.h"

/* In parts: C99 guarantees string literals only up to 4095 characters. */
static const char *const help[] = {
    "usage: timelayers train [options]\n"
    "\n"
    "Train a recurrent language model with truncated backpropagation through time.\n"
    "With no --train, trains on the bundled default corpus, Tiny Shakespeare\n"
    "(character level, last 5% held out for validation).\n"
    "\n"
    "Data:\n"
    "  --train FILE        training text (FILE, --valid and --test: - is standard input)\n"
    "  --valid FILE        validation text (perplexity after every epoch)\n"
    "  --test FILE         test text (perplexity at the end, reference mode)\n"
    "  --valid-split F     hold out the last fraction F of the training text for\n"
    "                      validation instead of --valid (default 0; 0.05 for the\n"
    "                      default corpus)\n"
    "  --level word|char   tokens: white-space separated words with newline as\n"
    "                      <eos>, or UTF-8 characters (default: char)\n"
    "Model (with --resume the checkpoint's model and optimizer are used; --lr still applies):\n"
    "  --cell lstm|rnn|gru recurrent cell (default lstm)\n"
    "  --layers N          recurrent layers (default 1)\n"
    "  --embed D           embedding width (default 64)\n"
    "  --hidden H          hidden width (default 256)\n"
    "  --activation tanh|sigmoid  the RNN cell's activation (default tanh)\n"
    "  --loss-norm mean|cs231n  loss = sum over tokens / their count (default), or\n"
    "                      / the batch size N (CS231n's sum over time, mean over batch)\n"
    "  --init SCHEME       textbook (default: embedding N(0, 0.01^2), weights\n"
    "                      N(0, 1/fan_in), biases 0), uniform:A (every value U(-A, A),\n"
    "                      Zaremba et al.), or pytorch (PyTorch's default init)\n"
    "  --forget-bias B     set the LSTM forget-gate biases to B after --init\n"
    "  --dropout P         dropout after the embedding and each recurrent layer\n"
    "  --dropout-kind K    standard (default) or locked (one mask for all T steps)\n"
    "  --rec-dropout P     recurrent variational dropout inside each LSTM or GRU\n"
    "  --tie               output affine = embedding transposed (--embed = --hidden)\n"
    ,
    "Training:\n"
    "  --batch B           rows per batch, of all processes (default 32)\n"
    "  --accumulate K      one update per K batches (as a batch of K x B rows)\n"
    "  --time T            time steps per batch (default 64)\n"
    "  --optim NAME        sgd, momentum, nesterov, adagrad, rmsprop, adam (default adam)\n"
    "  --lr X              learning rate (default: the optimizer's: sgd 0.01, adam 0.001, ...)\n"
    "  --eps X             adagrad, rmsprop, adam: the epsilon (default the optimizer's)\n"
    "  --eps-inside        adagrad: lr*g/sqrt(h + eps) (the char-RNN seed) instead of\n"
    "                      lr*g/(sqrt(h) + eps)\n"
    "  --clip X            clip the global gradient norm at X (default 1; 0 = off)\n"
    "  --clip-value X      also clip each gradient element to [-X, X] (default off)\n"
    "  --lr-schedule S     constant (default); plateau:F (divide by F after an epoch\n"
    "                      whose validation perplexity is not the best); step:E:F\n"
    "                      (E epochs at --lr, then multiply by F every epoch);\n"
    "                      cosine[:W[:F]] (W warm-up steps, then a half cosine down to\n"
    "                      F * lr at the last step of --epochs; --max-steps stops\n"
    "                      earlier without shortening it). With --resume: the\n"
    "                      checkpoint's schedule unless this or --lr-decay is given\n"
    "  --lr-decay F        the same as --lr-schedule plateau:F\n"
    "  --epochs N          epochs (default 1)\n"
    "  --eval-every N      also measure validation perplexity every N steps\n"
    "  --max-steps N       stop after N steps in total (default: no limit)\n"
    "  --max-seconds S     stop after S seconds of training (default: no limit)\n"
    "  --seed N            seed of the initial weights and dropout masks (default 1)\n"
    "  --threads N         threads, 1-64 (default: TL_NUM_THREADS, else OpenBLAS's, at most 4)\n"
    ,
    "Output:\n"
    "  --out FILE          checkpoint, written atomically at every epoch end and when\n"
    "                      training stops (default: the --resume file, else\n"
    "                      model.safetensors); never an input file, only a regular\n"
    "                      writable file is replaced, one run at a time (FILE.lock)\n"
    "  --save-every N      also write it every N steps\n"
    "  --keep-best FILE    also write a checkpoint to FILE (atomically) whenever\n"
    "                      validation perplexity is the best so far\n"
    "  --init-from FILE    start from the weights of the model in FILE (its architecture\n"
    "                      and vocabulary; the model options above are ignored) with a\n"
    "                      fresh optimizer and schedule: fine-tuning, on new data or not\n"
    "  --resume FILE       continue the run saved in FILE exactly where it stopped\n"
    "                      (give the same data, --batch and --time)\n"
    "  --log FILE          CSV of the training curve (a resumed run continues it\n"
    "                      from the checkpoint's step)\n"
    "  --plot FILE         SVG of this run's curve (training and validation perplexity\n"
    "                      per step), written at every epoch end and at the end\n"
    "  --report N          iterations between progress lines (default 20)\n"
    "  --quiet             no progress lines\n"
    "\n"
    "Ctrl-C (SIGINT) or SIGTERM: the step in progress finishes, the checkpoint is\n"
    "written and the exit status is 130 (143); a second signal aborts at once.\n"
    "Several processes: docs/distributed.md.\n",
};
_Static_assert(sizeof help / sizeof *help <= 4, "write_all_parts takes up to 4 parts");

static bool write_all_parts(const char *const *part, size_t n)
{
    struct iovec iov[4];
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        iov[i] = (struct iovec){(void *)part[i], strlen(part[i])};
        total += iov[i].iov_len;
    }
    return writev(STDOUT_FILENO, iov, (int)n) == (ssize_t)total;
}

typedef struct {
    const char *train, *valid, *test, *out, *resume, *log, *init_from, *plot;
    char init[96];          /* the "init" metadata: tl_init_describe of the model's scheme */
    bool init_given, schedule_given;
    double valid_split;
    tl_level level;
    tl_lm_config lm;
    tl_optim_config optim;
    bool lr_given, eps_given, eps_inside;
    double eps;
    tl_train_config tc;
    uint64_t seed;
    int threads;
    bool quiet;
    /* Options given on the command line: a resumed run keeps its own. */
    const char *level_arg, *cell_arg, *layers_arg, *embed_arg, *hidden_arg, *optim_arg;
    const char *dropout_arg, *kind_arg, *rec_arg;
    bool batch_given, time_given, tie_given;
} train_args;

enum { O_TRAIN = 256, O_VALID, O_TEST, O_SPLIT, O_LEVEL, O_CELL, O_LAYERS, O_EMBED, O_HIDDEN,
       O_BATCH, O_TIME, O_OPTIM, O_LR, O_CLIP, O_CLIPV, O_DECAY, O_EPOCHS, O_STEPS, O_SECONDS,
       O_SEED, O_THREADS, O_OUT, O_SAVE, O_RESUME, O_LOG, O_REPORT, O_QUIET, O_HELP,
       O_INIT, O_FORGET, O_SCHEDULE, O_EVAL_EVERY, O_KEEP_BEST, O_ACTIVATION, O_LOSS_NORM,
       O_EPS, O_EPS_INSIDE, O_ACCUM, O_DROPOUT, O_DROPOUT_KIND, O_REC_DROPOUT, O_TIE,
       O_INIT_FROM, O_PLOT };

static const struct option options[] = {
    {"train", 1, 0, O_TRAIN},    {"valid", 1, 0, O_VALID},       {"test", 1, 0, O_TEST},
    {"valid-split", 1, 0, O_SPLIT}, {"level", 1, 0, O_LEVEL},    {"cell", 1, 0, O_CELL},
    {"layers", 1, 0, O_LAYERS},  {"embed", 1, 0, O_EMBED},       {"hidden", 1, 0, O_HIDDEN},
    {"batch", 1, 0, O_BATCH},    {"time", 1, 0, O_TIME},         {"optim", 1, 0, O_OPTIM},
    {"lr", 1, 0, O_LR},          {"clip", 1, 0, O_CLIP},         {"clip-value", 1, 0, O_CLIPV},
    {"lr-decay", 1, 0, O_DECAY}, {"epochs", 1, 0, O_EPOCHS},     {"max-steps", 1, 0, O_STEPS},
    {"max-seconds", 1, 0, O_SECONDS}, {"seed", 1, 0, O_SEED},    {"threads", 1, 0, O_THREADS},
    {"out", 1, 0, O_OUT},        {"save-every", 1, 0, O_SAVE},   {"resume", 1, 0, O_RESUME},
    {"log", 1, 0, O_LOG},        {"report", 1, 0, O_REPORT},     {"quiet", 0, 0, O_QUIET},
    {"help", 0, 0, O_HELP},      {"init", 1, 0, O_INIT},         {"forget-bias", 1, 0, O_FORGET},
    {"lr-schedule", 1, 0, O_SCHEDULE}, {"eval-every", 1, 0, O_EVAL_EVERY},
    {"keep-best", 1, 0, O_KEEP_BEST}, {"activation", 1, 0, O_ACTIVATION},
    {"loss-norm", 1, 0, O_LOSS_NORM}, {"eps", 1, 0, O_EPS}, {"eps-inside", 0, 0, O_EPS_INSIDE},
    {"accumulate", 1, 0, O_ACCUM}, {"dropout", 1, 0, O_DROPOUT},
    {"dropout-kind", 1, 0, O_DROPOUT_KIND}, {"rec-dropout", 1, 0, O_REC_DROPOUT},
    {"tie", 0, 0, O_TIE},        {"init-from", 1, 0, O_INIT_FROM}, {"plot", 1, 0, O_PLOT},
    CLI_VERSION_OPTION,          {0, 0, 0, 0},
};

static int is_stdin(const char *file) { return file && !strcmp(file, "-"); }

/* Returns -1 to go on, else the exit status. */
static int parse(int argc, char **argv, train_args *a)
{
    *a = (train_args){
        .valid_split = -1,
        .level = TL_LEVEL_CHAR,
        .lm = {.embed = 64, .hidden = 256, .layers = 1, .cell = TL_CELL_LSTM},
        .optim = tl_optim_defaults(TL_OPTIM_ADAM),
        .tc = {.batch = 32, .time = 64, .epochs = 1, .clip_norm = 1, .report_every = 20},
        .seed = 1,
    };
    double lr = 0, forget_bias;
    long steps, save, eval_every;
    int c;
    bool ok = true;
    optind = 1;
    opterr = 0;
    while (ok && (c = getopt_long(argc, argv, CLI_OPTSTRING, options, NULL)) != -1) {
        switch (c) {
        case O_TRAIN: a->train = optarg; break;
        case O_VALID: a->valid = optarg; break;
        case O_TEST: a->test = optarg; break;
        case O_SPLIT: ok = cli_parse_double("valid-split", optarg, 0, 0.9, &a->valid_split); break;
        case O_LEVEL:
            a->level_arg = optarg;
            if (!strcmp(optarg, "word") || !strcmp(optarg, "char"))
                a->level = optarg[0] == 'w' ? TL_LEVEL_WORD : TL_LEVEL_CHAR;
            else
                return cli_usage_error("train", "--level must be word or char, not '%s'", optarg);
            break;
        case O_CELL:
            a->cell_arg = optarg;
            if (tl_cell_kind_from_name(optarg, &a->lm.cell))
                return cli_usage_error("train", "%s", tl_last_error());
            break;
        case O_LAYERS: a->layers_arg = optarg; ok = cli_parse_int("layers", optarg, 1, 64, &a->lm.layers); break;
        case O_EMBED: a->embed_arg = optarg; ok = cli_parse_int("embed", optarg, 1, 1 << 16, &a->lm.embed); break;
        case O_HIDDEN: a->hidden_arg = optarg; ok = cli_parse_int("hidden", optarg, 1, 1 << 16, &a->lm.hidden); break;
        case O_BATCH: a->batch_given = true; ok = cli_parse_int("batch", optarg, 1, 1 << 16, &a->tc.batch); break;
        case O_TIME: a->time_given = true; ok = cli_parse_int("time", optarg, 1, 1 << 16, &a->tc.time); break;
        case O_ACCUM: ok = cli_parse_int("accumulate", optarg, 1, 1 << 12, &a->tc.accumulate); break;
        case O_OPTIM: {
            a->optim_arg = optarg;
            tl_optim_kind k;
            if (tl_optim_kind_from_name(optarg, &k))
                return cli_usage_error("train", "%s", tl_last_error());
            a->optim = tl_optim_defaults(k);
            break;
        }
        case O_LR: ok = cli_parse_double("lr", optarg, 1e-12, 1e6, &lr); a->lr_given = true; break;
        case O_CLIP: ok = cli_parse_double("clip", optarg, 0, 1e12, &a->tc.clip_norm); break;
        case O_CLIPV: ok = cli_parse_double("clip-value", optarg, 0, 1e12, &a->tc.clip_value); break;
        case O_DECAY:
            /* A factor of 1 would never decay: the library refuses it, say so here. */
            ok = cli_parse_double("lr-decay", optarg, 1, 1e6, &a->tc.lr_decay);
            if (ok && a->tc.lr_decay == 1) {
                fprintf(stderr, "timelayers: --lr-decay: the factor must be greater than 1\n");
                ok = false;
            }
            break;
        case O_EPOCHS: ok = cli_parse_int("epochs", optarg, 0, 1 << 20, &a->tc.epochs); break;
        case O_STEPS:
            ok = cli_parse_long("max-steps", optarg, 1, LONG_MAX, &steps);
            a->tc.max_steps = steps;
            break;
        case O_SECONDS: ok = cli_parse_double("max-seconds", optarg, 0, 1e9, &a->tc.max_seconds); break;
        case O_SEED: ok = cli_parse_u64("seed", optarg, &a->seed); break;
        case O_DROPOUT:
            a->dropout_arg = optarg;
            ok = cli_parse_double("dropout", optarg, 0, 0.99, &a->lm.dropout);
            break;
        case O_DROPOUT_KIND:
            a->kind_arg = optarg;
            if (tl_dropout_kind_from_name(optarg, &a->lm.dropout_kind))
                return cli_usage_error("train", "--dropout-kind: %s", tl_last_error());
            break;
        case O_REC_DROPOUT:
            a->rec_arg = optarg;
            ok = cli_parse_double("rec-dropout", optarg, 0, 0.99, &a->lm.rec_dropout);
            break;
        case O_TIE: a->lm.tie = a->tie_given = true; break;
        case O_THREADS: ok = cli_parse_int("threads", optarg, 1, 64, &a->threads); break;
        case O_OUT: a->out = optarg; break;
        case O_SAVE:
            ok = cli_parse_long("save-every", optarg, 1, LONG_MAX, &save);
            a->tc.save_every = save;
            break;
        case O_RESUME: a->resume = optarg; break;
        case O_LOG: a->log = optarg; break;
        case O_REPORT: ok = cli_parse_int("report", optarg, 1, 1 << 30, &a->tc.report_every); break;
        case O_QUIET: a->quiet = true; break;
        case O_INIT: {
            tl_init in;
            if (tl_init_parse(optarg, &in))
                return cli_usage_error("train", "--init: %s", tl_last_error());
            if (!in.forget_bias_set) { /* keep an earlier --forget-bias */
                in.forget_bias_set = a->lm.init.forget_bias_set;
                in.forget_bias = a->lm.init.forget_bias;
            }
            a->lm.init = in;
            a->init_given = true;
            break;
        }
        case O_FORGET:
            ok = cli_parse_double("forget-bias", optarg, -1e6, 1e6, &forget_bias);
            a->lm.init.forget_bias_set = true;
            a->lm.init.forget_bias = forget_bias;
            a->init_given = true;
            break;
        case O_SCHEDULE:
            if (tl_lr_schedule_parse(optarg, &a->tc.lr_schedule))
                return cli_usage_error("train", "--lr-schedule: %s", tl_last_error());
            a->schedule_given = true;
            break;
        case O_EVAL_EVERY:
            ok = cli_parse_long("eval-every", optarg, 1, LONG_MAX, &eval_every);
            a->tc.eval_every = eval_every;
            break;
        case O_KEEP_BEST: a->tc.keep_best = optarg; break;
        case O_EPS: ok = cli_parse_double("eps", optarg, 1e-300, 1, &a->eps); a->eps_given = true; break;
        case O_EPS_INSIDE: a->eps_inside = true; break;
        case O_ACTIVATION:
            if (strcmp(optarg, "tanh") && strcmp(optarg, "sigmoid"))
                return cli_usage_error("train", "--activation must be tanh or sigmoid, not '%s'",
                                       optarg);
            a->lm.activation = optarg[0] == 's' ? TL_ACT_SIGMOID : TL_ACT_TANH;
            break;
        case O_LOSS_NORM:
            if (strcmp(optarg, "mean") && strcmp(optarg, "cs231n"))
                return cli_usage_error("train", "--loss-norm must be mean or cs231n, not '%s'",
                                       optarg);
            a->lm.loss_norm = optarg[0] == 'c' ? TL_LOSS_CS231N : TL_LOSS_MEAN;
            break;
        case O_INIT_FROM: a->init_from = optarg; break;
        case O_PLOT: a->plot = optarg; break;
        case 'h':
        case O_HELP:
            /* One system call (longer than stdio's buffer): a reader that
             * stops early (grep -q) then cannot cut it with SIGPIPE. */
            fflush(stdout);
            return write_all_parts(help, sizeof help / sizeof *help) ? 0 : 1;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_bad_option("train", c, argv);
        }
    }
    if (!ok)
        return 2;
    if (optind < argc)
        return cli_usage_error("train", "unexpected argument '%s'", argv[optind]);
    if (a->valid && a->valid_split > 0)
        return cli_usage_error("train", "--valid and --valid-split exclude each other");
    if (a->tc.lr_decay && a->schedule_given)
        return cli_usage_error("train", "--lr-decay F is --lr-schedule plateau:F: give one");
    if (a->lm.activation == TL_ACT_SIGMOID && a->lm.cell != TL_CELL_RNN)
        return cli_usage_error("train", "--activation sigmoid needs --cell rnn");
    if (a->lm.init.forget_bias_set && a->lm.cell != TL_CELL_LSTM)
        return cli_usage_error("train", "--forget-bias (or forget_bias= in --init) sets the LSTM "
                               "forget gate; --cell %s has none", tl_cell_kind_name(a->lm.cell));
    if (a->lm.rec_dropout > 0 && a->lm.cell == TL_CELL_RNN)
        return cli_usage_error("train", "--rec-dropout applies to --cell lstm and gru, not rnn");
    if (a->init_from && (a->resume || a->init_given))
        return cli_usage_error("train", "--init-from takes the weights of a model: not with "
                               "--resume, --init or --forget-bias");
    if (is_stdin(a->train) + is_stdin(a->valid) + is_stdin(a->test) > 1)
        return cli_usage_error("train", "only one of --train, --valid and --test can be - "
                               "(standard input)");
    if (a->tc.keep_best && a->out && strcmp(a->tc.keep_best, a->out) == 0)
        return cli_usage_error("train", "--keep-best must be another file than --out");
    if (!a->train && a->valid_split < 0)
        a->valid_split = 0.05;
    if (a->valid_split < 0)
        a->valid_split = 0;
    if (a->lr_given)
        a->optim.lr = lr;
    if (a->eps_given)
        a->optim.eps = a->eps;
    if (a->eps_inside && a->optim.kind != TL_OPTIM_ADAGRAD)
        return cli_usage_error("train", "--eps-inside is an option of --optim adagrad");
    a->optim.eps_inside = a->eps_inside;
    if (a->resume && (a->eps_given || a->eps_inside))
        return cli_usage_error("train", "--eps and --eps-inside apply to a new optimizer, not to "
                               "--resume");
    if (!a->out)
        a->out = a->resume ? a->resume : "model.safetensors";
    if (a->tc.keep_best && a->out && strcmp(a->tc.keep_best, a->out) == 0)
        return cli_usage_error("train", "--keep-best must be another file than --out");
    a->tc.checkpoint = a->out;
    a->tc.log_csv = a->log;
    return -1;
}

/* What the progress callback keeps: the curve for --plot. */
typedef struct {
    bool quiet;
    const char *plot, *title;
    cli_series train, valid;
    bool plot_failed;
} run;

/* A perplexity as "123.45", or "e^812.3" when it overflows a double while the
 * loss (nats) is finite. */
static const char *ppl_text(double ppl, double loss, char *buf, size_t n)
{
    if (isfinite(ppl) || !isfinite(loss))
        snprintf(buf, n, "%.2f", ppl);
    else
        snprintf(buf, n, "e^%.1f", loss);
    return buf;
}

/* Progress lines on stdout, one per report; the plot at every epoch end. */
static void progress(void *ctx, const tl_train_progress *p)
{
    run *r = ctx;
    char eta[32], el[32], tp[32], vp[32];
    if (r->plot && !r->plot_failed &&
        !(cli_series_add(&r->train, p->step, p->train_loss) &&
          cli_series_add(&r->valid, p->step, p->valid_loss) &&
          (!p->epoch_end || cli_plot_svg(r->plot, r->title, &r->train, &r->valid)))) {
        fprintf(stderr, "timelayers: --plot %s: not written\n", r->plot);
        r->plot_failed = true;
    }
    if (r->quiet)
        return;
    if (p->epoch_end) {
        printf("epoch %d/%d done | step %ld | %s elapsed", p->epoch, p->epochs, p->step,
               cli_duration(p->elapsed_sec, el, sizeof el));
        if (!isnan(p->valid_ppl))
            printf(" | valid loss %.4f | valid ppl %s", p->valid_loss,
                   ppl_text(p->valid_ppl, p->valid_loss, vp, sizeof vp));
        printf(" | lr %.4g\n", p->lr);
    } else {
        printf("epoch %d/%d | iter %ld/%ld | loss %7.4f | ppl %9s | lr %.4g | grad norm %7.3f | "
               "%.0f tok/s | ETA %s", p->epoch, p->epochs, p->iter, p->iters_per_epoch,
               p->train_loss, ppl_text(p->train_ppl, p->train_loss, tp, sizeof tp), p->lr,
               p->grad_norm, p->tokens_per_sec, cli_duration(p->eta_sec, eta, sizeof eta));
        if (!isnan(p->valid_ppl))
            printf(" | valid ppl %s", ppl_text(p->valid_ppl, p->valid_loss, vp, sizeof vp));
        printf("\n");
    }
    fflush(stdout);
}

/* The corpora, sharing one vocabulary built from the training text. */
typedef struct {
    tl_vocab *vocab;
    tl_corpus train, valid, test;
    size_t ntrain, nvalid;       /* split of train when --valid-split is used */
    const int32_t *valid_ids;
} data;

static void data_free(data *d)
{
    tl_corpus_free(&d->train);
    tl_corpus_free(&d->valid);
    tl_corpus_free(&d->test);
    tl_vocab_destroy(d->vocab);
}

static bool load_data(const train_args *a, tl_vocab *vocab, data *d)
{
    const char *train = a->train ? a->train : cli_default_corpus();
    if (!train)
        return false;
    bool grow = !vocab;
    *d = (data){.vocab = vocab};
    if (!d->vocab && tl_vocab_create(&d->vocab, a->level))
        return cli_fail("vocabulary"), false;
    if (!cli_corpus_load(train, d->vocab, grow, &d->train) ||
        (a->valid && !cli_corpus_load(a->valid, d->vocab, false, &d->valid)) ||
        (a->test && !cli_corpus_load(a->test, d->vocab, false, &d->test)))
        return false;
    d->ntrain = d->train.len;
    d->valid_ids = d->valid.ids;
    d->nvalid = d->valid.len;
    if (a->valid_split > 0) {
        d->nvalid = (size_t)(a->valid_split * (double)d->train.len);
        d->ntrain = d->train.len - d->nvalid;
        d->valid_ids = d->train.ids + d->ntrain;
        if (d->nvalid < 2) {
            fprintf(stderr, "timelayers: --valid-split %g of %zu tokens leaves %zu for "
                    "validation; need at least 2\n", a->valid_split, d->train.len, d->nvalid);
            return false;
        }
    }
    printf("data: %s: %zu training tokens", train, d->ntrain);
    if (d->nvalid)
        printf(", %zu validation tokens", d->nvalid);
    printf(", vocabulary %d (%s level)\n", (int)tl_vocab_size(d->vocab),
           tl_vocab_level(d->vocab) == TL_LEVEL_WORD ? "word" : "char");
    return true;
}

/* A resumed run keeps its model, optimizer, tokens, batch and time: an option
 * asking for others would be ignored without a word, so it is refused (an
 * option equal to the checkpoint's is fine). Returns 0 or exit status 2. */
static int check_resume_options(train_args *a, tl_checkpoint *ck, tl_model *m,
                                const tl_vocab *v, const tl_optim *opt)
{
    const char *level = tl_vocab_level(v) == TL_LEVEL_WORD ? "word" : "char";
    if (a->level_arg && strcmp(a->level_arg, level))
        return cli_usage_error("train", "--level %s differs from the checkpoint's %s level; a "
                               "resumed run keeps its vocabulary", a->level_arg, level);
    int layers = 0, embed = 0, hidden = 0;
    char cell[32] = "";
    double dropout = 0, rec_dropout = 0;
    bool locked = false, tied = false;
    for (int i = 0; i < tl_model_num_layers(m); i++) {
        tl_layer_config c;
        tl_layer *l = tl_model_layer(m, i);
        if (tl_layer_get_config(l, &c))
            continue;
        if (!strcmp(c.type, "TimeEmbedding"))
            embed = c.out_dim;
        else if (!strcmp(c.type, "TimeDropout") && dropout == 0) {
            tl_config_real(&c, "p", 0, &dropout);
            tl_config_bool(&c, "locked", false, &locked);
        } else if (!strcmp(c.type, "TimeAffine"))
            tied = tl_config_find(&c, "tied") != NULL;
        else if (tl_layer_has_state(l) && layers++ == 0) {
            hidden = c.out_dim;
            tl_config_real(&c, "rec_dropout", 0, &rec_dropout);
            for (size_t k = 0; c.type[4 + k] && k < sizeof cell - 1; k++)
                cell[k] = (char)(c.type[4 + k] | 0x20);   /* "TimeLSTM" -> "lstm" */
        }
    }
    struct { const char *arg, *name; int have; } sizes[] = {
        {a->layers_arg, "layers", layers}, {a->embed_arg, "embed", embed},
        {a->hidden_arg, "hidden", hidden},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].arg && atoi(sizes[i].arg) != sizes[i].have)
            return cli_usage_error("train", "--%s %s differs from the checkpoint's %d; a resumed "
                                   "run keeps its model (leave --%s out)", sizes[i].name,
                                   sizes[i].arg, sizes[i].have, sizes[i].name);
    if (a->cell_arg && strcmp(a->cell_arg, cell))
        return cli_usage_error("train", "--cell %s differs from the checkpoint's %s; a resumed "
                               "run keeps its model", a->cell_arg, cell);
    struct { const char *arg, *name; double want, have; } rates[] = {
        {a->dropout_arg, "dropout", a->lm.dropout, dropout},
        {a->rec_arg, "rec-dropout", a->lm.rec_dropout, rec_dropout},
    };
    for (size_t i = 0; i < sizeof rates / sizeof *rates; i++)
        if (rates[i].arg && rates[i].want != rates[i].have)
            return cli_usage_error("train", "--%s %s differs from the checkpoint's %g; a resumed "
                                   "run keeps its model", rates[i].name, rates[i].arg,
                                   rates[i].have);
    if (a->kind_arg && dropout > 0 && (a->lm.dropout_kind == TL_DROPOUT_LOCKED) != locked)
        return cli_usage_error("train", "--dropout-kind %s differs from the checkpoint's %s; a "
                               "resumed run keeps its model", a->kind_arg,
                               locked ? "locked" : "standard");
    if (a->tie_given && !tied)
        return cli_usage_error("train", "--tie: the checkpoint's model is not tied; a resumed "
                               "run keeps its model");
    /* The checkpoint records its scheme ("init"): the same one may be repeated
     * (a recipe rerun to resume), another is refused. */
    const char *init = tl_checkpoint_meta(ck, "init");
    char want[96];
    tl_init_describe(&a->lm.init, want, sizeof want);
    if (a->init_given && (!init || strcmp(init, want)))
        return cli_usage_error("train", "--init/--forget-bias %s differs from the checkpoint's "
                               "%s; a resumed run keeps its model", want,
                               init ? init : "scheme (not recorded)");
    tl_optim_config oc;
    tl_optim_get_config(opt, &oc);
    if (a->optim_arg && oc.kind != a->optim.kind)
        return cli_usage_error("train", "--optim %s differs from the checkpoint's %s; a resumed "
                               "run keeps its optimizer", a->optim_arg, tl_optim_name(oc.kind));
    int batch, time;
    if (tl_checkpoint_train_shape(ck, &batch, &time))
        return cli_fail(a->resume);
    if (!a->batch_given)
        a->tc.batch = batch;
    if (!a->time_given)
        a->tc.time = time;
    return 0;
}

/* Estimate the run's memory, print it, and refuse (1) what cannot fit. */
static int check_memory(const train_args *a, tl_model *m, const tl_optim *opt, int V,
                        size_t tokens)
{
    static tl_layer_config cfg[2 * 64 + 4];   /* large: a config holds its fields */
    int n = 0;
    if (m) {
        for (int i = 0; i < tl_model_num_layers(m) && n < 2 * 64 + 3; i++)
            if (!tl_layer_get_config(tl_model_layer(m, i), &cfg[n]))
                n++;
        if (tl_model_loss_layer(m) && !tl_layer_get_config(tl_model_loss_layer(m), &cfg[n]))
            n++;
    } else {    /* the stack tl_lm_create will build (lm.h) */
        const char *cell = a->lm.cell == TL_CELL_RNN   ? "TimeRNN"
                           : a->lm.cell == TL_CELL_GRU ? "TimeGRU"
                                                       : "TimeLSTM";
        cfg[n++] = (tl_layer_config){.type = "TimeEmbedding", .in_dim = V,
                                     .out_dim = a->lm.embed};
        for (int i = 0; i <= a->lm.layers; i++) {
            int w = i ? a->lm.hidden : a->lm.embed;
            if (a->lm.dropout > 0) {
                cfg[n] = (tl_layer_config){.type = "TimeDropout", .in_dim = w, .out_dim = w};
                tl_config_set_bool(&cfg[n++], "locked", a->lm.dropout_kind == TL_DROPOUT_LOCKED);
            }
            if (i < a->lm.layers) {
                cfg[n] = (tl_layer_config){.in_dim = w, .out_dim = a->lm.hidden};
                snprintf(cfg[n++].type, sizeof cfg->type, "%s", cell);
            }
        }
        cfg[n] = (tl_layer_config){.type = "TimeAffine", .in_dim = a->lm.hidden, .out_dim = V};
        if (a->lm.tie)
            tl_config_set_layer_index(&cfg[n], "tied", 0);
        n++;
        cfg[n++] = (tl_layer_config){.type = "TimeSoftmaxWithLoss", .in_dim = V, .out_dim = V};
    }
    int states = 0;
    tl_optim *probe = NULL;
    if (opt)
        states = tl_optim_state_count(opt);
    else if (!tl_optim_create(&probe, &a->optim, 1))
        states = tl_optim_state_count(probe);
    tl_optim_destroy(probe);
    double pbytes, need = cli_train_memory(cfg, n, states, a->tc.batch, a->tc.time, tokens,
                                           &pbytes);
    /* A model over the library's limit is refused by tl_lm_create, by name. */
    if (!m && pbytes / ((2 + states) * sizeof(tl_real)) > (double)TL_LM_MAX_PARAMS)
        return 0;
    return cli_check_memory(need, pbytes, true, "a smaller model, --batch or --time");
}

/* The first SIGINT or SIGTERM asks the trainer to stop after its step and
 * save; a second one is fatal at once (the atomic save leaves the previous
 * checkpoint intact). */
/* A save that failed must not lose the training (cli_rescue). */
static tl_status save_trainer(void *tr, const char *path) { return tl_trainer_save(tr, path); }

static int train(train_args *a, tl_comm *comm);

int cmd_train(int argc, char **argv)
{
    train_args a;
    int rc = parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    tl_comm *comm;
    if (!cli_group_join(&comm))
        return 1;
    a.tc.comm = comm;
    return cli_group_leave(comm, train(&a, comm));
}

static int train(train_args *args, tl_comm *comm)
{
    train_args a = *args;
    int rc;
    const cli_path inputs[] = {
        {a.train, "training file", false, false},   /* NULL: the default corpus */
        {a.valid, "validation file", false, false},
        {a.test, "test file", false, false},
        {a.resume, "checkpoint resumed", true, false},
    };
    const cli_path outputs[] = {
        {a.out, "--out", true, false},
        {a.log, "--log", false, true},
        {a.tc.keep_best, "--keep-best", false, false},
    };
    rc = cli_check_outputs(inputs, 4, outputs, 3);
    if (rc)
        return rc;
    cli_lock lock = {.fd = -1};
    if (tl_comm_is_writer(comm) && cli_lock_output(a.out, &lock)) /* the writer's file */
        return 1;
    cli_set_threads(a.threads);

    data d = {0};
    tl_checkpoint *ck = NULL;
    tl_model *m = NULL;
    tl_optim *opt = NULL;
    tl_trainer *tr = NULL;
    tl_vocab *vocab = NULL;
    rc = 1;
    if (a.resume) {
        if (tl_checkpoint_open(a.resume, &ck) || tl_checkpoint_model(ck, &m) ||
            tl_checkpoint_vocab(ck, &vocab) || tl_checkpoint_optim(ck, &opt) ||
            tl_lm_check_vocab(m, vocab)) {
            cli_fail(a.resume);
            goto out;
        }
        if ((rc = check_resume_options(&a, ck, m, vocab, opt)))
            goto out;
        rc = 1;
        a.level = tl_vocab_level(vocab);
        /* The run continues its schedule unless told otherwise, and keeps
         * saying how its model was initialised. */
        const char *ls = tl_checkpoint_meta(ck, "lr_schedule"), *init = tl_checkpoint_meta(ck, "init");
        if (ls && !a.schedule_given && !a.tc.lr_decay &&
            tl_lr_schedule_parse(ls, &a.tc.lr_schedule)) {
            cli_fail(a.resume);
            goto out;
        }
        snprintf(a.init, sizeof a.init, "%s", init ? init : "");
        const char *seed = tl_checkpoint_meta(ck, "seed");
        if (seed && !cli_parse_u64("seed (checkpoint metadata)", seed, &a.seed))
            goto out;
        /* The optimizer comes from the checkpoint; a given --lr overrides its rate. */
        if (a.lr_given && tl_optim_set_lr(opt, a.optim.lr)) {
            cli_fail("--lr");
            goto out;
        }
    }
    if (a.init_from) {
        /* Fine-tuning: the model (architecture and weights) and its
         * vocabulary come from the file; optimizer, schedule and counters
         * start afresh, on the data given (new tokens map to <unk> or are
         * refused). */
        if (tl_lm_load(a.init_from, &m, &vocab)) {
            cli_fail(a.init_from);
            goto out;
        }
        a.level = tl_vocab_level(vocab);
        snprintf(a.init, sizeof a.init, "from %s", a.init_from);
    }
    bool loaded = load_data(&a, vocab, &d);
    vocab = NULL; /* owned by d now, loaded or not */
    if (!loaded)
        goto out;
    if (check_memory(&a, m, opt, (int)tl_vocab_size(d.vocab), d.train.len + d.valid.len +
                     d.test.len))
        goto out;
    if (!m) {
        tl_rng rng;
        tl_rng_seed(&rng, a.seed);
        a.lm.vocab = tl_vocab_size(d.vocab);
        if (tl_lm_create(&m, &a.lm, &rng)) {
            cli_fail("model");
            goto out;
        }
        tl_init_describe(&a.lm.init, a.init, sizeof a.init);
    }
    /* The seed keys the dropout masks too: a resumed run keeps it. */
    char seed_text[24];
    snprintf(seed_text, sizeof seed_text, "%" PRIu64, a.seed);
    tl_model_set_seed(m, a.seed);
    tl_ckpt_meta meta[2] = {{"seed", seed_text}, {"init", a.init}};
    a.tc.meta = meta;
    a.tc.nmeta = a.init[0] ? 2 : 1;
    size_t nparams;
    if (tl_model_flat(m, NULL, NULL, &nparams) || (!opt && tl_optim_create(&opt, &a.optim, nparams))) {
        cli_fail("optimizer");
        goto out;
    }
    a.tc.stop = &cli_stop_signal;
    if (tl_trainer_create(&tr, m, opt, d.vocab, d.train.ids, d.ntrain, d.valid_ids, d.nvalid,
                          &a.tc) ||
        (ck && tl_trainer_resume(tr, ck))) {
        cli_fail("trainer");
        goto out;
    }
    tl_optim_config oc;
    tl_optim_get_config(opt, &oc);
    char schedule[64];
    tl_lr_schedule_describe(&a.tc.lr_schedule, schedule, sizeof schedule);
    printf("model: %zu parameters%s%s; optimizer %s, lr %g, schedule %s; batch %d x time %d; %s\n",
           nparams, a.init[0] ? ", init " : "", a.init, tl_optim_name(oc.kind), tl_optim_lr(opt),
           schedule, a.tc.batch, a.tc.time,
           a.resume ? "resuming" : a.init_from ? "fine-tuning" : "starting");
    if (a.tc.accumulate > 1)
        printf("accumulate: %d batches per update (%d rows)\n", a.tc.accumulate,
               a.tc.accumulate * a.tc.batch);
    if (comm)
        printf("data parallel: %d processes, %d rows each per batch\n", tl_comm_size(comm),
               a.tc.batch / tl_comm_size(comm));
    fflush(stdout);
    long start_step = tl_trainer_step(tr);
    run r = {.quiet = a.quiet, .plot = a.plot, .title = a.out};
    cli_catch_stop_signals();
    tl_status st = tl_trainer_run(tr, progress, &r);
    cli_release_stop_signals();
    /* The curve so far, also when training stopped on an error. */
    if (a.plot && !r.plot_failed && cli_plot_svg(a.plot, a.out, &r.train, &r.valid) &&
        r.train.n + r.valid.n)
        printf("plot: %s\n", a.plot);
    cli_series_free(&r.train);
    cli_series_free(&r.valid);
    if (st) {
        cli_fail("training stopped");
        /* Alone only: a group's save is collective, and the others may have failed. */
        if (st == TL_ERR_IO && !comm && tl_trainer_step(tr) > start_step)
            cli_rescue(save_trainer, tr, tl_trainer_step(tr), "--resume %s --out %s", a.out);
        goto out;
    }
    if (cli_stop_signal) {
        fprintf(stderr, "timelayers: interrupted at step %ld: checkpoint written to %s\n",
                tl_trainer_step(tr), a.out);
        rc = 128 + cli_stop_signal;
        goto out;
    }
    if (tl_trainer_saved(tr))
        printf("checkpoint: %s (epoch %d, step %ld)\n", a.out, tl_trainer_epoch(tr),
               tl_trainer_step(tr));
    else
        printf("no checkpoint written: nothing left to train (epoch %d of %d done)\n",
               tl_trainer_epoch(tr), a.tc.epochs);
    if (a.test) {
        double loss, ppl;
        if (tl_comm_eval_perplexity(comm, m, d.test.ids, d.test.len, TL_EVAL_REFERENCE, 0, &loss,
                                    &ppl)) {
            cli_fail(a.test);
            goto out;
        }
        printf("test perplexity %.2f (%.4f nats/token, reference mode)\n", ppl, loss);
    }
    rc = 0;
out:
    cli_unlock_output(&lock);
    tl_trainer_destroy(tr);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    tl_vocab_destroy(vocab);
    data_free(&d);
    tl_checkpoint_close(ck);
    return rc;
}
