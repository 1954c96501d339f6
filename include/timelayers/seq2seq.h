/* timelayers: sequence-to-sequence models, an encoder and a decoder wired
 * together (the reference's chapters 7 and 8).
 *
 * Three kinds, all from the library's Time layers, with one vocabulary of
 * size V shared by questions and answers, word vectors of width D and LSTMs
 * of width H:
 *
 *   encoder (all kinds)  xs (N, S) -> TimeEmbedding -> TimeLSTM -> hs (N, S, H);
 *                        h = hs[:, S-1] (the LSTM starts from zeros)
 *   plain      decoder   TimeEmbedding -> TimeLSTM from (h, c = 0) -> TimeAffine (H -> V)
 *   peeky      decoder   TimeEmbedding -> [h, ·] -> TimeLSTM (H + D -> H) from (h, 0)
 *                        -> [h, ·] -> TimeAffine (2H -> V)        ([h, ·]: TimeConcat)
 *   attention  decoder   TimeEmbedding -> TimeLSTM from (h, 0) -> h_dec;
 *                        context = TimeAttention(h_dec over hs) -> [context, h_dec]
 *                        -> TimeAffine (2H -> V)
 *
 * Training uses teacher forcing: for answers (N, T) that begin with the start
 * symbol, the decoder reads answers[:, :-1] and is scored on answers[:, 1:]
 * by TimeSoftmaxWithLoss (mean over the N·(T−1) targets). Backward returns
 * the decoder's gradient to the encoder through the LSTM's dh0 (and, for
 * peeky, the sum of the [h, ·] gradients over all steps; for attention, the
 * gradient of every encoder state hs), so one step of a training loop is
 * zero_grad, forward, backward, clip, optimizer step on the flat buffers.
 *
 * Parameters live in one flat value buffer and one flat gradient buffer
 * (tl_seq2seq_flat), in this order, with these names (docs/seq2seq.md gives
 * the shapes):
 *   encoder.embed.W  encoder.lstm.Wx  encoder.lstm.Wh  encoder.lstm.b
 *   decoder.embed.W  decoder.lstm.Wx  decoder.lstm.Wh  decoder.lstm.b
 *   decoder.affine.W  decoder.affine.b
 * Initialisation is each layer's (the reference's): embeddings N(0, 1)·0.01,
 * LSTM Wx N(0, 1/in), Wh N(0, 1/H), affine W N(0, 1/in), biases 0.
 *
 * Borrowing: xs and answers must stay alive and unchanged from forward until
 * backward returns. Returned tensors are the model's own, valid until the
 * next call of the same kind.
 */
#ifndef TIMELAYERS_SEQ2SEQ_H
#define TIMELAYERS_SEQ2SEQ_H

#include <stddef.h>
#include "timelayers/checkpoint.h"
#include "timelayers/gradcheck.h"
#include "timelayers/model.h"
#include "timelayers/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum tl_seq2seq_kind {
    TL_SEQ2SEQ_PLAIN,
    TL_SEQ2SEQ_PEEKY,
    TL_SEQ2SEQ_ATTENTION
} tl_seq2seq_kind;

typedef struct tl_seq2seq_config {
    tl_seq2seq_kind kind;
    int vocab;     /* V: ids of questions and answers lie in [0, V) */
    int wordvec;   /* D */
    int hidden;    /* H */
} tl_seq2seq_config;

typedef struct tl_seq2seq tl_seq2seq;

/* "plain", "peeky", "attention"; from_name returns TL_ERR_ARG for any other
 * name. tl_seq2seq_kind_name never returns NULL ("unknown"). */
const char *tl_seq2seq_kind_name(tl_seq2seq_kind kind);
tl_status tl_seq2seq_kind_from_name(const char *name, tl_seq2seq_kind *kind);

/* Create a model with weights drawn from rng (zeros when NULL). The caller
 * frees it with tl_seq2seq_destroy. Errors: TL_ERR_ARG for an unknown kind
 * or sizes that are not positive; TL_ERR_NOMEM. */
tl_status tl_seq2seq_create(tl_seq2seq **out, const tl_seq2seq_config *cfg, tl_rng *rng);

tl_seq2seq_config tl_seq2seq_get_config(const tl_seq2seq *s);

/* Teacher-forced loss of questions xs (N, S) and answers (N, T), int32,
 * T >= 2, answers[:, 0] the start symbol. Errors: TL_ERR_SHAPE for other
 * shapes or different N; TL_ERR_RANGE for an id outside [0, V) (naming its
 * position); TL_ERR_NUMERIC for a non-finite score. */
tl_status tl_seq2seq_forward(tl_seq2seq *s, const tl_tensor *xs, const tl_tensor *answers,
                             double *loss);

/* Gradients of the last forward's loss, ADDED into the gradient buffer.
 * TL_ERR_STATE without a successful forward since the last backward. */
tl_status tl_seq2seq_backward(tl_seq2seq *s);

/* Greedy decoding: encode xs (N, S), feed start_id, then each step's argmax,
 * for len steps. *out (N, len) int32 is the model's buffer; the start symbol
 * is not included. For the attention kind, tl_seq2seq_attention_weights then
 * gives the weights (N, len, S) of every generated step. Errors: TL_ERR_ARG
 * for len < 1; TL_ERR_RANGE for start_id or an id of xs outside [0, V). */
tl_status tl_seq2seq_generate(tl_seq2seq *s, const tl_tensor *xs, int start_id, int len,
                              const tl_tensor **out);

/* The attention weights of the last tl_seq2seq_generate (attention kind).
 * TL_ERR_STATE for other kinds or before a generation. */
tl_status tl_seq2seq_attention_weights(tl_seq2seq *s, const tl_tensor **a);

void tl_seq2seq_zero_grad(tl_seq2seq *s);

/* Parameters with their stable names (tl_named_param.layer is the index of
 * the owning layer in the list above: 0 encoder embedding, 1 encoder LSTM,
 * 2 decoder embedding, 3 decoder LSTM, 4 affine). */
int tl_seq2seq_param_count(const tl_seq2seq *s);
tl_status tl_seq2seq_param(tl_seq2seq *s, int i, tl_named_param *p);
tl_status tl_seq2seq_flat(tl_seq2seq *s, tl_real **values, tl_real **grads, size_t *n);

/* Central-difference check (gradcheck.h) of every parameter on one batch,
 * the encoder's included: their gradients reach it only through the
 * decoder's dh0 (and the peeky and attention paths), so this checks the
 * encoder-decoder state gradient too. Entries are named as the parameters. */
tl_status tl_gradcheck_seq2seq(tl_seq2seq *s, const tl_tensor *xs, const tl_tensor *answers,
                               const tl_gradcheck_opts *opts, tl_gradcheck_entry *out, int cap,
                               int *n);

/* Save parameters, the configuration (metadata "seq2seq", a JSON object with
 * kind, vocab, wordvec, hidden), the caller's metadata and extra tensors to
 * path, atomically as tl_checkpoint_save does; the library adds "format" =
 * "timelayers-seq2seq", "format_version" = "1" and "dtype". Errors as
 * tl_checkpoint_save. */
tl_status tl_seq2seq_save(const char *path, tl_seq2seq *s, const tl_ckpt_meta *meta, int nmeta,
                          const tl_ckpt_tensor *extra, int nextra);

/* What tl_seq2seq_save does except replacing path (tl_checkpoint_save_check):
 * whether the save can succeed, learnt before long work. */
tl_status tl_seq2seq_save_check(const char *path, tl_seq2seq *s, const tl_ckpt_meta *meta,
                                int nmeta, const tl_ckpt_tensor *extra, int nextra);

/* Build the model a checkpoint describes and load its parameters (every one
 * present with its exact shape). Errors: TL_ERR_FORMAT naming what is wrong
 * (another format, a missing or malformed "seq2seq", sizes needing more
 * values than the file's encoder.* and decoder.* tensors hold, refused before
 * anything of those sizes is allocated, a missing tensor or a shape that
 * differs); TL_ERR_NOMEM. */
tl_status tl_seq2seq_from_checkpoint(const tl_checkpoint *ck, tl_seq2seq **out);

/* Free the model. NULL is a no-op. */
void tl_seq2seq_destroy(tl_seq2seq *s);

#ifdef __cplusplus
}
#endif
#endif
