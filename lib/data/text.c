/* UTF-8 decoding (RFC 3629), growable arrays and whole-file reads for the
 * text loaders. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "text.h"
#include "timelayers/corpus.h"

size_t tl_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp, const char **why)
{
    /* Smallest code point of each sequence length: anything below is an
     * overlong form that a strict decoder must refuse. */
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    unsigned char b = s[0];
    size_t len;
    uint32_t c;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b < 0xC0) {
        *why = "continuation byte without a lead byte";
        return 0;
    }
    if (b < 0xE0)
        len = 2, c = b & 0x1F;
    else if (b < 0xF0)
        len = 3, c = b & 0x0F;
    else if (b < 0xF8)
        len = 4, c = b & 0x07;
    else {
        *why = "invalid lead byte";
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if (i >= n || (s[i] & 0xC0) != 0x80) {
            *why = "truncated sequence";
            return 0;
        }
        c = c << 6 | (s[i] & 0x3F);
    }
    if (c < min_cp[len])
        *why = "overlong encoding";
    else if (c >= 0xD800 && c <= 0xDFFF)
        *why = "surrogate code point";
    else if (c > 0x10FFFF)
        *why = "code point above U+10FFFF";
    else {
        *cp = c;
        return len;
    }
    return 0;
}

size_t tl_utf8_valid_prefix(const unsigned char *s, size_t n, const char **why)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        size_t k = tl_utf8_decode(s + i, n - i, &cp, why);
        if (k == 0)
            return i;
        i += k;
    }
    return n;
}

tl_status tl_grow(void **p, size_t *cap, size_t need, size_t elem_size, const char *what)
{
    if (need <= *cap)
        return TL_OK;
    size_t n = *cap > 8 ? *cap : 8;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : 2 * n;
    TL_TRY(tl_realloc(p, n, elem_size, what));
    *cap = n;
    return TL_OK;
}

/* The size of a regular file is known up front, so the buffer is allocated
 * once and the limit checked before reading; other files (pipes) grow the
 * buffer as they go. */
tl_status tl_read_all(const char *path, FILE *f, char **text, size_t *n)
{
    struct stat sb;
    size_t cap = 0, len = 0, want = (size_t)1 << 16;
    *text = NULL;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        if ((uintmax_t)sb.st_size > TL_CORPUS_MAX_BYTES)
            return tl_fail(TL_ERR_NOMEM, "%s: %jd bytes is larger than the maximum %zu "
                           "(TL_CORPUS_MAX_BYTES)", path, (intmax_t)sb.st_size,
                           TL_CORPUS_MAX_BYTES);
        want = (size_t)sb.st_size + 1;      /* one byte more to see the end in one read */
    }
    for (;;) {
        TL_TRY(tl_grow((void **)text, &cap, len + want, 1, path));
        size_t ask = cap - len;
        if (ask > TL_CORPUS_MAX_BYTES + 1 - len)
            ask = TL_CORPUS_MAX_BYTES + 1 - len;
        size_t got = fread(*text + len, 1, ask, f);
        len += got;
        if (len > TL_CORPUS_MAX_BYTES)
            return tl_fail(TL_ERR_NOMEM, "%s: larger than the maximum %zu bytes "
                           "(TL_CORPUS_MAX_BYTES)", path, TL_CORPUS_MAX_BYTES);
        if (got < ask) {
            if (ferror(f))
                return tl_fail(TL_ERR_IO, "%s: read error: %s", path, strerror(errno));
            *n = len;
            return TL_OK;
        }
        want = 1;
    }
}
