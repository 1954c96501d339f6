/* timelayers eval: perplexity of a checkpoint on a text file. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cli.h"

static const char help[] =
    "usage: timelayers eval CHECKPOINT FILE [options]\n"
    "\n"
    "Perplexity of the model in CHECKPOINT on the text in FILE (- for standard input),\n"
    "tokenized with the checkpoint's vocabulary (an unknown word is an error unless\n"
    "the vocabulary has <unk>).\n"
    "\n"
    "  --mode reference|stream  reference: the textbook's evaluation (batch 10, time 35,\n"
    "                           a tail of up to 349 tokens not scored; default);\n"
    "                           stream: batch 1, every target scored\n"
    "  --json                   print the result as one JSON object\n"
    "  --time T                 chunk length in stream mode (default 35)\n"
    "  --threads N              threads, 1-64 (default: TL_NUM_THREADS, else OpenBLAS's, at most 4)\n";

/* Reference mode's batch 10 x time 35 needs one batch of inputs and targets. */
enum { REFERENCE_MIN_TOKENS = 10 * 35 };

/* {"file":..., "mode":..., "tokens":..., "loss":..., "perplexity":...}: loss
 * in nats per token; a non-finite number is null. */
static bool print_json(const char *file, const char *mode, size_t tokens, double loss, double ppl)
{
    cJSON *j = cJSON_CreateObject();
    char *text = NULL;
    if (j && cJSON_AddStringToObject(j, "file", file) && cJSON_AddStringToObject(j, "mode", mode) &&
        cJSON_AddNumberToObject(j, "tokens", (double)tokens) &&
        cJSON_AddNumberToObject(j, "loss", loss) && cJSON_AddNumberToObject(j, "perplexity", ppl))
        text = cJSON_PrintUnformatted(j);
    if (text)
        puts(text);
    else
        fprintf(stderr, "timelayers eval: out of memory\n");
    cJSON_free(text);
    cJSON_Delete(j);
    return text != NULL;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option options[] = {
        {"mode", 1, 0, 'm'}, {"time", 1, 0, 't'}, {"threads", 1, 0, 'j'},
        {"json", 0, 0, 'J'}, {"help", 0, 0, 'h'}, CLI_VERSION_OPTION, {0, 0, 0, 0},
    };
    tl_eval_mode mode = TL_EVAL_REFERENCE;
    int time = 35, threads = 0, c;
    bool json = false;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING, options, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (strcmp(optarg, "reference") && strcmp(optarg, "stream"))
                return cli_usage_error("eval", "--mode must be reference or stream");
            mode = optarg[0] == 'r' ? TL_EVAL_REFERENCE : TL_EVAL_STREAM;
            break;
        case 't':
            if (!cli_parse_int("time", optarg, 1, 1 << 16, &time))
                return 2;
            break;
        case 'j':
            if (!cli_parse_int("threads", optarg, 1, 64, &threads))
                return 2;
            break;
        case 'J': json = true; break;
        case 'h': fputs(help, stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_bad_option("eval", c, argv);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("eval", "expected CHECKPOINT and FILE");
    cli_set_threads(threads);
    const char *file = argv[optind + 1];
    cli_model cm;
    if (!cli_model_open(argv[optind], &cm))
        return 1;
    tl_corpus corpus = {0};
    double loss, ppl;
    int rc = 0;
    const char *mname = mode == TL_EVAL_REFERENCE ? "reference" : "stream";
    if (!cli_corpus_load(file, cm.vocab, false, &corpus))
        rc = 1;
    else if (tl_eval_perplexity(cm.model, corpus.ids, corpus.len, mode, time, &loss, &ppl)) {
        rc = cli_fail("evaluation");
        if (mode == TL_EVAL_REFERENCE && corpus.len <= REFERENCE_MIN_TOKENS)
            fprintf(stderr, "timelayers: reference mode needs more than %d tokens (%s has %zu); "
                    "use --mode stream for a short text\n", REFERENCE_MIN_TOKENS, file,
                    corpus.len);
    } else if (!isfinite(ppl)) {
        fprintf(stderr, "timelayers: %s: the perplexity overflows (mean loss %.5g nats/token): "
                "the model gives some tokens a probability of about 0\n", file, loss);
        rc = 1;
    } else if (json) {
        rc = print_json(file, mname, corpus.len, loss, ppl) ? 0 : 1;
    } else {
        printf("%s: perplexity %.3f (%.5f nats/token; %zu tokens, %s mode)\n", file, ppl, loss,
               corpus.len, mname);
    }
    tl_corpus_free(&corpus);
    cli_model_close(&cm);
    return rc;
}
