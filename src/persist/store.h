/*
 * store.h - the broker's durable store: records of a few kinds, each under a logical key (a topic, a client
 * identifier, a message number), encrypted and authenticated one by one (record.h), kept by a storage engine
 * (store_engine.h: LMDB or SQLite) that the caller never sees.
 *
 * Writes are batched: store_begin, any number of store_put / store_del, store_commit (one durable commit for
 * the whole batch: group commit). Reads: store_iterate over one kind, outside a batch. A record that fails
 * authentication or cannot be decoded is skipped, counted in store_stats and logged (never fatal).
 *
 * Keys: the current master key encrypts every write; an old key (rotation) is only read. store_open rewrites
 * every record found under the old key with the current one before returning (docs/persistence.md).
 */
#ifndef RAMPART_PERSIST_STORE_H
#define RAMPART_PERSIST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist/record.h"
#include "persist/store_engine.h"

enum store_kind { STORE_KIND_MSG = 1, STORE_KIND_SESSION = 2, STORE_KIND_RETAIN = 3, STORE_KIND_META = 4 };

typedef struct store store;

typedef struct store_options {
    const char *path;      /* the data file */
    const char *engine;    /* the storage engine: "lmdb" (also when NULL) or "sqlite" */
    uint64_t map_size;     /* the cap on the store's bytes */
    bool durable;          /* every commit synced; false: store_sync on a timer */
    const uint8_t *key;    /* RECORD_MASTER_KEY_LEN bytes: the current master key (copied, derived, not kept) */
    const uint8_t *old_key; /* the previous master key, or NULL */
} store_options;

typedef struct store_stats {
    uint64_t corrupt;     /* records skipped: malformed or failed authentication */
    uint64_t unknown_key; /* records skipped: encrypted with a key we do not have */
    uint64_t rotated;     /* records rewritten from the old key to the current one */
    uint64_t commits, commit_failures;
} store_stats;

/* Opens the store (creating it) with the chosen engine, refuses a file another engine wrote, checks its
 * structure in a child process, then rotates records from the old key. NULL with err on failure. */
store *store_open(const store_options *o, char *err, size_t errlen);
void store_close(store *s);
/*
 * Live key rotation: the running key becomes the old key and `key` the current one; every record is rewritten
 * under it in one transaction (outside a batch). Returns 0 (also when key is the running key: nothing to do),
 * or -1 with err (then the running key stays in use).
 */
int store_rekey(store *s, const uint8_t key[RECORD_MASTER_KEY_LEN], char *err, size_t errlen);
int store_begin(store *s);
/* Adds a write to the open batch. STORE_OK, STORE_FULL or STORE_ERROR (the batch then fails to commit). */
int store_put(store *s, enum store_kind kind, const void *lkey, size_t lkey_len, const void *value, size_t len);
int store_del(store *s, enum store_kind kind, const void *lkey, size_t lkey_len);
/* Commits the batch: STORE_OK, STORE_FULL (no space: nothing of the batch was written) or STORE_ERROR. */
int store_commit(store *s);
void store_abort(store *s);
bool store_in_batch(const store *s);
typedef int (*store_iter_fn)(void *ctx, const uint8_t *lkey, size_t lkey_len, const uint8_t *value, size_t len);
/* Calls fn for every readable record of kind (fn returns STORE_OK to go on). Unreadable ones are counted,
 * logged and skipped. Returns STORE_OK or the first error. */
int store_iterate(store *s, enum store_kind kind, store_iter_fn fn, void *ctx);
/* Forces what was committed to disk (relaxed mode). */
int store_sync(store *s);
/* Free bytes: under the map cap and on the file system holding the store. */
void store_space(store *s, uint64_t *map_free, uint64_t *fs_free);
/* Bytes the store can still take: its free pages plus what the file may still grow by (the smaller of what
 * the map cap and the file system allow). */
uint64_t store_room(store *s);
const store_stats *store_get_stats(const store *s);

/*
 * Loads a master key: 64 hexadecimal characters, from a file (refused when others may read it), from an
 * environment variable (removed once read) or from a systemd credential ($CREDENTIALS_DIRECTORY/name).
 * Exactly one source is used (file, then credential, then env). Returns 1 when loaded, 0 when no source is
 * configured, -1 with err. `what` names the option family in messages.
 */
int store_key_load(const char *file, const char *env, const char *credential, const char *what,
                   uint8_t out[RECORD_MASTER_KEY_LEN], char *err, size_t errlen);

#endif
