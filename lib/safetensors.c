/* safetensors: a validating reader and an atomic writer.
 *
 *   file = u64le N | header: N bytes of UTF-8 JSON | data section
 *
 * The reader trusts nothing in the file. Every size is compared with the
 * file's size before memory of that size is requested, and the tensors must
 * tile the data section: sorted by offset, each begins where the previous one
 * ends and the last ends at the end of the file. That one pass rules out
 * overlaps, gaps and trailing bytes. The writer goes through a temporary file
 * and rename(2), so a crash or a full disk never leaves a half-written file
 * under the real name.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "internal.h"
#include "safetensors.h"

static const struct {
    const char *name;
    size_t size;
} dtypes[TL_ST_NDTYPES] = {
    [TL_ST_F64] = {"F64", 8},         [TL_ST_F32] = {"F32", 4},   [TL_ST_F16] = {"F16", 2},
    [TL_ST_BF16] = {"BF16", 2},       [TL_ST_F8_E5M2] = {"F8_E5M2", 1},
    [TL_ST_F8_E4M3] = {"F8_E4M3", 1}, [TL_ST_I64] = {"I64", 8},   [TL_ST_I32] = {"I32", 4},
    [TL_ST_I16] = {"I16", 2},         [TL_ST_I8] = {"I8", 1},     [TL_ST_U64] = {"U64", 8},
    [TL_ST_U32] = {"U32", 4},         [TL_ST_U16] = {"U16", 2},   [TL_ST_U8] = {"U8", 1},
    [TL_ST_BOOL] = {"BOOL", 1},
};

const char *tl_st_dtype_name(tl_st_dtype dt) { return dtypes[dt].name; }

size_t tl_st_dtype_size(tl_st_dtype dt) { return dtypes[dt].size; }

char *tl_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t off = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < ndim && off < n; i++)
        off += (size_t)snprintf(buf + off, n - off, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (off < n)
        snprintf(buf + off, n - off, ndim == 1 ? ",)" : ")");
    return buf;
}

/* ---- Bytes: little-endian whatever the host, and UTF-8 ---- */

static void put_le(unsigned char *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* tl_real -> F32/F64 bytes, and back. */
static void encode(tl_st_dtype dt, const tl_real *x, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        if (dt == TL_ST_F32) {
            float v = (float)x[i];
            uint32_t u;
            memcpy(&u, &v, sizeof u);
            put_le(out + 4 * i, u, 4);
        } else {
            double v = (double)x[i];
            uint64_t u;
            memcpy(&u, &v, sizeof u);
            put_le(out + 8 * i, u, 8);
        }
    }
}

static void decode(tl_st_dtype dt, const unsigned char *in, size_t n, tl_real *x)
{
    for (size_t i = 0; i < n; i++) {
        if (dt == TL_ST_F32) {
            uint32_t u = (uint32_t)get_le(in + 4 * i, 4);
            float v;
            memcpy(&v, &u, sizeof v);
            x[i] = (tl_real)v;
        } else {
            uint64_t u = get_le(in + 8 * i, 8);
            double v;
            memcpy(&v, &u, sizeof v);
            x[i] = (tl_real)v;
        }
    }
}

/* Length of the valid UTF-8 prefix of s[0, n): n when all of it is valid.
 * Overlong forms, surrogates and code points above U+10FFFF are invalid. */
static size_t utf8_prefix(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            len = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0)
            len = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0)
            len = 4, cp = c & 0x07, min = 0x10000;
        else
            return i;
        if (len > n - i)
            return i;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return n;
}

static bool is_utf8(const char *s)
{
    size_t n = strlen(s);
    return utf8_prefix((const unsigned char *)s, n) == n;
}

/* ---- Writing ---- */

static tl__write_hook_fn write_hook;

void tl__set_write_hook(tl__write_hook_fn hook) { write_hook = hook; }

/* Every I/O step of a save asks here first, so that tests can make it fail. */
static bool step_ok(const char *step, size_t written)
{
    if (write_hook && write_hook(step, written)) {
        errno = EIO;
        return false;
    }
    return true;
}

typedef struct {
    const char *path;   /* the target */
    char *tmp;          /* the temporary's name while it exists */
    FILE *f;
    size_t written;
} sink;

static tl_status sink_fail(const sink *s, const char *what)
{
    return tl_fail(TL_ERR_IO, "%s: %s: %s", s->path, what, strerror(errno));
}

static tl_status sink_write(sink *s, const void *p, size_t n)
{
    if (!step_ok("write", s->written) || fwrite(p, 1, n, s->f) != n)
        return sink_fail(s, "writing the temporary file failed");
    s->written += n;
    return TL_OK;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first name that occurs twice in names[0, n) (sorted in place), or NULL. */
static const char *find_duplicate(const char **names, size_t n)
{
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            return names[i];
    return NULL;
}

static tl_status check_name(const char *path, const char *what, const char *name)
{
    if (!name || !*name)
        return tl_fail(TL_ERR_ARG, "%s: a %s is NULL or empty", path, what);
    if (!is_utf8(name))
        return tl_fail(TL_ERR_ARG, "%s: %s '%s' is not valid UTF-8", path, what, name);
    return TL_OK;
}

/* Validate what is to be written; counts[i] = elements of tensor i. */
static tl_status check_output(const char *path, const tl_ckpt_meta *meta, int nmeta,
                              const tl_st_out *t, int nt, size_t *counts)
{
    for (int i = 0; i < nmeta; i++) {
        TL_TRY(check_name(path, "metadata key", meta[i].key));
        if (!meta[i].value || !is_utf8(meta[i].value))
            return tl_fail(TL_ERR_ARG, "%s: the value of metadata '%s' is NULL or not valid "
                           "UTF-8", path, meta[i].key);
    }
    for (int i = 0; i < nt; i++) {
        TL_TRY(check_name(path, "tensor name", t[i].name));
        if (strcmp(t[i].name, "__metadata__") == 0)
            return tl_fail(TL_ERR_ARG, "%s: '__metadata__' is not a valid tensor name", path);
        if (t[i].dtype != TL_ST_F32 && t[i].dtype != TL_ST_F64)
            return tl_fail(TL_ERR_ARG, "%s: tensor '%s': only F32 and F64 can be written",
                           path, t[i].name);
        if (t[i].ndim < 0 || t[i].ndim > TL_MAX_DIMS)
            return tl_fail(TL_ERR_ARG, "%s: tensor '%s': %d dimensions", path, t[i].name,
                           t[i].ndim);
        size_t n = 1, bytes;
        for (int k = 0; k < t[i].ndim; k++)
            if (t[i].shape[k] < 0 || (uint64_t)t[i].shape[k] > SIZE_MAX ||
                !tl_mul_ok(n, (size_t)t[i].shape[k], &n))
                return tl_fail(TL_ERR_ARG, "%s: tensor '%s': invalid shape", path, t[i].name);
        if (!tl_mul_ok(n, tl_st_dtype_size(t[i].dtype), &bytes) || (n && !t[i].data))
            return tl_fail(TL_ERR_ARG, "%s: tensor '%s': %zu elements and %s data", path,
                           t[i].name, n, t[i].data ? "non-NULL" : "NULL");
        counts[i] = n;
    }

    size_t most = (size_t)(nmeta > nt ? nmeta : nt);
    const char **names, *dup, *what = "metadata key";
    TL_TRY(tl_alloc((void **)&names, most, sizeof *names, path));
    for (int i = 0; i < nmeta; i++)
        names[i] = meta[i].key;
    if (!(dup = find_duplicate(names, (size_t)nmeta))) {
        what = "tensor name";
        for (int i = 0; i < nt; i++)
            names[i] = t[i].name;
        dup = find_duplicate(names, (size_t)nt);
    }
    tl_free(names);
    return dup ? tl_fail(TL_ERR_ARG, "%s: %s '%s' given twice", path, what, dup) : TL_OK;
}

static bool add_numbers(cJSON *obj, const char *key, const int64_t *v, int n)
{
    cJSON *a = cJSON_AddArrayToObject(obj, key);
    for (int i = 0; a && i < n; i++) {
        cJSON *x = cJSON_CreateNumber((double)v[i]);
        if (!x || !cJSON_AddItemToArray(a, x)) {
            cJSON_Delete(x);
            return false;
        }
    }
    return a != NULL;
}

/* The header JSON: "__metadata__" first, then the tensors in data order. */
static char *make_header(const tl_ckpt_meta *meta, int nmeta, const tl_st_out *t, int nt,
                         const size_t *counts)
{
    cJSON *root = cJSON_CreateObject(), *md = NULL;
    bool ok = root != NULL;
    if (ok && nmeta > 0)
        ok = (md = cJSON_AddObjectToObject(root, "__metadata__")) != NULL;
    for (int i = 0; ok && i < nmeta; i++)
        ok = cJSON_AddStringToObject(md, meta[i].key, meta[i].value) != NULL;
    int64_t off[2] = {0, 0};
    for (int i = 0; ok && i < nt; i++) {
        off[0] = off[1];
        off[1] += (int64_t)(counts[i] * tl_st_dtype_size(t[i].dtype));
        cJSON *e = cJSON_AddObjectToObject(root, t[i].name);
        ok = e && cJSON_AddStringToObject(e, "dtype", tl_st_dtype_name(t[i].dtype)) &&
             add_numbers(e, "shape", t[i].shape, t[i].ndim) &&
             add_numbers(e, "data_offsets", off, 2);
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

/* The header's length padded to 8 bytes, within the limit. */
static tl_status padded_header(const char *path, const char *header, size_t *padded)
{
    *padded = (strlen(header) + 7) & ~(size_t)7;
    if (*padded > TL_ST_MAX_HEADER)
        return tl_fail(TL_ERR_ARG, "%s: the header would take %zu bytes, more than the limit "
                       "of %llu", path, *padded, (unsigned long long)TL_ST_MAX_HEADER);
    return TL_OK;
}

/* A dry run reserves the file's size instead of writing it: as good a test
 * of the disk's room, at a fraction of the cost. */
static tl_status reserve(sink *s, size_t padded, const tl_st_out *t, int nt,
                         const size_t *counts)
{
    size_t total = 8 + padded;
    for (int k = 0; k < nt; k++)
        total += counts[k] * tl_st_dtype_size(t[k].dtype);
    int err = step_ok("write", 0) ? posix_fallocate(fileno(s->f), 0, (off_t)total) : EIO;
    if (err == EINVAL || err == EOPNOTSUPP)
        return TL_OK;   /* the file system cannot tell in advance */
    errno = err;
    return err ? sink_fail(s, "no room for the file") : TL_OK;
}

static tl_status write_body(sink *s, const char *header, const tl_st_out *t, int nt,
                            const size_t *counts)
{
    unsigned char buf[8192];
    size_t len = strlen(header), padded;
    TL_TRY(padded_header(s->path, header, &padded));
    put_le(buf, padded, 8);
    TL_TRY(sink_write(s, buf, 8));
    TL_TRY(sink_write(s, header, len));
    memset(buf, ' ', padded - len);
    TL_TRY(sink_write(s, buf, padded - len));
    for (int k = 0; k < nt; k++) {
        size_t esize = tl_st_dtype_size(t[k].dtype), per = sizeof buf / esize;
        for (size_t i = 0; i < counts[k]; i += per) {
            size_t m = counts[k] - i < per ? counts[k] - i : per;
            encode(t[k].dtype, t[k].data + i, m, buf);
            TL_TRY(sink_write(s, buf, m * esize));
        }
    }
    return TL_OK;
}

/* Six letters for a temporary's name, different in every call and process. */
static void temp_letters(char *out)
{
    static const char abc[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_uint_fast64_t calls;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t r = (uint64_t)getpid() << 40 ^ (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^
                 atomic_fetch_add(&calls, 1) * 0x9E3779B97F4A7C15u;
    r = (r ^ r >> 31) * 0xBF58476D1CE4E5B9u; /* splitmix64's finaliser */
    r ^= r >> 29;
    for (int i = 0; i < 6; i++, r /= sizeof abc - 1)
        out[i] = abc[r % (sizeof abc - 1)];
}

/* Create "<path>.tmp-XXXXXX" with O_EXCL and mode 0666, so that the umask
 * applies as to any new file (mkstemp would make it 0600 and the umask
 * cannot be read without changing it, which is not thread-safe). A file
 * being replaced passes its mode on. A temporary left by a killed process
 * is never reused or removed here: see docs/reliability.md. */
static tl_status open_temp(sink *s)
{
    static const char suffix[] = ".tmp-XXXXXX";
    size_t n = strlen(s->path);
    TL_TRY(tl_alloc((void **)&s->tmp, n + sizeof suffix, 1, s->path));
    memcpy(s->tmp, s->path, n);
    memcpy(s->tmp + n, suffix, sizeof suffix);
    int fd = -1;
    for (int attempt = 0; fd < 0 && attempt < 100; attempt++) {
        temp_letters(s->tmp + n + sizeof suffix - 7);
        fd = open(s->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        tl_free(s->tmp);
        s->tmp = NULL;
        return sink_fail(s, "cannot create a temporary file next to it");
    }
    struct stat sb;
    if ((stat(s->path, &sb) == 0 && fchmod(fd, sb.st_mode & 0777) != 0) ||
        !(s->f = fdopen(fd, "wb"))) {
        tl_status st = sink_fail(s, "cannot set up the temporary file");
        close(fd);
        return st;
    }
    return TL_OK;
}

/* Flush, sync and close the temporary; closed afterwards whatever happens. */
static tl_status close_temp(sink *s)
{
    FILE *f = s->f;
    tl_status st = TL_OK;
    s->f = NULL;
    if (!step_ok("flush", s->written) || fflush(f) != 0)
        st = sink_fail(s, "writing the temporary file failed");
    else if (!step_ok("fsync", s->written) || fsync(fileno(f)) != 0)
        st = sink_fail(s, "syncing the temporary file failed");
    bool hooked = !st && !step_ok("close", s->written);
    if ((fclose(f) != 0 || hooked) && !st) {
        if (hooked)
            errno = EIO;
        st = sink_fail(s, "closing the temporary file failed");
    }
    return st;
}

/* Make the rename itself durable. File systems that cannot sync a
 * directory (EINVAL) have nothing to sync. The directory's name is written
 * into dir, the temporary's old name (longer than path): after the rename
 * nothing may fail for want of memory. */
static tl_status sync_dir(const char *path, char *dir)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    memcpy(dir, slash ? path : ".", n);
    dir[n] = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    bool ok = fd >= 0 && step_ok("fsync-dir", 0) && (fsync(fd) == 0 || errno == EINVAL);
    tl_status st = ok ? TL_OK
                      : tl_fail(TL_ERR_IO, "%s: written, but syncing the directory %s failed "
                                "(the new file may not survive a crash): %s", path, dir,
                                strerror(errno));
    if (fd >= 0)
        close(fd);
    return st;
}

static tl_status replace_target(sink *s)
{
    if (!step_ok("rename", s->written) || rename(s->tmp, s->path) != 0)
        return sink_fail(s, "cannot rename the temporary file over it");
    tl_status st = sync_dir(s->path, s->tmp);
    tl_free(s->tmp);
    s->tmp = NULL;
    return st;
}

/* Only a regular file the user could write is replaced: rename(2) would
 * just as well put a checkpoint in place of a device node, a FIFO or a
 * read-only file. Root may write anything, so for root a file without any
 * write permission bit counts as read-only too. */
static tl_status check_target(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return TL_OK;   /* a new file; the directory is checked by creating the temporary */
    if (!S_ISREG(sb.st_mode))
        return tl_fail(TL_ERR_IO, "%s: exists and is not a regular file; only a regular file "
                       "is replaced", path);
    if (access(path, W_OK) != 0 || (geteuid() == 0 && !(sb.st_mode & 0222)))
        return tl_fail(TL_ERR_IO, "%s: the file is read-only; it is not replaced", path);
    return TL_OK;
}

/* The whole save, ending with the rename; or (dry) up to a temporary of the
 * file's size, then removed: the save would succeed, and path is untouched. */
static tl_status write_file(const char *path, const tl_ckpt_meta *meta, int nmeta,
                            const tl_st_out *tensors, int ntensors, bool dry)
{
    if (!path || nmeta < 0 || ntensors < 0 || (nmeta && !meta) || (ntensors && !tensors))
        return tl_fail(TL_ERR_ARG, "safetensors write: NULL argument or negative count");
    size_t *counts;
    TL_TRY(tl_alloc((void **)&counts, (size_t)ntensors, sizeof *counts, path));
    char *header = NULL;
    sink s = {.path = path};
    tl_status st = check_output(path, meta, nmeta, tensors, ntensors, counts);
    if (!st && !(header = make_header(meta, nmeta, tensors, ntensors, counts)))
        st = tl_fail(TL_ERR_NOMEM, "%s: out of memory building the header JSON", path);
    size_t padded;
    if (!st)
        st = padded_header(path, header, &padded);
    if (!st)
        st = check_target(path);
    if (!st)
        st = open_temp(&s);
    if (!st && dry)
        st = reserve(&s, padded, tensors, ntensors, counts);
    if (!st && !dry)
        st = write_body(&s, header, tensors, ntensors, counts);
    if (!st && !dry)
        st = close_temp(&s);
    if (!st && !dry)
        st = replace_target(&s);
    if (s.f)
        fclose(s.f);
    if (s.tmp) {
        unlink(s.tmp);
        tl_free(s.tmp);
    }
    cJSON_free(header);
    tl_free(counts);
    return st;
}

tl_status tl_st_write(const char *path, const tl_ckpt_meta *meta, int nmeta,
                      const tl_st_out *tensors, int ntensors)
{
    return write_file(path, meta, nmeta, tensors, ntensors, false);
}

tl_status tl_st_write_check(const char *path, const tl_ckpt_meta *meta, int nmeta,
                            const tl_st_out *tensors, int ntensors)
{
    return write_file(path, meta, nmeta, tensors, ntensors, true);
}

/* ---- Reading ---- */

/* Fail with "<file>: tensor '<name>': <problem>". */
static tl_status TL_PRINTF(3, 4) bad_tensor(const tl_st_file *f, const char *name,
                                            const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return tl_fail(TL_ERR_FORMAT, "%s: tensor '%s': %s", f->path, name, msg);
}

/* A JSON number that is a non-negative integer a double holds exactly. */
static bool json_size(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return false;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0 && d == floor(d)))
        return false;
    *out = (uint64_t)d;
    return true;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const tl_ckpt_meta *)a)->key, ((const tl_ckpt_meta *)b)->key);
}

static tl_status parse_meta(tl_st_file *f, const cJSON *md)
{
    if (!cJSON_IsObject(md))
        return tl_fail(TL_ERR_FORMAT, "%s: \"__metadata__\" is not a JSON object", f->path);
    int n = cJSON_GetArraySize(md);
    TL_TRY(tl_calloc((void **)&f->meta, (size_t)n, sizeof *f->meta, f->path));
    for (const cJSON *e = md->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return tl_fail(TL_ERR_FORMAT, "%s: metadata '%s' is not a string", f->path,
                           e->string);
        f->meta[f->nmeta++] = (tl_ckpt_meta){e->string, e->valuestring};
    }
    qsort(f->meta, (size_t)f->nmeta, sizeof *f->meta, by_key);
    for (int i = 1; i < f->nmeta; i++)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return tl_fail(TL_ERR_FORMAT, "%s: metadata key '%s' appears twice", f->path,
                           f->meta[i].key);
    return TL_OK;
}

/* One tensor entry; dims receives its shape. */
static tl_status parse_tensor(tl_st_file *f, const cJSON *e, tl_st_tensor *t, int64_t *dims)
{
    const char *name = e->string;
    t->name = name;
    if (!cJSON_IsObject(e))
        return bad_tensor(f, name, "the entry is not a JSON object");
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return bad_tensor(f, name, "\"dtype\" is missing or not a string");
    int k = 0;
    while (k < TL_ST_NDTYPES && strcmp(dt->valuestring, dtypes[k].name) != 0)
        k++;
    if (k == TL_ST_NDTYPES)
        return bad_tensor(f, name, "unknown dtype '%s'", dt->valuestring);
    t->dtype = (tl_st_dtype)k;

    if (!cJSON_IsArray(shape))
        return bad_tensor(f, name, "\"shape\" is missing or not an array");
    size_t count = 1, nbytes;
    t->shape = dims;
    for (const cJSON *d = shape->child; d; d = d->next, t->ndim++) {
        uint64_t v;
        if (!json_size(d, &v))
            return bad_tensor(f, name, "shape[%d] is not a non-negative integer", t->ndim);
        dims[t->ndim] = (int64_t)v;
        if (v > SIZE_MAX || !tl_mul_ok(count, (size_t)v, &count))
            return bad_tensor(f, name, "the shape has too many elements");
    }
    char sh[96];
    tl_st_shape_str(t->shape, t->ndim, sh, sizeof sh);
    /* The library's tensors hold at most TL_MAX_ELEMENTS: refuse a bigger
     * one here, by name, rather than when something of its size is made. */
    if (count > TL_MAX_ELEMENTS)
        return bad_tensor(f, name, "shape %s has %zu elements, more than the limit of %zu "
                          "(TL_MAX_ELEMENTS)", sh, count, TL_MAX_ELEMENTS);
    if (!tl_mul_ok(count, dtypes[t->dtype].size, &nbytes))
        return bad_tensor(f, name, "shape %s of %s is too large", sh, dt->valuestring);

    uint64_t b, end;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_size(off->child, &b) ||
        !json_size(off->child->next, &end))
        return bad_tensor(f, name, "\"data_offsets\" is missing or not two non-negative "
                          "integers");
    if (b > end)
        return bad_tensor(f, name, "data_offsets [%llu, %llu] end before they begin",
                          (unsigned long long)b, (unsigned long long)end);
    if (end > f->data_size)
        return bad_tensor(f, name, "data_offsets [%llu, %llu] reach past the %zu bytes of the "
                          "data section", (unsigned long long)b, (unsigned long long)end,
                          f->data_size);
    if (end - b != nbytes)
        return bad_tensor(f, name, "data_offsets [%llu, %llu] hold %llu bytes, but dtype %s "
                          "and shape %s need %zu", (unsigned long long)b,
                          (unsigned long long)end, (unsigned long long)(end - b),
                          dt->valuestring, sh, nbytes);
    t->count = count;
    t->begin = (size_t)b;
    t->end = (size_t)end;
    return TL_OK;
}

static int by_offset(const void *a, const void *b)
{
    const tl_st_tensor *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const tl_st_tensor *const *)a)->name, (*(const tl_st_tensor *const *)b)->name);
}

/* Names unique, and the tensors tile the data section exactly. */
static tl_status check_layout(tl_st_file *f)
{
    size_t n = (size_t)f->ntensors, pos = 0;
    qsort(f->tensors, n, sizeof *f->tensors, by_offset);
    for (size_t i = 0; i < n; i++)
        f->byname[i] = &f->tensors[i];
    qsort(f->byname, n, sizeof *f->byname, by_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(f->byname[i - 1]->name, f->byname[i]->name) == 0)
            return bad_tensor(f, f->byname[i]->name, "the name appears twice");
    for (size_t i = 0; i < n; i++) {
        const tl_st_tensor *t = &f->tensors[i];
        if (t->begin < pos)
            return bad_tensor(f, t->name, "bytes [%zu, %zu) overlap tensor '%s' at [%zu, %zu)",
                              t->begin, t->end, t[-1].name, t[-1].begin, t[-1].end);
        if (t->begin > pos)
            return tl_fail(TL_ERR_FORMAT, "%s: bytes [%zu, %zu) of the data section (before "
                           "tensor '%s') belong to no tensor", f->path, pos, t->begin, t->name);
        pos = t->end;
    }
    if (pos != f->data_size)
        return tl_fail(TL_ERR_FORMAT, "%s: bytes [%zu, %zu) at the end of the data section "
                       "belong to no tensor", f->path, pos, f->data_size);
    return TL_OK;
}

static tl_status parse_header(tl_st_file *f, const char *text, size_t n)
{
    size_t valid = utf8_prefix((const unsigned char *)text, n);
    if (valid < n)
        return tl_fail(TL_ERR_FORMAT, "%s: the header is not valid UTF-8 (byte %zu)", f->path,
                       valid);
    const char *end;
    TL_TRY(tl_json_parse(&f->json, text, n, &end, f->path));
    cJSON *root = f->json;
    for (size_t i = 0; root && i + 5 < n; i++)
        if (text[i] == '\\' && text[++i] == 'u' && !memcmp(text + i + 1, "0000", 4))
            return tl_fail(TL_ERR_FORMAT, "%s: the header holds a NUL character (\\u0000) at "
                           "byte %zu", f->path, i - 1);
    if (!root)
        return tl_fail(TL_ERR_FORMAT, "%s: the header is not valid JSON (error at byte %zu of "
                       "%zu)", f->path, (size_t)(end - text), n);
    for (const char *p = end; p < text + n; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
            return tl_fail(TL_ERR_FORMAT, "%s: the header has text after its JSON value "
                           "(byte %zu)", f->path, (size_t)(p - text));
    if (!cJSON_IsObject(root))
        return tl_fail(TL_ERR_FORMAT, "%s: the header is not a JSON object", f->path);

    /* Count entries and dimensions to allocate everything at once. */
    const cJSON *md = NULL;
    size_t nentries = 0, ndims = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (md)
                return tl_fail(TL_ERR_FORMAT, "%s: \"__metadata__\" appears twice", f->path);
            md = e;
            continue;
        }
        const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        nentries++;
        ndims += (size_t)cJSON_GetArraySize(cJSON_IsArray(shape) ? shape : NULL);
    }
    TL_TRY(tl_calloc((void **)&f->tensors, nentries, sizeof *f->tensors, f->path));
    TL_TRY(tl_calloc((void **)&f->byname, nentries, sizeof *f->byname, f->path));
    TL_TRY(tl_calloc((void **)&f->dims, ndims, sizeof *f->dims, f->path));
    if (md)
        TL_TRY(parse_meta(f, md));
    int64_t *dims = f->dims;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (e == md)
            continue;
        tl_st_tensor *t = &f->tensors[f->ntensors++];
        TL_TRY(parse_tensor(f, e, t, dims));
        dims += t->ndim;
    }
    return check_layout(f);
}

static tl_status read_exact(const tl_st_file *f, FILE *fp, void *p, size_t n, const char *what)
{
    if (fread(p, 1, n, fp) != n)
        return tl_fail(TL_ERR_IO, "%s: cannot read %s: %s", f->path, what,
                       ferror(fp) ? strerror(errno) : "the file became shorter");
    return TL_OK;
}

static tl_status read_file(tl_st_file *f, FILE *fp)
{
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0)
        return tl_fail(TL_ERR_IO, "%s: cannot stat: %s", f->path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return tl_fail(TL_ERR_IO, "%s: not a regular file", f->path);
    uint64_t size = (uint64_t)sb.st_size;
    unsigned char len[8];
    size_t head = size < 8 ? (size_t)size : 8;
    TL_TRY(read_exact(f, fp, len, head, "the header length"));
    /* Printable text where the length should be would announce petabytes:
     * a text file given by mistake, not a truncated checkpoint. */
    bool is_text = head > 0;
    char shown[9] = "";
    for (size_t i = 0; i < head; i++) {
        is_text &= (len[i] >= 0x20 && len[i] < 0x7f) || len[i] == '\t' || len[i] == '\n' ||
                len[i] == '\r';
        shown[i] = len[i] >= 0x20 && len[i] < 0x7f ? (char)len[i] : ' ';
    }
    if (is_text)
        return tl_fail(TL_ERR_FORMAT, "%s: not a safetensors file (it begins with the text "
                       "\"%s\")", f->path, shown);
    if (size < 8)
        return tl_fail(TL_ERR_FORMAT, "%s: the file has %llu bytes, fewer than the 8 of the "
                       "header length (truncated?)", f->path, (unsigned long long)size);
    uint64_t n = get_le(len, 8);
    if (n > size - 8)
        return tl_fail(TL_ERR_FORMAT, "%s: the header length %llu exceeds the %llu bytes that "
                       "follow it (truncated?)", f->path, (unsigned long long)n,
                       (unsigned long long)(size - 8));
    if (n > TL_ST_MAX_HEADER)
        return tl_fail(TL_ERR_FORMAT, "%s: the header length %llu exceeds the limit of %llu "
                       "bytes", f->path, (unsigned long long)n,
                       (unsigned long long)TL_ST_MAX_HEADER);
    if (size - 8 - n > SIZE_MAX)
        return tl_fail(TL_ERR_NOMEM, "%s: the data section is too large to load", f->path);
    f->data_size = (size_t)(size - 8 - n);

    char *text;
    TL_TRY(tl_alloc((void **)&text, (size_t)n, 1, f->path));
    tl_status st = read_exact(f, fp, text, (size_t)n, "the header");
    if (!st)
        st = parse_header(f, text, (size_t)n);
    tl_free(text);
    TL_TRY(st);
    /* Only now, with every tensor accounted for, is the data worth loading. */
    TL_TRY(tl_alloc((void **)&f->data, f->data_size, 1, f->path));
    return read_exact(f, fp, f->data, f->data_size, "the tensor data");
}

tl_status tl_st_read(const char *path, tl_st_file *f)
{
    memset(f, 0, sizeof *f);
    TL_TRY(tl_strdup(&f->path, path, strlen(path), path));
    FILE *fp;
    tl_status st = tl_fopen_read(path, true, &fp);
    if (st) {
        tl_st_free(f);
        return st;
    }
    st = read_file(f, fp);
    fclose(fp);
    if (st)
        tl_st_free(f);
    return st;
}

void tl_st_free(tl_st_file *f)
{
    cJSON_Delete(f->json);
    tl_free(f->path);
    tl_free(f->data);
    tl_free(f->tensors);
    tl_free(f->byname);
    tl_free(f->meta);
    tl_free(f->dims);
    memset(f, 0, sizeof *f);
}

const tl_st_tensor *tl_st_find(const tl_st_file *f, const char *name)
{
    tl_st_tensor key = {.name = name}, *pkey = &key, **hit;
    hit = bsearch(&pkey, f->byname, (size_t)f->ntensors, sizeof *f->byname, by_name);
    return hit ? *hit : NULL;
}

const char *tl_st_meta(const tl_st_file *f, const char *key)
{
    tl_ckpt_meta k = {.key = key};
    if (f->nmeta == 0)      /* no "__metadata__": f->meta is NULL, which bsearch may not get */
        return NULL;
    const tl_ckpt_meta *hit = bsearch(&k, f->meta, (size_t)f->nmeta, sizeof *f->meta, by_key);
    return hit ? hit->value : NULL;
}

tl_status tl_st_to_real(const tl_st_file *f, const tl_st_tensor *t, tl_real *dst)
{
    if (t->dtype != TL_ST_F32 && t->dtype != TL_ST_F64)
        return bad_tensor(f, t->name, "dtype %s cannot be read as real numbers (F32 or F64)",
                          dtypes[t->dtype].name);
    decode(t->dtype, f->data + t->begin, t->count, dst);
    return TL_OK;
}
