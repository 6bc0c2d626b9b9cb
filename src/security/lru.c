/* lru.c - see lru.h. */
#include "security/lru.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct lru_node {
    struct lru_node *hnext;       /* bucket chain */
    struct lru_node *prev, *next; /* recency list, most recent first */
    size_t klen;
    uint8_t key[LRU_KEY_MAX];
    /* the value follows, aligned */
    max_align_t value[];
} lru_node;

struct lru_table {
    lru_node **buckets;
    size_t nbuckets, count, max_entries, value_size;
    lru_node *head, *tail;
    uint64_t seed;
};

lru_table *lru_new(size_t max_entries, size_t value_size)
{
    lru_table *t = calloc(1, sizeof *t);

    if (!t || max_entries == 0)
        goto fail;
    t->max_entries = max_entries;
    t->value_size = value_size;
    t->nbuckets = 16;
    while (t->nbuckets < max_entries && t->nbuckets < ((size_t)1 << 24))
        t->nbuckets <<= 1;
    t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
    if (!t->buckets || RAND_bytes((unsigned char *)&t->seed, sizeof t->seed) != 1)
        goto fail;
    return t;
fail:
    lru_free(t);
    return NULL;
}

void lru_free(lru_table *t)
{
    lru_node *n, *next;

    if (!t)
        return;
    for (n = t->head; n; n = next) {
        next = n->next;
        free(n);
    }
    free(t->buckets);
    free(t);
}

/* Normalises a key: long keys become their SHA-256. Returns the length written to out. */
static size_t key_norm(const void *key, size_t klen, uint8_t out[LRU_KEY_MAX])
{
    if (klen <= LRU_KEY_MAX) {
        memcpy(out, key, klen);
        return klen;
    }
    SHA256(key, klen, out);
    out[32] = 0xff; /* marks a digest; a colliding short key only shares a counter with its own digest */
    return 33;
}

static size_t key_bucket(const lru_table *t, const uint8_t *key, size_t klen)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ t->seed;

    for (size_t i = 0; i < klen; i++) {
        h ^= key[i];
        h *= 0x100000001b3ULL;
        h ^= h >> 29;
    }
    h ^= t->seed >> 7;
    h *= 0x9e3779b97f4a7c15ULL;
    return (size_t)(h >> 17) & (t->nbuckets - 1);
}

static void list_unlink(lru_table *t, lru_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        t->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        t->tail = n->prev;
    n->prev = n->next = NULL;
}

static void list_push_front(lru_table *t, lru_node *n)
{
    n->prev = NULL;
    n->next = t->head;
    if (t->head)
        t->head->prev = n;
    t->head = n;
    if (!t->tail)
        t->tail = n;
}

static lru_node **find_slot(lru_table *t, const uint8_t *key, size_t klen)
{
    lru_node **pp = &t->buckets[key_bucket(t, key, klen)];

    while (*pp && ((*pp)->klen != klen || memcmp((*pp)->key, key, klen)))
        pp = &(*pp)->hnext;
    return pp;
}

static void node_remove(lru_table *t, lru_node *n)
{
    lru_node **pp = find_slot(t, n->key, n->klen);

    if (*pp == n)
        *pp = n->hnext;
    list_unlink(t, n);
    free(n);
    t->count--;
}

void *lru_get(lru_table *t, const void *key, size_t klen)
{
    uint8_t k[LRU_KEY_MAX];
    size_t kl = key_norm(key, klen, k);
    lru_node *n = *find_slot(t, k, kl);

    if (!n)
        return NULL;
    list_unlink(t, n);
    list_push_front(t, n);
    return n->value;
}

void *lru_put(lru_table *t, const void *key, size_t klen, bool *created)
{
    uint8_t k[LRU_KEY_MAX];
    size_t kl = key_norm(key, klen, k);
    lru_node **pp = find_slot(t, k, kl), *n = *pp;

    *created = false;
    if (n) {
        list_unlink(t, n);
        list_push_front(t, n);
        return n->value;
    }
    if (t->count >= t->max_entries) {
        node_remove(t, t->tail);
        pp = find_slot(t, k, kl);
    }
    n = calloc(1, sizeof *n + t->value_size);
    if (!n)
        return NULL;
    n->klen = kl;
    memcpy(n->key, k, kl);
    n->hnext = *pp;
    *pp = n;
    list_push_front(t, n);
    t->count++;
    *created = true;
    return n->value;
}

void lru_del(lru_table *t, const void *key, size_t klen)
{
    uint8_t k[LRU_KEY_MAX];
    size_t kl = key_norm(key, klen, k);
    lru_node *n = *find_slot(t, k, kl);

    if (n)
        node_remove(t, n);
}

size_t lru_count(const lru_table *t)
{
    return t->count;
}
