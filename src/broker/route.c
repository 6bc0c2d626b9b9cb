/* route.c - publish routing: match, merge overlapping subscriptions, queue or send each delivery. */
#include <stdlib.h>
#include <string.h>

#include "base/counters.h"
#include "base/log.h"
#include "broker/core.h"

static match_entry *route_match_push(broker *b)
{
    if (b->nmatches == b->capmatches) {
        uint32_t ncap = b->capmatches ? b->capmatches * 2 : 64;
        match_entry *n = realloc(b->matches, ncap * sizeof *n);
        if (!n)
            return NULL;
        b->matches = n;
        b->capmatches = ncap;
    }
    match_entry *e = &b->matches[b->nmatches++];
    memset(e, 0, sizeof *e);
    e->sub_head = -1;
    return e;
}

static void route_match_add_id(broker *b, match_entry *e, uint32_t id)
{
    if (!id)
        return;
    if (b->nmatch_ids == b->capmatch_ids) {
        uint32_t ncap = b->capmatch_ids ? b->capmatch_ids * 2 : 64;
        match_id *n = realloc(b->match_ids, ncap * sizeof *n);
        if (!n)
            return;
        b->match_ids = n;
        b->capmatch_ids = ncap;
    }
    /* Prepend, then the list is reversed when copied: ids come out in subscription order. */
    b->match_ids[b->nmatch_ids] = (match_id){id, e->sub_head};
    e->sub_head = (int32_t)b->nmatch_ids++;
    e->nsub++;
}

typedef struct route_ctx {
    broker *b;
    broker_msg *msg;
} route_ctx;

static void route_on_sub(void *ctx, const trie_sub *sub)
{
    route_ctx *rc = ctx;
    broker *b = rc->b;
    session *s = sub->owner;
    if (sub->no_local && s->uid == rc->msg->origin)
        return;
    uint8_t qos = sub->qos < rc->msg->qos ? sub->qos : rc->msg->qos;
    bool retain = sub->retain_as_published && rc->msg->retain;
    if (s->match_epoch == b->match_epoch) {
        match_entry *e = &b->matches[s->match_index];
        if (qos > e->qos)
            e->qos = qos;
        e->retain = e->retain || retain;
        route_match_add_id(b, e, sub->sub_id);
        return;
    }
    match_entry *e = route_match_push(b);
    if (!e)
        return;
    s->match_epoch = b->match_epoch;
    s->match_index = b->nmatches - 1;
    e->s = s;
    e->qos = qos;
    e->retain = retain;
    route_match_add_id(b, e, sub->sub_id);
}

/* Picks the next member of a shared group, preferring connected ones, round-robin. */
static void route_on_group(void *ctx, trie_group *g)
{
    route_ctx *rc = ctx;
    broker *b = rc->b;
    if (g->count == 0)
        return;
    uint32_t pick = g->next % g->count;
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t k = (g->next + i) % g->count;
        session *s = g->members[k].owner;
        if (s->conn && s->conn->state == CONN_ACTIVE) {
            pick = k;
            break;
        }
    }
    g->next = (pick + 1) % g->count;
    const trie_sub *sub = &g->members[pick];
    match_entry *e = route_match_push(b);
    if (!e)
        return;
    e->s = sub->owner;
    e->group = g;
    e->qos = sub->qos < rc->msg->qos ? sub->qos : rc->msg->qos;
    e->retain = sub->retain_as_published && rc->msg->retain;
    route_match_add_id(b, e, sub->sub_id);
}

uint32_t route_publish(broker *b, broker_msg *msg)
{
    route_ctx rc = {b, msg};
    b->match_epoch++;
    b->nmatches = 0;
    b->nmatch_ids = 0;
    trie_match(&b->trie, msg->topic, msg->topic_len, route_on_sub, route_on_group, &rc);
    /* Delivering may publish again (a will of a client dropped for a bad delivery is deferred, so not
     * here), but it never re-enters matching: the scratch arrays stay ours until this loop ends. */
    uint32_t n = b->nmatches;
    for (uint32_t i = 0; i < n; i++) {
        match_entry *e = &b->matches[i];
        uint32_t ids[8], *idp = ids;
        uint16_t nids = e->nsub;
        if (nids > 8) {
            idp = malloc(nids * sizeof *idp);
            if (!idp)
                nids = 0;
        }
        uint16_t k = nids;
        for (int32_t j = e->sub_head; j >= 0 && k > 0; j = b->match_ids[j].next)
            idp[--k] = b->match_ids[j].id;
        route_deliver(b, e->s, msg, e->qos, e->retain, idp, nids, e->group);
        if (idp != ids)
            free(idp);
    }
    b->nmatches = 0;
    return n;
}

static bool route_fill(delivery *d, broker_msg *msg, uint8_t qos, bool retain, const uint32_t *ids,
                       uint16_t nids, trie_group *group)
{
    memset(d, 0, sizeof *d);
    if (nids > 1) {
        d->sub_ids = malloc(nids * sizeof *ids);
        if (!d->sub_ids)
            return false;
        memcpy(d->sub_ids, ids, nids * sizeof *ids);
    } else if (nids == 1) {
        d->sub_id = ids[0];
    }
    d->nsub = nids;
    d->msg = msg_ref(msg);
    d->qos = qos;
    d->flags = retain ? DLV_RETAIN : 0;
    d->group = group;
    if (group)
        trie_group_ref(group);
    return true;
}

static bool route_pid_used(const session *s, uint16_t pid)
{
    for (uint32_t i = 0; i < s->inflight.count; i++)
        if (dq_at(&s->inflight, i)->packet_id == pid)
            return true;
    return false;
}

static uint16_t route_next_pid(session *s)
{
    for (;;) {
        uint16_t pid = s->next_pid++;
        if (s->next_pid == 0)
            s->next_pid = 1;
        if (!route_pid_used(s, pid))
            return pid;
    }
}

uint32_t route_window(const broker *b, const conn *c)
{
    uint32_t w = b->set.max_inflight_messages ? b->set.max_inflight_messages : 65535;
    return c->out_window < w ? c->out_window : w;
}

static void route_enqueue(broker *b, session *s, delivery *d)
{
    size_t sz = d->msg->payload_len + d->msg->topic_len;
    enum counter_id limit = COUNTER_COUNT;
    const char *limit_name = NULL;
    if (s->queue.count >= b->set.max_queued_messages)
        limit = COUNTER_LIMIT_MAX_QUEUED_MESSAGES, limit_name = "max_queued_messages";
    else if (b->set.max_queued_bytes && s->queued_bytes + sz > b->set.max_queued_bytes)
        limit = COUNTER_LIMIT_MAX_QUEUED_BYTES, limit_name = "max_queued_bytes";
    else if (broker_over_memory(b))
        limit = COUNTER_LIMIT_MEMORY, limit_name = "memory_limit";
    if (limit != COUNTER_COUNT || dq_push(&s->queue, d) < 0) {
        b->stats.dropped++;
        if (limit != COUNTER_COUNT)
            counters_inc(limit);
        counters_inc(limit == COUNTER_LIMIT_MAX_QUEUED_MESSAGES || limit == COUNTER_LIMIT_MAX_QUEUED_BYTES
                         ? COUNTER_DROP_QUEUE_FULL
                         : COUNTER_DROP_MEMORY);
        limit_hit_client(s->conn, s, limit_name ? limit_name : "memory", "dropped", d->msg->topic, d->msg->topic_len);
        delivery_release(d);
        return;
    }
    s->queued_bytes += sz;
}

void route_deliver(broker *b, session *s, broker_msg *msg, uint8_t qos, bool retain, const uint32_t *ids,
                   uint16_t nids, trie_group *group)
{
    delivery d;
    conn *c = s->conn && s->conn->state == CONN_ACTIVE ? s->conn : NULL;
    if (msg_expired(msg, b->now_ms))
        return;
    if (!broker_authorize(b, c, s, BROKER_ACCESS_READ, msg->topic, msg->topic_len, qos, retain))
        return;
    if (c && qos == 0) {
        if (c->out.bytes > b->set.out_buffer_limit || broker_over_memory(b)) {
            b->stats.dropped++;
            counters_inc(c->out.bytes > b->set.out_buffer_limit ? COUNTER_DROP_SLOW_CONSUMER : COUNTER_DROP_MEMORY);
            limit_hit_client(c, s, c->out.bytes > b->set.out_buffer_limit ? "out_buffer_limit" : "memory_limit",
                             "dropped", msg->topic, msg->topic_len);
            return;
        }
        if (!route_fill(&d, msg, 0, retain, ids, nids, NULL))
            return;
        route_send(b, c, &d);
        delivery_release(&d);
        return;
    }
    if (!c && qos == 0 && !b->set.queue_qos0_messages)
        return;
    if (!route_fill(&d, msg, qos, retain, ids, nids, group))
        return;
    persist_session_touch(b, s);
    if (c && s->queue.count == 0 && s->inflight.count < route_window(b, c)) {
        d.packet_id = route_next_pid(s);
        if (dq_push(&s->inflight, &d) < 0) {
            delivery_release(&d);
            return;
        }
        delivery *in = dq_at(&s->inflight, s->inflight.count - 1);
        if (!route_send(b, c, in)) {
            delivery_release(in);
            dq_remove(&s->inflight, s->inflight.count - 1);
        }
        return;
    }
    route_enqueue(b, s, &d);
}

void route_pump(broker *b, session *s)
{
    conn *c = s->conn;
    if (!c || c->state != CONN_ACTIVE)
        return;
    if (s->queue.count > 0 && s->inflight.count < route_window(b, c))
        persist_session_touch(b, s);
    while (s->queue.count > 0 && s->inflight.count < route_window(b, c)) {
        delivery d;
        dq_pop(&s->queue, &d);
        s->queued_bytes -= d.msg->payload_len + d.msg->topic_len;
        if (msg_expired(d.msg, b->now_ms)) {
            delivery_release(&d);
            continue;
        }
        if (d.qos == 0) {
            route_send(b, c, &d);
            delivery_release(&d);
            continue;
        }
        /* A message moved back from the window on reconnect keeps its id (unless taken meanwhile). */
        if (!d.packet_id || route_pid_used(s, d.packet_id))
            d.packet_id = route_next_pid(s);
        if (dq_push(&s->inflight, &d) < 0) {
            delivery_release(&d);
            continue;
        }
        delivery *in = dq_at(&s->inflight, s->inflight.count - 1);
        if (!route_send(b, c, in)) {
            delivery_release(in);
            dq_remove(&s->inflight, s->inflight.count - 1);
        }
    }
}

/* The alias to use for topic on c: sets *alias and returns true if the topic can be omitted. */
static bool route_alias(conn *c, broker_msg *msg, uint16_t *alias)
{
    *alias = 0;
    if (c->out_alias_max == 0)
        return false;
    conn_aliases *al = conn_aliases_get(c);
    if (!al)
        return false;
    void *v = hmap_get(&al->out, msg->topic, msg->topic_len);
    if (v) {
        *alias = (uint16_t)(uintptr_t)v;
        return true;
    }
    /* At most the client's Topic Alias Maximum [MQTT-3.1.2-26], and never more than the listener's
     * max_topic_alias (fixed at CONNACK as in_alias_max): each alias keeps a copy of its topic, so the client
     * alone must not decide how much memory that takes. Counted against memory_limit. */
    if (al->out_count >= c->out_alias_max || al->out_count >= c->in_alias_max || broker_over_memory(c->b))
        return false;
    if (!al->out_topics) {
        al->out_topics = calloc(c->out_alias_max, sizeof(char *));
        if (!al->out_topics)
            return false;
    }
    char *copy = strndup(msg->topic, msg->topic_len);
    if (!copy)
        return false;
    uint16_t a = (uint16_t)(al->out_count + 1);
    if (hmap_put(&al->out, copy, msg->topic_len, (void *)(uintptr_t)a) < 0) {
        free(copy);
        return false;
    }
    al->out_topics[al->out_count++] = copy;
    c->b->mem_state += (size_t)msg->topic_len + 1;
    *alias = a;
    return false;
}

bool route_send(broker *b, conn *c, delivery *d)
{
    broker_msg *m = d->msg;
    mqtt_packet p = {.type = MQTT_PUBLISH};
    mqtt_publish *pub = &p.u.publish;
    uint16_t alias = 0;
    pub->qos = d->qos;
    pub->dup = (d->flags & DLV_SENT) != 0;
    pub->retain = (d->flags & DLV_RETAIN) != 0;
    pub->packet_id = d->qos ? d->packet_id : 0;
    pub->topic = (mqtt_bytes){(const uint8_t *)m->topic, m->topic_len};
    pub->payload = (mqtt_bytes){m->payload, m->payload_len};
    if (c->ls->mount_point) { /* the client sees topics without its listener's mount point */
        size_t ml = strlen(c->ls->mount_point);
        if (m->topic_len <= ml || memcmp(m->topic, c->ls->mount_point, ml) != 0)
            return false;
        pub->topic = (mqtt_bytes){(const uint8_t *)m->topic + ml, (uint32_t)(m->topic_len - ml)};
    }
    if (c->version == MQTT_V5) {
        pub->props = m->props;
        if (m->expiry_ms) {
            pub->props.present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
            pub->props.message_expiry = msg_expiry_left(m, b->now_ms);
        }
        if (d->nsub) {
            pub->props.present |= MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
            pub->props.sub_ids = d->nsub > 1 ? d->sub_ids : &d->sub_id;
            pub->props.sub_id_count = d->nsub;
        }
        if (!c->ls->mount_point && route_alias(c, m, &alias))
            pub->topic = (mqtt_bytes){NULL, 0};
        if (alias) {
            pub->props.present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
            pub->props.topic_alias = alias;
        }
    }
    size_t total = mqtt_encoded_size(&p, c->version);
    if (total == 0 || (c->out_max_packet && total > c->out_max_packet)) {
        b->stats.dropped++;
        counters_inc(COUNTER_DROP_TOO_LARGE_FOR_CLIENT);
        return false;
    }
    size_t head_len = total - m->payload_len;
    uint8_t *head = outq_reserve(&c->out, head_len);
    if (!head) {
        b->stats.dropped++;
        counters_inc(COUNTER_DROP_OUTPUT_ERROR);
        return false;
    }
    size_t wrote = mqtt_encode_publish_head(pub, c->version, head, head_len);
    if (wrote != head_len) {
        b->stats.dropped++;
        counters_inc(COUNTER_DROP_OUTPUT_ERROR);
        return false;
    }
    outq_commit(&c->out, head_len);
    if (m->payload_len) {
        if (outq_push_ref(&c->out, m->payload, m->payload_len, msg_ref(m)) < 0) {
            msg_unref(m);
            conn_close(c, MQTT_RC_UNSPECIFIED, "out of memory");
            return false;
        }
    }
    d->flags |= DLV_SENT;
    b->stats.pub_sent++;
    b->stats.pub_sent_qos[d->qos]++;
    b->stats.payload_sent_qos[d->qos] += m->payload_len;
    b->stats.msgs_sent++;
    conn_mark_dirty(c);
    return true;
}

/* Dispatches one requeued shared delivery to another connected member of its group. */
static bool route_requeue_one(broker *b, session *from, delivery *d)
{
    trie_group *g = d->group;
    if (!g || !g->node || !d->msg)
        return false;
    for (uint32_t i = 0; i < g->count; i++) {
        uint32_t k = (g->next + i) % g->count;
        session *s = g->members[k].owner;
        if (s == from || !s->conn || s->conn->state != CONN_ACTIVE)
            continue;
        g->next = (k + 1) % g->count;
        uint8_t qos = g->members[k].qos < d->msg->qos ? g->members[k].qos : d->msg->qos;
        uint32_t id = g->members[k].sub_id;
        route_deliver(b, s, d->msg, qos, (d->flags & DLV_RETAIN) != 0, &id, id ? 1 : 0, g);
        return true;
    }
    return false;
}

void route_requeue_shared(broker *b, session *s)
{
    persist_session_touch(b, s);
    dqueue *queues[2] = {&s->inflight, &s->queue};
    for (int q = 0; q < 2; q++) {
        for (uint32_t i = 0; i < queues[q]->count;) {
            delivery *d = dq_at(queues[q], i);
            /* A QoS 2 PUBLISH already sent is completed with this client only [MQTT-4.8.2-4, 4.8.2-5]:
             * only QoS 1 in flight and anything still queued may move to another member. */
            bool movable = q == 1 || d->qos != 2;
            if (d->group && d->msg && movable && route_requeue_one(b, s, d)) {
                if (q == 1)
                    s->queued_bytes -= d->msg->payload_len + d->msg->topic_len;
                delivery_release(d);
                dq_remove(queues[q], i);
                continue;
            }
            i++;
        }
    }
}
