/* Fuzz target: the command line of `timelayers train|eval|sample|info` and
 * `timelayers seq2seq train|eval|generate`, run
 * through the CLI's own subcommand functions (tools/cli/, everything but
 * main), so that every option parser, every check of option combinations
 * (--resume against model options, outputs against inputs, exclusive
 * options, the vocabulary against the model and the data) and a tiny run
 * are the real code.
 *
 * Input: "ARGS NUL TEXT NUL VALID NUL CHECKPOINT". ARGS holds one argument
 * per line, the first the command. TEXT, VALID and CHECKPOINT become the
 * files "t", "v" and "ck" of a private directory (fuzz_private_dir),
 * the current directory while the command runs; "t" is also the default
 * corpus of `train` without --train (cli_default_corpus, instead of
 * default_corpus.c). The fuzzer names the files as a user would
 * ("--train t --resume ck --out o"); an argument with a '/' is not run, so
 * nothing outside the directory is read or written (the CLI's default --out
 * is model.safetensors in the current directory).
 *
 * Bounded work: the harness appends "--max-steps 3 --threads 1" to train and
 * seq2seq train, "--threads 1" to eval, seq2seq eval and seq2seq generate
 * (whose standard input is /dev/null) and "--length 12" to sample (the last occurrence of
 * an option wins; the fuzzer's own values are still parsed and checked),
 * and the machine has 1 MiB of memory for the CLI's estimate
 * (cli_memory_limit, replaced at link time with -Wl,--wrap), so a larger
 * model is refused by train's memory check instead of trained.
 *
 * Properties, besides no crash, sanitizer report or leak: the exit status is
 * 0, 1 or 2; the read-only files "t" and "v" are never changed; the command
 * leaves no file that the arguments do not name (a lock, a temporary
 * checkpoint) but the default checkpoints model.safetensors and
 * seq2seq.safetensors and a rescued model ($TMPDIR is the directory), and
 * those open with a vocabulary that fits their model. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fuzz.h"
#include "../../tools/cli/cli.h"

enum { MAX_ARGS = 64 };

/* The CLI's memory limit on this pretend machine. */
double __wrap_cli_memory_limit(const char **source);
double __wrap_cli_memory_limit(const char **source)
{
    *source = "the fuzz target's pretend machine";
    return 1 << 20;
}

/* The default corpus of `train` without --train: the input's text. */
const char *cli_default_corpus(void)
{
    return "t";
}

/* A command (with a subcommand when sub is not NULL; the first entry that
 * matches runs) and the arguments appended to bound its work. */
static const struct {
    const char *name, *sub;
    int (*run)(int, char **);
    const char *bounds[4];
} commands[] = {
    {"train", NULL, cmd_train, {"--max-steps", "3", "--threads", "1"}},
    {"eval", NULL, cmd_eval, {"--threads", "1"}},
    {"sample", NULL, cmd_sample, {"--length", "12"}},
    {"info", NULL, cmd_info, {0}},
    {"seq2seq", "train", cmd_seq2seq, {"--max-steps", "3", "--threads", "1"}},
    {"seq2seq", "eval", cmd_seq2seq, {"--threads", "1"}},
    {"seq2seq", "generate", cmd_seq2seq, {"--threads", "1"}},
    {"seq2seq", NULL, cmd_seq2seq, {0}},   /* --help, an unknown subcommand */
};

static void put_file(const char *name, const uint8_t *data, size_t size, mode_t mode)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size) || close(fd) != 0) {
        perror(name);
        abort();
    }
}

/* A read-only input is still there, unchanged and read-only. */
static void check_unchanged(const char *name, const uint8_t *data, size_t size)
{
    struct stat sb;
    CHECK(stat(name, &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & 0777) == 0444);
    CHECK((size_t)sb.st_size == size);
    uint8_t *back = malloc(size + 1);
    FILE *f = fopen(name, "rb");
    CHECK(back && f && fread(back, 1, size + 1, f) == size);
    CHECK(memcmp(back, data, size) == 0);
    fclose(f);
    free(back);
}

/* A checkpoint the command wrote opens, and its vocabulary fits its model
 * (a language model's or a sequence-to-sequence model's). */
static void check_checkpoint(const char *name)
{
    tl_checkpoint *ck;
    tl_model *m = NULL;
    tl_seq2seq *s = NULL;
    tl_vocab *v = NULL;
    tl_status st = tl_checkpoint_open(name, &ck);
    if (!st) {
        const char *format = tl_checkpoint_meta(ck, "format");
        bool seq2seq = format && !strcmp(format, "timelayers-seq2seq");
        st = seq2seq ? tl_seq2seq_from_checkpoint(ck, &s) : tl_checkpoint_model(ck, &m);
        if (!st)
            st = tl_checkpoint_vocab(ck, &v);
        if (!st && seq2seq && tl_vocab_size(v) != tl_seq2seq_get_config(s).vocab)
            st = tl_fail(TL_ERR_FORMAT, "the vocabulary has %d symbols, the model %d",
                         tl_vocab_size(v), tl_seq2seq_get_config(s).vocab);
        if (!st && !seq2seq)
            st = tl_lm_check_vocab(m, v);
        tl_vocab_destroy(v);
        tl_model_destroy(m);
        tl_seq2seq_destroy(s);
        tl_checkpoint_close(ck);
    }
    if (st) {
        fprintf(stderr, "the written %s does not load: %s\n", name, tl_last_error());
        abort();
    }
}

/* Whether an argument names file (or holds it, as "--out=o" does). */
static bool named(char **argv, int argc, const char *file)
{
    for (int i = 0; i < argc; i++)
        if (strstr(argv[i], file))
            return true;
    return false;
}

/* Check what the command left in the directory, then empty it. Besides the
 * inputs, a file must be one the arguments name, the default checkpoint
 * model.safetensors, or a rescued model ($TMPDIR is the directory); anything
 * else (a lock, a temporary "<out>.tmp-XXXXXX") was left behind. A default
 * or rescued checkpoint must load. */
static void check_and_clean_dir(char **argv, int argc)
{
    DIR *d = opendir(".");
    if (!d)
        abort();
    for (struct dirent *e; (e = readdir(d));) {
        const char *f = e->d_name;
        if (!strcmp(f, ".") || !strcmp(f, ".."))
            continue;
        bool input = !strcmp(f, "t") || !strcmp(f, "v") || !strcmp(f, "ck");
        bool by_default = !strcmp(f, "model.safetensors") || !strcmp(f, "seq2seq.safetensors");
        if (!strncmp(f, "timelayers-rescue-", 18) || (by_default && !named(argv, argc, f)))
            check_checkpoint(f);
        else if (!input && !named(argv, argc, f)) {
            fprintf(stderr, "left behind: %s\n", f);
            abort();
        }
        if (unlink(f) != 0)
            abort();
    }
    closedir(d);
}

/* getopt keeps its position inside the last argument between calls, and the
 * commands reset only optind: optind = 0 makes glibc (and musl) start anew. */
static void reset_getopt(void)
{
    static char *none[] = {"timelayers", NULL};
    optind = 0;
    getopt(1, none, "");
}

/* Split data at its first NUL: returns the part before, moves data past it. */
static size_t next_part(const uint8_t **data, size_t *size)
{
    const uint8_t *nul = memchr(*data, 0, *size);
    size_t n = nul ? (size_t)(nul - *data) : *size;
    *data += n + (nul != NULL);
    *size -= n + (nul != NULL);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *args = data;
    size_t nargs_text = next_part(&data, &size);
    const uint8_t *text = data;
    size_t ntext = next_part(&data, &size);
    const uint8_t *valid = data;
    size_t nvalid = next_part(&data, &size);
    const uint8_t *ckpt = data;
    size_t nckpt = size;

    /* The argument list: lines of ARGS, then the command's bounds. */
    char *copy = malloc(nargs_text + 1), *argv[MAX_ARGS + 5];
    int argc = 0;
    if (!copy)
        return 0;
    memcpy(copy, args, nargs_text);
    copy[nargs_text] = '\0';
    for (char *line = copy, *end; line && argc < MAX_ARGS; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end)
            *end = '\0';
        if (strchr(line, '/'))
            argc = MAX_ARGS;   /* not run */
        else
            argv[argc++] = line;
    }
    int cmd = -1;
    for (size_t i = 0; cmd < 0 && argc < MAX_ARGS && i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(argv[0], commands[i].name) &&
            (!commands[i].sub || (argc > 1 && !strcmp(argv[1], commands[i].sub))))
            cmd = (int)i;
    if (cmd < 0) {
        free(copy);
        return 0;
    }
    for (int i = 0; i < 4 && commands[cmd].bounds[i]; i++)
        argv[argc++] = (char *)commands[cmd].bounds[i];
    argv[argc] = NULL;

    int home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (home < 0 || chdir(fuzz_private_dir()) != 0 || setenv("TMPDIR", ".", 1) != 0)
        abort();
    put_file("t", text, ntext, 0444);
    put_file("v", valid, nvalid, 0444);
    put_file("ck", ckpt, nckpt, 0644);

    /* What the command prints goes nowhere; train's signal handlers are
     * put back as they were (libFuzzer has its own). */
    static int devnull = -1;
    if (devnull < 0 && (devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0)
        abort();
    static int nothing = -1;   /* standard input: `seq2seq generate` may read it */
    if (nothing < 0 && (nothing = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
        abort();
    fflush(stdout);
    int saved_stdout = dup(STDOUT_FILENO), saved_stdin = dup(STDIN_FILENO);
    struct sigaction sigint, sigterm;
    sigaction(SIGINT, NULL, &sigint);
    sigaction(SIGTERM, NULL, &sigterm);
    if (saved_stdout < 0 || saved_stdin < 0 || dup2(devnull, STDOUT_FILENO) < 0 ||
        dup2(nothing, STDIN_FILENO) < 0)
        abort();

    reset_getopt();
    int rc = commands[cmd].run(argc, argv);

    fflush(stdout);
    clearerr(stdout);
    clearerr(stdin);
    if (dup2(saved_stdout, STDOUT_FILENO) < 0 || dup2(saved_stdin, STDIN_FILENO) < 0)
        abort();
    close(saved_stdout);
    close(saved_stdin);
    sigaction(SIGINT, &sigint, NULL);
    sigaction(SIGTERM, &sigterm, NULL);

    CHECK(rc == 0 || rc == 1 || rc == 2);
    check_unchanged("t", text, ntext);
    check_unchanged("v", valid, nvalid);
    check_and_clean_dir(argv, argc);
    if (fchdir(home) != 0)
        abort();
    close(home);
    free(copy);
    return 0;
}
