/* timelayers sample: generate text from a checkpoint. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char help[] =
    "usage: timelayers sample CHECKPOINT [options]\n"
    "\n"
    "Feed a prompt into the model token by token, then draw each next token from\n"
    "softmax(scores / temperature) and feed it back.\n"
    "\n"
    "  --prompt TEXT      start text, tokenized with the checkpoint's vocabulary\n"
    "                     (default: a newline / <eos>)\n"
    "  --prompt-file FILE the start text from FILE (- for standard input)\n"
    "  --length N         tokens to generate (default 200)\n"
    "  --num-samples N    N samples from the same prompt, one after the other,\n"
    "                     each after a line \"--- sample i ---\" (default 1)\n"
    "  --temperature X    > 0; below 1 is more conservative (default 1)\n"
    "  --top-k K          sample among the K most likely tokens only\n"
    "  --top-p P          sample among the most likely tokens whose probabilities\n"
    "                     add up to P (nucleus sampling; after --top-k), 0 < P <= 1\n"
    "  --greedy           always take the most likely token\n"
    "  --skip TOKEN       never produce TOKEN (repeatable; e.g. --skip '<unk>')\n"
    "  --seed N           random seed (default 1)\n"
    "  --bf16             read the weights rounded to bf16 (half the bytes per token):\n"
    "                     faster on large models; the output differs slightly from\n"
    "                     the float model's (float build only)\n";

enum { MAX_SKIP = 64 };

int cmd_sample(int argc, char **argv)
{
    static const struct option options[] = {
        {"prompt", 1, 0, 'p'}, {"length", 1, 0, 'n'}, {"temperature", 1, 0, 't'},
        {"top-k", 1, 0, 'k'},  {"greedy", 0, 0, 'g'}, {"skip", 1, 0, 's'},
        {"seed", 1, 0, 'r'},   {"help", 0, 0, 'h'},  {"prompt-file", 1, 0, 'f'},
        {"top-p", 1, 0, 'P'},  {"num-samples", 1, 0, 'N'}, {"bf16", 0, 0, 'B'},
        CLI_VERSION_OPTION,    {0, 0, 0, 0},
    };
    const char *prompt = NULL, *prompt_file = NULL, *skip_tokens[MAX_SKIP];
    char *prompt_text = NULL;
    int length = 200, nskip = 0, samples = 1, c;
    bool bf16 = false;
    uint64_t seed = 1;
    tl_sample_opts so = {.temperature = 1};
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING, options, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'p': prompt = optarg; break;
        case 'f': prompt_file = optarg; break;
        case 'P':
            ok = cli_parse_double("top-p", optarg, 1e-9, 1, &so.top_p);
            break;
        case 'N': ok = cli_parse_int("num-samples", optarg, 1, 1 << 20, &samples); break;
        case 'n': ok = cli_parse_int("length", optarg, 0, 1 << 24, &length); break;
        case 't': ok = cli_parse_double("temperature", optarg, 1e-3, 1e3, &so.temperature); break;
        case 'k': ok = cli_parse_int("top-k", optarg, 1, 1 << 30, &so.top_k); break;
        case 'g': so.greedy = true; break;
        case 'B': bf16 = true; break;
        case 's':
            if (nskip == MAX_SKIP)
                return cli_usage_error("sample", "at most %d --skip tokens", MAX_SKIP);
            skip_tokens[nskip++] = optarg;
            break;
        case 'r': ok = cli_parse_u64("seed", optarg, &seed); break;
        case 'h': fputs(help, stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_bad_option("sample", c, argv);
        }
        if (!ok)
            return 2;
    }
    if (argc - optind != 1)
        return cli_usage_error("sample", "expected one CHECKPOINT");
    if (prompt && prompt_file)
        return cli_usage_error("sample", "--prompt and --prompt-file exclude each other");
    size_t prompt_len = prompt ? strlen(prompt) : 0;
    if (prompt_file) {
        if (!cli_read_all(prompt_file, &prompt_text, &prompt_len))
            return 1;
        prompt = prompt_text;
    }
    cli_model cm;
    if (!cli_model_open(argv[optind], &cm)) {
        free(prompt_text);
        return 1;
    }
    int rc = 1;
    int32_t skip[MAX_SKIP], *out = NULL;
    tl_corpus pc = {0};
    char *text = NULL;
    for (int i = 0; i < nskip; i++) {
        skip[i] = tl_vocab_find(cm.vocab, skip_tokens[i], strlen(skip_tokens[i]));
        if (skip[i] < 0) {
            fprintf(stderr, "timelayers sample: --skip '%s' is not in the vocabulary\n",
                    skip_tokens[i]);
            goto out;
        }
    }
    so.skip = skip;
    so.nskip = nskip;
    /* The default prompt is the end of a line, the most neutral context. */
    const char *p = prompt ? prompt : "\n";
    if (tl_corpus_from_text(p, prompt ? prompt_len : 1, cm.vocab, false, &pc)) {
        cli_fail("prompt");
        goto out;
    }
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    out = malloc(((size_t)length + pc.len) * sizeof *out);
    if (!out) {
        fprintf(stderr, "timelayers sample: out of memory\n");
        goto out;
    }
    memcpy(out, pc.ids, pc.len * sizeof *out);
    /* One RNG for all samples: sample i is the same whatever N is. */
    for (int s = 1; s <= samples; s++) {
        if (samples > 1)
            printf("--- sample %d ---\n", s);
        if ((bf16 ? tl_generate_bf16 : tl_generate)(cm.model, pc.ids, (int)pc.len, length, &so,
                                                    &rng, out + pc.len)) {
            cli_fail("generation");
            goto out;
        }
        /* Print the prompt as given, then the generated tokens. */
        size_t n = prompt ? pc.len + (size_t)length : (size_t)length;
        const int32_t *ids = prompt ? out : out + pc.len;
        size_t len;
        free(text);
        text = NULL;
        if (tl_vocab_detokenize(cm.vocab, ids, n, NULL, 0, &len) ||
            !(text = malloc(len + 1)) ||
            tl_vocab_detokenize(cm.vocab, ids, n, text, len + 1, &len)) {
            cli_fail("detokenize");
            goto out;
        }
        fwrite(text, 1, len, stdout);
        putchar('\n');
    }
    rc = 0;
out:
    free(text);
    free(prompt_text);
    free(out);
    tl_corpus_free(&pc);
    cli_model_close(&cm);
    return rc;
}
