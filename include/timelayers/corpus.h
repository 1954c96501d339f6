/* timelayers: corpora, i.e. a text turned into a sequence of token ids.
 *
 * Word level (the Penn Treebank convention): every newline is the token
 * "<eos>", and the rest of the text is split on white space (space, \t, \r,
 * \v, \f). The reference does `read().replace('\n', '<eos>').strip().split()`,
 * which is the same on Penn Treebank, where every line starts and ends with a
 * space, but glues "<eos>" to its neighbours on other text ("a\nb" becomes
 * the single word "a<eos>b"); here a newline is always a token of its own
 * ("a", "<eos>", "b"). Python also splits on non-ASCII white space (U+00A0,
 * U+2003, ...); here only the ASCII white space above separates words.
 *
 * Char level: every UTF-8 encoded code point is a token, newline included.
 * Invalid UTF-8 (a bad lead byte, a stray continuation byte, a truncated
 * sequence, an overlong form, a surrogate, a code point above U+10FFFF) is
 * refused with its byte offset.
 *
 * At both levels the text must be UTF-8 (invalid bytes are refused with their
 * offset, also inside words: a vocabulary is stored as JSON in checkpoints),
 * a NUL byte is refused (a corpus is text), as is a word
 * longer than TL_VOCAB_MAX_TOKEN bytes, a text of no token at all, and a file
 * larger than TL_CORPUS_MAX_BYTES.
 */
#ifndef TIMELAYERS_CORPUS_H
#define TIMELAYERS_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "timelayers/status.h"
#include "timelayers/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest corpus file accepted (2 GiB); checked before reading. */
#define TL_CORPUS_MAX_BYTES ((size_t)1 << 31)

/* A token stream: len ids (len >= 1), owned by the corpus. */
typedef struct tl_corpus {
    int32_t *ids;
    size_t len;
} tl_corpus;

/* Tokenise the file at `path` at the level of v.
 *
 * grow = true (a training file): new tokens are added to v in order of first
 * appearance, so v may already hold tokens (e.g. a fixed "<unk>" at id 0).
 * grow = false (validation/test files): v is not modified; a token missing
 * from v maps to "<unk>" when v has it, and is otherwise an error naming the
 * token and its line.
 *
 * On success *out owns the ids (free with tl_corpus_free). On failure *out is
 * {NULL, 0}, and v is unchanged except after TL_ERR_NOMEM with grow = true,
 * where it may keep the tokens added before memory ran out.
 * Errors: NULL arguments (TL_ERR_ARG); the file cannot be opened or read
 * (TL_ERR_IO, with the system's reason); larger than TL_CORPUS_MAX_BYTES or
 * out of memory (TL_ERR_NOMEM); invalid text, no token, or an unknown token
 * (TL_ERR_FORMAT, with the line and byte offset). */
tl_status tl_corpus_load(const char *path, tl_vocab *v, bool grow, tl_corpus *out);

/* The same from n bytes of memory (need not be NUL-terminated; n = 0 is the
 * empty-corpus error). Messages call the text "<text>". */
tl_status tl_corpus_from_text(const char *text, size_t n, tl_vocab *v, bool grow,
                              tl_corpus *out);

/* Free the ids and set *c to {NULL, 0}. NULL and freed corpora are ignored. */
void tl_corpus_free(tl_corpus *c);

#ifdef __cplusplus
}
#endif
#endif
