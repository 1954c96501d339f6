/* The files of the fuzz targets: fuzz_as_file's in-memory file (one memfd
 * per process, rewritten for every input; fuzz_header_as_file's safetensors
 * file goes there too) and fuzz_private_dir, so fuzzing
 * does not touch the disk. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"

const char *fuzz_as_file(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("tl-fuzz", 0);
        if (fd < 0) {
            perror("memfd_create");
            abort();
        }
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != (ssize_t)size)) {
        perror("fuzz_as_file");
        abort();
    }
    return path;
}

const char *fuzz_header_as_file(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size, rest = nul ? size - n - 1 : 0;
    uint8_t *file = malloc(8 + n + rest);
    if (!file)
        abort();
    for (int i = 0; i < 8; i++)
        file[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(file + 8, data, n);
    if (rest)
        memcpy(file + 8 + n, nul + 1, rest);
    const char *path = fuzz_as_file(file, 8 + n + rest);
    free(file);
    return path;
}

static char private_dir[64];

static void remove_private_dir(void)
{
    int fd = open(private_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.' || (e->d_name[1] && (e->d_name[1] != '.' || e->d_name[2])))
            unlinkat(fd, e->d_name, 0);
    if (d)
        closedir(d);
    rmdir(private_dir);
}

const char *fuzz_private_dir(void)
{
    if (!private_dir[0]) {
        snprintf(private_dir, sizeof private_dir, "/dev/shm/tl-fuzz-XXXXXX");
        if (!mkdtemp(private_dir)) {
            snprintf(private_dir, sizeof private_dir, "/tmp/tl-fuzz-XXXXXX");
            if (!mkdtemp(private_dir)) {
                perror("fuzz_private_dir");
                abort();
            }
        }
        atexit(remove_private_dir);
    }
    return private_dir;
}
