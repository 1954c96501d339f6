/* Vocabulary: tokens in one byte pool, ids in order of first appearance, and
 * an open-addressing hash table (linear probing, at most half full) of ids.
 * Each entry keeps its token's hash, so growing the table never rehashes
 * strings. */
#include <stdlib.h>
#include <string.h>
#include "text.h"
#include "timelayers/vocab.h"

typedef struct entry {
    size_t off;        /* token bytes at pool + off, NUL-terminated */
    uint32_t len;
    uint32_t hash;
} entry;

struct tl_vocab {
    tl_level level;
    int32_t n, unk, eos;
    entry *e;
    size_t ecap;
    char *pool;
    size_t pool_len, pool_cap;
    int32_t *slot;     /* -1 = empty */
    size_t mask;       /* number of slots - 1, a power of two minus one */
};

static const char unk_token[] = "<unk>", eos_token[] = "<eos>";

/* 64-bit FNV-1a folded to 32 bits. */
static uint32_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
    return (uint32_t)(h ^ h >> 32);
}

static bool same(const tl_vocab *v, int32_t id, const char *s, size_t len, uint32_t h)
{
    const entry *e = &v->e[id];
    return e->hash == h && e->len == len && memcmp(v->pool + e->off, s, len) == 0;
}

/* The slot holding `s`, or the empty slot where it would go. */
static size_t probe(const tl_vocab *v, const char *s, size_t len, uint32_t h)
{
    size_t i = h & v->mask;
    while (v->slot[i] >= 0 && !same(v, v->slot[i], s, len, h))
        i = (i + 1) & v->mask;
    return i;
}

static tl_status alloc_slots(tl_vocab *v, size_t nslot)
{
    int32_t *slot;
    TL_TRY(tl_alloc((void **)&slot, nslot, sizeof *slot, "tl_vocab hash table"));
    memset(slot, 0xff, nslot * sizeof *slot);     /* every slot -1 */
    tl_free(v->slot);
    v->slot = slot;
    v->mask = nslot - 1;
    for (int32_t id = 0; id < v->n; id++) {
        size_t i = v->e[id].hash & v->mask;
        while (slot[i] >= 0)
            i = (i + 1) & v->mask;
        slot[i] = id;
    }
    return TL_OK;
}

tl_status tl_vocab_create(tl_vocab **out, tl_level level)
{
    if (!out)
        return tl_fail(TL_ERR_ARG, "tl_vocab_create: out is NULL");
    *out = NULL;
    if (level != TL_LEVEL_WORD && level != TL_LEVEL_CHAR)
        return tl_fail(TL_ERR_ARG, "tl_vocab_create: unknown level %d", (int)level);
    tl_vocab *v;
    TL_TRY(tl_calloc((void **)&v, 1, sizeof *v, "tl_vocab_create"));
    v->level = level;
    v->unk = v->eos = -1;
    tl_status st = alloc_slots(v, 64);
    if (st) {
        tl_free(v);
        return st;
    }
    *out = v;
    return TL_OK;
}

void tl_vocab_destroy(tl_vocab *v)
{
    if (!v)
        return;
    tl_free(v->e);
    tl_free(v->pool);
    tl_free(v->slot);
    tl_free(v);
}

tl_level tl_vocab_level(const tl_vocab *v) { return v ? v->level : TL_LEVEL_WORD; }

int32_t tl_vocab_size(const tl_vocab *v) { return v ? v->n : 0; }

int32_t tl_vocab_unk(const tl_vocab *v) { return v ? v->unk : -1; }

/* Why `token` cannot be a token of v's level, or NULL when it can. */
static const char *invalid_token(const tl_vocab *v, const char *token, size_t len)
{
    const unsigned char *s = (const unsigned char *)token;
    if (len == 0)
        return "the token is empty";
    if (len == sizeof unk_token - 1 && memcmp(token, unk_token, len) == 0)
        return NULL;
    if (v->level == TL_LEVEL_WORD) {
        for (size_t i = 0; i < len; i++)
            if (s[i] == 0 || tl_is_space(s[i]))
                return "a word contains white space or a NUL byte";
        const char *why = NULL;
        return tl_utf8_valid_prefix(s, len, &why) == len ? NULL : why;
    }
    uint32_t cp;
    const char *why = "not one UTF-8 character";
    size_t k = tl_utf8_decode(s, len, &cp, &why);
    if (k == 0)
        return why;
    if (k != len)
        return "a char-level token is more than one character";
    return cp == 0 ? "U+0000 is not a token" : NULL;
}

tl_status tl_vocab_add(tl_vocab *v, const char *token, size_t len, int32_t *id)
{
    if (!v || !token || !id)
        return tl_fail(TL_ERR_ARG, "tl_vocab_add: vocabulary, token or id is NULL");
    if (len > TL_VOCAB_MAX_TOKEN)
        return tl_fail(TL_ERR_FORMAT,
                       "tl_vocab_add: token of %zu bytes is longer than the maximum %d "
                       "(TL_VOCAB_MAX_TOKEN): \"%.40s...\"",
                       len, TL_VOCAB_MAX_TOKEN, token);
    uint32_t h = hash_bytes(token, len);
    size_t i = probe(v, token, len, h);
    if (v->slot[i] >= 0) {
        *id = v->slot[i];
        return TL_OK;
    }
    const char *why = invalid_token(v, token, len);
    if (why)
        return tl_fail(TL_ERR_FORMAT, "tl_vocab_add: invalid %s-level token \"%.*s\": %s",
                       v->level == TL_LEVEL_WORD ? "word" : "char", len < 40 ? (int)len : 40,
                       token, why);
    if (v->n == TL_VOCAB_MAX_SIZE)
        return tl_fail(TL_ERR_NOMEM, "tl_vocab_add: the vocabulary is full (%d ids)",
                       TL_VOCAB_MAX_SIZE);
    /* Make every room first, so that a failure leaves v unchanged. */
    TL_TRY(tl_grow((void **)&v->e, &v->ecap, (size_t)v->n + 1, sizeof *v->e, "tl_vocab_add"));
    TL_TRY(tl_grow((void **)&v->pool, &v->pool_cap, v->pool_len + len + 1, 1, "tl_vocab_add"));
    if (2 * ((size_t)v->n + 1) > v->mask + 1) {
        TL_TRY(alloc_slots(v, 2 * (v->mask + 1)));
        i = probe(v, token, len, h);
    }
    int32_t new_id = v->n++;
    v->e[new_id] = (entry){.off = v->pool_len, .len = (uint32_t)len, .hash = h};
    memcpy(v->pool + v->pool_len, token, len);
    v->pool[v->pool_len + len] = '\0';
    v->pool_len += len + 1;
    v->slot[i] = new_id;
    if (len == sizeof unk_token - 1 && memcmp(token, unk_token, len) == 0)
        v->unk = new_id;
    if (len == sizeof eos_token - 1 && memcmp(token, eos_token, len) == 0)
        v->eos = new_id;
    *id = new_id;
    return TL_OK;
}

int32_t tl_vocab_find(const tl_vocab *v, const char *token, size_t len)
{
    if (!v || !token || len > TL_VOCAB_MAX_TOKEN)
        return -1;
    return v->slot[probe(v, token, len, hash_bytes(token, len))];
}

const char *tl_vocab_token(const tl_vocab *v, int32_t id)
{
    if (!v || id < 0 || id >= v->n)
        return NULL;
    return v->pool + v->e[id].off;
}

/* Append k bytes at *pos, writing only what fits in cap. */
static void put(char *buf, size_t cap, size_t *pos, const char *s, size_t k)
{
    if (*pos < cap)
        memcpy(buf + *pos, s, k < cap - *pos ? k : cap - *pos);
    *pos += k;
}

tl_status tl_vocab_detokenize(const tl_vocab *v, const int32_t *ids, size_t n, char *buf,
                              size_t cap, size_t *len)
{
    size_t bound;
    if (!v || !len || (!ids && n) || (!buf && cap))
        return tl_fail(TL_ERR_ARG, "tl_vocab_detokenize: vocabulary, ids, buf or len is NULL");
    /* Every id adds at most MAX_TOKEN + 1 bytes: with this bound, pos below
     * cannot overflow. */
    if (!tl_mul_ok(n, TL_VOCAB_MAX_TOKEN + 1, &bound))
        return tl_fail(TL_ERR_NOMEM, "tl_vocab_detokenize: %zu ids are too many", n);
    bool words = v->level == TL_LEVEL_WORD;
    size_t pos = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t id = ids[k];
        if (id < 0 || id >= v->n)
            return tl_fail(TL_ERR_RANGE, "tl_vocab_detokenize: ids[%zu] = %d is outside the "
                           "vocabulary of %d", k, id, v->n);
        if (words && id == v->eos)
            put(buf, cap, &pos, "\n", 1);
        else {
            if (words && k > 0 && ids[k - 1] != v->eos)
                put(buf, cap, &pos, " ", 1);
            put(buf, cap, &pos, v->pool + v->e[id].off, v->e[id].len);
        }
    }
    *len = pos;
    if (cap == 0)
        return TL_OK;
    buf[pos < cap ? pos : cap - 1] = '\0';
    if (pos >= cap)
        return tl_fail(TL_ERR_RANGE, "tl_vocab_detokenize: the text needs %zu bytes, the buffer "
                       "has %zu", pos + 1, cap);
    return TL_OK;
}
