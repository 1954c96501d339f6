/* timelayers gradcheck: central-difference check of every gradient of a
 * language model, in double precision (this program links the double
 * library; `timelayers gradcheck` runs it), with train's dropout and tying
 * options: the model is in training mode and every evaluation sees the masks
 * of one step (tl_gradcheck_model pins it). */
#include <getopt.h>
#include <stdio.h>
#include "timelayers/timelayers.h"
#include "blas_core.h"
#include "args.h"
#include "options.h"

static const char help[] =
    "usage: timelayers gradcheck [options]\n"
    "\n"
    "Build a small language model with random weights, compare the analytic\n"
    "gradient of every parameter with central differences (step 1e-5, double\n"
    "precision), print the largest relative and absolute error per tensor and exit 1\n"
    "when a tensor exceeds both bounds. (The loss is a mean over batch x time tokens,\n"
    "so small gradients meet the ~1e-11 rounding noise of the difference quotient:\n"
    "their relative error can pass 1e-6 while the absolute error stays at the noise.)\n"
    "Dropout runs in training mode with the masks of one step, the same in every\n"
    "evaluation, so the loss is smooth in the parameters and the check is exact.\n"
    "\n"
    "  --cell lstm|rnn|gru (default lstm)    --layers N   (default 2)\n"
    "  --vocab V         (default 11)        --embed D    (default 5; --hidden with --tie)\n"
    "  --hidden H        (default 6)         --batch N    (default 3)\n"
    "  --time T          (default 4)         --seed S     (weights, data, masks; default 1)\n"
    "  --dropout P       dropout after the embedding and each recurrent layer (default 0)\n"
    "  --dropout-kind K  standard (default) or locked\n"
    "  --rec-dropout P   recurrent dropout inside each LSTM or GRU (default 0)\n"
    "  --tie             the output affine uses the embedding transposed\n"
    "  --bound X         relative-error bound (default 1e-6)\n"
    "  --abs-bound X     absolute-error bound (default 1e-9)\n"
    "  --max-per-tensor K  check at most K elements per tensor (default all)\n";

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"cell", 1, 0, 'c'},  {"layers", 1, 0, 'l'}, {"vocab", 1, 0, 'v'},
        {"embed", 1, 0, 'd'}, {"hidden", 1, 0, 'H'}, {"batch", 1, 0, 'n'},
        {"time", 1, 0, 't'},  {"seed", 1, 0, 's'},   {"bound", 1, 0, 'b'},
        {"max-per-tensor", 1, 0, 'k'}, {"abs-bound", 1, 0, 'a'}, {"help", 0, 0, 'h'},
        {"dropout", 1, 0, 'p'}, {"dropout-kind", 1, 0, 'K'}, {"rec-dropout", 1, 0, 'r'},
        {"tie", 0, 0, 'T'}, CLI_VERSION_OPTION, {0, 0, 0, 0},
    };
    tl_lm_config lm = {.vocab = 11, .embed = 5, .hidden = 6, .layers = 2, .cell = TL_CELL_LSTM};
    int N = 3, T = 4, max_per = 0, c;
    bool embed_given = false;
    uint64_t seed = 1;
    double bound = 1e-6, abs_bound = 1e-9;
    cli_fix_openblas_env(argv);
    opterr = 0;
    while ((c = getopt_long(argc, argv, CLI_OPTSTRING, options, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case 'c':
            if (tl_cell_kind_from_name(optarg, &lm.cell)) {
                fprintf(stderr, "timelayers gradcheck: %s\n", tl_last_error());
                return 2;
            }
            break;
        case 'l': ok = cli_parse_int("layers", optarg, 1, 8, &lm.layers); break;
        case 'v': ok = cli_parse_int("vocab", optarg, 1, 1000, &lm.vocab); break;
        case 'd': ok = cli_parse_int("embed", optarg, 1, 256, &lm.embed); embed_given = true; break;
        case 'H': ok = cli_parse_int("hidden", optarg, 1, 256, &lm.hidden); break;
        case 'n': ok = cli_parse_int("batch", optarg, 1, 64, &N); break;
        case 't': ok = cli_parse_int("time", optarg, 1, 64, &T); break;
        case 's': ok = cli_parse_u64("seed", optarg, &seed); break;
        case 'b': ok = cli_parse_double("bound", optarg, 0, 1, &bound); break;
        case 'a': ok = cli_parse_double("abs-bound", optarg, 0, 1, &abs_bound); break;
        case 'k': ok = cli_parse_int("max-per-tensor", optarg, 0, 1 << 30, &max_per); break;
        case 'p': ok = cli_parse_double("dropout", optarg, 0, 0.99, &lm.dropout); break;
        case 'r': ok = cli_parse_double("rec-dropout", optarg, 0, 0.99, &lm.rec_dropout); break;
        case 'K':
            if (tl_dropout_kind_from_name(optarg, &lm.dropout_kind)) {
                fprintf(stderr, "timelayers gradcheck: --dropout-kind: %s\n", tl_last_error());
                return 2;
            }
            break;
        case 'T': lm.tie = true; break;
        case 'h': fputs(help, stdout); return 0;
        case CLI_OPT_VERSION: return cli_version();
        default: return cli_bad_option("gradcheck", c, argv);
        }
        if (!ok)
            return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "timelayers gradcheck: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (lm.tie && !embed_given)
        lm.embed = lm.hidden;
    tl_rng rng;
    tl_rng_seed(&rng, seed);
    tl_model *m = NULL;
    tl_tensor xs = {0}, ts = {0};
    tl_gradcheck_entry e[4 * 64 + 8];
    int n = 0, rc = 1;
    if (tl_lm_create(&m, &lm, &rng))
        goto fail;
    /* Unit-scale weights: the reference's small initialisation would leave
     * most gradients near the rounding floor of the differences. */
    tl_real *w;
    size_t count;
    if (tl_model_flat(m, &w, NULL, &count))
        goto fail;
    for (size_t i = 0; i < count; i++)
        w[i] = 0.5 * tl_rng_normal(&rng);
    if (tl_tensor_zeros(&xs, TL_INT32, 2, (int[]){N, T}) ||
        tl_tensor_zeros(&ts, TL_INT32, 2, (int[]){N, T}))
        goto fail;
    for (size_t i = 0; i < xs.size; i++) {
        xs.ids[i] = (int32_t)tl_rng_below(&rng, (uint64_t)lm.vocab);
        ts.ids[i] = (int32_t)tl_rng_below(&rng, (uint64_t)lm.vocab);
    }
    /* The loss at the checked point, in training mode and in evaluation mode
     * (no masks): they differ exactly when dropout is on. */
    tl_model_set_seed(m, seed);
    double loss[2];
    for (int k = 0; k < 2; k++) {
        tl_model_set_training(m, k == 0);
        tl_model_reset_state(m);
        tl_model_set_step(m, 0);
        if (tl_model_forward(m, &xs, &ts, &loss[k]))
            goto fail;
    }
    tl_model_set_training(m, true);
    tl_model_set_step(m, 0);
    tl_gradcheck_opts o = {.seed = seed, .max_per_tensor = (size_t)max_per};
    if (tl_gradcheck_model(m, &xs, &ts, &o, e, (int)(sizeof e / sizeof *e), &n))
        goto fail;
    printf("%s x %d, V=%d D=%d H=%d, batch %d x time %d; bounds: relative %.0e, absolute %.0e\n",
           tl_cell_kind_name(lm.cell), lm.layers, lm.vocab, lm.embed, lm.hidden, N, T, bound,
           abs_bound);
    printf("dropout %g (%s), recurrent dropout %g, %s; loss %.12f (training mode, the masks "
           "of step 0), %.12f (evaluation mode)\n", lm.dropout,
           tl_dropout_kind_name(lm.dropout_kind), lm.rec_dropout, lm.tie ? "tied" : "untied",
           loss[0], loss[1]);
    rc = 0;
    for (int i = 0; i < n; i++) {
        bool bad = !(e[i].max_rel_error <= bound) && !(e[i].max_abs_error <= abs_bound);
        printf("  %-16s %7zu checked  max rel error %.3e  max abs error %.3e  %s\n", e[i].name,
               e[i].checked, e[i].max_rel_error, e[i].max_abs_error, bad ? "FAIL" : "ok");
        rc |= bad;
    }
    printf("worst relative error %.3e: %s\n", tl_gradcheck_worst(e, n), rc ? "FAILED" : "passed");
    goto out;
fail:
    fprintf(stderr, "timelayers gradcheck: %s\n", tl_last_error());
out:
    tl_tensor_free(&xs);
    tl_tensor_free(&ts);
    tl_model_destroy(m);
    return rc;
}
