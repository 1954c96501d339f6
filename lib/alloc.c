/* The library's heap: every allocation of lib/ goes through here, so that
 * sizes are overflow-checked in one place, a failure always becomes
 * TL_ERR_NOMEM with a message, and tests can make the k-th allocation fail
 * (tl__set_alloc_hook) and count the blocks still live (tl__alloc_live).
 *
 * cJSON allocates on its own; its global hooks (cJSON_InitHooks) are pointed
 * here only when a test installs an allocation hook: they are process-wide
 * and an application embedding timelayers may have set its own. */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "internal.h"
#if defined(__linux__)
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

static _Atomic(tl__alloc_hook_fn) hook;
static atomic_long live;
/* One of cJSON's allocations failed on this thread (see tl_json_parse). */
static _Thread_local bool json_oom;

/* Ask the test hook whether this allocation should fail. */
static int injected(size_t bytes)
{
    tl__alloc_hook_fn h = atomic_load_explicit(&hook, memory_order_acquire);
    return h && h(bytes);
}

static void track(void *p, long d)
{
    if (p)
        atomic_fetch_add_explicit(&live, d, memory_order_relaxed);
}

static void *json_malloc(size_t n)
{
    void *p = injected(n) ? NULL : malloc(n);
    track(p, 1);
    json_oom |= !p;
    return p;
}

static void json_free(void *p)
{
    track(p, -1);
    free(p);
}

void tl__set_alloc_hook(tl__alloc_hook_fn h)
{
    static atomic_flag json_hooked = ATOMIC_FLAG_INIT;
    if (h && !atomic_flag_test_and_set(&json_hooked))
        cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = json_malloc, .free_fn = json_free});
    atomic_store_explicit(&hook, h, memory_order_release);
}

long tl__alloc_live(void) { return atomic_load_explicit(&live, memory_order_relaxed); }

tl_status tl_json_parse(struct cJSON **root, const char *text, size_t n, const char **end,
                        const char *what)
{
    const char *e = text;
    json_oom = false;
    *root = cJSON_ParseWithLengthOpts(text, n, &e, false);
    if (end)
        *end = e;
    return !*root && json_oom ? tl_fail(TL_ERR_NOMEM, "%s: out of memory parsing JSON", what)
                              : TL_OK;
}

static tl_status strict_object(const cJSON *o, const char *what)
{
    for (const cJSON *a = o ? o->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(o))
            for (const cJSON *b = a->next; b; b = b->next)
                if (strcmp(a->string, b->string) == 0)
                    return tl_fail(TL_ERR_FORMAT, "%s: key \"%s\" appears twice in one object",
                                   what, a->string);
        TL_TRY(strict_object(a, what));
    }
    return TL_OK;
}

tl_status tl_json_strict(const struct cJSON *root, const char *text, size_t n, const char *what)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (text[i] == '\\') {
            if (text[i + 1] == 'u' && i + 5 < n && !memcmp(text + i + 2, "0000", 4))
                return tl_fail(TL_ERR_FORMAT, "%s: a string holds a NUL character (\\u0000) at "
                               "byte %zu", what, i);
            i++;    /* the escaped character, which may be a backslash */
        }
    return strict_object(root, what);
}

/* count * elem_size bytes (at least 1), or TL_ERR_NOMEM naming what. */
static tl_status byte_size(size_t count, size_t elem_size, const char *what, size_t *bytes)
{
    if (!tl_mul_ok(count, elem_size, bytes))
        return tl_fail(TL_ERR_NOMEM, "%s: %zu elements of %zu bytes overflow size_t", what,
                       count, elem_size);
    if (*bytes == 0)
        *bytes = 1;
    return TL_OK;
}

static tl_status out_of_memory(const char *what, size_t bytes)
{
    return tl_fail(TL_ERR_NOMEM, "%s: out of memory allocating %zu bytes", what, bytes);
}

tl_status tl_alloc(void **p, size_t count, size_t elem_size, const char *what)
{
    size_t bytes;
    *p = NULL;
    TL_TRY(byte_size(count, elem_size, what, &bytes));
    /* aligned_alloc needs a multiple of the alignment. */
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes)
        return tl_fail(TL_ERR_NOMEM, "%s: %zu bytes is too large", what, bytes);
    if (injected(bytes) || !(*p = aligned_alloc(64, rounded)))
        return out_of_memory(what, bytes);
    track(*p, 1);
    return TL_OK;
}

tl_status tl_calloc(void **p, size_t count, size_t elem_size, const char *what)
{
    TL_TRY(tl_alloc(p, count, elem_size, what));
    memset(*p, 0, count * elem_size);
    return TL_OK;
}

tl_status tl_realloc(void **p, size_t count, size_t elem_size, const char *what)
{
    size_t bytes;
    TL_TRY(byte_size(count, elem_size, what, &bytes));
    void *q = injected(bytes) ? NULL : realloc(*p, bytes);
    if (!q)
        return out_of_memory(what, bytes);
    if (!*p)
        track(q, 1);
    *p = q;
    return TL_OK;
}

tl_status tl_strdup(char **out, const char *s, size_t n, const char *what)
{
    if (n == SIZE_MAX)
        return tl_fail(TL_ERR_NOMEM, "%s: a string of %zu bytes is too long", what, n);
    TL_TRY(tl_alloc((void **)out, n + 1, 1, what));
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    return TL_OK;
}

void tl_free(void *p)
{
    track(p, -1);
    free(p);
}

size_t tl_page_size(void)
{
#if defined(__linux__)
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0)
        return (size_t)ps;
#endif
    return 4096;
}

/* Memory whose pages tl_zero_pages hands back to the system must be a private
 * anonymous mapping: only there does a page dropped with MADV_DONTNEED read
 * back as zeros (a shared or file mapping would read back its contents).
 * malloc's memory is that with every common allocator, but nothing promises
 * it, so these blocks are mapped here. A block ends within 64 bytes of a page
 * that cannot be touched, so running off its end faults even where no
 * sanitizer watches.
 *
 * Reading a dropped page maps it again: the system's shared zero page on most
 * Linux systems (no memory, but a page fault per page), a fresh page of its
 * own where the zero page is disabled (some virtual machines: reading a 26 MB
 * gradient then costs 26 MB). So the readers of a gradient (clipping, the
 * non-finite check, SGD) go through tl_each_touched, which leaves out the
 * dropped pages that nothing has touched since. It learns which those are
 * from /proc/self/pagemap (no page and no swap entry: the page reads as
 * zeros), and only within the ranges tl_zero_pages dropped, listed below:
 * elsewhere a page without an entry may be a file's. */
#if defined(__linux__)

enum { MAX_DROPPED = 8 };
/* given: the last clearing of the range gave its pages back (it may also
 * have cleared them in place). */
static struct { uintptr_t lo, hi; bool given; } dropped[MAX_DROPPED];
static int ndropped;
static pthread_mutex_t dropped_lock = PTHREAD_MUTEX_INITIALIZER;

/* The mapping of a block of `bytes`: `span` readable bytes, then one guard page. */
static bool mapping_of(size_t bytes, size_t *span)
{
    size_t ps = tl_page_size();
    *span = (bytes + ps - 1) / ps * ps;
    return *span >= bytes && *span + ps > *span;
}

/* List [lo, hi) as dropped, its pages given back (given) or cleared in place
 * this time; false when the list is full. A range cleared in place is listed
 * only if it already was. */
static bool add_dropped(uintptr_t lo, uintptr_t hi, bool given)
{
    bool ok = false;
    pthread_mutex_lock(&dropped_lock);
    int i = 0;
    while (i < ndropped && !(dropped[i].lo == lo && dropped[i].hi == hi))
        i++;
    if (i < ndropped || (given && ndropped < MAX_DROPPED)) {
        ndropped += i == ndropped;
        dropped[i].lo = lo;
        dropped[i].hi = hi;
        dropped[i].given = given;
        ok = true;
    }
    pthread_mutex_unlock(&dropped_lock);
    return ok;
}

/* Whether a range overlapping [lo, hi) had its pages given back at its last
 * clearing. */
static bool given_back(uintptr_t lo, uintptr_t hi)
{
    bool given = false;
    pthread_mutex_lock(&dropped_lock);
    for (int i = 0; i < ndropped; i++)
        given |= dropped[i].given && dropped[i].lo < hi && lo < dropped[i].hi;
    pthread_mutex_unlock(&dropped_lock);
    return given;
}

/* Forget the dropped ranges that overlap [lo, hi). */
static void remove_dropped(uintptr_t lo, uintptr_t hi)
{
    pthread_mutex_lock(&dropped_lock);
    for (int i = 0; i < ndropped;)
        if (dropped[i].lo < hi && lo < dropped[i].hi)
            dropped[i] = dropped[--ndropped];
        else
            i++;
    pthread_mutex_unlock(&dropped_lock);
}
#endif

tl_status tl_alloc_pages(void **p, size_t count, size_t elem_size, const char *what)
{
    size_t bytes;
    *p = NULL;
    TL_TRY(byte_size(count, elem_size, what, &bytes));
#if defined(__linux__)
    size_t span, ps = tl_page_size();
    if (!mapping_of(bytes, &span))
        return tl_fail(TL_ERR_NOMEM, "%s: %zu bytes is too large", what, bytes);
    if (injected(bytes))
        return out_of_memory(what, bytes);
    char *base = mmap(NULL, span + ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (base == MAP_FAILED)
        return out_of_memory(what, bytes);
    if (mprotect(base + span, ps, PROT_NONE) != 0) {
        munmap(base, span + ps);
        return out_of_memory(what, bytes);
    }
    *p = base + ((span - bytes) & ~(size_t)63);   /* fresh pages read as zeros */
    track(*p, 1);
    return TL_OK;
#else
    return tl_calloc(p, count, elem_size, what);
#endif
}

void tl_free_pages(void *p, size_t count, size_t elem_size)
{
#if defined(__linux__)
    size_t bytes = count * elem_size, span;   /* as allocated: no overflow */
    if (!p)
        return;
    track(p, -1);
    mapping_of(bytes ? bytes : 1, &span);
    uintptr_t base = (uintptr_t)p & ~(uintptr_t)(tl_page_size() - 1);
    remove_dropped(base, base + span);
    munmap((void *)base, span + tl_page_size());
#else
    (void)count;
    (void)elem_size;
    tl_free(p);
#endif
}

#if defined(__linux__)
static const uint64_t PRESENT = (uint64_t)1 << 63, SWAPPED = (uint64_t)1 << 62;

/* /proc/self/pagemap, opened once per process rather than at every pass
 * over a part (several a step); "self" is resolved at the opening, so a child
 * of fork opens its own. -1 when it cannot be opened. */
static int pagemap_fd(void)
{
    static int fd = -1;
    static pid_t owner;
    pthread_mutex_lock(&dropped_lock);
    pid_t pid = getpid();
    if (fd < 0 || owner != pid) {
        if (fd >= 0)
            close(fd);
        fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
        owner = pid;
    }
    int r = fd;
    pthread_mutex_unlock(&dropped_lock);
    return r;
}

/* Read the pagemap entries of the pages from `at` into entry[0, pages);
 * false when /proc/self/pagemap cannot tell. */
static bool read_entries(int fd, uintptr_t at, size_t pages, uint64_t *entry)
{
    size_t bytes = pages * sizeof *entry;
    return fd >= 0 &&
           pread(fd, entry, bytes, (off_t)(at / tl_page_size() * sizeof *entry)) == (ssize_t)bytes;
}

/* A block at a time with no branch inside, so that it is vectorised (a byte
 * loop with an early exit takes about 1 us for a page of zeros). */
static bool page_is_zero(const unsigned char *page, size_t ps)
{
    enum { BLOCK = 256 };
    for (size_t i = 0; i < ps; i += BLOCK) {
        uint64_t any = 0;
        for (size_t k = 0; k < BLOCK; k += sizeof any) {
            uint64_t u;
            memcpy(&u, page + i + k, sizeof u);
            any |= u;
        }
        if (any)
            return false;
    }
    return true;
}

/* The pages of [lo, hi) (page-aligned) that hold something other than zeros
 * (read only where they hold memory: a page that is not there reads as
 * zeros, one swapped out counts), counted up to limit + 1; all of them when
 * the system cannot tell. */
static size_t written_pages(uintptr_t lo, uintptr_t hi, size_t limit)
{
    enum { CHUNK = 512 };
    uint64_t entry[CHUNK];
    size_t ps = tl_page_size(), n = 0;
    int fd = pagemap_fd();
    for (uintptr_t at = lo; at < hi && n <= limit;) {
        size_t pages = (hi - at) / ps < CHUNK ? (hi - at) / ps : CHUNK;
        if (!read_entries(fd, at, pages, entry)) {
            n = (hi - lo) / ps;
            break;
        }
        for (size_t k = 0; k < pages && n <= limit; k++, at += ps)
            n += (entry[k] & SWAPPED) ||
                 ((entry[k] & PRESENT) && !page_is_zero((const unsigned char *)at, ps));
    }
    return n;
}
#endif

void tl_zero_pages(void *p, size_t bytes)
{
#if defined(__linux__)
    /* A range of a few pages is cheaper to clear than to fault back in, and
     * so is one whose pages were mostly written since the last clearing (a
     * table whose rows a step mostly reaches, config A's: 10 rows a page, or
     * one a data-parallel group summed into): each page given back costs a
     * page fault when written again, about 12 us on a virtual machine with
     * shadow page tables. */
    enum { MIN_PAGES = 16 };
    size_t ps = tl_page_size();
    uintptr_t a = (uintptr_t)p, lo = (a + ps - 1) & ~(uintptr_t)(ps - 1),
              hi = (a + bytes) & ~(uintptr_t)(ps - 1);
    size_t pages = hi > lo ? (hi - lo) / ps : 0;
    bool few = pages >= MIN_PAGES && written_pages(lo, hi, pages / 4) <= pages / 4;
    if (pages >= MIN_PAGES && add_dropped(lo, hi, few) && few) {
        memset(p, 0, lo - a);
        memset((void *)hi, 0, a + bytes - hi);
        /* With transparent huge pages set to "always", the first write into
         * a dropped 2 MB stretch would bring back all of it. */
        madvise((void *)lo, hi - lo, MADV_NOHUGEPAGE);
        if (madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0)
            memset((void *)lo, 0, hi - lo);
        return;
    }
#endif
    memset(p, 0, bytes);
}

/* The pages a scatter-add is about to write, mapped ahead of it. Writing a
 * page given back faults it in, one page at a time; on the virtual machine
 * of docs/performance.md that costs about 11 us a page, and the faults of
 * two threads do not overlap (the hypervisor takes them one at a time).
 * MADV_POPULATE_WRITE (Linux 5.14) maps a run of pages in one call, about
 * 2 us a page; the first access to each page still costs the hypervisor
 * about 5 us there (shadow page tables are filled on access), so each page
 * is read here too, which makes the caller's writes free of faults. Neither
 * changes a byte. Refused (EINVAL: an older kernel), it is not asked again:
 * the writes then fault as they would without it. */
#if defined(__linux__)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static atomic_bool prefault_refused, prefault_off;

void tl__set_prefault(bool on) { atomic_store(&prefault_off, !on); }

/* Map pages [lo, hi) for writing and read each; false when refused. */
static bool populate(uintptr_t lo, uintptr_t hi, size_t ps)
{
    if (madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0)
        return false;
    for (uintptr_t at = lo; at < hi; at += ps)
        (void)*(volatile const char *)at;
    return true;
}
#else
void tl__set_prefault(bool on) { (void)on; }
#endif

void tl_prefault_rows(void *base, size_t row_bytes, const int32_t *ids, size_t n, size_t lo,
                      size_t hi)
{
#if defined(__linux__)
    /* The pages of [lo, hi)'s rows in windows of WINDOW pages, a bit each,
     * set by one pass over the ids per window (one window for a table of up
     * to 128 MB), then mapped by runs of set bits. */
    enum { WINDOW = 1 << 15 };
    uint64_t bits[WINDOW / 64];
    size_t ps = tl_page_size();
    uintptr_t b = (uintptr_t)base;
    if (lo >= hi || row_bytes == 0 || atomic_load(&prefault_off) ||
        atomic_load(&prefault_refused) || !given_back(b + lo * row_bytes, b + hi * row_bytes))
        return;
    uintptr_t first = (b + lo * row_bytes) / ps, end = (b + hi * row_bytes - 1) / ps + 1;
    for (uintptr_t w = first; w < end; w += WINDOW) {
        uintptr_t wend = end - w < WINDOW ? end : w + WINDOW;
        size_t words = (wend - w + 63) / 64;
        memset(bits, 0, words * sizeof *bits);
        for (size_t k = 0; k < n; k++) {
            size_t id = (size_t)ids[k];
            if (id < lo || id >= hi)
                continue;
            uintptr_t p = (b + id * row_bytes) / ps, q = (b + (id + 1) * row_bytes - 1) / ps;
            for (p = p < w ? w : p; p <= q && p < wend; p++)
                bits[(p - w) / 64] |= (uint64_t)1 << ((p - w) % 64);
        }
        for (size_t i = 0; i < words;) {
            if (!bits[i]) {
                i++;
                continue;
            }
            /* the run from the lowest set bit: clear it from bits as it goes */
            uintptr_t p = w + i * 64 + (uintptr_t)__builtin_ctzll(bits[i]), q = p;
            while (q < wend && (bits[(q - w) / 64] >> ((q - w) % 64) & 1)) {
                bits[(q - w) / 64] &= ~((uint64_t)1 << ((q - w) % 64));
                q++;
            }
            if (!populate(p * ps, q * ps, ps)) {
                if (errno == EINVAL)
                    atomic_store(&prefault_refused, true);
                return;
            }
        }
    }
#else
    (void)base, (void)row_bytes, (void)ids, (void)n, (void)lo, (void)hi;
#endif
}

#if defined(__linux__)
/* fn over the parts of [x, y) (inside one dropped range, so that every page
 * it touches is one of the range's) on pages that have a page or a swap
 * entry, merged into runs; offsets from p. A page cut by x or y counts as
 * any other: not there, its part reads as zeros. False when fn stopped. */
static bool each_mapped_page(int fd, uintptr_t p, uintptr_t x, uintptr_t y,
                             bool (*fn)(void *ctx, size_t off, size_t len), void *ctx)
{
    enum { CHUNK = 512 };
    size_t ps = tl_page_size();
    uint64_t entry[CHUNK];
    uintptr_t lo = x & ~(uintptr_t)(ps - 1), hi = (y + ps - 1) & ~(uintptr_t)(ps - 1), run = 0;
    bool in = false;
    for (uintptr_t at = lo; at < hi;) {
        size_t pages = (hi - at) / ps < CHUNK ? (hi - at) / ps : CHUNK;
        if (!read_entries(fd, at, pages, entry)) /* every page counts */
            for (size_t k = 0; k < pages; k++)
                entry[k] = PRESENT;
        for (size_t k = 0; k < pages; k++, at += ps) {
            bool mapped = entry[k] & (PRESENT | SWAPPED);
            if (mapped && !in) {
                run = at < x ? x : at;
                in = true;
            }
            if (!mapped && in) {
                if (!fn(ctx, run - p, at - run))
                    return false;
                in = false;
            }
        }
    }
    return !in || fn(ctx, run - p, y - run);
}
#endif

bool tl_each_touched(const void *p, size_t bytes, bool (*fn)(void *ctx, size_t off, size_t len),
                     void *ctx)
{
    if (bytes == 0)
        return true;
#if defined(__linux__)
    uintptr_t a = (uintptr_t)p, end = a + bytes, lo[MAX_DROPPED], hi[MAX_DROPPED];
    int n = 0;
    pthread_mutex_lock(&dropped_lock);
    for (int i = 0; i < ndropped; i++)
        if (dropped[i].lo < end && a < dropped[i].hi) {
            /* in address order */
            int k = n++;
            for (; k > 0 && lo[k - 1] > dropped[i].lo; k--) {
                lo[k] = lo[k - 1];
                hi[k] = hi[k - 1];
            }
            lo[k] = dropped[i].lo > a ? dropped[i].lo : a;
            hi[k] = dropped[i].hi < end ? dropped[i].hi : end;
        }
    pthread_mutex_unlock(&dropped_lock);
    if (n > 0) {
        int fd = pagemap_fd();
        uintptr_t at = a;
        bool go = true;
        for (int i = 0; i < n && go; i++) {
            go = (at == lo[i] || fn(ctx, at - a, lo[i] - at)) &&
                 each_mapped_page(fd, a, lo[i], hi[i], fn, ctx);
            at = hi[i];
        }
        return go && (at == end || fn(ctx, at - a, end - at));
    }
#endif
    return fn(ctx, 0, bytes);
}

/* The cut depends on n only: 2^16 elements or more a part (a pass over fewer
 * is not worth waking the pool for), at most TL_PASS_MAX_PARTS parts. */
int tl_pass_parts(size_t n, size_t *len)
{
    enum { MIN = 1 << 16 };
    size_t c = (n + TL_PASS_MAX_PARTS - 1) / TL_PASS_MAX_PARTS;
    c = c ? (c + MIN - 1) / MIN * MIN : MIN;
    *len = c;
    return (int)((n + c - 1) / c);
}

typedef struct {
    const char *p;
    size_t n, elem, len;
    bool touched;
    bool (*fn)(void *ctx, int part, size_t lo, size_t hi);
    void *ctx;
    bool ok[TL_PASS_MAX_PARTS];
} pass_job;

typedef struct {
    const pass_job *job;
    int part;
    size_t lo;
} pass_part;

static bool touched_run(void *ctx, size_t off, size_t len)
{
    const pass_part *q = ctx;
    size_t e = q->job->elem, lo = q->lo + off / e;
    return q->job->fn(q->job->ctx, q->part, lo, lo + len / e);
}

static void pass_on(void *ctx, int part, int parts)
{
    (void)parts;
    pass_job *job = ctx;
    size_t lo = (size_t)part * job->len, hi = job->n - lo < job->len ? job->n : lo + job->len;
    pass_part q = {job, part, lo};
    job->ok[part] = job->touched ? tl_each_touched(job->p + lo * job->elem, (hi - lo) * job->elem,
                                                   touched_run, &q)
                                 : job->fn(job->ctx, part, lo, hi);
}

bool tl_pass(const void *p, size_t n, size_t elem, bool touched,
             bool (*fn)(void *ctx, int part, size_t lo, size_t hi), void *ctx)
{
    pass_job job = {.p = p, .n = n, .elem = elem, .touched = touched, .fn = fn, .ctx = ctx};
    int parts = tl_pass_parts(n, &job.len);
    tl_parallel_run(parts, pass_on, &job);
    bool ok = true;
    for (int k = 0; k < parts; k++)
        ok &= job.ok[k];
    return ok;
}
