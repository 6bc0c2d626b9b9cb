/*
 * lru.h - a bounded hash table with least-recently-used eviction, for the security modules' per-address,
 * per-network and per-username state. Keys are byte strings (copied; keys longer than LRU_KEY_MAX are
 * replaced by their SHA-256 so an attacker's 64 KiB username costs 32 bytes); values are fixed-size blobs
 * owned by the table and zeroed on creation. Bucket positions use a per-table random seed so an attacker
 * cannot aim keys at one bucket. Not thread-safe: the event loop owns these tables.
 */
#ifndef RAMPART_SECURITY_LRU_H
#define RAMPART_SECURITY_LRU_H

#include <stdbool.h>
#include <stddef.h>

#define LRU_KEY_MAX 128

typedef struct lru_table lru_table;

/* A table of at most max_entries values of value_size bytes each. NULL on allocation failure. */
lru_table *lru_new(size_t max_entries, size_t value_size);
void lru_free(lru_table *t);

/* The value for key, or NULL. Marks it most recently used. */
void *lru_get(lru_table *t, const void *key, size_t klen);
/* The value for key, created zeroed (then *created is true) if absent, evicting the least recently used
 * entry when the table is full. NULL only on allocation failure. */
void *lru_put(lru_table *t, const void *key, size_t klen, bool *created);
void lru_del(lru_table *t, const void *key, size_t klen);
size_t lru_count(const lru_table *t);

#endif
