/*
 * retain.h - the retained-message store: a tree of topic levels, each node holding at most one message.
 * Setting a message replaces the previous one; an empty payload deletes it. Matching a subscription's filter
 * walks only the branches the filter can reach ('#' walks its whole subtree).
 */
#ifndef RAMPART_BROKER_RETAIN_H
#define RAMPART_BROKER_RETAIN_H

#include <stddef.h>

#include "broker/hmap.h"
#include "broker/msg.h"

typedef struct retain_node retain_node;
struct retain_node {
    retain_node *parent;
    hmap children;
    broker_msg *msg;
    uint16_t level_len;
    char level[];
};

typedef struct retain_store {
    retain_node *root;
    size_t count; /* retained messages */
} retain_store;

int retain_init(retain_store *s);
void retain_free(retain_store *s);
/* Stores msg (taking a new reference) as the retained message of its topic, or deletes the topic's
 * retained message when msg's payload is empty. Returns 0, or -1 if out of memory (nothing changed). */
int retain_set(retain_store *s, broker_msg *msg);
typedef void (*retain_fn)(void *ctx, broker_msg *msg);
/* Calls fn for every retained message whose topic matches filter (valid, without $share prefix). */
void retain_match(const retain_store *s, const char *filter, size_t len, retain_fn fn, void *ctx);

#endif
