/* Paired sequences "question<sep>answer", one per line (pairs.h). One pass
 * tokenises every line with the vocabulary and appends its ids; the lengths
 * of the first line bind the rest. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "text.h"
#include "timelayers/pairs.h"

typedef struct {
    const char *what;
    tl_vocab *v;
    bool grow;
    size_t line;
} parser;

/* The id of the code point at s (len bytes). */
static tl_status char_id(parser *p, const char *s, size_t len, int32_t *id)
{
    if (p->grow)
        return tl_vocab_add(p->v, s, len, id);
    *id = tl_vocab_find(p->v, s, len);
    if (*id < 0)
        return tl_fail(TL_ERR_FORMAT, "%s:%zu: the character '%.*s' is not in the vocabulary",
                       p->what, p->line, (int)len, s);
    return TL_OK;
}

/* Tokenise s[0, n) into ids (grown as needed); *count receives the number. */
static tl_status tokenize(parser *p, const char *s, size_t n, int32_t **ids, size_t *cap,
                          size_t *count)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const char *why;
        size_t len = tl_utf8_decode((const unsigned char *)s + i, n - i, &cp, &why);
        if (!len)
            return tl_fail(TL_ERR_FORMAT, "%s:%zu: invalid UTF-8 (%s)", p->what, p->line, why);
        TL_TRY(tl_grow((void **)ids, cap, k + 1, sizeof **ids, p->what));
        TL_TRY(char_id(p, s + i, len, &(*ids)[k]));
        k++;
        i += len;
    }
    *count = k;
    return TL_OK;
}

static tl_status parse(parser *p, const char *text, size_t len, const char *sep, int qlen,
                       int alen, tl_pairs *out, int32_t **line_ids, size_t *line_cap)
{
    size_t sep_len = strlen(sep), qcap = 0, acap = 0;
    for (size_t pos = 0; pos < len;) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + 1;
        p->line++;
        const char *at = NULL;
        for (size_t i = 0; i + sep_len <= n && !at; i++)
            if (memcmp(s + i, sep, sep_len) == 0)
                at = s + i;
        if (!at)
            return tl_fail(TL_ERR_FORMAT, "%s:%zu: no separator '%s' (lines are question%s"
                           "answer)", p->what, p->line, sep, sep);
        size_t nq, na;
        size_t off = out->n;
        TL_TRY(tokenize(p, s, (size_t)(at - s), line_ids, line_cap, &nq));
        if (!qlen)
            qlen = (int)nq;
        if (nq == 0)
            return tl_fail(TL_ERR_FORMAT, "%s:%zu: the question is empty (the line starts with "
                           "'%s')", p->what, p->line, sep);
        if (nq != (size_t)qlen)
            return tl_fail(TL_ERR_FORMAT, "%s:%zu: the question has %zu characters, expected %d "
                           "(all questions of a set have one length)", p->what, p->line, nq,
                           qlen);
        TL_TRY(tl_grow((void **)&out->q, &qcap, (off + 1) * (size_t)qlen, sizeof *out->q,
                       p->what));
        memcpy(out->q + off * (size_t)qlen, *line_ids, nq * sizeof **line_ids);
        TL_TRY(tokenize(p, at, (size_t)(s + n - at), line_ids, line_cap, &na));
        if (!alen)
            alen = (int)na;
        if (na < 2)
            return tl_fail(TL_ERR_FORMAT, "%s:%zu: the answer has nothing after '%s'", p->what,
                           p->line, sep);
        if (na != (size_t)alen)
            return tl_fail(TL_ERR_FORMAT, "%s:%zu: the answer has %zu characters with '%s', "
                           "expected %d (all answers of a set have one length)", p->what, p->line,
                           na, sep, alen);
        TL_TRY(tl_grow((void **)&out->a, &acap, (off + 1) * (size_t)alen, sizeof *out->a,
                       p->what));
        memcpy(out->a + off * (size_t)alen, *line_ids, na * sizeof **line_ids);
        out->n++;
        out->qlen = qlen;
        out->alen = alen;
    }
    if (!out->n)
        return tl_fail(TL_ERR_FORMAT, "%s: no question%sanswer lines", p->what, sep);
    return TL_OK;
}

tl_status tl_pairs_parse(const char *text, size_t len, const char *what, const char *sep,
                         tl_vocab *v, bool grow, int qlen, int alen, tl_pairs *out)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_pairs_parse: out is NULL");
    *out = (tl_pairs){0};
    if ((!text && len) || !sep || !v || qlen < 0 || alen < 0)
        return tl_fail(TL_ERR_ARG, "tl_pairs_parse: NULL argument or negative length");
    if (tl_vocab_level(v) != TL_LEVEL_CHAR)
        return tl_fail(TL_ERR_ARG, "tl_pairs_parse: the vocabulary must be char level");
    uint32_t cp;
    const char *why;
    size_t sep_len = strlen(sep);
    if (!sep_len || tl_utf8_decode((const unsigned char *)sep, sep_len, &cp, &why) != sep_len ||
        sep[0] == '\n')
        return tl_fail(TL_ERR_ARG, "the separator '%s' must be one character other than a "
                       "newline", sep);
    parser p = {what ? what : "(text)", v, grow, 0};
    int32_t *line_ids = NULL;
    size_t line_cap = 0;
    tl_status st = parse(&p, text, len, sep, qlen, alen, out, &line_ids, &line_cap);
    tl_free(line_ids);
    if (st)
        tl_pairs_free(out);
    return st;
}

tl_status tl_pairs_load(const char *path, const char *sep, tl_vocab *v, bool grow, int qlen,
                        int alen, tl_pairs *out)
{
    if (!path || !out)
        return tl_fail(TL_ERR_ARG, "tl_pairs_load: NULL argument");
    *out = (tl_pairs){0};
    FILE *f;
    TL_TRY(tl_fopen_read(path, false, &f));
    char *buf = NULL;
    size_t len = 0;
    tl_status st = tl_read_all(path, f, &buf, &len);
    fclose(f);
    if (!st)
        st = tl_pairs_parse(buf, len, path, sep, v, grow, qlen, alen, out);
    tl_free(buf);
    return st;
}

void tl_pairs_reverse_questions(tl_pairs *p)
{
    for (size_t i = 0; p && i < p->n; i++) {
        int32_t *q = p->q + i * (size_t)p->qlen;
        for (int a = 0, b = p->qlen - 1; a < b; a++, b--) {
            int32_t t = q[a];
            q[a] = q[b];
            q[b] = t;
        }
    }
}

void tl_pairs_free(tl_pairs *p)
{
    if (!p)
        return;
    tl_free(p->q);
    tl_free(p->a);
    *p = (tl_pairs){0};
}
