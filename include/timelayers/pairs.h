/* timelayers: paired sequences for sequence-to-sequence training.
 *
 * A text of lines "question<sep>answer", where <sep> is one character (a
 * UTF-8 code point) that starts the answer and stays its first symbol: the
 * decoder's start symbol (the reference's data use "_": "16+75  _91  ").
 * Every other character, spaces included, is a token at char level (vocab.h);
 * the question is everything before the first <sep>, the answer everything
 * from it to the end of the line (without the newline; a final "\r" is kept
 * like any character). All questions of a set have one length and all
 * answers another, as the models need; the first line sets them.
 *
 * Ids are stored row by row: q (n, qlen) and a (n, alen), a[i*alen] being
 * the id of <sep>.
 */
#ifndef TIMELAYERS_PAIRS_H
#define TIMELAYERS_PAIRS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "timelayers/vocab.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tl_pairs {
    size_t n;          /* number of pairs */
    int qlen, alen;    /* characters per question and per answer (with <sep>) */
    int32_t *q, *a;    /* owned: n·qlen and n·alen ids */
} tl_pairs;

/* Parse text (len bytes; `what` names it in messages, e.g. the file name)
 * into *out with the char-level vocabulary v. With grow, new characters are
 * added to v in order of first appearance (question, then answer, line by
 * line: the reference's order); otherwise an unknown character is an error.
 * qlen, alen: required lengths, or 0 to take them from the first line. An
 * empty last line (the text ends with a newline) is not a pair.
 * Errors (TL_ERR_FORMAT, naming the line): a line without <sep>, a question
 * or answer of another length than the first line's (or than required),
 * an unknown character, invalid UTF-8, no pairs at all. TL_ERR_ARG for NULL
 * arguments, a word-level vocabulary or a sep that is not one character;
 * TL_ERR_NOMEM. On failure *out is empty and v may have grown. */
tl_status tl_pairs_parse(const char *text, size_t len, const char *what, const char *sep,
                         tl_vocab *v, bool grow, int qlen, int alen, tl_pairs *out);

/* tl_pairs_parse of a whole file (also a pipe). TL_ERR_IO when it cannot be
 * opened or read, or is a directory; TL_ERR_NOMEM when it is larger than
 * TL_CORPUS_MAX_BYTES (corpus.h), for a regular file before anything is read. */
tl_status tl_pairs_load(const char *path, const char *sep, tl_vocab *v, bool grow, int qlen,
                        int alen, tl_pairs *out);

/* Reverse every question in place (the reference's input reversal). */
void tl_pairs_reverse_questions(tl_pairs *p);

/* Free the ids and empty *p. NULL is a no-op. */
void tl_pairs_free(tl_pairs *p);

#ifdef __cplusplus
}
#endif
#endif
