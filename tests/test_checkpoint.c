/* Checkpoints: round trips (model, metadata, extra tensors, the other float
 * width), loading into an existing model, every kind of malformed file,
 * atomic saves under injected I/O failures, and a file read back by Python
 * with only json and struct. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"
#include "../lib/safetensors.h"

enum { D = 4, H = 6, M = 3 };

/* ---- Helpers: scratch directories, files, models ---- */

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A file with header length hlen, the header text, then ndata bytes. */
static void write_raw(const char *path, uint64_t hlen, const char *header, size_t ndata)
{
    FILE *f = fopen(path, "wb");
    unsigned char len[8];
    assert_non_null(f);
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)(hlen >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < ndata; i++)
        fputc(i & 0xff, f);
    assert_int_equal(fclose(f), 0);
}

/* RNN(D, H, stateful, tanh) -> RNN(H, H, sigmoid) -> Affine(H, M), every
 * value (biases too) drawn from N(0, 0.25). */
static tl_model *make_model(uint64_t seed, int d, int h, int m_out)
{
    tl_rng rng;
    tl_model *m;
    tl_layer *l;
    tl_rng_seed(&rng, seed);
    TU_OK(tl_model_create(&m));
    TU_OK(tl_time_rnn_create(&l, d, h, true, TL_ACT_TANH, NULL));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_rnn_create(&l, h, h, false, TL_ACT_SIGMOID, NULL));
    TU_OK(tl_model_add(m, l));
    TU_OK(tl_time_affine_create(&l, h, m_out, NULL));
    TU_OK(tl_model_add(m, l));
    tl_real *v;
    size_t n;
    TU_OK(tl_model_flat(m, &v, NULL, &n));
    for (size_t i = 0; i < n; i++)
        v[i] = (tl_real)(0.5 * tl_rng_normal(&rng));
    return m;
}

static void assert_same_params(tl_model *a, tl_model *b)
{
    tl_real *va, *vb;
    size_t na, nb;
    TU_OK(tl_model_flat(a, &va, NULL, &na));
    TU_OK(tl_model_flat(b, &vb, NULL, &nb));
    assert_int_equal(na, nb);
    assert_memory_equal(va, vb, na * sizeof *va);
}

static void assert_same_predictions(tl_model *a, tl_model *b)
{
    tl_rng rng;
    tl_tensor x = {0};
    const tl_tensor *ya, *yb;
    tl_rng_seed(&rng, 99);
    tu_randn(&x, &rng, 1.0, 3, (int[]){2, 5, D});
    TU_OK(tl_model_predict(a, &x, &ya));
    TU_OK(tl_model_predict(b, &x, &yb));
    assert_true(tl_tensor_same_shape(ya, yb));
    assert_memory_equal(ya->data, yb->data, ya->size * sizeof(tl_real));
    tl_tensor_free(&x);
}

static void expect_status(tl_status got, tl_status want, const char *needle)
{
    if (got != want)
        fail_msg("expected %s, got %s: %s", tl_status_name(want), tl_status_name(got),
                 tl_last_error());
    if (!strstr(tl_last_error(), needle))
        fail_msg("message \"%s\" does not mention \"%s\"", tl_last_error(), needle);
}

/* Opening path fails with TL_ERR_FORMAT, a message naming the file and
 * containing needle. */
static void expect_bad_file(const char *path, const char *needle)
{
    tl_checkpoint *ck = (tl_checkpoint *)1;
    expect_status(tl_checkpoint_open(path, &ck), TL_ERR_FORMAT, needle);
    assert_null(ck);
    assert_non_null(strstr(tl_last_error(), path));
}

/* Rebuilding the model from path fails with TL_ERR_FORMAT and needle. */
static void expect_bad_model(const char *path, const char *needle)
{
    tl_checkpoint *ck;
    tl_model *m = (tl_model *)1;
    TU_OK(tl_checkpoint_open(path, &ck));
    expect_status(tl_checkpoint_model(ck, &m), TL_ERR_FORMAT, needle);
    assert_null(m);
    assert_non_null(strstr(tl_last_error(), path));
    tl_checkpoint_close(ck);
}

/* Copy checkpoint src to dst with every tensor stored as dtype, metadata
 * `key` set to value (removed when value is NULL, untouched when key is NULL),
 * tensor `drop` left out and, unless NULL, a one-value tensor `add` added. */
static void rewrite(const char *src, const char *dst, tl_st_dtype dtype, const char *key,
                    const char *value, const char *drop, const char *add)
{
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(src, &ck));
    int nm = tl_checkpoint_meta_count(ck), nt = tl_checkpoint_tensor_count(ck), km = 0, kt = 0;
    tl_ckpt_meta *meta = calloc((size_t)nm + 1, sizeof *meta);
    tl_st_out *out = calloc((size_t)nt + 1, sizeof *out);
    tl_real **data = calloc((size_t)nt + 1, sizeof *data);
    static const tl_real one = 1;
    bool seen = false;
    for (int i = 0; i < nm; i++) {
        TU_OK(tl_checkpoint_meta_at(ck, i, &meta[km].key, &meta[km].value));
        if (key && strcmp(meta[km].key, key) == 0) {
            seen = true;
            meta[km].value = value;
            km += value != NULL;
        } else {
            km++;
        }
    }
    if (key && !seen && value)
        meta[km++] = (tl_ckpt_meta){key, value};
    for (int i = 0; i < nt; i++) {
        tl_ckpt_tensor_info info;
        TU_OK(tl_checkpoint_tensor_info(ck, i, &info));
        if (drop && strcmp(info.name, drop) == 0)
            continue;
        data[kt] = malloc((info.count + 1) * sizeof(tl_real));
        TU_OK(tl_checkpoint_tensor(ck, info.name, data[kt], info.count));
        out[kt] = (tl_st_out){.name = info.name, .dtype = dtype, .ndim = info.ndim,
                              .data = data[kt]};
        memcpy(out[kt].shape, info.shape, (size_t)info.ndim * sizeof *info.shape);
        kt++;
    }
    if (add)
        out[kt++] = (tl_st_out){.name = add, .dtype = dtype, .ndim = 1, .shape = {1},
                                .data = &one};
    TU_OK(tl_st_write(dst, meta, km, out, kt));
    for (int i = 0; i < nt; i++)
        free(data[i]);
    free(data);
    free(out);
    free(meta);
    tl_checkpoint_close(ck);
}

/* ---- Round trips ---- */

static void test_roundtrip(void **state)
{
    (void)state;
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tl_model *m = make_model(1, D, H, M);
    tl_real v[5] = {1.5f, -2, 0.25f, 1e-3f, 7};
    const tl_ckpt_meta meta[] = {{"vocab", "[\"a\", \"b\", \"<eos>\"]"}, {"train.epoch", "3"}};
    const tl_ckpt_tensor extra[] = {{"optim.v", v, 5}, {"optim.empty", NULL, 0}};
    TU_OK(tl_checkpoint_save(path, m, meta, 2, extra, 2));

    tl_checkpoint *ck;
    tl_model *copy;
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_string_equal(tl_checkpoint_meta(ck, "format"), "timelayers");
    assert_string_equal(tl_checkpoint_meta(ck, "format_version"), "2");
    assert_string_equal(tl_checkpoint_meta(ck, "dtype"), TU_DOUBLE ? "F64" : "F32");
    assert_non_null(strstr(tl_checkpoint_meta(ck, "architecture"), "\"TimeRNN\""));
    assert_string_equal(tl_checkpoint_meta(ck, "vocab"), meta[0].value);
    assert_string_equal(tl_checkpoint_meta(ck, "train.epoch"), "3");
    assert_null(tl_checkpoint_meta(ck, "train.step"));
    assert_int_equal(tl_checkpoint_meta_count(ck), 6);

    TU_OK(tl_checkpoint_model(ck, &copy));
    assert_same_params(m, copy);
    assert_same_predictions(m, copy);
    assert_same_predictions(m, copy); /* stateful layers advanced alike */
    for (int i = 0; i < 3; i++) {
        tl_layer_config a, b;
        TU_OK(tl_layer_get_config(tl_model_layer(m, i), &a));
        TU_OK(tl_layer_get_config(tl_model_layer(copy, i), &b));
        assert_true(tl_config_equal(&a, &b));
    }

    /* 3 + 3 + 2 parameters, then the extras, in file order. */
    assert_int_equal(tl_checkpoint_tensor_count(ck), 10);
    tl_ckpt_tensor_info info;
    TU_OK(tl_checkpoint_tensor_info(ck, 0, &info));
    assert_string_equal(info.name, "layers.0.Wx");
    assert_string_equal(info.dtype, TU_DOUBLE ? "F64" : "F32");
    assert_int_equal(info.ndim, 2);
    assert_int_equal(info.shape[0], D);
    assert_int_equal(info.shape[1], H);
    assert_int_equal(info.count, D * H);
    assert_int_equal(info.nbytes, D * H * sizeof(tl_real));
    int i = tl_checkpoint_find(ck, "layers.2.b");
    TU_OK(tl_checkpoint_tensor_info(ck, i, &info));
    assert_string_equal(info.name, "layers.2.b");
    assert_int_equal(tl_checkpoint_find(ck, "layers.3.b"), -1);
    assert_int_equal(tl_checkpoint_tensor_info(ck, 10, &info), TL_ERR_RANGE);

    tl_real got[5];
    TU_OK(tl_checkpoint_tensor(ck, "optim.v", got, 5));
    assert_memory_equal(got, v, sizeof v);
    TU_OK(tl_checkpoint_tensor(ck, "optim.empty", NULL, 0));
    expect_status(tl_checkpoint_tensor(ck, "optim.v", got, 4), TL_ERR_SHAPE, "5 elements");
    expect_status(tl_checkpoint_tensor(ck, "optim.m", got, 5), TL_ERR_ARG, "optim.m");

    tl_checkpoint_close(ck);
    tl_model_destroy(copy);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

static void test_load_into(void **state)
{
    (void)state;
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tl_model *m = make_model(1, D, H, M), *other = make_model(2, D, H, M);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    tl_checkpoint *ck;
    TU_OK(tl_checkpoint_open(path, &ck));
    TU_OK(tl_checkpoint_load_into(ck, other));
    assert_same_params(m, other);
    assert_same_predictions(m, other);

    /* A model of another shape is refused and left as it was. */
    tl_model *wide = make_model(3, D, H + 1, M), *before = make_model(3, D, H + 1, M);
    expect_status(tl_checkpoint_load_into(ck, wide), TL_ERR_FORMAT,
                  "tensor 'layers.0.Wx' has shape (4, 6), but the model's parameter has shape "
                  "(4, 7)");
    assert_same_params(wide, before);

    /* Fewer layers than the file: the file's extra layer is unknown. */
    tl_model *short_model;
    tl_layer *l;
    TU_OK(tl_model_create(&short_model));
    TU_OK(tl_time_rnn_create(&l, D, H, true, TL_ACT_TANH, NULL));
    TU_OK(tl_model_add(short_model, l));
    TU_OK(tl_time_rnn_create(&l, H, H, false, TL_ACT_SIGMOID, NULL));
    TU_OK(tl_model_add(short_model, l));
    expect_status(tl_checkpoint_load_into(ck, short_model), TL_ERR_FORMAT,
                  "tensor 'layers.2.W' is not a parameter of the model");
    /* More layers than the file: a parameter is missing. */
    TU_OK(tl_checkpoint_save(path, short_model, NULL, 0, NULL, 0));
    tl_checkpoint_close(ck);
    TU_OK(tl_checkpoint_open(path, &ck));
    expect_status(tl_checkpoint_load_into(ck, other), TL_ERR_FORMAT,
                  "tensor 'layers.2.W' is missing");
    assert_int_equal(tl_checkpoint_load_into(NULL, other), TL_ERR_ARG);

    tl_checkpoint_close(ck);
    tl_model_destroy(short_model);
    tl_model_destroy(before);
    tl_model_destroy(wide);
    tl_model_destroy(other);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

/* F64 files load into the float build and F32 files into the double build. */
static void test_other_float_width(void **state)
{
    (void)state;
    char dir[64], path[128], conv[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(conv, sizeof conv, "%s/converted.safetensors", dir);
    tl_model *m = make_model(4, D, H, M), *copy;
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    tl_st_dtype other = TU_DOUBLE ? TL_ST_F32 : TL_ST_F64;
    rewrite(path, conv, other, NULL, NULL, NULL, NULL);

    tl_checkpoint *ck;
    tl_ckpt_tensor_info info;
    TU_OK(tl_checkpoint_open(conv, &ck));
    TU_OK(tl_checkpoint_tensor_info(ck, 0, &info));
    assert_string_equal(info.dtype, TU_DOUBLE ? "F32" : "F64");
    assert_int_equal(info.nbytes, D * H * (TU_DOUBLE ? 4 : 8));
    TU_OK(tl_checkpoint_model(ck, &copy));
    /* Exact in the float build; rounded to float in the double build. */
    tl_real *a, *b;
    size_t n;
    TU_OK(tl_model_flat(m, &a, NULL, &n));
    TU_OK(tl_model_flat(copy, &b, NULL, NULL));
    for (size_t i = 0; i < n; i++)
        assert_true(b[i] == (tl_real)(TU_DOUBLE ? (double)(float)a[i] : (double)a[i]));

    tl_checkpoint_close(ck);
    tl_model_destroy(copy);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

/* ---- Malformed files ---- */

static void test_truncated_at_every_byte(void **state)
{
    (void)state;
    char dir[64], path[128], cut[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    tl_model *m = make_model(5, 2, 3, 2);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    size_t n;
    unsigned char *bytes = tu_read_bytes(path, &n);
    for (size_t len = 0; len < n; len++) {
        write_bytes(cut, bytes, len);
        tl_checkpoint *ck = (tl_checkpoint *)1;
        tl_status st = tl_checkpoint_open(cut, &ck);
        if (st != TL_ERR_FORMAT || ck)
            fail_msg("truncated to %zu of %zu bytes: got %s: %s", len, n, tl_status_name(st),
                     tl_last_error());
        assert_non_null(strstr(tl_last_error(), cut));
    }
    printf("truncation: all %zu prefixes of a %zu-byte file refused\n", n, n);
    free(bytes);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    static const struct {
        const char *header;
        size_t ndata;
        const char *needle;
    } cases[] = {
        {"", 0, "not valid JSON"},
        {"hello", 0, "not valid JSON"},
        {"{\"a\": ", 0, "not valid JSON"},
        {"[1, 2]", 0, "not a JSON object"},
        {"{} x", 0, "text after its JSON value"},
        {"{\"a\xff\": 1}", 0, "not valid UTF-8"},
        {"{\"a\": 5}", 0, "tensor 'a': the entry is not a JSON object"},
        {"{\"a\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'a': \"dtype\""},
        {"{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "tensor 'a': \"shape\""},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "tensor 'a': \"data_offsets\""},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8,
         "tensor 'a': \"data_offsets\""},
        {"{\"a\": {\"dtype\": \"F128\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
         "tensor 'a': unknown dtype 'F128'"},
        {"{\"a\": {\"dtype\": 32, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "\"dtype\""},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4,
         "tensor 'a': shape[0] is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1, 1.5], \"data_offsets\": [0, 4]}}", 4,
         "tensor 'a': shape[1] is not a non-negative integer"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": \"1\", \"data_offsets\": [0, 4]}}", 4,
         "\"shape\""},
        /* 2^40 elements: over TL_MAX_ELEMENTS (2^32), refused by name before the
         * offsets are even looked at; nothing allocated. */
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1099511627776], \"data_offsets\": [0, 4]}}",
         4, "(1099511627776,) has 1099511627776 elements, more than the limit of 4294967296 "
            "(TL_MAX_ELEMENTS)"},
        {"{\"a\": {\"dtype\": \"U8\", \"shape\": [65536, 65537], "
         "\"data_offsets\": [0, 4294967296]}}", 4, "more than the limit of 4294967296"},
        /* Exactly TL_MAX_ELEMENTS passes the limit; the file is then too short. */
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [65536, 65536], \"data_offsets\": [0, 4]}}",
         4, "need 17179869184"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296], "
         "\"data_offsets\": [0, 17179869184]}}", 4, "reach past the 4 bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
         "\"data_offsets\": [0, 4]}}", 4, "too many elements"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4,
         "\"data_offsets\""},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4,
         "end before they begin"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 4,
         "reach past the 4 bytes"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4,
         "hold 4 bytes, but dtype F32 and shape (2,) need 8"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]}}", 12,
         "tensor 'b': bytes [4, 12) overlap tensor 'a'"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 12]}}", 12,
         "bytes [4, 8) of the data section (before tensor 'b') belong to no tensor"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
         "bytes [0, 4) of the data section"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8,
         "bytes [4, 8) at the end of the data section"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
         " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8,
         "tensor 'a': the name appears twice"},
        {"{\"__metadata__\": [\"k\"]}", 0, "\"__metadata__\" is not a JSON object"},
        {"{\"__metadata__\": {\"k\": 1}}", 0, "metadata 'k' is not a string"},
        {"{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0, "metadata key 'k' appears twice"},
        {"{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "\"__metadata__\" appears twice"},
    };
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/bad.safetensors", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_raw(path, strlen(cases[i].header), cases[i].header, cases[i].ndata);
        expect_bad_file(path, cases[i].needle);
    }
    printf("malformed headers: %zu cases refused\n", sizeof cases / sizeof *cases);

    /* Header lengths beyond the file and beyond the 100 MB limit (a sparse
     * file of 200 MB: the limit is checked before anything is read). */
    write_raw(path, (uint64_t)1 << 62, "{}", 0);
    expect_bad_file(path, "exceeds the 2 bytes that follow it");
    write_raw(path, 100000001, "{}", 0);
    assert_int_equal(truncate(path, 200000000), 0);
    expect_bad_file(path, "exceeds the limit of 100000000 bytes");
    write_bytes(path, "\x01\x00\x00", 3);
    expect_bad_file(path, "fewer than the 8");
    /* Text is not called truncated: it is not a checkpoint at all. */
    write_bytes(path, "abc", 3);
    expect_bad_file(path, "not a safetensors file (it begins with the text \"abc\")");
    write_bytes(path, "hello, world\n", 13);
    expect_bad_file(path, "not a safetensors file (it begins with the text \"hello, w\")");

    /* Valid edge cases: no tensors at all, padding, a zero-size tensor. */
    tl_checkpoint *ck;
    write_raw(path, 2, "{}", 0);
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_int_equal(tl_checkpoint_tensor_count(ck), 0);
    assert_int_equal(tl_checkpoint_meta_count(ck), 0);
    tl_checkpoint_close(ck);
    const char *ok = "{\"z\": {\"dtype\": \"I64\", \"shape\": [0, 3], \"data_offsets\": [0, 0]},"
                     " \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [0, 2]}}   ";
    write_raw(path, strlen(ok), ok, 2);
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_int_equal(tl_checkpoint_tensor_count(ck), 2);
    tl_real x[2];
    expect_status(tl_checkpoint_tensor(ck, "a", x, 2), TL_ERR_FORMAT, "dtype U8");
    tl_checkpoint_close(ck);

    expect_status(tl_checkpoint_open("/nonexistent/x.safetensors", &ck), TL_ERR_IO,
                  "/nonexistent/x.safetensors");
    expect_status(tl_checkpoint_open(dir, &ck), TL_ERR_IO, "not a regular file");
    tu_remove_dir(dir);
}

/* Copy src to dst with the given format version and architecture. */
static void rewrite_arch(const char *src, const char *dst, const char *version, const char *arch)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", dst);
    rewrite(src, tmp, TL_ST_REAL, "architecture", arch, NULL, NULL);
    rewrite(tmp, dst, TL_ST_REAL, "format_version", version, NULL, NULL);
    remove(tmp);
}

static void test_bad_architecture(void **state)
{
    (void)state;
    char dir[64], path[128], bad[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    tl_model *m = make_model(6, D, H, M);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    static const char *rnn = "{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, "
                             "\"stateful\": true, \"variant\": 0}";
    static const char *rest = "{\"type\": \"TimeRNN\", \"in_dim\": 6, \"out_dim\": 6, "
                              "\"stateful\": false, \"variant\": 1}, {\"type\": \"TimeAffine\","
                              " \"in_dim\": 6, \"out_dim\": 3, \"stateful\": false, "
                              "\"variant\": 0}]";
    char arch[512];
    static const struct {
        const char *first;   /* the first layer's JSON, or the whole value when rest is 0 */
        int whole;
        const char *needle;
    } cases[] = {
        {"[1, 2", 1, "\"architecture\" is not a non-empty JSON array"},
        {"{}", 1, "\"architecture\" is not a non-empty JSON array"},
        {"[]", 1, "\"architecture\" is not a non-empty JSON array"},
        {"[5]", 1, "architecture layer 0: not an object with a \"type\" string"},
        {"{\"type\": \"TimeRNN\"}", 0, "architecture layer 0: TimeRNN needs integers"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4.5, \"out_dim\": 6, \"stateful\": true, "
         "\"variant\": 0}", 0, "needs integers"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": 1, "
         "\"variant\": 0}", 0, "boolean \"stateful\""},
        {"{\"type\": \"TimeGizmo\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": true, "
         "\"variant\": 0}", 0, "architecture layer 0: unknown layer type 'TimeGizmo'"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": -4, \"out_dim\": 6, \"stateful\": true, "
         "\"variant\": 0}", 0, "architecture layer 0: RNN cell: sizes must be positive"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": true, "
         "\"variant\": 7}", 0, "architecture layer 0:"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 1000000000, \"stateful\": true, "
         "\"variant\": 0}", 0, "wider than the 165 parameter values"},
        /* A vocabulary of 10^9 in a file of 165 values: refused before the
         * embedding table is allocated. */
        {"{\"type\": \"TimeEmbedding\", \"in_dim\": 1000000000, \"out_dim\": 4, "
         "\"stateful\": false, \"variant\": 0}", 0,
         "TimeEmbedding of size (1000000000, 4) is wider than the 165 parameter values"},
        /* Each width fits the file, the product does not: refused before the
         * 100 x 100 table is allocated (a 80 KB file once asked for 4.7 GB). */
        {"{\"type\": \"TimeEmbedding\", \"in_dim\": 100, \"out_dim\": 100, "
         "\"stateful\": false, \"variant\": 0}", 0,
         "architecture layer 0: parameter W needs 10000 values, more than the 165 left"},
        /* Dimensions beyond int, and negative ones. */
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 2147483648, \"stateful\": true, "
         "\"variant\": 0}", 0, "needs integers"},
        {"{\"type\": \"TimeAffine\", \"in_dim\": 4, \"out_dim\": -6, \"stateful\": false, "
         "\"variant\": 0}", 0, "architecture layer 0:"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 5, \"stateful\": true, "
         "\"variant\": 0}", 0, "architecture layer 1: layer 1 (TimeRNN) expects input width 6"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 3, \"out_dim\": 6, \"stateful\": true, "
         "\"variant\": 0}", 0,
         "tensor 'layers.0.Wx' has shape (4, 6), but the model's parameter has shape (3, 6)"},
    };
    /* These descriptions are of format version 1 (fixed members stateful
     * and variant). */
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].whole)
            snprintf(arch, sizeof arch, "%s", cases[i].first);
        else
            snprintf(arch, sizeof arch, "[%s, %s", cases[i].first, rest);
        rewrite_arch(path, bad, "1", arch);
        expect_bad_model(bad, cases[i].needle);
    }
    /* The rebuilt copy itself is fine; the file around it is not. */
    snprintf(arch, sizeof arch, "[%s, %s", rnn, rest);
    rewrite_arch(path, bad, "1", arch);
    tl_checkpoint *ck;
    tl_model *copy;
    TU_OK(tl_checkpoint_open(bad, &ck));
    TU_OK(tl_checkpoint_model(ck, &copy));
    assert_same_params(m, copy);
    tl_model_destroy(copy);
    tl_checkpoint_close(ck);

    /* Version 2: named fields, each of the kind its layer reads. */
    static const char *rest2 = "{\"type\": \"TimeRNN\", \"in_dim\": 6, \"out_dim\": 6, "
                               "\"stateful\": false, \"activation\": 1}, {\"type\": "
                               "\"TimeAffine\", \"in_dim\": 6, \"out_dim\": 3}]";
    static const struct {
        const char *first;
        const char *needle;
    } cases2[] = {
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": 1}",
         "architecture layer 0: TimeRNN: field 'stateful' must be a boolean, not an integer"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"activation\": 0.5}",
         "field 'activation' must be an integer, not a real number"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"variant\": 0}",
         "TimeRNN has no field 'variant'"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": \"yes\"}",
         "field 'stateful' is not a number, a boolean or {\"layer\": index}"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": true, "
         "\"stateful\": false}", "field 'stateful' appears twice"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, \"stateful\": {\"layer\": "
         "0}}", "must be a boolean, not a layer reference"},
        {"{\"type\": \"TimeRNN\", \"in_dim\": 4, \"out_dim\": 6, "
         "\"a_field_name_of_more_than_31_bytes\": 1}", "too long"},
    };
    for (size_t i = 0; i < sizeof cases2 / sizeof *cases2; i++) {
        snprintf(arch, sizeof arch, "[%s, %s", cases2[i].first, rest2);
        rewrite_arch(path, bad, "2", arch);
        expect_bad_model(bad, cases2[i].needle);
    }

    rewrite(path, bad, TL_ST_REAL, "architecture", NULL, NULL, NULL);
    expect_bad_model(bad, "no \"architecture\" metadata");
    rewrite(path, bad, TL_ST_REAL, "format", "pytorch", NULL, NULL);
    expect_bad_model(bad, "not a timelayers checkpoint");
    rewrite(path, bad, TL_ST_REAL, "format_version", "3", NULL, NULL);
    expect_bad_model(bad, "format_version '3' is not supported");
    /* A missing tensor leaves fewer values than the architecture needs. */
    rewrite(path, bad, TL_ST_REAL, NULL, NULL, "layers.1.b", NULL);
    expect_bad_model(bad, "architecture layer 2: parameter W needs 18 values, more than the 15 "
                          "left in the file");
    rewrite(path, bad, TL_ST_REAL, NULL, NULL, NULL, "layers.7.W");
    expect_bad_model(bad, "tensor 'layers.7.W' is not a parameter of the model");
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

/* ---- Saving ---- */

static void test_save_arguments(void **state)
{
    (void)state;
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tl_model *m = make_model(7, D, H, M), *empty;
    tl_real v[2] = {1, 2};
    const tl_ckpt_meta reserved[] = {{"format", "mine"}};
    const tl_ckpt_meta twice[] = {{"k", "1"}, {"k", "2"}};
    const tl_ckpt_meta not_utf8[] = {{"k", "\xc3\x28"}};
    const tl_ckpt_tensor param_like[] = {{"layers.0.Wx", v, 2}};
    const tl_ckpt_tensor same[] = {{"optim.v", v, 2}, {"optim.v", v, 1}};
    const tl_ckpt_tensor unnamed[] = {{"", v, 2}};
    const tl_ckpt_tensor no_data[] = {{"optim.v", NULL, 2}};
    expect_status(tl_checkpoint_save(path, m, reserved, 1, NULL, 0), TL_ERR_ARG,
                  "'format' is reserved");
    expect_status(tl_checkpoint_save(path, m, twice, 2, NULL, 0), TL_ERR_ARG,
                  "metadata key 'k' given twice");
    expect_status(tl_checkpoint_save(path, m, not_utf8, 1, NULL, 0), TL_ERR_ARG, "UTF-8");
    expect_status(tl_checkpoint_save(path, m, NULL, 0, param_like, 1), TL_ERR_ARG,
                  "belong to the model");
    expect_status(tl_checkpoint_save(path, m, NULL, 0, same, 2), TL_ERR_ARG,
                  "tensor name 'optim.v' given twice");
    expect_status(tl_checkpoint_save(path, m, NULL, 0, unnamed, 1), TL_ERR_ARG, "empty");
    expect_status(tl_checkpoint_save(path, m, NULL, 0, no_data, 1), TL_ERR_ARG, "NULL data");
    expect_status(tl_checkpoint_save(NULL, m, NULL, 0, NULL, 0), TL_ERR_ARG, "NULL");
    expect_status(tl_checkpoint_save(path, m, NULL, -1, NULL, 0), TL_ERR_ARG, "negative");
    TU_OK(tl_model_create(&empty));
    expect_status(tl_checkpoint_save(path, empty, NULL, 0, NULL, 0), TL_ERR_STATE, "no layers");
    assert_int_equal(tu_count_files(dir), 0);
    tl_model_destroy(empty);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

static const char *fail_step;
static size_t fail_after;

static int failing_hook(const char *step, size_t written)
{
    return strcmp(step, fail_step) == 0 && written >= fail_after;
}

static void test_atomic_save(void **state)
{
    (void)state;
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tl_model *m = make_model(8, D, H, M), *m2 = make_model(9, D, H, M);
    /* A new file gets 0666 less the umask, as with open(2). */
    struct stat sb;
    mode_t old_mask = umask(027);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640);
    assert_int_equal(unlink(path), 0);
    umask(022);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    umask(old_mask);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    size_t n, n2;
    unsigned char *old = tu_read_bytes(path, &n);

    /* Into a directory that does not exist: nothing is created. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/no/such/dir/model.safetensors", dir);
    expect_status(tl_checkpoint_save(missing, m2, NULL, 0, NULL, 0), TL_ERR_IO,
                  "cannot create a temporary file");
    assert_non_null(strstr(tl_last_error(), missing));

    /* Failures at every step before the rename, writes failing at several
     * points (the length, the header, the data): the old file is untouched
     * and no temporary stays behind. */
    const struct {
        const char *step;
        size_t after;
    } faults[] = {{"write", 0}, {"write", 8},  {"write", 100}, {"write", n / 2 + 1},
                  {"flush", 0}, {"fsync", 0}, {"close", 0},   {"rename", 0}};
    for (size_t i = 0; i < sizeof faults / sizeof *faults; i++) {
        fail_step = faults[i].step;
        fail_after = faults[i].after;
        tl__set_write_hook(failing_hook);
        tl_status st = tl_checkpoint_save(path, m2, NULL, 0, NULL, 0);
        tl__set_write_hook(NULL);
        expect_status(st, TL_ERR_IO, path);
        unsigned char *now = tu_read_bytes(path, &n2);
        assert_int_equal(n2, n);
        assert_memory_equal(now, old, n);
        free(now);
        assert_int_equal(tu_count_files(dir), 1);
    }

    /* The check before training (tl_checkpoint_save_check) reserves the
     * file's size next to the target: a full disk fails it with the path,
     * the old file untouched and no temporary left; with room it passes,
     * also leaving nothing behind. */
    fail_step = "write";
    fail_after = 0;
    tl__set_write_hook(failing_hook);
    tl_status st = tl_checkpoint_save_check(path, m2, NULL, 0, NULL, 0);
    tl__set_write_hook(NULL);
    expect_status(st, TL_ERR_IO, "no room for the file");
    assert_non_null(strstr(tl_last_error(), path));
    TU_OK(tl_checkpoint_save_check(path, m2, NULL, 0, NULL, 0));
    unsigned char *now = tu_read_bytes(path, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(now, old, n);
    free(now);
    assert_int_equal(tu_count_files(dir), 1);

    /* A replaced file keeps its mode. */
    assert_int_equal(chmod(path, 0600), 0);
    TU_OK(tl_checkpoint_save(path, m2, NULL, 0, NULL, 0));
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* After the rename only the directory sync can fail: the new file is in
     * place and the error says so. */
    fail_step = "fsync-dir";
    fail_after = 0;
    tl__set_write_hook(failing_hook);
    st = tl_checkpoint_save(path, m, NULL, 0, NULL, 0);
    tl__set_write_hook(NULL);
    expect_status(st, TL_ERR_IO, "syncing the directory");
    now = tu_read_bytes(path, &n2);
    assert_int_equal(n2, n);
    assert_memory_equal(now, old, n);
    free(now);
    assert_int_equal(tu_count_files(dir), 1);

    /* A path without a directory part (synced through "."). */
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    TU_OK(tl_checkpoint_save("model.safetensors", m2, NULL, 0, NULL, 0));
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(tu_count_files(dir), 1);

    free(old);
    tl_model_destroy(m2);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

/* ---- Other readers ---- */

static void test_python_reads_it(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) != 0) {
        print_message("/usr/bin/python3 not found: skipping the Python reader check\n");
        skip();
    }
    char dir[64], path[128], cmd[512], word[64];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    tl_model *m = make_model(10, D, H, M);
    tl_real v[3] = {0.1f, -1e-7f, 3e5f};
    const tl_ckpt_tensor extra[] = {{"optim.v", v, 3}};
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, extra, 1));

    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/checkpoint_read.py %s", TL_TESTS_DIR, path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char fmt[32], version[8], dtype[8], types[3][32];
    assert_int_equal(fscanf(p, " format %31s %7s %7s", fmt, version, dtype), 3);
    assert_string_equal(fmt, "timelayers");
    assert_string_equal(version, "2");
    assert_string_equal(dtype, TU_DOUBLE ? "F64" : "F32");
    assert_int_equal(fscanf(p, " layers %31s %31s %31s", types[0], types[1], types[2]), 3);
    assert_string_equal(types[0], "TimeRNN");
    assert_string_equal(types[2], "TimeAffine");

    int np;
    TU_OK(tl_model_param_count(m, &np));
    size_t checked = 0;
    for (int i = 0; i <= np; i++) {
        tl_named_param param;
        const tl_real *want = v;
        int ndim, want_ndim = 1, dims[TL_MAX_DIMS] = {3};
        size_t count;
        const char *want_name = "optim.v";
        if (i < np) {
            TU_OK(tl_model_param(m, i, &param));
            want = param.param->value.data;
            want_name = param.name;
            want_ndim = param.param->value.ndim;
            memcpy(dims, param.param->value.shape, sizeof dims);
        }
        assert_int_equal(fscanf(p, " tensor %63s %d", word, &ndim), 2);
        assert_string_equal(word, want_name);
        assert_int_equal(ndim, want_ndim);
        for (int k = 0; k < ndim; k++) {
            int d;
            assert_int_equal(fscanf(p, "%d", &d), 1);
            assert_int_equal(d, dims[k]);
        }
        assert_int_equal(fscanf(p, "%zu", &count), 1);
        for (size_t k = 0; k < count; k++, checked++) {
            double x;
            assert_int_equal(fscanf(p, "%lf", &x), 1);
            if ((tl_real)x != want[k])
                fail_msg("%s[%zu]: Python read %.17g, saved %.17g", word, k, x,
                         (double)want[k]);
        }
    }
    assert_int_equal(fscanf(p, "%63s", word), EOF);
    assert_int_equal(pclose(p), 0);
    printf("python: %zu values read back exactly\n", checked);
    tl_model_destroy(m);
    tu_remove_dir(dir);
}

/* tests/data/v1-lstm.safetensors was written by the library before format
 * version 2 (`timelayers train` on the first lines of the cli test's text:
 * word level, embed 6, 2 x LSTM 8, 15 epochs of SGD); v1-lstm.txt is the
 * first 4 lines of that text. That library's `timelayers eval v1-lstm.safetensors
 * v1-lstm.txt --mode stream` printed 0.14439 nats/token. */
static void test_version1_file(void **state)
{
    (void)state;
    tl_checkpoint *ck;
    tl_model *m, *copy;
    tl_vocab *v;
    tl_corpus c;
    TU_OK(tl_checkpoint_open(TL_TESTS_DIR "/data/v1-lstm.safetensors", &ck));
    assert_string_equal(tl_checkpoint_meta(ck, "format_version"), "1");
    TU_OK(tl_checkpoint_model(ck, &m));
    tl_checkpoint_close(ck);
    assert_int_equal(tl_model_num_layers(m), 4);
    tl_layer_config cfg;
    bool stateful = false;
    TU_OK(tl_model_layer_config(m, 1, &cfg));
    assert_string_equal(cfg.type, "TimeLSTM");
    TU_OK(tl_config_bool(&cfg, "stateful", false, &stateful));
    assert_true(stateful);

    /* The text's words appear in the training text's order: same ids. */
    TU_OK(tl_vocab_create(&v, TL_LEVEL_WORD));
    TU_OK(tl_corpus_load(TL_TESTS_DIR "/data/v1-lstm.txt", v, true, &c));
    assert_int_equal(tl_vocab_size(v), 11);
    double loss;
    TU_OK(tl_eval_perplexity(m, c.ids, c.len, TL_EVAL_STREAM, 0, &loss, NULL));
    print_message("version 1 file: %.6f nats/token (printed by the old library: 0.14439)\n",
                  loss);
    assert_true(fabs(loss - 0.14439) <= 5e-6); /* the old value's printed precision */

    /* Saved again it is a version-2 file of the same model. */
    char dir[64], path[128];
    tu_make_dir(dir);
    snprintf(path, sizeof path, "%s/v2.safetensors", dir);
    TU_OK(tl_checkpoint_save(path, m, NULL, 0, NULL, 0));
    TU_OK(tl_checkpoint_open(path, &ck));
    assert_string_equal(tl_checkpoint_meta(ck, "format_version"), "2");
    TU_OK(tl_checkpoint_model(ck, &copy));
    tl_checkpoint_close(ck);
    assert_same_params(m, copy);
    double loss2;
    TU_OK(tl_eval_perplexity(copy, c.ids, c.len, TL_EVAL_STREAM, 0, &loss2, NULL));
    assert_true(loss2 == loss);
    tl_model_destroy(copy);
    tl_model_destroy(m);
    tl_corpus_free(&c);
    tl_vocab_destroy(v);
    tu_remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_load_into),
        cmocka_unit_test(test_other_float_width),
        cmocka_unit_test(test_truncated_at_every_byte),
        cmocka_unit_test(test_malformed_headers),
        cmocka_unit_test(test_bad_architecture),
        cmocka_unit_test(test_save_arguments),
        cmocka_unit_test(test_atomic_save),
        cmocka_unit_test(test_python_reads_it),
        cmocka_unit_test(test_version1_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
