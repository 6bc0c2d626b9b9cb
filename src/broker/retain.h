/*
 * retain.h - the retained-message store: a tree of topic levels, each node holding at most one message.
 * Setting a message replaces the previous one; an empty payload deletes it. Matching a subscription's filter
 * walks only the branches the filter can reach ('#' walks its whole subtree).
 */
#ifndef RAMPART_BROKER_RETAIN_H
#define RAMPART_BROKER_RETAIN_H

#include <stddef.h>

#include "base/timerheap.h"
#include "broker/hmap.h"
#include "broker/msg.h"

typedef struct retain_node retain_node;
struct retain_node {
    retain_node *parent;
    hmap children;
    broker_msg *msg;
    timer_node expiry; /* armed while msg has a Message Expiry (in retain_store.expiring) */
    uint16_t level_len;
    char level[];
};

typedef struct retain_store {
    retain_node *root;
    size_t count; /* retained messages */
    timer_heap expiring; /* nodes whose message has a Message Expiry, earliest first */
} retain_store;

/* Expired messages removed per retain_expire call from retain_match (the broker's tick sweeps more). */
#define RETAIN_EXPIRE_BATCH 256

int retain_init(retain_store *s);
void retain_free(retain_store *s);
/* Stores msg (taking a new reference) as the retained message of its topic, or deletes the topic's
 * retained message when msg's payload is empty. Returns 0, or -1 if out of memory (nothing changed). */
int retain_set(retain_store *s, broker_msg *msg);
typedef void (*retain_fn)(void *ctx, broker_msg *msg);
/* Calls fn for every retained message whose topic matches filter (valid, without $share prefix) and whose
 * Message Expiry has not passed at now_ms. Expired messages are removed first (up to RETAIN_EXPIRE_BATCH;
 * any beyond are skipped, and go with the next sweep). */
void retain_match(retain_store *s, const char *filter, size_t len, uint64_t now_ms, retain_fn fn, void *ctx);
/* Removes from memory at most max retained messages whose Message Expiry passed at now_ms, earliest first;
 * the cost is O(log n) per removed message, nothing for the others. Returns how many were removed. */
size_t retain_expire(retain_store *s, uint64_t now_ms, size_t max);

#endif
