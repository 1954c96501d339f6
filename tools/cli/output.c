/* The files a training run writes: checked against what it reads before any
 * work is done, locked while it runs, and rescued elsewhere when saving fails. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

/* Which file a path names: its device and inode when it exists, else its
 * directory's device and inode and its last component, so that two spellings
 * of one new file ("o.st", "./o.st") compare equal too. */
typedef struct {
    dev_t dev;
    ino_t ino;
    char base[NAME_MAX + 1];
    bool exists, dir_ok;
    char dir[PATH_MAX];
} file_key;

static void key_of(const char *path, file_key *k)
{
    struct stat sb;
    char copy[PATH_MAX];
    memset(k, 0, sizeof *k);
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(k->dir, sizeof k->dir, "%s", dirname(copy));
    if (stat(path, &sb) == 0) {
        k->exists = k->dir_ok = true;
        k->dev = sb.st_dev;
        k->ino = sb.st_ino;
        return;
    }
    snprintf(copy, sizeof copy, "%s", path);
    snprintf(k->base, sizeof k->base, "%s", basename(copy));
    if (stat(k->dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        k->dir_ok = true;
        k->dev = sb.st_dev;
        k->ino = sb.st_ino;
    }
}

static bool same(const file_key *a, const file_key *b)
{
    return a->dir_ok && b->dir_ok && a->exists == b->exists && a->dev == b->dev &&
           a->ino == b->ino && strcmp(a->base, b->base) == 0;
}

/* An output must be creatable in an existing, writable directory, and when
 * it exists be a regular file its owner may write (the library refuses the
 * rest too, but only when it saves; root may write anything, so a file
 * without write permission bits counts as read-only). */
static int check_output(const cli_path *o, const file_key *k)
{
    struct stat sb;
    if (!k->dir_ok) {
        fprintf(stderr, "timelayers: %s %s: the directory %s does not exist\n", o->what, o->path,
                k->dir);
        return 2;
    }
    if (!k->exists) {
        if (access(k->dir, W_OK | X_OK) != 0) {
            fprintf(stderr, "timelayers: %s %s: the directory %s is not writable: %s\n", o->what,
                    o->path, k->dir, strerror(errno));
            return 2;
        }
        return 0;
    }
    if (stat(o->path, &sb) != 0 || (!S_ISREG(sb.st_mode) && !o->stream)) {
        fprintf(stderr, "timelayers: %s %s: exists and is not a regular file; it is not "
                "replaced\n", o->what, o->path);
        return 2;
    }
    if (S_ISREG(sb.st_mode) && (access(o->path, W_OK) != 0 ||
                                (geteuid() == 0 && !(sb.st_mode & 0222)))) {
        fprintf(stderr, "timelayers: %s %s: the file is read-only; it is not replaced\n",
                o->what, o->path);
        return 2;
    }
    return 0;
}

int cli_check_outputs(const cli_path *in, int nin, const cli_path *out, int nout)
{
    file_key ki, ko[4];
    for (int o = 0; o < nout && o < 4; o++) {
        key_of(out[o].path ? out[o].path : "", &ko[o]);
        if (!out[o].path) {
            ko[o].dir_ok = false;   /* none: never the same as anything */
            continue;
        }
        int rc = check_output(&out[o], &ko[o]);
        if (rc)
            return rc;
    }
    for (int i = 0; i < nin; i++) {
        if (!in[i].path)
            continue;
        key_of(in[i].path, &ki);
        for (int o = 0; o < nout && o < 4; o++)
            if (same(&ki, &ko[o]) && !(in[i].may_be_output && out[o].may_be_output)) {
                fprintf(stderr, "timelayers: %s %s is the %s (%s); refusing to write over it\n",
                        out[o].what, out[o].path, in[i].what, in[i].path);
                return 2;
            }
    }
    for (int o = 1; o < nout && o < 4; o++)
        for (int p = 0; p < o; p++)
            if (same(&ko[o], &ko[p])) {
                fprintf(stderr, "timelayers: %s %s and %s %s are the same file\n", out[p].what,
                        out[p].path, out[o].what, out[o].path);
                return 2;
            }
    return 0;
}

/* flock(2) on "<path>.lock", which holds the owner's process id. The lock
 * file is removed when the run ends; a run killed with SIGKILL leaves it, but
 * not its lock, so the next run takes it over. After locking, the name must
 * still lead to the locked file: another run may have removed it meanwhile. */
int cli_lock_output(const char *path, cli_lock *lk)
{
    snprintf(lk->path, sizeof lk->path, "%s.lock", path);
    for (int attempt = 0; attempt < 10; attempt++) {
        int fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
            fprintf(stderr, "timelayers: cannot create the lock %s: %s\n", lk->path,
                    strerror(errno));
            return 1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            char pid[32] = "";
            ssize_t n = read(fd, pid, sizeof pid - 1);
            pid[n > 0 ? n : 0] = '\0';
            pid[strcspn(pid, "\n")] = '\0';
            fprintf(stderr, "timelayers: %s is being written by process %s (lock %s); wait for "
                    "it or choose another --out\n", path, *pid ? pid : "(unknown)", lk->path);
            close(fd);
            return 1;
        }
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lk->path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
                fprintf(stderr, "timelayers: cannot write the lock %s: %s\n", lk->path,
                        strerror(errno));
                close(fd);
                return 1;
            }
            lk->fd = fd;
            return 0;
        }
        close(fd);
    }
    fprintf(stderr, "timelayers: cannot take the lock %s\n", lk->path);
    return 1;
}

void cli_unlock_output(cli_lock *lk)
{
    if (lk->fd > 0) {
        unlink(lk->path);
        close(lk->fd);
    }
    lk->fd = -1;
}

/* $TMPDIR (else /tmp), else the current directory: the places most likely to
 * be writable when the output's own directory is gone or its disk full. */
void cli_rescue(tl_status (*save)(void *obj, const char *path), void *obj, long step,
                const char *resume_fmt, const char *out)
{
    const char *tmp = getenv("TMPDIR");
    const char *dirs[] = {tmp && *tmp ? tmp : "/tmp", "."};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/timelayers-rescue-%ld-step%ld.safetensors", dirs[i],
                 (long)getpid(), step);
        if (!save(obj, path)) {
            fprintf(stderr, "timelayers: rescued: model saved to %s (step %ld); continue with ",
                    path, step);
            fprintf(stderr, resume_fmt, path, out);
            fputc('\n', stderr);
            return;
        }
        fprintf(stderr, "timelayers: rescue to %s failed: %s\n", path, tl_last_error());
    }
}
