/* Text helpers shared by the vocabulary, the corpus and the pair loaders. Not
 * installed. */
#ifndef TL_DATA_TEXT_H
#define TL_DATA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "../internal.h"

/* White space that separates words: space, \t, \n, \v, \f, \r (the C locale's
 * isspace, without depending on the locale). */
static inline bool tl_is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Decode the UTF-8 sequence at s (n >= 1 bytes available). Returns its
 * length (1 to 4) and stores the code point in *cp, or returns 0 when the
 * bytes are not valid UTF-8 and points *why at the reason. Overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are invalid. */
size_t tl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, const char **why);

/* The number of leading bytes of s[0..n) that are valid UTF-8: n when all
 * are; otherwise the offset of the first invalid sequence, with *why set. */
size_t tl_utf8_valid_prefix(const unsigned char *s, size_t n, const char **why);

/* Make room for at least `need` elements of elem_size bytes in the
 * tl_realloc-managed array *p of *cap elements, at least doubling it. On failure
 * *p and *cap are unchanged and a message naming `what` is recorded. */
tl_status tl_grow(void **p, size_t *cap, size_t need, size_t elem_size, const char *what);

/* Read the rest of f (opened on path) into *text (tl_alloc'd, not
 * NUL-terminated, *n bytes). More than TL_CORPUS_MAX_BYTES is refused, for a
 * regular file from its size before anything is read. Errors: TL_ERR_NOMEM
 * (too large or out of memory), TL_ERR_IO naming path; *text is then NULL or
 * for the caller to free. */
tl_status tl_read_all(const char *path, FILE *f, char **text, size_t *n);

#endif
