/* retain.c - see retain.h. */
#include "broker/retain.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "broker/trie.h"

static retain_node *retain_node_new(retain_node *parent, const char *level, size_t len)
{
    retain_node *n = calloc(1, sizeof *n + len + 1);
    if (!n)
        return NULL;
    n->parent = parent;
    n->level_len = (uint16_t)len;
    memcpy(n->level, level, len);
    return n;
}

int retain_init(retain_store *s)
{
    s->count = 0;
    s->expiring = (timer_heap){0};
    s->root = retain_node_new(NULL, "", 0);
    return s->root ? 0 : -1;
}

static void retain_prune(retain_node *n);

static void retain_node_free(retain_node *n)
{
    for (uint32_t i = 0; i < n->children.cap; i++)
        if (n->children.slots[i].value)
            retain_node_free(n->children.slots[i].value);
    hmap_free(&n->children);
    msg_unref(n->msg);
    free(n);
}

void retain_free(retain_store *s)
{
    if (s->root)
        retain_node_free(s->root);
    s->root = NULL;
    s->count = 0;
    timer_heap_free(&s->expiring);
}

/* Drops the message of n (it has one) and the nodes left empty above it. */
static void retain_drop(retain_store *s, retain_node *n)
{
    timer_heap_cancel(&s->expiring, &n->expiry);
    msg_unref(n->msg);
    n->msg = NULL;
    s->count--;
    retain_prune(n);
}

static void retain_prune(retain_node *n)
{
    while (n->parent && !n->msg && n->children.count == 0) {
        retain_node *p = n->parent;
        hmap_remove(&p->children, n->level, n->level_len);
        hmap_free(&n->children);
        free(n);
        n = p;
    }
}

int retain_set(retain_store *s, broker_msg *msg)
{
    retain_node *n = s->root;
    bool del = msg->payload_len == 0;
    size_t start = 0, len = msg->topic_len;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && msg->topic[i] != '/')
            continue;
        retain_node *c = hmap_get(&n->children, msg->topic + start, i - start);
        if (!c && del)
            return 0;
        if (!c) {
            c = retain_node_new(n, msg->topic + start, i - start);
            if (!c || hmap_put(&n->children, c->level, c->level_len, c) < 0) {
                free(c);
                retain_prune(n);
                return -1;
            }
        }
        n = c;
        start = i + 1;
    }
    if (del) {
        if (n->msg)
            retain_drop(s, n);
        else
            retain_prune(n);
        return 0;
    }
    if (msg->expiry_ms && timer_heap_set(&s->expiring, &n->expiry, msg->expiry_ms) < 0) {
        if (!n->msg)
            retain_prune(n);
        return -1; /* without an expiry index it could never be removed: keep what was there */
    }
    if (!msg->expiry_ms)
        timer_heap_cancel(&s->expiring, &n->expiry);
    if (n->msg) {
        msg_unref(n->msg);
        s->count--;
    }
    n->msg = msg_ref(msg);
    s->count++;
    return 0;
}

size_t retain_expire(retain_store *s, uint64_t now_ms, size_t max)
{
    size_t removed = 0;
    timer_node *t;
    while (removed < max && (t = timer_heap_top(&s->expiring)) && t->at <= now_ms) {
        retain_node *n = (retain_node *)((char *)t - offsetof(retain_node, expiry));
        retain_drop(s, n);
        removed++;
    }
    return removed;
}

static void retain_subtree(const retain_node *n, bool skip_dollar, uint64_t now, retain_fn fn, void *ctx)
{
    if (n->msg && n->parent && !msg_expired(n->msg, now))
        fn(ctx, n->msg);
    for (uint32_t i = 0; i < n->children.cap; i++) {
        const retain_node *c = n->children.slots[i].value;
        if (c && !(skip_dollar && c->level_len && c->level[0] == '$'))
            retain_subtree(c, false, now, fn, ctx);
    }
}

static void retain_walk(const retain_node *n, const char *filter, size_t len, size_t pos, uint64_t now, retain_fn fn,
                        void *ctx)
{
    bool root = n->parent == NULL;
    if (pos > len) {
        if (n->msg && !msg_expired(n->msg, now))
            fn(ctx, n->msg);
        return;
    }
    size_t end = pos;
    while (end < len && filter[end] != '/')
        end++;
    if (end - pos == 1 && filter[pos] == '#') {
        retain_subtree(n, root, now, fn, ctx);
        return;
    }
    if (end - pos == 1 && filter[pos] == '+') {
        for (uint32_t i = 0; i < n->children.cap; i++) {
            const retain_node *c = n->children.slots[i].value;
            if (c && !(root && c->level_len && c->level[0] == '$'))
                retain_walk(c, filter, len, end + 1, now, fn, ctx);
        }
        return;
    }
    const retain_node *c = hmap_get(&n->children, filter + pos, end - pos);
    if (c)
        retain_walk(c, filter, len, end + 1, now, fn, ctx);
}

void retain_match(retain_store *s, const char *filter, size_t len, uint64_t now_ms, retain_fn fn, void *ctx)
{
    retain_expire(s, now_ms, RETAIN_EXPIRE_BATCH);
    retain_walk(s->root, filter, len, 0, now_ms, fn, ctx);
}
