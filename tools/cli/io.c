/* Input for the CLI: a file, or standard input when the name is "-". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

bool cli_read_all(const char *path, char **text, size_t *len)
{
    bool in = !strcmp(path, "-");
    FILE *f = in ? stdin : fopen(path, "rb");
    *text = NULL;
    *len = 0;
    if (!f) {
        perror(path);
        return false;
    }
    size_t cap = 0;
    for (;;) {
        if (*len == cap) {
            char *more = cap < TL_CORPUS_MAX_BYTES ? realloc(*text, cap = cap ? 2 * cap : 1 << 16)
                                                   : NULL;
            if (!more) {
                fprintf(stderr, "timelayers: %s: larger than %zu bytes or out of memory\n",
                        in ? "standard input" : path, (size_t)TL_CORPUS_MAX_BYTES);
                break;
            }
            *text = more;
        }
        size_t got = fread(*text + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    bool ok = *len < cap && !ferror(f);
    if (ferror(f))
        perror(in ? "standard input" : path);
    if (!in)
        fclose(f);
    if (!ok) {
        free(*text);
        *text = NULL;
        *len = 0;
    }
    return ok;
}

bool cli_corpus_load(const char *path, tl_vocab *v, bool grow, tl_corpus *out)
{
    if (strcmp(path, "-")) {
        if (tl_corpus_load(path, v, grow, out))
            return cli_fail(path), false;
        return true;
    }
    char *text;
    size_t len;
    if (!cli_read_all(path, &text, &len))
        return false;
    tl_status st = tl_corpus_from_text(text, len, v, grow, out);
    free(text);
    if (st)
        return cli_fail("standard input"), false;
    return true;
}
