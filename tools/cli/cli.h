/* Shared pieces of the timelayers command-line tool: subcommand entry points
 * and the helpers they have in common. No math here: everything numeric is
 * the library's. */
#ifndef TL_CLI_H
#define TL_CLI_H

#include <signal.h>
#include <stdbool.h>
#include "timelayers/timelayers.h"
#include "args.h"
#include "options.h"

/* Each subcommand: argv[0] is the subcommand name; returns the exit status
 * (0 success, 1 failure, 2 usage error). */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_seq2seq(int argc, char **argv);

/* Print "timelayers: <context>: <library message>" to stderr; returns 1. */
int cli_fail(const char *context);

/* Print a usage error and the hint to run --help; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...);

/* A checkpoint opened for inference: the model and its vocabulary. */
typedef struct cli_model {
    tl_checkpoint *ck;
    tl_model *model;
    tl_vocab *vocab;
} cli_model;

/* Open path, rebuild the model and vocabulary; prints the error and returns
 * false on failure (nothing to free then). */
bool cli_model_open(const char *path, cli_model *cm);
void cli_model_close(cli_model *cm);

/* The path of the default corpus (Tiny Shakespeare), or NULL after printing
 * where it was looked for. */
const char *cli_default_corpus(void);

/* The whole of path, or of standard input when path is "-", into a malloc'd
 * buffer (*text, *len bytes; free it). Prints why and returns false on error. */
bool cli_read_all(const char *path, char **text, size_t *len);

/* tl_corpus_load, or tl_corpus_from_text on standard input when path is "-".
 * Prints the error (naming the file) and returns false on failure. */
bool cli_corpus_load(const char *path, tl_vocab *v, bool grow, tl_corpus *out);

/* A curve for --plot: points (x[i], y[i]), y a loss in nats. */
typedef struct cli_series {
    long *x;
    double *y;
    int n, cap;
} cli_series;

/* Append a point (a non-finite y is skipped); false when out of memory. */
bool cli_series_add(cli_series *s, long x, double y);
void cli_series_free(cli_series *s);

/* Write the SVG of the training and validation curves (perplexity, log
 * scale, against the step) to path through a temporary renamed over it;
 * prints why and returns false on failure. Nothing is written without points. */
bool cli_plot_svg(const char *path, const char *title, const cli_series *train,
                  const cli_series *valid);

/* A file a run reads or writes (tools/cli/output.c): path (NULL: none), what
 * it is for messages ("--out", "training file"). An input and an output that
 * both have may_be_output may be one file (the checkpoint resumed and
 * rewritten); stream: an output that is written, never replaced, so a device
 * such as /dev/stdout will do (the log). */
typedef struct cli_path {
    const char *path, *what;
    bool may_be_output, stream;
} cli_path;

/* Refuse, before any work, an output that is the same file as an input or as
 * another output (by device and inode), whose directory is missing or not
 * writable, or that exists and is not a regular writable file (stream
 * outputs may be devices). Prints the reason; returns 0 or exit status 2. */
int cli_check_outputs(const cli_path *in, int nin, const cli_path *out, int nout);

/* An advisory lock on an output while a run writes it: flock(2) on
 * "<path>.lock", which holds the owner's process id for the message a second
 * run prints. Returns 0, or 1 after printing who holds it. */
typedef struct cli_lock {
    char path[4096];
    int fd;
} cli_lock;
int cli_lock_output(const char *path, cli_lock *lk);
void cli_unlock_output(cli_lock *lk);

/* A save that failed (directory gone, disk full) must not lose the training:
 * save(obj, path) is tried in $TMPDIR (else /tmp), then the current directory,
 * as "timelayers-rescue-<pid>-step<step>.safetensors"; the message says how
 * to continue: resume_fmt with the rescued path and out ("--resume %s --out %s"). */
void cli_rescue(tl_status (*save)(void *obj, const char *path), void *obj, long step,
                const char *resume_fmt, const char *out);

/* SIGINT and SIGTERM while training (tools/cli/signals.c): the first sets
 * cli_stop_signal (the trainer's stop flag: it finishes the step and saves
 * its checkpoint), a second aborts at once. Release restores the defaults. */
extern volatile sig_atomic_t cli_stop_signal;
void cli_catch_stop_signals(void);
void cli_release_stop_signals(void);

/* Bytes a training run needs (tools/cli/memory.c): parameters with gradients
 * and optim_states optimizer buffers (in *param_bytes), one batch's
 * activations, and 4 bytes per token of data. An estimate from the layers'
 * configs, made before anything large is allocated. */
double cli_train_memory(const tl_layer_config *layers, int n, int optim_states, int batch,
                        int time, size_t tokens, double *param_bytes);

/* The memory this process may use (tools/cli/memlimit.c): the smallest of the address-space limit,
 * the limit of the process's memory cgroup or an ancestor's (v2 or v1) and
 * MemAvailable, with *source naming it; -1 if none is known. The environment
 * variable TIMELAYERS_TEST_SYSROOT, a test hook, reads /proc and /sys from a
 * fake tree. */
double cli_memory_limit(const char **source);

/* Print (when print) the estimate need, param_bytes of it for the parameters,
 * with the limit of cli_memory_limit; refuse (1, with both numbers and "use
 * <hint>" on stderr) a run that cannot fit, else 0. */
int cli_check_memory(double need, double param_bytes, bool print, const char *hint);

/* Set the number of OpenBLAS threads (0 = leave OpenBLAS's choice). */
void cli_set_threads(int n);

/* "1h02m", "3m12s", "45s". */
const char *cli_duration(double seconds, char *buf, size_t n);

#endif
