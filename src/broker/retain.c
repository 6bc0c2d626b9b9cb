/* retain.c - see retain.h. */
#include "broker/retain.h"

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
    s->root = retain_node_new(NULL, "", 0);
    return s->root ? 0 : -1;
}

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
    if (n->msg) {
        msg_unref(n->msg);
        n->msg = NULL;
        s->count--;
    }
    if (del) {
        retain_prune(n);
        return 0;
    }
    n->msg = msg_ref(msg);
    s->count++;
    return 0;
}

static void retain_subtree(const retain_node *n, bool skip_dollar, retain_fn fn, void *ctx)
{
    if (n->msg && n->parent)
        fn(ctx, n->msg);
    for (uint32_t i = 0; i < n->children.cap; i++) {
        const retain_node *c = n->children.slots[i].value;
        if (c && !(skip_dollar && c->level_len && c->level[0] == '$'))
            retain_subtree(c, false, fn, ctx);
    }
}

static void retain_walk(const retain_node *n, const char *filter, size_t len, size_t pos, retain_fn fn, void *ctx)
{
    bool root = n->parent == NULL;
    if (pos > len) {
        if (n->msg)
            fn(ctx, n->msg);
        return;
    }
    size_t end = pos;
    while (end < len && filter[end] != '/')
        end++;
    if (end - pos == 1 && filter[pos] == '#') {
        retain_subtree(n, root, fn, ctx);
        return;
    }
    if (end - pos == 1 && filter[pos] == '+') {
        for (uint32_t i = 0; i < n->children.cap; i++) {
            const retain_node *c = n->children.slots[i].value;
            if (c && !(root && c->level_len && c->level[0] == '$'))
                retain_walk(c, filter, len, end + 1, fn, ctx);
        }
        return;
    }
    const retain_node *c = hmap_get(&n->children, filter + pos, end - pos);
    if (c)
        retain_walk(c, filter, len, end + 1, fn, ctx);
}

void retain_match(const retain_store *s, const char *filter, size_t len, retain_fn fn, void *ctx)
{
    retain_walk(s->root, filter, len, 0, fn, ctx);
}
