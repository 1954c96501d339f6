/* Corpus loading. The whole file is read into memory once and tokenised in
 * two passes over the bytes: the first validates the text and counts the
 * tokens, so the id array is allocated once at its exact size; the second
 * maps every token to its id through the vocabulary's hash table. Tokens are
 * (pointer, length) views into the text: nothing is allocated per token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text.h"
#include "timelayers/corpus.h"

static const char eos_token[] = "<eos>";

/* A position in the text; `line` is the line of the last token returned. */
typedef struct cursor {
    const char *name;
    const unsigned char *s;
    size_t n, pos, line;
    bool after_newline;
    tl_level level;
} cursor;

/* The next token as (tok, len): returns 1, or 0 at the end of the text, or -1
 * with a message when the text is invalid. */
static int next_token(cursor *c, const char **tok, size_t *len)
{
    const unsigned char *s = c->s;
    if (c->after_newline)
        c->line++;
    c->after_newline = false;
    if (c->level == TL_LEVEL_WORD)
        while (c->pos < c->n && s[c->pos] != '\n' && tl_is_space(s[c->pos]))
            c->pos++;
    if (c->pos == c->n)
        return 0;
    size_t start = c->pos;
    if (s[start] == '\n') {
        c->after_newline = true;
        if (c->level == TL_LEVEL_WORD) {
            *tok = eos_token;
            *len = sizeof eos_token - 1;
            c->pos++;
            return 1;
        }
    }
    if (c->level == TL_LEVEL_WORD) {
        while (c->pos < c->n && s[c->pos] && !tl_is_space(s[c->pos]))
            c->pos++;
        if (c->pos - start > TL_VOCAB_MAX_TOKEN) {
            tl_fail(TL_ERR_FORMAT, "%s: line %zu, byte offset %zu: a word of %zu bytes is "
                    "longer than the maximum %d (TL_VOCAB_MAX_TOKEN)",
                    c->name, c->line, start, c->pos - start, TL_VOCAB_MAX_TOKEN);
            return -1;
        }
        /* Words must be UTF-8 too: checkpoints store the vocabulary as JSON. */
        const char *why = "";
        size_t ok = tl_utf8_valid_prefix(s + start, c->pos - start, &why);
        if (ok < c->pos - start) {
            tl_fail(TL_ERR_FORMAT, "%s: line %zu, byte offset %zu: invalid UTF-8 (%s)",
                    c->name, c->line, start + ok, why);
            return -1;
        }
    } else if (s[start]) {
        uint32_t cp;
        const char *why = "";
        size_t k = tl_utf8_decode(s + start, c->n - start, &cp, &why);
        if (k == 0) {
            tl_fail(TL_ERR_FORMAT, "%s: line %zu, byte offset %zu: invalid UTF-8 (%s)",
                    c->name, c->line, start, why);
            return -1;
        }
        c->pos += k;
    }
    if (c->pos == start) {      /* only a NUL byte stops a token before it starts */
        tl_fail(TL_ERR_FORMAT, "%s: line %zu, byte offset %zu: NUL byte (a corpus must be text)",
                c->name, c->line, start);
        return -1;
    }
    *tok = (const char *)s + start;
    *len = c->pos - start;
    return 1;
}

/* The error for a token missing from a vocabulary without "<unk>". */
static tl_status unknown(const cursor *c, const tl_vocab *v, const char *tok, size_t len)
{
    if (c->level == TL_LEVEL_WORD)
        return tl_fail(TL_ERR_FORMAT, "%s: line %zu: unknown word \"%.*s\" (not in the vocabulary "
                       "of %d, which has no <unk>)", c->name, c->line, len < 64 ? (int)len : 64,
                       tok, tl_vocab_size(v));
    uint32_t cp = 0;
    const char *why;
    tl_utf8_decode((const unsigned char *)tok, len, &cp, &why);
    bool visible = cp > ' ' && cp != 0x7F;
    return tl_fail(TL_ERR_FORMAT, "%s: line %zu: unknown character U+%04X%s%.*s%s (not in the "
                   "vocabulary of %d, which has no <unk>)", c->name, c->line, (unsigned)cp,
                   visible ? " '" : "", visible ? (int)len : 0, tok, visible ? "'" : "",
                   tl_vocab_size(v));
}

static tl_status tokenize(const char *name, const char *text, size_t n, tl_vocab *v, bool grow,
                          tl_corpus *out)
{
    cursor c0 = {.name = name, .s = (const unsigned char *)text, .n = n, .line = 1,
                 .level = tl_vocab_level(v)};
    cursor c = c0;
    const char *tok;
    size_t len, count = 0;
    int r;
    while ((r = next_token(&c, &tok, &len)) > 0)
        count++;
    if (r < 0)
        return TL_ERR_FORMAT;
    if (count == 0)
        return tl_fail(TL_ERR_FORMAT, "%s: no tokens (the text is empty or only white space)",
                       name);
    int32_t *ids;
    TL_TRY(tl_alloc((void **)&ids, count, sizeof *ids, "corpus ids"));
    int32_t unk = tl_vocab_unk(v);
    tl_status st = TL_OK;
    c = c0;
    for (size_t k = 0; k < count && !st; k++) {
        next_token(&c, &tok, &len);     /* cannot fail: the first pass read the same text */
        if (grow)
            st = tl_vocab_add(v, tok, len, &ids[k]);
        else if ((ids[k] = tl_vocab_find(v, tok, len)) < 0) {
            ids[k] = unk;
            if (unk < 0)
                st = unknown(&c, v, tok, len);
        }
    }
    if (st) {
        tl_free(ids);
        return st;
    }
    *out = (tl_corpus){ids, count};
    return TL_OK;
}

tl_status tl_corpus_from_text(const char *text, size_t n, tl_vocab *v, bool grow,
                              tl_corpus *out)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_corpus_from_text: out is NULL");
    *out = (tl_corpus){NULL, 0};
    if ((!text && n) || !v)
        return tl_fail(TL_ERR_ARG, "tl_corpus_from_text: text or vocabulary is NULL");
    return tokenize("<text>", text, n, v, grow, out);
}

tl_status tl_corpus_load(const char *path, tl_vocab *v, bool grow, tl_corpus *out)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_corpus_load: out is NULL");
    *out = (tl_corpus){NULL, 0};
    if (!path || !v)
        return tl_fail(TL_ERR_ARG, "tl_corpus_load: path or vocabulary is NULL");
    FILE *f;
    TL_TRY(tl_fopen_read(path, false, &f));
    char *text = NULL;
    size_t n = 0;
    tl_status st = tl_read_all(path, f, &text, &n);
    fclose(f);
    if (!st)
        st = tokenize(path, text, n, v, grow, out);
    tl_free(text);
    return st;
}

void tl_corpus_free(tl_corpus *c)
{
    if (!c)
        return;
    tl_free(c->ids);
    *c = (tl_corpus){NULL, 0};
}
