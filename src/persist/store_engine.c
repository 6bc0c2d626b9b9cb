/* store_engine.c - finding an engine by name, and telling which engine wrote a file. See store_engine.h. */
#include "persist/store_engine.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define STORE_ENGINE_LMDB_MAGIC 0xBEEFC0DEu /* LMDB's meta page magic, right after the 16-byte page header */
#define STORE_ENGINE_LMDB_MAGIC_AT 16

static const store_engine_ops *const store_engines[] = {&store_engine_lmdb, &store_engine_sqlite};

const store_engine_ops *store_engine_find(const char *name)
{
    if (!name)
        return &store_engine_lmdb;
    for (size_t i = 0; i < sizeof store_engines / sizeof store_engines[0]; i++)
        if (strcmp(store_engines[i]->name, name) == 0)
            return store_engines[i];
    return NULL;
}

const char *store_engine_of_file(const char *path)
{
    static const char sqlite_magic[16] = "SQLite format 3"; /* with its NUL: the 16-byte header string */
    unsigned char head[32];
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    ssize_t n = read(fd, head, sizeof head);
    close(fd);
    if (n >= (ssize_t)sizeof sqlite_magic && memcmp(head, sqlite_magic, sizeof sqlite_magic) == 0)
        return store_engine_sqlite.name;
    if (n >= STORE_ENGINE_LMDB_MAGIC_AT + 4) {
        uint32_t magic;
        memcpy(&magic, head + STORE_ENGINE_LMDB_MAGIC_AT, sizeof magic); /* native byte order, as LMDB writes */
        if (magic == STORE_ENGINE_LMDB_MAGIC)
            return store_engine_lmdb.name;
    }
    return NULL;
}
