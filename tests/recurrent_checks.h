/* Checks that hold for every recurrent Time layer (TimeRNN, TimeLSTM,
 * TimeGRU): the PyTorch goldens, gradient checks and the state semantics of
 * semantics.md. Each rc_* function is the body of one cmocka test;
 * test_rnn.c, test_lstm.c and test_gru.c call them with their layer's
 * descriptor, so a failure names the layer. Include after cmocka.h (via testutil.h). */
#ifndef TL_RECURRENT_CHECKS_H
#define TL_RECURRENT_CHECKS_H

#include "testutil.h"

/* The sizes every check uses (the goldens are made with these). */
enum { RC_N = 2, RC_T = 4, RC_D = 3, RC_H = 5 };

typedef struct {
    const char *type;    /* tl_layer_type(), expected in error messages */
    const char *variant; /* names the gradient check, e.g. "tanh"; "" for none */
    /* A layer of the kind with the default initialisation from rng (NULL:
     * zeros), e.g. a wrapper that fixes the activation. */
    tl_status (*create)(tl_layer **out, int in_dim, int hidden, bool stateful, tl_rng *rng);
    int nstate;  /* state tensors: 1 (h) or 2 (h, c) */
    int gates;   /* Wx is (D, gates * H) */
    int extra_biases;  /* (H) parameters after Wx, Wh, b: 1 for TimeGRU's bhn */
    const char *golden_file;    /* in tests/golden */
    const char *golden_prefix;  /* of the variant's outputs and gradients in it */
    /* Refused set_state calls particular to the layer, on a stateful layer
     * of batch size RC_N after a forward (may be NULL). */
    void (*bad_states)(tl_layer *l);
} rc_layer;

/* A layer of the kind, the same weights every call (seeded 77). */
tl_layer *rc_twin(const rc_layer *k, bool stateful);

/* One cmocka test running a check: RC_TEST(test_reset_state, rc_reset_state(&lstm)). */
#define RC_TEST(name, call)                                                                     \
    static void name(void **state)                                                              \
    {                                                                                           \
        (void)state;                                                                            \
        call;                                                                                   \
    }

/* The state and error checks below as the cmocka tests of the layer *k:
 * RC_STATE_TESTS(k) defines them, RC_STATE_TEST_ENTRIES lists them in main. */
#define RC_STATE_TESTS(k)                                                                       \
    RC_TEST(test_stateful_chunks, rc_stateful_chunks(k))                                        \
    RC_TEST(test_truncated_bptt, rc_truncated_bptt(k))                                          \
    RC_TEST(test_stateless_restarts, rc_stateless_restarts(k))                                  \
    RC_TEST(test_reset_state, rc_reset_state(k))                                                \
    RC_TEST(test_set_state_stateful, rc_set_state(k, true))                                     \
    RC_TEST(test_set_state_stateless, rc_set_state(k, false))                                   \
    RC_TEST(test_batch_size_change, rc_batch_size_change(k))                                    \
    RC_TEST(test_buffer_reuse, rc_buffer_reuse(k))                                              \
    RC_TEST(test_shape_errors, rc_shape_errors(k))
#define RC_STATE_TEST_ENTRIES                                                                   \
    cmocka_unit_test(test_stateful_chunks), cmocka_unit_test(test_truncated_bptt),              \
        cmocka_unit_test(test_stateless_restarts), cmocka_unit_test(test_reset_state),          \
        cmocka_unit_test(test_set_state_stateful), cmocka_unit_test(test_set_state_stateless),  \
        cmocka_unit_test(test_batch_size_change), cmocka_unit_test(test_buffer_reuse),          \
        cmocka_unit_test(test_shape_errors)

/* set_state(h0[, c0]), forward, two backwards against the golden file: y,
 * the carried state, dx and the state gradients (unchanged by the second
 * backward), parameter gradients doubled. */
void rc_golden(const rc_layer *k, bool stateful);

/* tl_gradcheck_layer over every parameter, x and each initial state
 * (double build only; skips otherwise). */
void rc_gradcheck(const rc_layer *k, bool stateful, uint64_t seed);

/* Backward by windows of 1 and of 3 steps (T = 4: four windows; one of 3
 * after one of 1): the golden comparison (when k has a golden file) and, in
 * the double build, the gradient check, stateful. */
void rc_windows(const rc_layer *k, uint64_t seed);

/* A window large enough that its copies run in parts (one per step) against
 * windows of one step: dx and every gradient agree to rounding. */
void rc_window_copies(const rc_layer *k, uint64_t seed);

/* Stateful: one call on T = 4 equals two calls on T = 2, outputs and state. */
void rc_stateful_chunks(const rc_layer *k);

/* Truncated BPTT: the backward of a second stateful chunk is that of a layer
 * started from the carried state; nothing flows back into chunk 1. */
void rc_truncated_bptt(const rc_layer *k);

/* Not stateful: every forward starts from zeros; get_state still reports the
 * last state, the same as a stateful twin's. */
void rc_stateless_restarts(const rc_layer *k);

/* reset_state brings a stateful layer back to the zero start. */
void rc_reset_state(const rc_layer *k);

/* set_state decides the start of the next forward (used once when not
 * stateful), on a new layer and on one that ran already; for two states
 * also with h only, which must act as c = 0. */
void rc_set_state(const rc_layer *k, bool stateful);

/* Stateful layers refuse a new batch size until reset or set_state;
 * stateless ones accept it unless a set state disagrees. */
void rc_batch_size_change(const rc_layer *k);

/* Same buffers every call (outputs, state, gradients), also when N*T shrinks. */
void rc_buffer_reuse(const rc_layer *k);

/* Refused sizes at creation. */
void rc_create_errors(const rc_layer *k);

/* Calls out of order, bad input, gradient and state shapes; refused states
 * leave the held state alone. */
void rc_shape_errors(const rc_layer *k);

#endif
