/*
 * persist.h - the broker's durable state (issue 9; docs/persistence.md): retained messages, persistent
 * sessions (subscriptions, expiry, will, in-flight and queued deliveries in both directions) kept in the
 * encrypted store (src/persist/store.h) and restored at start.
 *
 * Group commit: the broker core marks what changed during one event-loop iteration (persist_* hooks in
 * core.h); broker_iterate commits it in one store transaction before any output is written. A connection
 * that published QoS 1/2 in a batch has its output held (persist_hold) until that batch is committed, so
 * PUBACK / PUBREC never leave before the message is durable.
 */
#ifndef RAMPART_BROKER_PERSIST_H
#define RAMPART_BROKER_PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "persist/record.h"

typedef struct persist_options {
    const char *path;          /* the store file */
    const char *engine;        /* the storage engine's name (persistence_engine; NULL = the default) */
    uint64_t max_size;         /* the store's cap */
    bool relaxed;              /* relaxed durability: commits not synced, synced every sync_interval_ms */
    uint32_t sync_interval_ms;
    const uint8_t *key;        /* RECORD_MASTER_KEY_LEN bytes (copied into derived keys; wipe yours) */
    const uint8_t *old_key;    /* NULL, or the previous key (records under it are rewritten at open) */
} persist_options;

/*
 * Opens the store and restores its state into b (which has no clients yet). One broker per process may have
 * persistence. Returns 0, or -1 with err (the store could not be opened: the broker must not start).
 */
int persist_open(broker *b, const persist_options *o, char *err, size_t errlen);
/* Rotates to a new key while running (SIGHUP): pending changes are committed, then every record is rewritten
 * under key. Returns 0 (nothing to do when key is the running key) or -1 with err (the running key stays). */
int persist_rekey(broker *b, const uint8_t key[RECORD_MASTER_KEY_LEN], char *err, size_t errlen);

#endif
