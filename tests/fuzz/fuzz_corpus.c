/* Fuzz target: corpus files and the vocabularies built from them, word and
 * char level. The first byte picks the level; the rest is the file. The file
 * is loaded growing a vocabulary (a training file), loaded again against that
 * fixed vocabulary (a validation file: every token must now be known), and
 * the ids are turned back into text. Checked properties, beyond "no crash":
 * both loads agree, every id is in the vocabulary, and detokenising
 * measures and writes the same length. */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    tl_level level = data[0] & 1 ? TL_LEVEL_CHAR : TL_LEVEL_WORD;
    const char *path = fuzz_as_file(data + 1, size - 1);
    tl_vocab *v;
    tl_corpus train, valid;
    CHECK(tl_vocab_create(&v, level) == TL_OK);
    tl_status st = tl_corpus_load(path, v, true, &train);
    CHECK(!st || (*tl_last_error() && !train.ids && !train.len));
    if (!st) {
        CHECK(train.len >= 1);
        for (size_t i = 0; i < train.len; i++)
            CHECK(train.ids[i] >= 0 && train.ids[i] < tl_vocab_size(v));
        CHECK(tl_corpus_from_text((const char *)data + 1, size - 1, v, false, &valid) == TL_OK);
        CHECK(valid.len == train.len &&
              memcmp(valid.ids, train.ids, train.len * sizeof *train.ids) == 0);
        roundtrip(v, &train);
        tl_corpus_free(&valid);
    }
    tl_corpus_free(&train);
    tl_vocab_destroy(v);
    return 0;
}
