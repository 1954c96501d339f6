/* What the subcommands share (cli.h): error messages, threads, durations,
 * opening a checkpoint for inference. Apart from main.c, so that a fuzz
 * target (tests/fuzz/fuzz_argv.c) can run the subcommands without main. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cli_fail(const char *context)
{
    /* Library messages about a file begin with its path: say it once. */
    const char *msg = tl_last_error();
    size_t n = strlen(context);
    if (strncmp(msg, context, n) == 0 && msg[n] == ':')
        fprintf(stderr, "timelayers: %s\n", msg);
    else
        fprintf(stderr, "timelayers: %s: %s\n", context, msg);
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "timelayers %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nRun 'timelayers %s --help' for usage.\n", cmd);
    va_end(ap);
    return 2;
}

void cli_set_threads(int n)
{
    if (n > 0 && tl_set_num_threads(n) != TL_OK)
        fprintf(stderr, "timelayers: --threads: %s\n", tl_last_error());
}

const char *cli_duration(double s, char *buf, size_t n)
{
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60)
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
    else
        snprintf(buf, n, "%lds", t);
    return buf;
}

bool cli_model_open(const char *path, cli_model *cm)
{
    *cm = (cli_model){0};
    if (tl_checkpoint_open(path, &cm->ck) || tl_checkpoint_model(cm->ck, &cm->model) ||
        tl_checkpoint_vocab(cm->ck, &cm->vocab) || tl_lm_check_vocab(cm->model, cm->vocab)) {
        cli_fail(path);
        cli_model_close(cm);
        return false;
    }
    return true;
}

void cli_model_close(cli_model *cm)
{
    tl_vocab_destroy(cm->vocab);
    tl_model_destroy(cm->model);
    tl_checkpoint_close(cm->ck);
    *cm = (cli_model){0};
}
