/*
 * store_engine.h - what a storage engine gives the encrypted store (store.c): an ordered key/value map with
 * one write transaction at a time, durable commit, and a scan by key prefix byte. Keys and values are opaque
 * bytes (already index-hashed and encrypted). Two engines: LMDB (persist_lmdb.c, the default) and SQLite
 * (persist_sqlite.c), chosen by persistence_engine; docs/persistence.md compares them.
 */
#ifndef RAMPART_PERSIST_STORE_ENGINE_H
#define RAMPART_PERSIST_STORE_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of engine and store calls. */
enum { STORE_OK = 0, STORE_ERROR = -1, STORE_FULL = -2, STORE_NOT_FOUND = -3, STORE_STOP = -4 };

typedef int (*store_engine_scan_fn)(void *ctx, const uint8_t *key, size_t key_len, const uint8_t *value,
                                    size_t value_len);

typedef struct store_engine_ops {
    const char *name;
    /* Opens (creating) the store at path; map_size caps its bytes; durable: every commit is synced. */
    void *(*open)(const char *path, uint64_t map_size, bool durable, char *err, size_t errlen);
    void (*close)(void *e);
    int (*begin)(void *e);
    int (*put)(void *e, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl);
    int (*del)(void *e, const uint8_t *k, size_t kl); /* a missing key is not an error */
    int (*commit)(void *e);                           /* STORE_OK, STORE_FULL or STORE_ERROR; ends the batch */
    void (*abort)(void *e);
    /* Calls fn for every record whose key starts with `prefix` (outside a write batch). fn returns 0 to go on,
     * STORE_STOP to stop. */
    int (*scan)(void *e, uint8_t prefix, store_engine_scan_fn fn, void *ctx);
    int (*sync)(void *e);
    /* Bytes in use (pages not on the free list), the file's high-water mark, and the cap. */
    void (*usage)(void *e, uint64_t *used, uint64_t *high, uint64_t *cap);
    /* Bytes free for us on the file system holding the store (UINT64_MAX when unknown). Works through the
     * open file, so neither privilege drop nor the sandbox hides it. */
    uint64_t (*fs_free)(void *e);
    /* Reads every page of the file (a structural check, run in a child process by the store). */
    int (*walk)(void *e);
} store_engine_ops;

extern const store_engine_ops store_engine_lmdb;
extern const store_engine_ops store_engine_sqlite;

/* The engine called `name` ("lmdb", "sqlite"); NULL names the default (LMDB). NULL if there is none. */
const store_engine_ops *store_engine_find(const char *name);
/* The engine whose file `path` is, by its first bytes: "lmdb", "sqlite", or NULL (no file, an empty file, or
 * neither). */
const char *store_engine_of_file(const char *path);

#endif
