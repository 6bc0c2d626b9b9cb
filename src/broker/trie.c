/* trie.c - see trie.h. */
#include "broker/trie.h"

#include <stdlib.h>
#include <string.h>

static trie_node *trie_node_new(trie_node *parent, const char *level, size_t len)
{
    trie_node *n = calloc(1, sizeof *n + len + 1);
    if (!n)
        return NULL;
    n->parent = parent;
    n->level_len = (uint16_t)len;
    memcpy(n->level, level, len);
    return n;
}

int trie_init(sub_trie *t)
{
    memset(t, 0, sizeof *t);
    t->root = trie_node_new(NULL, "", 0);
    return t->root ? 0 : -1;
}

static void trie_group_detach(trie_group *g)
{
    g->node = NULL;
    g->count = 0;
    if (g->refs == 0) {
        free(g->members);
        free(g);
    }
}

static void trie_node_free(trie_node *n)
{
    if (!n)
        return;
    for (uint32_t i = 0; i < n->children.cap; i++)
        if (n->children.slots[i].value)
            trie_node_free(n->children.slots[i].value);
    hmap_free(&n->children);
    trie_node_free(n->plus);
    trie_node_free(n->hash);
    for (uint32_t i = 0; i < n->ngroups; i++)
        trie_group_detach(n->groups[i]);
    free(n->groups);
    free(n->subs);
    free(n);
}

void trie_free(sub_trie *t)
{
    trie_node_free(t->root);
    t->root = NULL;
}

void trie_group_ref(trie_group *g)
{
    g->refs++;
}

void trie_group_unref(trie_group *g)
{
    if (--g->refs == 0 && !g->node) {
        free(g->members);
        free(g);
    }
}

/* The child of n for one level, created if `create`. */
static trie_node *trie_child(sub_trie *t, trie_node *n, const char *level, size_t len, bool create)
{
    trie_node **slot = NULL;
    if (len == 1 && level[0] == '+')
        slot = &n->plus;
    else if (len == 1 && level[0] == '#')
        slot = &n->hash;
    trie_node *c = slot ? *slot : hmap_get(&n->children, level, len);
    if (c || !create)
        return c;
    c = trie_node_new(n, level, len);
    if (!c)
        return NULL;
    if (slot) {
        *slot = c;
    } else if (hmap_put(&n->children, c->level, len, c) < 0) {
        free(c);
        return NULL;
    }
    t->nodes++;
    return c;
}

/* Walks (or builds) the path of filter. Returns the node or NULL. */
static trie_node *trie_walk(sub_trie *t, const char *filter, size_t len, bool create)
{
    trie_node *n = t->root;
    size_t start = 0, depth = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && filter[i] != '/')
            continue;
        if (++depth > TRIE_MAX_LEVELS)
            return NULL;
        n = trie_child(t, n, filter + start, i - start, create);
        if (!n)
            return NULL;
        start = i + 1;
    }
    return n;
}

static bool trie_node_empty(const trie_node *n)
{
    return n->nsubs == 0 && n->ngroups == 0 && n->children.count == 0 && !n->plus && !n->hash;
}

/* Frees n and its now-empty ancestors (never the root). */
static void trie_prune(sub_trie *t, trie_node *n)
{
    while (n->parent && trie_node_empty(n)) {
        trie_node *p = n->parent;
        if (p->plus == n)
            p->plus = NULL;
        else if (p->hash == n)
            p->hash = NULL;
        else
            hmap_remove(&p->children, n->level, n->level_len);
        hmap_free(&n->children);
        free(n->subs);
        free(n->groups);
        free(n);
        t->nodes--;
        n = p;
    }
}

static int trie_subs_put(trie_sub **arr, uint32_t *count, uint32_t *cap, const trie_sub *sub)
{
    for (uint32_t i = 0; i < *count; i++)
        if ((*arr)[i].owner == sub->owner) {
            (*arr)[i] = *sub;
            return 1;
        }
    if (*count == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 2;
        trie_sub *na = realloc(*arr, ncap * sizeof *na);
        if (!na)
            return -1;
        *arr = na;
        *cap = ncap;
    }
    (*arr)[(*count)++] = *sub;
    return 0;
}

static int trie_subs_del(trie_sub *arr, uint32_t *count, void *owner)
{
    for (uint32_t i = 0; i < *count; i++)
        if (arr[i].owner == owner) {
            arr[i] = arr[--*count];
            return 0;
        }
    return -1;
}

static trie_group *trie_group_find(trie_node *n, const char *group, size_t glen, uint32_t *index)
{
    for (uint32_t i = 0; i < n->ngroups; i++)
        if (n->groups[i]->name_len == glen && memcmp(n->groups[i]->name, group, glen) == 0) {
            if (index)
                *index = i;
            return n->groups[i];
        }
    return NULL;
}

static trie_group *trie_group_create(trie_node *n, const char *group, size_t glen)
{
    if (n->ngroups == n->capgroups) {
        uint32_t ncap = n->capgroups ? n->capgroups * 2 : 1;
        trie_group **na = realloc(n->groups, ncap * sizeof *na);
        if (!na)
            return NULL;
        n->groups = na;
        n->capgroups = ncap;
    }
    trie_group *g = calloc(1, sizeof *g + glen + 1);
    if (!g)
        return NULL;
    memcpy(g->name, group, glen);
    g->name_len = (uint16_t)glen;
    g->node = n;
    n->groups[n->ngroups++] = g;
    return g;
}

int trie_add(sub_trie *t, const char *filter, size_t len, const char *group, size_t group_len,
             const trie_sub *sub)
{
    int rc = -1;
    trie_node *n = trie_walk(t, filter, len, true);
    if (!n)
        goto out;
    if (!group) {
        rc = trie_subs_put(&n->subs, &n->nsubs, &n->capsubs, sub);
    } else {
        trie_group *g = trie_group_find(n, group, group_len, NULL);
        if (!g)
            g = trie_group_create(n, group, group_len);
        if (g)
            rc = trie_subs_put(&g->members, &g->count, &g->cap, sub);
        if (g && g->count == 0) {
            uint32_t idx = 0;
            trie_group_find(n, group, group_len, &idx);
            n->groups[idx] = n->groups[--n->ngroups];
            trie_group_detach(g);
        }
    }
    if (rc == 0)
        t->subs++;
out:
    if (rc < 0 && n)
        trie_prune(t, n);
    return rc;
}

int trie_remove(sub_trie *t, const char *filter, size_t len, const char *group, size_t group_len, void *owner)
{
    trie_node *n = trie_walk(t, filter, len, false);
    int rc = -1;
    if (!n)
        return -1;
    if (!group) {
        rc = trie_subs_del(n->subs, &n->nsubs, owner);
    } else {
        uint32_t idx = 0;
        trie_group *g = trie_group_find(n, group, group_len, &idx);
        if (g)
            rc = trie_subs_del(g->members, &g->count, owner);
        if (g && g->count == 0) {
            n->groups[idx] = n->groups[--n->ngroups];
            trie_group_detach(g);
        } else if (g && g->next >= g->count) {
            g->next = 0;
        }
    }
    if (rc == 0) {
        t->subs--;
        trie_prune(t, n);
    }
    return rc;
}

typedef struct trie_match_ctx {
    const char *topic;
    size_t starts[TRIE_MAX_LEVELS + 1]; /* level i spans starts[i] .. starts[i+1]-1 */
    size_t nlevels;
    trie_sub_fn on_sub;
    trie_group_fn on_group;
    void *ctx;
} trie_match_ctx;

static void trie_report(const trie_match_ctx *m, const trie_node *n)
{
    for (uint32_t i = 0; i < n->nsubs; i++)
        m->on_sub(m->ctx, &n->subs[i]);
    for (uint32_t i = 0; i < n->ngroups; i++)
        if (m->on_group)
            m->on_group(m->ctx, n->groups[i]);
}

static void trie_match_level(const trie_match_ctx *m, const trie_node *n, size_t level)
{
    bool dollar = level == 0 && m->topic[0] == '$';
    if (n->hash && !dollar)
        trie_report(m, n->hash); /* '#' also matches the parent level itself */
    if (level == m->nlevels) {
        trie_report(m, n);
        return;
    }
    size_t start = m->starts[level], end = m->starts[level + 1] - 1;
    const trie_node *c = hmap_get(&n->children, m->topic + start, end - start);
    if (c)
        trie_match_level(m, c, level + 1);
    if (n->plus && !dollar)
        trie_match_level(m, n->plus, level + 1);
}

void trie_match(const sub_trie *t, const char *topic, size_t len, trie_sub_fn on_sub, trie_group_fn on_group,
                void *ctx)
{
    trie_match_ctx m = {.topic = topic, .on_sub = on_sub, .on_group = on_group, .ctx = ctx};
    m.starts[0] = 0;
    for (size_t i = 0; i < len; i++)
        if (topic[i] == '/') {
            if (m.nlevels + 1 >= TRIE_MAX_LEVELS)
                return;
            m.starts[++m.nlevels] = i + 1;
        }
    m.starts[++m.nlevels] = len + 1;
    trie_match_level(&m, t->root, 0);
}

bool trie_filter_matches(const char *filter, size_t flen, const char *topic, size_t tlen)
{
    size_t f = 0, t = 0;
    if (tlen && topic[0] == '$' && flen && (filter[0] == '+' || filter[0] == '#'))
        return false;
    for (;;) {
        size_t fe = f, te = t;
        while (fe < flen && filter[fe] != '/')
            fe++;
        while (te < tlen && topic[te] != '/')
            te++;
        if (fe - f == 1 && filter[f] == '#')
            return true;
        bool same = (fe - f == 1 && filter[f] == '+') || (fe - f == te - t && memcmp(filter + f, topic + t, fe - f) == 0);
        if (!same)
            return false;
        bool fend = fe >= flen, tend = te >= tlen;
        if (fend && tend)
            return true;
        if (tend) /* "a/#" matches "a" */
            return fe + 2 == flen && filter[fe + 1] == '#';
        if (fend)
            return false;
        f = fe + 1;
        t = te + 1;
    }
}

trie_group *trie_group_lookup(sub_trie *t, const char *filter, size_t len, const char *group, size_t group_len)
{
    trie_node *n = trie_walk(t, filter, len, false);
    return n ? trie_group_find(n, group, group_len, NULL) : NULL;
}

size_t trie_group_filter(const trie_group *g, char *out, size_t cap)
{
    size_t len = 0;
    if (!g->node)
        return 0;
    for (const trie_node *n = g->node; n->parent; n = n->parent)
        len += n->level_len + (n->parent->parent ? 1 : 0);
    if (len == 0 || len > cap)
        return 0;
    size_t end = len;
    for (const trie_node *n = g->node; n->parent; n = n->parent) {
        end -= n->level_len;
        memcpy(out + end, n->level, n->level_len);
        if (n->parent->parent)
            out[--end] = '/';
    }
    return len;
}
