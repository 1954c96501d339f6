/* Fuzz target: corpus files and the vocabularies built from them, word and
 * char level. The first byte picks the level (bit 0: char, else word) and
 * whether the vocabulary starts with "<unk>" (bit 1); the first half of the
 * rest is a training file, the second half a validation file. The training
 * file is loaded growing the vocabulary, its text again against the now fixed
 * vocabulary (every token must be known), the ids are turned back into text,
 * and the validation text is loaded against the fixed vocabulary (unknown
 * tokens: "<unk>" or an error). Checked properties, beyond "no crash": both
 * training loads agree, every id is in the vocabulary, detokenising measures
 * and writes the same length, and a failed load has a message, no ids and
 * leaves the vocabulary as it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "timelayers/timelayers.h"

static void roundtrip(const tl_vocab *v, const tl_corpus *c)
{
    size_t len, len2;
    CHECK(tl_vocab_detokenize(v, c->ids, c->len, NULL, 0, &len) == TL_OK);
    char *buf = malloc(len + 1);
    if (!buf)
        return;
    CHECK(tl_vocab_detokenize(v, c->ids, c->len, buf, len + 1, &len2) == TL_OK);
    CHECK(len2 == len && strlen(buf) <= len);
    free(buf);
}

/* Load text (n bytes) against the fixed vocabulary v. */
static void validation(tl_vocab *v, const char *text, size_t n)
{
    int32_t size = tl_vocab_size(v);
    tl_corpus c;
    tl_status st = tl_corpus_from_text(text, n, v, false, &c);
    CHECK(tl_vocab_size(v) == size);
    CHECK(!st || (*tl_last_error() && !c.ids && !c.len));
    for (size_t i = 0; !st && i < c.len; i++)
        CHECK(c.ids[i] >= 0 && c.ids[i] < size);
    tl_corpus_free(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tl_level level = data[0] & 1 ? TL_LEVEL_CHAR : TL_LEVEL_WORD;
    const char *text = (const char *)data + 1;
    size_t ntrain = (size - 1) / 2, nvalid = size - 1 - ntrain;
    tl_vocab *v;
    tl_corpus train, again;
    int32_t unk;
    CHECK(tl_vocab_create(&v, level) == TL_OK);
    if (data[0] & 2)
        CHECK(tl_vocab_add(v, "<unk>", 5, &unk) == TL_OK && unk == 0);
    tl_status st = tl_corpus_load(fuzz_as_file(data + 1, ntrain), v, true, &train);
    CHECK(!st || (*tl_last_error() && !train.ids && !train.len));
    /* corpus.h: a failed load leaves v unchanged, except when out of memory. */
    CHECK(!st || st == TL_ERR_NOMEM || tl_vocab_size(v) == (data[0] & 2 ? 1 : 0));
    if (!st) {
        CHECK(train.len >= 1);
        for (size_t i = 0; i < train.len; i++)
            CHECK(train.ids[i] >= 0 && train.ids[i] < tl_vocab_size(v));
        CHECK(tl_corpus_from_text(text, ntrain, v, false, &again) == TL_OK);
        CHECK(again.len == train.len &&
              memcmp(again.ids, train.ids, train.len * sizeof *train.ids) == 0);
        roundtrip(v, &train);
        tl_corpus_free(&again);
        validation(v, text + ntrain, nvalid);
    }
    tl_corpus_free(&train);
    tl_vocab_destroy(v);
    return 0;
}
