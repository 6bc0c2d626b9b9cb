/*
 * trie.h - the subscription trie. One node per topic-filter level; '+' and '#' children are kept apart from
 * the named children, so matching a topic costs O(levels x wildcard branches), independent of the number of
 * subscriptions (plus the cost of reporting the matches). Knows nothing of sessions: a subscription's owner
 * is an opaque pointer. Shared subscriptions ($share/GROUP/FILTER) live in groups at the filter's node.
 *
 * `$`-topics: a topic whose first level starts with '$' is not matched by '+' or '#' at the first level.
 */
#ifndef RAMPART_BROKER_TRIE_H
#define RAMPART_BROKER_TRIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/hmap.h"

#define TRIE_MAX_LEVELS 256

typedef struct trie_sub {
    void *owner;     /* the subscriber (a session) */
    uint32_t sub_id; /* Subscription Identifier, 0 if none */
    uint8_t qos;
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling;
} trie_sub;

typedef struct trie_node trie_node;

/* A shared subscription group. Kept alive by references (deliveries in flight through it) even after its last
 * member left; `node` is NULL once detached from the trie. */
typedef struct trie_group {
    trie_sub *members;
    uint32_t count, cap;
    uint32_t next; /* round-robin cursor */
    uint32_t refs; /* outside references (trie_group_ref) */
    trie_node *node;
    uint16_t name_len;
    char name[]; /* NUL-terminated */
} trie_group;

struct trie_node {
    trie_node *parent;
    hmap children; /* named levels -> trie_node */
    trie_node *plus, *hash;
    trie_sub *subs;
    uint32_t nsubs, capsubs;
    trie_group **groups;
    uint32_t ngroups, capgroups;
    uint16_t level_len;
    char level[]; /* NUL-terminated; "+" or "#" for wildcard nodes */
};

typedef struct sub_trie {
    trie_node *root;
    size_t nodes;
    size_t subs; /* plain and shared together */
} sub_trie;

/* Initialises an empty trie. Returns 0 or -1 when out of memory. */
int trie_init(sub_trie *t);
/* Frees every node and group (groups still referenced are only detached). */
void trie_free(sub_trie *t);
/*
 * Adds or replaces the subscription of sub->owner to filter (without any $share prefix; group NULL for a
 * plain subscription). The filter must be valid (mqtt_topic_filter_valid). Returns 0 when added, 1 when an
 * existing subscription of that owner was replaced, -1 when out of memory or deeper than TRIE_MAX_LEVELS.
 */
int trie_add(sub_trie *t, const char *filter, size_t len, const char *group, size_t group_len,
             const trie_sub *sub);
/* Removes owner's subscription to filter (in group, if given). Returns 0 if removed, -1 if none existed. */
int trie_remove(sub_trie *t, const char *filter, size_t len, const char *group, size_t group_len, void *owner);

typedef void (*trie_sub_fn)(void *ctx, const trie_sub *sub);
typedef void (*trie_group_fn)(void *ctx, trie_group *group);
/* Calls on_sub for every plain subscription and on_group for every shared group whose filter matches topic
 * (a valid topic name). An owner with overlapping subscriptions is reported once per subscription. */
void trie_match(const sub_trie *t, const char *topic, size_t len, trie_sub_fn on_sub, trie_group_fn on_group,
                void *ctx);

/* True if the topic filter matches the topic name (both valid, no $share prefix). */
bool trie_filter_matches(const char *filter, size_t flen, const char *topic, size_t tlen);

/* The group of that name at filter (no $share prefix), or NULL. */
trie_group *trie_group_lookup(sub_trie *t, const char *filter, size_t len, const char *group, size_t group_len);
/* Writes the filter of g's node (no $share prefix) to out; returns its length, or 0 when g is detached or the
 * filter is longer than cap. */
size_t trie_group_filter(const trie_group *g, char *out, size_t cap);

void trie_group_ref(trie_group *g);
/* Drops a reference; frees the group when detached and unreferenced. */
void trie_group_unref(trie_group *g);

#endif
