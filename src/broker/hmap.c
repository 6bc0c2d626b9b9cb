/* hmap.c - see hmap.h. Linear probing with backward-shift deletion (no tombstones). */
#include "broker/hmap.h"

#include <stdlib.h>
#include <string.h>

uint32_t hmap_hash(const void *key, size_t len)
{
    /* FNV-1a, then a final avalanche so that the low bits (the slot index) depend on every byte. */
    const uint8_t *p = key;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    return h;
}

void hmap_free(hmap *m)
{
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = 0;
}

static hmap_slot *hmap_find(const hmap *m, const void *key, size_t len, uint32_t h)
{
    if (m->cap == 0)
        return NULL;
    for (uint32_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        hmap_slot *s = &m->slots[i];
        if (!s->value)
            return NULL;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

void *hmap_get(const hmap *m, const void *key, size_t len)
{
    hmap_slot *s = hmap_find(m, key, len, hmap_hash(key, len));
    return s ? s->value : NULL;
}

static void hmap_place(hmap *m, const hmap_slot *src)
{
    uint32_t i = src->hash & (m->cap - 1);
    while (m->slots[i].value)
        i = (i + 1) & (m->cap - 1);
    m->slots[i] = *src;
}

static int hmap_grow(hmap *m)
{
    uint32_t ncap = m->cap ? m->cap * 2 : 8;
    hmap old = *m;
    if (ncap == 0)
        return -1;
    m->slots = calloc(ncap, sizeof *m->slots);
    if (!m->slots) {
        *m = old;
        return -1;
    }
    m->cap = ncap;
    for (uint32_t i = 0; i < old.cap; i++)
        if (old.slots[i].value)
            hmap_place(m, &old.slots[i]);
    free(old.slots);
    return 0;
}

int hmap_put(hmap *m, const void *key, size_t len, void *value)
{
    uint32_t h = hmap_hash(key, len);
    hmap_slot *s = hmap_find(m, key, len, h);
    if (s) {
        s->key = key;
        s->value = value;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3 && hmap_grow(m) < 0)
        return -1;
    hmap_slot ns = {key, (uint32_t)len, h, value};
    hmap_place(m, &ns);
    m->count++;
    return 0;
}

void *hmap_remove(hmap *m, const void *key, size_t len)
{
    hmap_slot *s = hmap_find(m, key, len, hmap_hash(key, len));
    if (!s)
        return NULL;
    void *value = s->value;
    uint32_t mask = m->cap - 1, i = (uint32_t)(s - m->slots), j = i;
    s->value = NULL;
    m->count--;
    /* Backward-shift: move later members of the probe run into the hole when that is closer to home. */
    for (;;) {
        j = (j + 1) & mask;
        hmap_slot *t = &m->slots[j];
        if (!t->value)
            break;
        uint32_t home = t->hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->slots[i] = *t;
            t->value = NULL;
            i = j;
        }
    }
    return value;
}
