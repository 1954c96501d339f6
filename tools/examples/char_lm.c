/* A character-level LSTM language model in about a hundred lines of the
 * public API: Embedding -> LSTM -> Affine -> SoftmaxWithLoss, trained with
 * plain SGD and truncated BPTT on any text file (by default Tiny Shakespeare,
 * data/tinyshakespeare.txt). It prints the loss going down.
 *
 *     build/tools/examples/char_lm [FILE] [STEPS]
 *
 * This is the library without the trainer: read it to see what a training
 * step is made of. The `timelayers` CLI does the same with every option. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "timelayers/timelayers.h"

enum { B = 16, T = 32, D = 32, H = 128 };

#define CHECK(expr)                                                                   \
    do {                                                                              \
        tl_status st_ = (expr);                                                       \
        if (st_) {                                                                    \
            fprintf(stderr, "char_lm: %s: %s\n", tl_status_name(st_), tl_last_error()); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* Read a file and map its bytes to dense ids 0..V-1 (in order of first use). */
static int32_t *load_bytes(const char *path, size_t *len, int *V)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    int32_t map[256];
    memset(map, -1, sizeof map);
    size_t cap = 1 << 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    int c;
    *V = 0;
    while (ids && (c = fgetc(f)) != EOF) {
        if (map[c] < 0)
            map[c] = (*V)++;
        if (n == cap)
            ids = realloc(ids, (cap *= 2) * sizeof *ids);
        if (ids)
            ids[n++] = map[c];
    }
    fclose(f);
    if (!ids || n < (size_t)B * T + 1) {
        fprintf(stderr, "char_lm: %s: need at least %d bytes\n", path, B * T + 1);
        exit(1);
    }
    *len = n;
    return ids;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : TL_DEFAULT_CORPUS;
    int steps = argc > 2 ? atoi(argv[2]) : 300;
    size_t len;
    int V;
    int32_t *data = load_bytes(path, &len, &V);
    printf("%s: %zu characters, %d distinct\n", path, len, V);

    tl_rng rng;
    tl_rng_seed(&rng, 42);
    tl_model *m;
    tl_layer *l;
    CHECK(tl_model_create(&m));
    CHECK(tl_time_embedding_create(&l, V, D, &rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_lstm_create(&l, D, H, true, &rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_affine_create(&l, H, V, &rng));
    CHECK(tl_model_add(m, l));
    CHECK(tl_time_softmax_loss_create(&l, V, TL_LOSS_MEAN));
    CHECK(tl_model_set_loss(m, l));

    tl_real *w, *g;
    size_t n;
    CHECK(tl_model_flat(m, &w, &g, &n));
    printf("model: Embedding(%d, %d) -> LSTM(%d, %d) -> Affine(%d, %d): %zu parameters\n", V, D, D,
           H, H, V, n);

    /* TBPTT batches: row i reads the stream from i * jump on, T tokens per step. */
    int32_t xs[B * T], ts[B * T];
    tl_tensor x = tl_tensor_wrap_ids(xs, 2, (int[]){B, T});
    tl_tensor t = tl_tensor_wrap_ids(ts, 2, (int[]){B, T});
    size_t jump = (len - 1) / B, pos = 0;
    double lr = 1.0, avg = 0;
    for (int step = 1; step <= steps; step++) {
        for (int i = 0; i < B; i++)
            for (int k = 0; k < T; k++) {
                size_t p = (i * jump + pos + k) % (len - 1);
                xs[i * T + k] = data[p];
                ts[i * T + k] = data[p + 1];
            }
        pos += T;

        double loss, norm = 0;
        tl_model_zero_grad(m);
        CHECK(tl_model_forward(m, &x, &t, &loss));
        CHECK(tl_model_backward(m));
        for (size_t k = 0; k < n; k++)  /* clip the global gradient norm at 1 */
            norm += (double)g[k] * g[k];
        double scale = sqrt(norm) > 1 ? 1 / (sqrt(norm) + 1e-6) : 1;
        for (size_t k = 0; k < n; k++)  /* SGD */
            w[k] -= (tl_real)(lr * scale * g[k]);

        avg += loss;
        if (step % 25 == 0) {
            printf("step %4d  loss %.3f  perplexity %.2f\n", step, avg / 25, exp(avg / 25));
            avg = 0;
        }
    }
    tl_model_destroy(m);
    free(data);
    return 0;
}
