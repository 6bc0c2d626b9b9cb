/*
 * hmap.h - an open-addressing hash map from byte strings to pointers. The map does not copy keys: the
 * caller guarantees that a key's bytes stay valid and unchanged while its entry exists (typically the key
 * lives inside the value). Lookups never allocate; inserts grow the table (power of two, load <= 3/4).
 */
#ifndef RAMPART_BROKER_HMAP_H
#define RAMPART_BROKER_HMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmap_slot {
    const void *key;
    uint32_t len;
    uint32_t hash;
    void *value; /* NULL: empty slot */
} hmap_slot;

typedef struct hmap {
    hmap_slot *slots;
    uint32_t cap; /* 0 or a power of two */
    uint32_t count;
} hmap;

/* A zeroed struct is an empty map. */
void hmap_free(hmap *m);
/* The value stored under key, or NULL. */
void *hmap_get(const hmap *m, const void *key, size_t len);
/* Stores value (non-NULL) under key, replacing any previous value. Returns 0, or -1 if out of memory. */
int hmap_put(hmap *m, const void *key, size_t len, void *value);
/* Removes key; returns the value it had, or NULL. */
void *hmap_remove(hmap *m, const void *key, size_t len);
/* Iteration: for (uint32_t i = 0; i < m->cap; i++) if (m->slots[i].value) ...  (no changes meanwhile). */
uint32_t hmap_hash(const void *key, size_t len);

#endif
