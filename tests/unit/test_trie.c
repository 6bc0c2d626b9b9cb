/* test_trie.c - the subscription trie, topic filter matching, the retained store and the hash map. */
#include <stdlib.h>
#include <string.h>

#include "broker/hmap.h"
#include "broker/msg.h"
#include "broker/retain.h"
#include "broker/trie.h"
#include "test.h"

typedef struct hits {
    void *owners[64];
    uint32_t ids[64];
    int n;
    trie_group *groups[16];
    int ngroups;
} hits;

static void on_sub(void *ctx, const trie_sub *sub)
{
    hits *h = ctx;
    if (h->n < 64) {
        h->owners[h->n] = sub->owner;
        h->ids[h->n] = sub->sub_id;
    }
    h->n++;
}

static void on_group(void *ctx, trie_group *g)
{
    hits *h = ctx;
    if (h->ngroups < 16)
        h->groups[h->ngroups] = g;
    h->ngroups++;
}

static int owner_a, owner_b, owner_c;

static void add(sub_trie *t, const char *filter, void *owner, uint32_t id)
{
    trie_sub s = {.owner = owner, .sub_id = id, .qos = 1};
    CHECK(trie_add(t, filter, strlen(filter), NULL, 0, &s) >= 0);
}

static hits match(sub_trie *t, const char *topic)
{
    hits h;
    memset(&h, 0, sizeof h);
    trie_match(t, topic, strlen(topic), on_sub, on_group, &h);
    return h;
}

TEST(trie_exact_and_wildcards)
{
    sub_trie t;
    CHECK_EQ(trie_init(&t), 0);
    add(&t, "a/b/c", &owner_a, 1);
    add(&t, "a/+/c", &owner_a, 2);
    add(&t, "a/#", &owner_b, 3);
    add(&t, "#", &owner_c, 4);
    add(&t, "+/+", &owner_c, 5);
    CHECK_EQ(match(&t, "a/b/c").n, 4); /* a/b/c, a/+/c, a/#, # */
    CHECK_EQ(match(&t, "a/x/c").n, 3);
    CHECK_EQ(match(&t, "a").n, 2);     /* a/# matches its parent level, and # */
    CHECK_EQ(match(&t, "a/b").n, 3);   /* a/#, #, +/+ */
    CHECK_EQ(match(&t, "b/b/c").n, 1); /* # only */
    CHECK_EQ(match(&t, "a/b/c/d").n, 2);
    trie_free(&t);
}

TEST(trie_dollar_topics_not_matched_by_leading_wildcards)
{
    sub_trie t;
    trie_init(&t);
    add(&t, "#", &owner_a, 0);
    add(&t, "+/broker/uptime", &owner_a, 0);
    add(&t, "$SYS/#", &owner_b, 0);
    add(&t, "$SYS/+/uptime", &owner_c, 0);
    hits h = match(&t, "$SYS/broker/uptime");
    CHECK_EQ(h.n, 2);
    CHECK(h.owners[0] != &owner_a && h.owners[1] != &owner_a);
    CHECK_EQ(match(&t, "x/broker/uptime").n, 2);
    trie_free(&t);
}

TEST(trie_empty_levels_are_levels)
{
    sub_trie t;
    trie_init(&t);
    add(&t, "a//b", &owner_a, 0);
    add(&t, "/+", &owner_b, 0);
    CHECK_EQ(match(&t, "a//b").n, 1);
    CHECK_EQ(match(&t, "a/b").n, 0);
    CHECK_EQ(match(&t, "/x").n, 1);
    CHECK_EQ(match(&t, "/").n, 1);
    trie_free(&t);
}

TEST(trie_replace_and_remove_prunes_nodes)
{
    sub_trie t;
    trie_init(&t);
    add(&t, "x/y/z", &owner_a, 1);
    size_t nodes = t.nodes;
    trie_sub s = {.owner = &owner_a, .sub_id = 9, .qos = 2};
    CHECK_EQ(trie_add(&t, "x/y/z", 5, NULL, 0, &s), 1); /* replaced, not duplicated */
    CHECK_EQ(t.nodes, nodes);
    CHECK_EQ(t.subs, 1);
    hits h = match(&t, "x/y/z");
    CHECK_EQ(h.n, 1);
    CHECK_EQ(h.ids[0], 9);
    CHECK_EQ(trie_remove(&t, "x/y/z", 5, NULL, 0, &owner_b), -1);
    CHECK_EQ(trie_remove(&t, "x/y/z", 5, NULL, 0, &owner_a), 0);
    CHECK_EQ(t.nodes, 0);
    CHECK_EQ(t.subs, 0);
    CHECK_EQ(match(&t, "x/y/z").n, 0);
    trie_free(&t);
}

TEST(trie_shared_groups)
{
    sub_trie t;
    trie_init(&t);
    trie_sub a = {.owner = &owner_a, .qos = 1}, b = {.owner = &owner_b, .qos = 0};
    CHECK_EQ(trie_add(&t, "s/+", 3, "g1", 2, &a), 0);
    CHECK_EQ(trie_add(&t, "s/+", 3, "g1", 2, &b), 0);
    CHECK_EQ(trie_add(&t, "s/+", 3, "g2", 2, &a), 0);
    hits h = match(&t, "s/1");
    CHECK_EQ(h.n, 0);
    CHECK_EQ(h.ngroups, 2);
    trie_group *g1 = strcmp(h.groups[0]->name, "g1") == 0 ? h.groups[0] : h.groups[1];
    CHECK_EQ(g1->count, 2);
    /* A reference keeps a group alive after its last member leaves. */
    trie_group_ref(g1);
    CHECK_EQ(trie_remove(&t, "s/+", 3, "g1", 2, &owner_a), 0);
    CHECK_EQ(trie_remove(&t, "s/+", 3, "g1", 2, &owner_b), 0);
    CHECK(g1->node == NULL);
    trie_group_unref(g1);
    CHECK_EQ(match(&t, "s/1").ngroups, 1);
    CHECK_EQ(trie_remove(&t, "s/+", 3, "g2", 2, &owner_a), 0);
    CHECK_EQ(t.nodes, 0);
    trie_free(&t);
}

TEST(trie_many_subscriptions_match_only_their_topic)
{
    sub_trie t;
    trie_init(&t);
    static int owners[2000];
    char f[64];
    for (int i = 0; i < 2000; i++) {
        snprintf(f, sizeof f, "dev/%d/temp", i);
        add(&t, f, &owners[i], (uint32_t)i + 1);
    }
    hits h = match(&t, "dev/1234/temp");
    CHECK_EQ(h.n, 1);
    CHECK(h.owners[0] == &owners[1234]);
    CHECK_EQ(h.ids[0], 1235);
    for (int i = 0; i < 2000; i++) {
        snprintf(f, sizeof f, "dev/%d/temp", i);
        CHECK_EQ(trie_remove(&t, f, strlen(f), NULL, 0, &owners[i]), 0);
    }
    CHECK_EQ(t.nodes, 0);
    trie_free(&t);
}

TEST(trie_free_with_live_subscriptions)
{
    sub_trie t;
    trie_init(&t);
    add(&t, "a/b", &owner_a, 0);
    trie_sub s = {.owner = &owner_b};
    trie_add(&t, "a/#", 3, "grp", 3, &s);
    trie_free(&t); /* LeakSanitizer checks that everything went */
    CHECK(t.root == NULL);
}

static bool fm(const char *f, const char *t)
{
    return trie_filter_matches(f, strlen(f), t, strlen(t));
}

TEST(filter_matches_rules)
{
    CHECK(fm("a/b", "a/b"));
    CHECK(!fm("a/b", "a/c"));
    CHECK(fm("a/+", "a/b"));
    CHECK(!fm("a/+", "a/b/c"));
    CHECK(fm("a/#", "a"));
    CHECK(fm("a/#", "a/b/c"));
    CHECK(fm("#", "a/b"));
    CHECK(!fm("#", "$SYS/x"));
    CHECK(!fm("+/x", "$SYS/x"));
    CHECK(fm("$SYS/#", "$SYS/x"));
    CHECK(fm("+/+", "/x"));
    CHECK(!fm("a/b/c", "a/b"));
    CHECK(fm("+", ""));
    CHECK(!fm("a", "a/b"));
}

static broker_msg *mk(const char *topic, const char *payload, size_t *acct)
{
    return msg_new(topic, strlen(topic), payload, strlen(payload), 1, true, NULL, 0, 0, acct);
}

static void collect(void *ctx, broker_msg *m)
{
    hits *h = ctx;
    if (h->n < 64)
        h->owners[h->n] = m;
    h->n++;
}

static int retained_count(retain_store *s, const char *filter)
{
    hits h;
    memset(&h, 0, sizeof h);
    retain_match(s, filter, strlen(filter), 0, collect, &h);
    return h.n;
}

static int retained_count_at(retain_store *s, const char *filter, uint64_t now)
{
    hits h;
    memset(&h, 0, sizeof h);
    retain_match(s, filter, strlen(filter), now, collect, &h);
    return h.n;
}

TEST(retain_store_replace_delete_match)
{
    size_t acct = 0;
    retain_store s;
    CHECK_EQ(retain_init(&s), 0);
    const char *topics[] = {"a", "a/b", "a/b/c", "a/x/c", "b", "$SYS/x"};
    for (size_t i = 0; i < 6; i++) {
        broker_msg *m = mk(topics[i], "v", &acct);
        CHECK_EQ(retain_set(&s, m), 0);
        msg_unref(m);
    }
    CHECK_EQ(s.count, 6);
    CHECK_EQ(retained_count(&s, "#"), 5);
    CHECK_EQ(retained_count(&s, "a/#"), 4);
    CHECK_EQ(retained_count(&s, "a/+/c"), 2);
    CHECK_EQ(retained_count(&s, "+"), 2);
    CHECK_EQ(retained_count(&s, "$SYS/#"), 1);
    CHECK_EQ(retained_count(&s, "+/x"), 0);
    CHECK_EQ(retained_count(&s, "a/b"), 1);
    /* Replace keeps one message per topic; the old one is released. */
    broker_msg *m = mk("a/b", "new", &acct);
    retain_set(&s, m);
    msg_unref(m);
    CHECK_EQ(s.count, 6);
    hits h;
    memset(&h, 0, sizeof h);
    retain_match(&s, "a/b", 3, 0, collect, &h);
    CHECK_EQ(h.n, 1);
    CHECK_EQ(((broker_msg *)h.owners[0])->payload_len, 3);
    /* An empty payload deletes. */
    m = mk("a/b", "", &acct);
    retain_set(&s, m);
    msg_unref(m);
    CHECK_EQ(s.count, 5);
    CHECK_EQ(retained_count(&s, "a/b"), 0);
    CHECK_EQ(retained_count(&s, "a/b/c"), 1);
    m = mk("never/was", "", &acct);
    retain_set(&s, m);
    msg_unref(m);
    CHECK_EQ(s.count, 5);
    retain_free(&s);
    CHECK_EQ(acct, 0); /* every message released */
}

static broker_msg *mk_expiring(const char *topic, uint32_t expiry_s, uint64_t now, size_t *acct)
{
    mqtt_props p;
    memset(&p, 0, sizeof p);
    p.present = MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
    p.message_expiry = expiry_s;
    return msg_new(topic, strlen(topic), "v", 1, 1, true, &p, now, 0, acct);
}

TEST(retain_expired_messages_leave_memory)
{
    size_t acct = 0;
    retain_store s;
    CHECK_EQ(retain_init(&s), 0);
    const char *topics[] = {"e/1", "e/2/deep/x", "e/3", "keep"};
    uint32_t expiry[] = {1, 2, 100, 0};
    for (size_t i = 0; i < 4; i++) {
        broker_msg *m = expiry[i] ? mk_expiring(topics[i], expiry[i], 0, &acct) : mk(topics[i], "v", &acct);
        CHECK_EQ(retain_set(&s, m), 0);
        msg_unref(m);
    }
    CHECK_EQ(s.count, 4);
    CHECK_EQ(s.expiring.count, 3);
    size_t before = acct;
    /* Nothing is due yet. */
    CHECK_EQ(retain_expire(&s, 999, 100), 0);
    /* Lookup at 1.5 s: e/1 is removed from memory (not just skipped), the rest still match. */
    CHECK_EQ(retained_count_at(&s, "e/#", 1500), 2);
    CHECK_EQ(s.count, 3);
    CHECK(acct < before);
    /* The sweep is bounded by max, earliest first. */
    CHECK_EQ(retain_expire(&s, 1000000, 1), 1); /* e/2/deep/x */
    CHECK_EQ(s.count, 2);
    CHECK(hmap_get(&s.root->children, "e", 1) != NULL);
    /* Replacing with a message without expiry disarms it; deleting disarms too. */
    broker_msg *m = mk("e/3", "v", &acct);
    CHECK_EQ(retain_set(&s, m), 0);
    msg_unref(m);
    CHECK_EQ(s.expiring.count, 0);
    CHECK_EQ(retain_expire(&s, 1000000, 100), 0);
    CHECK_EQ(s.count, 2);
    m = mk_expiring("keep", 5, 0, &acct);
    CHECK_EQ(retain_set(&s, m), 0);
    msg_unref(m);
    m = mk("keep", "", &acct);
    CHECK_EQ(retain_set(&s, m), 0);
    msg_unref(m);
    CHECK_EQ(s.expiring.count, 0);
    CHECK_EQ(s.count, 1);
    /* The emptied branch e/2/deep was pruned. */
    retain_node *e = hmap_get(&s.root->children, "e", 1);
    CHECK(e && hmap_get(&e->children, "2", 1) == NULL);
    retain_free(&s);
    CHECK_EQ(acct, 0);
}

TEST(msg_single_allocation_with_properties)
{
    size_t acct = 0;
    mqtt_user_prop up[2] = {{{(const uint8_t *)"k", 1}, {(const uint8_t *)"1", 1}},
                            {{(const uint8_t *)"k", 1}, {(const uint8_t *)"2", 1}}};
    mqtt_props p;
    memset(&p, 0, sizeof p);
    p.present = MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY) | MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
                MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY) | MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
    p.user = up;
    p.user_count = 2;
    p.content_type = (mqtt_bytes){(const uint8_t *)"text/plain", 10};
    p.message_expiry = 10;
    p.topic_alias = 3;
    broker_msg *m = msg_new("t/1", 3, "payload", 7, 2, false, &p, 1000, 42, &acct);
    CHECK(m != NULL);
    CHECK(acct > 0);
    CHECK_STR(m->topic, "t/1");
    CHECK_EQ(m->props.user_count, 2);
    CHECK_MEM(m->props.user[1].value.data, "2", 1);
    CHECK_MEM(m->props.content_type.data, "text/plain", 10);
    CHECK(!(m->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS))); /* never forwarded */
    CHECK_EQ(m->expiry_ms, 11000);
    CHECK(!msg_expired(m, 10999));
    CHECK(msg_expired(m, 11000));
    CHECK_EQ(msg_expiry_left(m, 5500), 6);
    msg_ref(m);
    msg_unref(m);
    CHECK(acct > 0);
    msg_unref(m);
    CHECK_EQ(acct, 0);
}

TEST(hmap_put_get_remove_many)
{
    hmap m = {0};
    static char keys[5000][16];
    for (int i = 0; i < 5000; i++) {
        snprintf(keys[i], 16, "k%d", i);
        CHECK_EQ(hmap_put(&m, keys[i], strlen(keys[i]), keys[i]), 0);
    }
    CHECK_EQ(m.count, 5000);
    for (int i = 0; i < 5000; i += 2)
        CHECK(hmap_remove(&m, keys[i], strlen(keys[i])) == keys[i]);
    CHECK_EQ(m.count, 2500);
    for (int i = 0; i < 5000; i++) {
        void *v = hmap_get(&m, keys[i], strlen(keys[i]));
        CHECK(i % 2 ? v == keys[i] : v == NULL);
    }
    CHECK(hmap_get(&m, "nope", 4) == NULL);
    CHECK(hmap_remove(&m, "nope", 4) == NULL);
    hmap_free(&m);
}

TEST(trie_group_lookup_and_filter_of_a_group)
{
    sub_trie t;
    char buf[64];
    const char *filters[] = {"a/+/c", "/lead", "x/#", "+", "trail/"};
    CHECK_EQ(trie_init(&t), 0);
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
        trie_sub s = {.owner = &owner_a, .qos = 1};
        const char *f = filters[i];
        CHECK(trie_add(&t, f, strlen(f), "grp", 3, &s) >= 0);
        trie_group *g = trie_group_lookup(&t, f, strlen(f), "grp", 3);
        CHECK(g != NULL);
        CHECK(trie_group_lookup(&t, f, strlen(f), "other", 5) == NULL);
        size_t n = trie_group_filter(g, buf, sizeof buf);
        CHECK_EQ(n, strlen(f));
        CHECK_MEM(buf, f, strlen(f));
        CHECK_EQ(trie_group_filter(g, buf, 2), strlen(f) > 2 ? 0u : strlen(f));
    }
    CHECK(trie_group_lookup(&t, "a/b/c", 5, "grp", 3) == NULL);
    trie_free(&t);
}

TEST_MAIN()
