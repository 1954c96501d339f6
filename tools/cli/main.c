/* timelayers: train, evaluate and sample recurrent language models.
 * This file dispatches to one function per subcommand (the helpers they
 * share are in common.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cblas.h>
#include "blas_core.h"
#include "cli.h"

static const char usage[] =
    "usage: timelayers COMMAND [options]\n"
    "\n"
    "Commands:\n"
    "  train      train a language model (with no data: the bundled default corpus)\n"
    "  eval       perplexity of a checkpoint on a text file\n"
    "  sample     generate text from a checkpoint\n"
    "  info       describe a checkpoint: architecture, vocabulary, training state\n"
    "  seq2seq    train, evaluate and run sequence-to-sequence models (question -> answer)\n"
    "  gradcheck  check every gradient of a model by central differences\n"
    "  bench      training and generation speed of the reference configurations\n"
    "\n"
    "Run 'timelayers COMMAND --help' for the options of a command.\n";

/* Two commands are programs of their own, run from the same folder:
 * gradcheck needs the double-precision library and bench is a benchmark
 * harness; `timelayers gradcheck|bench` executes timelayers-gradcheck|-bench. */
static int run_sibling(const char *program, char **argv)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 64);
    if (n <= 0) {
        perror("timelayers: cannot locate its own folder");
        return 1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    snprintf(slash ? slash + 1 : self, 64, "%s", program);
    argv[0] = self;
    execv(self, argv);
    fprintf(stderr, "timelayers: cannot run %s: %s\n", self, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {
        {"train", cmd_train}, {"eval", cmd_eval}, {"sample", cmd_sample},
        {"info", cmd_info}, {"seq2seq", cmd_seq2seq},
    };
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version"))
        return cli_version();
    if (!strcmp(argv[1], "gradcheck"))
        return run_sibling("timelayers-gradcheck", argv + 1);
    if (!strcmp(argv[1], "bench"))
        return run_sibling("timelayers-bench", argv + 1);
    cli_fix_openblas_env(argv);
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            /* Output lost on a full disk or a closed pipe is a failure. */
            errno = 0;
            if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
                fprintf(stderr, "timelayers: writing the output failed: %s\n",
                        errno ? strerror(errno) : "error on standard output");
                rc = 1;
            }
            return rc;
        }
    fprintf(stderr, "timelayers: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
