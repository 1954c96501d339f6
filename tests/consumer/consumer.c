/* A program outside the project: the test of the installed library
 * (tests/install_test.sh, built with pkg-config only) and of the subproject
 * use (tests/subproject_test.sh, built by the Meson project next to it).
 * It trains a small LSTM language model on a repeating sequence with the
 * library's optimizer and clipping, and fails unless the loss falls. */
#include <stdio.h>
#include "timelayers/timelayers.h"

#define CHECK(expr)                                                                   \
    do {                                                                              \
        tl_status st_ = (expr);                                                       \
        if (st_) {                                                                    \
            fprintf(stderr, "consumer: %s: %s\n", #expr, tl_last_error());           \
            return 1;                                                                 \
        }                                                                             \
    } while (0)

enum { V = 5, N = 2, T = 8, STEPS = 60 };

int main(void)
{
    tl_rng rng;
    tl_rng_seed(&rng, 7);
    tl_model *m;
    tl_lm_config cfg = {.vocab = V, .embed = 8, .hidden = 16, .layers = 1, .cell = TL_CELL_LSTM};
    CHECK(tl_lm_create(&m, &cfg, &rng));
    tl_real *values, *grads;
    size_t n;
    CHECK(tl_model_flat(m, &values, &grads, &n));
    tl_optim *opt;
    tl_optim_config oc = tl_optim_defaults(TL_OPTIM_ADAM);
    oc.lr = 0.05;
    CHECK(tl_optim_create(&opt, &oc, n));

    /* 0 1 2 3 4 0 1 2 ...: the next id is always predictable. */
    int32_t x[N * T], t[N * T];
    for (int i = 0; i < N * T; i++) {
        x[i] = (i + i / T) % V;
        t[i] = (x[i] + 1) % V;
    }
    tl_tensor xs = tl_tensor_wrap_ids(x, 2, (int[]){N, T});
    tl_tensor ts = tl_tensor_wrap_ids(t, 2, (int[]){N, T});
    double first = 0, loss = 0;
    for (int s = 0; s < STEPS; s++) {
        tl_model_reset_state(m);
        tl_model_zero_grad(m);
        CHECK(tl_model_forward(m, &xs, &ts, &loss));
        CHECK(tl_model_backward(m));
        CHECK(tl_clip_grad_norm(grads, n, 5.0, NULL));
        CHECK(tl_optim_step(opt, values, grads, n));
        if (s == 0)
            first = loss;
    }
    printf("consumer: %s, %zu parameters, loss %.4f -> %.4f\n",
           sizeof(tl_real) == sizeof(double) ? "double" : "float", n, first, loss);
    tl_optim_destroy(opt);
    tl_model_destroy(m);
    if (!(loss < 0.2 * first)) {
        fprintf(stderr, "consumer: the loss did not fall below a fifth of its start\n");
        return 1;
    }
    return 0;
}
