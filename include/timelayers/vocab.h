/* timelayers: vocabularies (token <-> id).
 *
 * A vocabulary maps tokens to ids 0, 1, 2, ... in the order tokens were first
 * added. A token is a byte string:
 *   - word level: a word, i.e. a non-empty run of bytes without white space
 *     (space, tab, \n, \r, \v, \f) or NUL bytes;
 *   - char level: exactly one UTF-8 encoded code point other than U+0000.
 * At both levels the special token "<unk>" may be added; at word level
 * "<eos>" stands for the end of a line (see corpus.h).
 *
 * Lookup is a hash table (O(1) expected). A vocabulary holds at most
 * TL_VOCAB_MAX_SIZE ids, so an id always fits in an int32_t.
 */
#ifndef TIMELAYERS_VOCAB_H
#define TIMELAYERS_VOCAB_H

#include <stddef.h>
#include <stdint.h>
#include "timelayers/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest token accepted, in bytes. Longer words are refused with
 * TL_ERR_FORMAT rather than silently truncated. */
#define TL_VOCAB_MAX_TOKEN 1024
/* Largest number of ids. */
#define TL_VOCAB_MAX_SIZE INT32_MAX

typedef enum tl_level { TL_LEVEL_WORD = 0, TL_LEVEL_CHAR = 1 } tl_level;

typedef struct tl_vocab tl_vocab;

/* Create an empty vocabulary of the given level. Errors: NULL out or an
 * unknown level (TL_ERR_ARG), out of memory (TL_ERR_NOMEM). On failure *out
 * is NULL. Free with tl_vocab_destroy. */
tl_status tl_vocab_create(tl_vocab **out, tl_level level);

/* Free a vocabulary and every string it returned. NULL is ignored. */
void tl_vocab_destroy(tl_vocab *v);

/* The level given at creation (TL_LEVEL_WORD for NULL). */
tl_level tl_vocab_level(const tl_vocab *v);

/* Number of ids (ids are 0 .. size-1); 0 for NULL. */
int32_t tl_vocab_size(const tl_vocab *v);

/* Store in *id the id of `token` (len bytes, need not be NUL-terminated),
 * adding it with the next free id when it is new. Errors: NULL arguments
 * (TL_ERR_ARG); a token that is not valid for the level (see the top of this
 * file) or longer than TL_VOCAB_MAX_TOKEN (TL_ERR_FORMAT); a vocabulary that
 * already holds TL_VOCAB_MAX_SIZE ids or out of memory (TL_ERR_NOMEM). On
 * failure the vocabulary is unchanged. */
tl_status tl_vocab_add(tl_vocab *v, const char *token, size_t len, int32_t *id);

/* The id of `token` (len bytes), or -1 when absent (also for NULL). */
int32_t tl_vocab_find(const tl_vocab *v, const char *token, size_t len);

/* The NUL-terminated token of `id`, or NULL when id is out of range. The
 * string belongs to the vocabulary and stays valid until the next
 * tl_vocab_add or tl_vocab_destroy. Iterating ids 0 .. size-1 lists the
 * vocabulary in order, which is how checkpoints store it. */
const char *tl_vocab_token(const tl_vocab *v, int32_t id);

/* The id of "<unk>", or -1 when the vocabulary has none. */
int32_t tl_vocab_unk(const tl_vocab *v);

/* Turn ids back into text. Word level: tokens separated by one space, except
 * that "<eos>" is written as a newline with no space around it ("a b\nc").
 * Char level: tokens concatenated. "<unk>" is written as "<unk>".
 *
 * *len receives the length of the whole text (without the terminating NUL).
 * With cap 0 nothing is written and buf may be NULL: call it so to size a
 * buffer. Otherwise buf (cap bytes) receives the NUL-terminated text.
 * Errors: NULL v or len, or buf NULL with cap > 0 (TL_ERR_ARG); an id outside the vocabulary
 * (TL_ERR_RANGE, naming its position); text of *len + 1 bytes does not fit in
 * cap (TL_ERR_RANGE; buf then holds the NUL-terminated prefix that fits). */
tl_status tl_vocab_detokenize(const tl_vocab *v, const int32_t *ids, size_t n, char *buf,
                              size_t cap, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
