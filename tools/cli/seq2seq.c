/* timelayers seq2seq: train, evaluate and run sequence-to-sequence models on
 * files of question<sep>answer lines (include/timelayers/seq2seq.h, pairs.h). */
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

static const char help[] =
    "usage: timelayers seq2seq train --train FILE [--test FILE] [options]\n"
    "       timelayers seq2seq eval CHECKPOINT FILE [--threads N]\n"
    "       timelayers seq2seq generate CHECKPOINT [FILE|-] [--attention-csv OUT]\n"
    "\n"
    "Sequence-to-sequence models on lines \"question<sep>answer\": the answer starts at\n"
    "the first <sep> character, which is the decoder's start symbol (\"16+75  _91  \").\n"
    "All questions of a file have one length, and so do all answers. Characters are the\n"
    "tokens; the vocabulary is built from --train, then --test, in order of appearance.\n"
    "\n"
    "train:\n"
    "  --train FILE        training pairs (required)\n"
    "  --test FILE         test pairs: exact-match accuracy after every epoch\n"
    "  --sep C             the separator and start symbol (default _)\n"
    "  --model KIND        plain (encoder's last state -> decoder), peeky (that state\n"
    "                      also beside every decoder input and output) or attention\n"
    "                      (default plain)\n"
    "  --reverse           feed the questions reversed (the reference's trick)\n"
    "  --wordvec D         embedding width (default 16)\n"
    "  --hidden H          LSTM width (default 128)\n"
    "  --batch B           pairs per step (default 128)\n"
    "  --epochs N          epochs (default 25)\n"
    "  --max-steps N       stop after N steps in total, with a checkpoint (default: no\n"
    "                      limit); --resume continues\n"
    "  --lr X              Adam's learning rate (default 0.001)\n"
    "  --clip X            clip the global gradient norm at X (default 5; 0 = off)\n"
    "  --seed N            seed of the initial weights and the shuffling (default 1)\n"
    "  --out FILE          checkpoint written at every epoch end (default seq2seq.safetensors);\n"
    "                      locked (FILE.lock) while training; SIGINT or SIGTERM: finish\n"
    "                      the step, write it and exit with 130 (143)\n"
    "  --resume            continue the run saved in --out (same data and options),\n"
    "                      also from the middle of an epoch\n"
    "  --log-csv FILE      the training curve: epoch, step, loss, norm, accuracy, time\n"
    "  --report N          steps between progress lines (default 50)\n"
    "  --quiet             no progress lines\n"
    "  --threads N         threads, 1-64 (default: TL_NUM_THREADS, else OpenBLAS's, at most 4)\n"
    "eval: the accuracy of the model's greedy answers on FILE: exact answers and\n"
    "  symbols right at their position.\n"
    "generate: answers to the questions of FILE (one a line; standard input for - or no\n"
    "  FILE), printed as question<sep>answer. A question shorter than the model's is\n"
    "  padded with spaces; text from a <sep> on is ignored.\n"
    "  --attention-csv OUT  the attention weights of the first question (attention\n"
    "                      model): a row per answer symbol, a column per question symbol\n";

/* ---- the data layout stored with a model ---- */

typedef struct {
    char sep[8];
    int qlen, alen;
    bool reverse;
} layout;

static char *layout_json(const layout *l)
{
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    if (j && cJSON_AddStringToObject(j, "sep", l->sep) &&
        cJSON_AddNumberToObject(j, "question_len", l->qlen) &&
        cJSON_AddNumberToObject(j, "answer_len", l->alen) &&
        cJSON_AddBoolToObject(j, "reverse", l->reverse))
        text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return text;
}

static bool layout_read(const tl_checkpoint *ck, const char *path, layout *l)
{
    const char *text = tl_checkpoint_meta(ck, "seq2seq.data");
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    const cJSON *sep = cJSON_GetObjectItemCaseSensitive(j, "sep");
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(j, "question_len");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "answer_len");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "reverse");
    bool ok = cJSON_IsString(sep) && strlen(sep->valuestring) < sizeof l->sep &&
              cJSON_IsNumber(q) && q->valuedouble >= 1 && q->valuedouble <= 1 << 20 &&
              cJSON_IsNumber(a) && a->valuedouble >= 2 && a->valuedouble <= 1 << 20 &&
              cJSON_IsBool(r);
    if (ok) {
        snprintf(l->sep, sizeof l->sep, "%s", sep->valuestring);
        l->qlen = q->valueint;
        l->alen = a->valueint;
        l->reverse = cJSON_IsTrue(r);
    } else {
        fprintf(stderr, "timelayers: %s: no valid \"seq2seq.data\" metadata (not written by "
                        "timelayers seq2seq train?)\n", path);
    }
    cJSON_Delete(j);
    return ok;
}

typedef struct {
    tl_checkpoint *ck;
    tl_seq2seq *s;
    tl_vocab *v;
    layout l;
} loaded;

static void loaded_close(loaded *m)
{
    tl_seq2seq_destroy(m->s);
    tl_vocab_destroy(m->v);
    tl_checkpoint_close(m->ck);
    *m = (loaded){0};
}

static bool load(const char *path, loaded *m)
{
    *m = (loaded){0};
    if (tl_checkpoint_open(path, &m->ck) || tl_seq2seq_from_checkpoint(m->ck, &m->s) ||
        tl_checkpoint_vocab(m->ck, &m->v)) {
        cli_fail(path);
        loaded_close(m);
        return false;
    }
    if (!layout_read(m->ck, path, &m->l)) {
        loaded_close(m);
        return false;
    }
    if (tl_vocab_size(m->v) != tl_seq2seq_get_config(m->s).vocab) {
        fprintf(stderr, "timelayers: %s: the vocabulary has %d symbols, the model %d\n", path,
                tl_vocab_size(m->v), tl_seq2seq_get_config(m->s).vocab);
        loaded_close(m);
        return false;
    }
    return true;
}

/* Load a file of pairs for a trained model: the model's lengths. */
static bool load_pairs_for(const loaded *m, const char *file, tl_pairs *p)
{
    if (tl_pairs_load(file, m->l.sep, m->v, false, m->l.qlen, 0, p)) {
        cli_fail(file);
        return false;
    }
    if (p->alen != m->l.alen) {
        fprintf(stderr, "timelayers: %s: answers have %d symbols with '%s', the model's %d%s\n",
                file, p->alen, m->l.sep, m->l.alen,
                p->alen > m->l.alen ? " (longer than the model can generate)" : "");
        tl_pairs_free(p);
        return false;
    }
    if (m->l.reverse)
        tl_pairs_reverse_questions(p);
    return true;
}

/* ---- train ---- */

typedef struct {
    bool quiet;
} train_ui;

static void progress(const tl_seq2seq_progress *p, void *ctx)
{
    train_ui *ui = ctx;
    if (ui->quiet)
        return;
    char eta[32], el[32];
    printf("epoch %d/%d  iter %ld/%ld  loss %.4f  norm %.2f  %.0f tok/s  elapsed %s  eta %s",
           p->epoch, p->epochs, p->iter, p->iters_per_epoch, p->loss, p->grad_norm,
           p->tokens_per_sec, cli_duration(p->elapsed_sec, el, sizeof el),
           cli_duration(p->eta_sec, eta, sizeof eta));
    if (!isnan(p->accuracy))
        printf("  test accuracy %.2f%%", 100 * p->accuracy);
    printf("\n");
    fflush(stdout);
}

/* The run's memory (cli_check_memory), from the layers tl_seq2seq builds: the
 * encoder over the questions, the decoder over the answers, Adam's two
 * buffers per parameter. */
static int check_memory(const tl_seq2seq_config *c, int batch, const tl_pairs *tr,
                        const tl_pairs *te, bool print)
{
    int V = c->vocab, D = c->wordvec, H = c->hidden;
    bool peeky = c->kind == TL_SEQ2SEQ_PEEKY, attn = c->kind == TL_SEQ2SEQ_ATTENTION;
    tl_layer_config enc[2] = {
        {.type = "TimeEmbedding", .in_dim = V, .out_dim = D},
        {.type = "TimeLSTM", .in_dim = D, .out_dim = H},
    };
    tl_layer_config dec[5] = {
        {.type = "TimeEmbedding", .in_dim = V, .out_dim = D},
        {.type = "TimeLSTM", .in_dim = peeky ? D + H : D, .out_dim = H},
        {.type = "TimeAffine", .in_dim = peeky || attn ? 2 * H : H, .out_dim = V},
        {.type = "TimeSoftmaxWithLoss", .in_dim = V, .out_dim = V},
        /* peeky: the two concatenations; attention: the weights over the
         * question, the context and the concatenation */
        {.type = "other", .in_dim = attn ? tr->qlen + 3 * H : D + 3 * H},
    };
    int rows = tr->n < (size_t)batch ? (int)tr->n : batch;
    size_t tokens = (tr->n + te->n) * (size_t)(tr->qlen + tr->alen);
    double pe, pd;
    double need = cli_train_memory(enc, 2, 2, rows, tr->qlen, tokens, &pe) +
                  cli_train_memory(dec, peeky || attn ? 5 : 4, 2, rows, tr->alen - 1, 0, &pd);
    return cli_check_memory(need, pe + pd, print, "a smaller --hidden, --wordvec or --batch");
}

static tl_status save_trainer(void *t, const char *path)
{
    return tl_seq2seq_trainer_save(t, path);
}

static int train(int argc, char **argv)
{
    static const struct option options[] = {
        {"train", 1, 0, 'T'},   {"test", 1, 0, 'E'},    {"sep", 1, 0, 'S'},
        {"model", 1, 0, 'm'},   {"reverse", 0, 0, 'r'}, {"wordvec", 1, 0, 'd'},
        {"hidden", 1, 0, 'H'},  {"batch", 1, 0, 'b'},   {"epochs", 1, 0, 'e'},
        {"lr", 1, 0, 'l'},      {"clip", 1, 0, 'c'},    {"seed", 1, 0, 's'},
        {"out", 1, 0, 'o'},     {"resume", 0, 0, 'R'},  {"log-csv", 1, 0, 'L'},
        {"report", 1, 0, 'p'},  {"quiet", 0, 0, 'q'},   {"threads", 1, 0, 'j'},
        {"max-steps", 1, 0, 'M'}, {"help", 0, 0, 'h'},  {0, 0, 0, 0},
    };
    const char *train_file = NULL, *test_file = NULL, *out = "seq2seq.safetensors", *log = NULL;
    layout l = {.sep = "_"};
    tl_seq2seq_config mc = {TL_SEQ2SEQ_PLAIN, 0, 16, 128};
    tl_seq2seq_train_config tc = {.batch = 128, .epochs = 25, .clip_norm = 5, .seed = 1,
                                  .report_every = 50};
    double lr = 0.001;
    bool resume = false;
    enum { GIVEN_MODEL = 1, GIVEN_WORDVEC = 2, GIVEN_HIDDEN = 4 };
    unsigned given = 0;   /* model options on the command line: --resume checks them */
    train_ui ui = {false};
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'T': train_file = optarg; break;
        case 'E': test_file = optarg; break;
        case 'S':
            if (strlen(optarg) >= sizeof l.sep)
                return cli_usage_error("seq2seq", "--sep must be one character");
            snprintf(l.sep, sizeof l.sep, "%s", optarg);
            break;
        case 'm':
            if (tl_seq2seq_kind_from_name(optarg, &mc.kind))
                return cli_usage_error("seq2seq", "%s", tl_last_error());
            given |= GIVEN_MODEL;
            break;
        case 'r': l.reverse = true; break;
        case 'd':
            if (!cli_parse_int("wordvec", optarg, 1, 1 << 16, &mc.wordvec)) return 2;
            given |= GIVEN_WORDVEC;
            break;
        case 'H':
            if (!cli_parse_int("hidden", optarg, 1, 1 << 16, &mc.hidden)) return 2;
            given |= GIVEN_HIDDEN;
            break;
        case 'b': if (!cli_parse_int("batch", optarg, 1, 1 << 20, &tc.batch)) return 2; break;
        case 'e': if (!cli_parse_int("epochs", optarg, 0, 1 << 20, &tc.epochs)) return 2; break;
        case 'M': if (!cli_parse_long("max-steps", optarg, 1, LONG_MAX, &tc.max_steps)) return 2; break;
        case 'l': if (!cli_parse_double("lr", optarg, 1e-12, 1e6, &lr)) return 2; break;
        case 'c': if (!cli_parse_double("clip", optarg, 0, 1e12, &tc.clip_norm)) return 2; break;
        case 's': if (!cli_parse_u64("seed", optarg, &tc.seed)) return 2; break;
        case 'o': out = optarg; break;
        case 'R': resume = true; break;
        case 'L': log = optarg; break;
        case 'p': if (!cli_parse_int("report", optarg, 1, 1 << 30, &tc.report_every)) return 2; break;
        case 'q': ui.quiet = true; break;
        case 'j': if (!cli_parse_int("threads", optarg, 1, 64, &threads)) return 2; break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_usage_error("seq2seq", "unknown or incomplete option");
        }
    }
    if (!train_file)
        return cli_usage_error("seq2seq", "train needs --train FILE");
    if (optind != argc)
        return cli_usage_error("seq2seq", "unexpected argument '%s'", argv[optind]);
    const cli_path inputs[] = {
        {train_file, "training file", false, false},
        {test_file, "test file", false, false},
        {resume ? out : NULL, "checkpoint resumed", true, false},
    };
    const cli_path outputs[] = {{out, "--out", true, false}, {log, "--log-csv", false, true}};
    int rc = cli_check_outputs(inputs, 3, outputs, 2);
    if (rc)
        return rc;
    cli_lock lock = {.fd = -1};
    if (cli_lock_output(out, &lock))
        return 1;
    cli_set_threads(threads);

    tl_vocab *v = NULL;
    tl_pairs tr = {0}, te = {0};
    tl_seq2seq *s = NULL;
    tl_optim *o = NULL;
    tl_checkpoint *ck = NULL;
    tl_seq2seq_trainer *t = NULL;
    char *lay = NULL;
    if (tl_vocab_create(&v, TL_LEVEL_CHAR)) {
        rc = cli_fail("vocabulary");
        goto done;
    }
    if (tl_pairs_load(train_file, l.sep, v, true, 0, 0, &tr)) {
        rc = cli_fail(train_file);
        goto done;
    }
    if (test_file && tl_pairs_load(test_file, l.sep, v, true, tr.qlen, tr.alen, &te)) {
        rc = cli_fail(test_file);
        goto done;
    }
    l.qlen = tr.qlen;
    l.alen = tr.alen;
    if (l.reverse) {
        tl_pairs_reverse_questions(&tr);
        tl_pairs_reverse_questions(&te);
    }
    mc.vocab = tl_vocab_size(v);
    if (resume) {
        layout saved;
        if (tl_checkpoint_open(out, &ck) || tl_seq2seq_from_checkpoint(ck, &s) ||
            tl_seq2seq_checkpoint_optim(ck, s, &o)) {
            rc = cli_fail(out);
            goto done;
        }
        if (!layout_read(ck, out, &saved)) {
            rc = 1;
            goto done;
        }
        if (tl_seq2seq_get_config(s).vocab != mc.vocab || saved.qlen != l.qlen ||
            saved.alen != l.alen || saved.reverse != l.reverse || strcmp(saved.sep, l.sep)) {
            fprintf(stderr, "timelayers: --resume: %s was trained on other data or options "
                            "(vocabulary, lengths, --sep or --reverse differ)\n", out);
            rc = 1;
            goto done;
        }
        /* The model is the checkpoint's: another --model, --wordvec or
         * --hidden would be ignored without a word. */
        tl_seq2seq_config saved_mc = tl_seq2seq_get_config(s);
        const char *differs = (given & GIVEN_MODEL) && mc.kind != saved_mc.kind ? "--model"
                              : (given & GIVEN_WORDVEC) && mc.wordvec != saved_mc.wordvec
                                  ? "--wordvec"
                              : (given & GIVEN_HIDDEN) && mc.hidden != saved_mc.hidden ? "--hidden"
                                                                                       : NULL;
        if (differs) {
            fprintf(stderr, "timelayers: --resume: %s differs from the model in %s (%s, wordvec "
                    "%d, hidden %d); leave it out or give the same\n", differs, out,
                    tl_seq2seq_kind_name(saved_mc.kind), saved_mc.wordvec, saved_mc.hidden);
            rc = 2;
            goto done;
        }
        if ((rc = check_memory(&saved_mc, tc.batch, &tr, &te, !ui.quiet)))
            goto done;
        tl_optim_set_lr(o, lr);
    } else {
        tl_rng rng;
        tl_rng_seed(&rng, tc.seed);
        tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
        size_t n;
        oc.lr = lr;
        if ((rc = check_memory(&mc, tc.batch, &tr, &te, !ui.quiet)))
            goto done;
        if (tl_seq2seq_create(&s, &mc, &rng) || tl_seq2seq_flat(s, NULL, NULL, &n) ||
            tl_optim_create(&o, &oc, n)) {
            rc = cli_fail("model");
            goto done;
        }
        /* The shuffling draws from its own stream, not the weights'. */
        tc.seed = tc.seed * 0x9E3779B97F4A7C15ull + 1;
    }
    lay = layout_json(&l);
    if (!lay) {
        rc = cli_fail("metadata");
        goto done;
    }
    tl_ckpt_meta meta = {"seq2seq.data", lay};
    tc.vocab = v;
    tc.meta = &meta;
    tc.nmeta = 1;
    tc.checkpoint = out;
    tc.log_csv = log;
    mc = tl_seq2seq_get_config(s);
    if (!ui.quiet)
        printf("%s model, vocabulary %d, wordvec %d, hidden %d; %zu training pairs (%d + %d "
               "symbols)%s, %zu test pairs\n", tl_seq2seq_kind_name(mc.kind), mc.vocab,
               mc.wordvec, mc.hidden, tr.n, tr.qlen, tr.alen, l.reverse ? ", reversed" : "",
               te.n);
    tc.stop = &cli_stop_signal;
    if (tl_seq2seq_trainer_create(&t, s, o, &tr, te.n ? &te : NULL, &tc, ck)) {
        rc = cli_fail("trainer");
        goto done;
    }
    long start_step = tl_seq2seq_trainer_step(t);
    cli_catch_stop_signals();
    tl_status st = tl_seq2seq_trainer_run(t, progress, &ui);
    cli_release_stop_signals();
    if (st) {
        rc = cli_fail("training stopped");
        if (st == TL_ERR_IO && tl_seq2seq_trainer_step(t) > start_step)
            cli_rescue(save_trainer, t, tl_seq2seq_trainer_step(t),
                       "mv %s %s and the same command with --resume", out);
    } else if (cli_stop_signal) {
        fprintf(stderr, "timelayers: interrupted at step %ld: checkpoint written to %s; the "
                "same command with --resume continues\n", tl_seq2seq_trainer_step(t), out);
        rc = 128 + cli_stop_signal;
    }
done:
    cli_unlock_output(&lock);
    tl_seq2seq_trainer_destroy(t);
    cJSON_free(lay);
    tl_checkpoint_close(ck);
    tl_optim_destroy(o);
    tl_seq2seq_destroy(s);
    tl_pairs_free(&tr);
    tl_pairs_free(&te);
    tl_vocab_destroy(v);
    return rc;
}

/* ---- eval ---- */

static int eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"threads", 1, 0, 'j'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0},
    };
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'j': if (!cli_parse_int("threads", optarg, 1, 64, &threads)) return 2; break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_usage_error("seq2seq", "unknown or incomplete option");
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("seq2seq", "eval expects CHECKPOINT and FILE");
    cli_set_threads(threads);
    loaded m;
    if (!load(argv[optind], &m))
        return 1;
    tl_pairs p = {0};
    size_t ok, sym, nsym;
    int rc = 0;
    if (!load_pairs_for(&m, argv[optind + 1], &p))
        rc = 1;
    else if (tl_seq2seq_accuracy(m.s, &p, 256, &ok, &sym))
        rc = cli_fail("evaluation");
    else {
        nsym = p.n * (size_t)(p.alen - 1);
        printf("%s: accuracy %.2f%% (%zu of %zu answers exact); %.2f%% of the symbols right "
               "(%zu of %zu)\n", argv[optind + 1], 100.0 * (double)ok / (double)p.n, ok, p.n,
               100.0 * (double)sym / (double)nsym, sym, nsym);
    }
    tl_pairs_free(&p);
    loaded_close(&m);
    return rc;
}

/* ---- generate ---- */

/* Append one token's text to out (the CSV cell or the printed answer). */
static const char *token(const loaded *m, int32_t id) { return tl_vocab_token(m->v, id); }

static void csv_cell(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Columns in the question's written order, also for a reversed model. */
static bool write_attention(const loaded *m, const char *path, const int32_t *q,
                            const int32_t *ans, const tl_tensor *w)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return false;
    }
    int S = m->l.qlen, L = m->l.alen - 1;
    fputs("output", f);
    for (int j = 0; j < S; j++) {
        fputc(',', f);
        csv_cell(f, token(m, q[j]));
    }
    fputc('\n', f);
    for (int t = 0; t < L; t++) {
        csv_cell(f, token(m, ans[t]));
        for (int j = 0; j < S; j++) {
            int col = m->l.reverse ? S - 1 - j : j;
            fprintf(f, ",%.6f", (double)w->data[(size_t)t * S + col]);
        }
        fputc('\n', f);
    }
    if (fclose(f)) {
        perror(path);
        return false;
    }
    return true;
}

/* Read one question a line: text from <sep> on dropped, padded with spaces. */
static int read_questions(const loaded *m, FILE *in, const char *name, int32_t **out, size_t *n)
{
    char *line = NULL;
    size_t cap = 0, lineno = 0, count = 0, room = 0;
    ssize_t len;
    int32_t pad = tl_vocab_find(m->v, " ", 1);
    int rc = 0;
    *out = NULL;
    while (!rc && (len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        char *at = strstr(line, m->l.sep);
        if (at)
            *at = '\0';
        if (count == room) {
            room = room ? 2 * room : 64;
            int32_t *grown = realloc(*out, room * (size_t)m->l.qlen * sizeof **out);
            if (!grown) {
                fprintf(stderr, "timelayers: out of memory\n");
                rc = 1;
                break;
            }
            *out = grown;
        }
        int32_t *q = *out + count * (size_t)m->l.qlen;
        int k = 0;
        for (const char *s = line; *s && !rc;) {
            size_t cl = 1;
            while (((unsigned char)s[cl] & 0xC0) == 0x80)
                cl++;
            int32_t id = tl_vocab_find(m->v, s, cl);
            if (id < 0) {
                fprintf(stderr, "timelayers: %s:%zu: the character '%.*s' is not in the "
                                "model's vocabulary\n", name, lineno, (int)cl, s);
                rc = 1;
            } else if (k == m->l.qlen) {
                fprintf(stderr, "timelayers: %s:%zu: the question is longer than the model's "
                                "%d characters\n", name, lineno, m->l.qlen);
                rc = 1;
            } else {
                q[k++] = id;
            }
            s += cl;
        }
        if (!rc && k < m->l.qlen && pad < 0) {
            fprintf(stderr, "timelayers: %s:%zu: the question has %d characters, the model "
                            "needs %d (no space in the vocabulary to pad with)\n", name, lineno,
                    k, m->l.qlen);
            rc = 1;
        }
        while (!rc && k < m->l.qlen)
            q[k++] = pad;
        count++;
    }
    free(line);
    if (!rc && count == 0) {
        fprintf(stderr, "timelayers: %s: no questions\n", name);
        rc = 1;
    }
    *n = count;
    return rc;
}

static int generate(int argc, char **argv)
{
    static const struct option options[] = {
        {"attention-csv", 1, 0, 'a'}, {"threads", 1, 0, 'j'}, {"help", 0, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *csv = NULL;
    int threads = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'a': csv = optarg; break;
        case 'j': if (!cli_parse_int("threads", optarg, 1, 64, &threads)) return 2; break;
        case 'h': fputs(help, stdout); return 0;
        default: return cli_usage_error("seq2seq", "unknown or incomplete option");
        }
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_usage_error("seq2seq", "generate expects CHECKPOINT [FILE|-]");
    cli_set_threads(threads);
    const char *name = argc - optind == 2 ? argv[optind + 1] : "-";
    loaded m;
    if (!load(argv[optind], &m))
        return 1;
    if (csv && tl_seq2seq_get_config(m.s).kind != TL_SEQ2SEQ_ATTENTION) {
        loaded_close(&m);
        return cli_usage_error("seq2seq", "--attention-csv needs an attention model");
    }
    FILE *in = strcmp(name, "-") ? fopen(name, "r") : stdin;
    if (!in) {
        perror(name);
        loaded_close(&m);
        return 1;
    }
    int32_t *qs = NULL;
    size_t n = 0;
    int rc = read_questions(&m, in, strcmp(name, "-") ? name : "standard input", &qs, &n);
    if (in != stdin)
        fclose(in);
    int S = m.l.qlen, L = m.l.alen - 1;
    int32_t start = tl_vocab_find(m.v, m.l.sep, strlen(m.l.sep));
    tl_tensor q = {0};
    for (size_t b = 0; !rc && b < n; b += 256) {
        int N = (int)(n - b < 256 ? n - b : 256);
        const tl_tensor *gen, *w;
        if (tl_tensor_resize(&q, TL_INT32, 2, (int[]){N, S})) {
            rc = cli_fail("generate");
            break;
        }
        memcpy(q.ids, qs + b * (size_t)S, (size_t)N * (size_t)S * sizeof *q.ids);
        for (int i = 0; m.l.reverse && i < N; i++)
            for (int x = 0, y = S - 1; x < y; x++, y--) {
                int32_t t = q.ids[i * S + x];
                q.ids[i * S + x] = q.ids[i * S + y];
                q.ids[i * S + y] = t;
            }
        if (tl_seq2seq_generate(m.s, &q, start, L, &gen)) {
            rc = cli_fail("generate");
            break;
        }
        for (int i = 0; i < N; i++) {
            const int32_t *qi = qs + (b + (size_t)i) * (size_t)S;
            for (int j = 0; j < S; j++)
                fputs(token(&m, qi[j]), stdout);
            fputs(m.l.sep, stdout);
            for (int t = 0; t < L; t++)
                fputs(token(&m, gen->ids[(size_t)i * L + t]), stdout);
            fputc('\n', stdout);
        }
        if (csv && b == 0) {
            if (tl_seq2seq_attention_weights(m.s, &w))
                rc = cli_fail("attention weights");
            else if (!write_attention(&m, csv, qs, gen->ids, w))
                rc = 1;
        }
    }
    tl_tensor_free(&q);
    free(qs);
    loaded_close(&m);
    return rc;
}

int cmd_seq2seq(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train"))
        return train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval"))
        return eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "generate"))
        return generate(argc - 1, argv + 1);
    return cli_usage_error("seq2seq", "unknown subcommand '%s' (train, eval or generate)",
                           argv[1]);
}
