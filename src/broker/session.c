/* session.c - sessions: creation and end, subscriptions, the delivery queues, wills. See core.h. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "base/counters.h"
#include "base/log.h"
#include "broker/core.h"

/* ---- delivery queues ---- */

void delivery_release(delivery *d)
{
    msg_unref(d->msg);
    d->msg = NULL;
    if (d->group)
        trie_group_unref(d->group);
    d->group = NULL;
    if (d->nsub > 1)
        free(d->sub_ids);
    d->sub_ids = NULL;
    d->nsub = 0;
}

delivery *dq_at(const dqueue *q, uint32_t i)
{
    assert(i < q->count);
    return &q->items[(q->head + i) & (q->cap - 1)];
}

int dq_push(dqueue *q, const delivery *d)
{
    if (q->count == q->cap) {
        uint32_t ncap = q->cap ? q->cap * 2 : 8;
        delivery *ni = malloc(ncap * sizeof *ni);
        if (!ni)
            return -1;
        for (uint32_t i = 0; i < q->count; i++)
            ni[i] = *dq_at(q, i);
        free(q->items);
        q->items = ni;
        q->cap = ncap;
        q->head = 0;
    }
    q->items[(q->head + q->count) & (q->cap - 1)] = *d;
    q->count++;
    return 0;
}

int dq_push_front(dqueue *q, const delivery *d)
{
    if (dq_push(q, d) < 0) /* grows when needed; then rotate the new last item to the front */
        return -1;
    delivery tmp = *dq_at(q, q->count - 1);
    for (uint32_t j = q->count - 1; j > 0; j--)
        *dq_at(q, j) = *dq_at(q, j - 1);
    *dq_at(q, 0) = tmp;
    return 0;
}

void dq_pop(dqueue *q, delivery *out)
{
    assert(q->count > 0);
    *out = q->items[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->count--;
}

void dq_remove(dqueue *q, uint32_t i)
{
    assert(i < q->count);
    for (uint32_t j = i; j + 1 < q->count; j++)
        *dq_at(q, j) = *dq_at(q, j + 1);
    q->count--;
}

void dq_clear(dqueue *q)
{
    for (uint32_t i = 0; i < q->count; i++)
        delivery_release(dq_at(q, i));
    free(q->items);
    memset(q, 0, sizeof *q);
}

/* ---- sessions ---- */

/* What a session and a subscription cost, as counted against memory_limit (broker.mem_state): the
 * structures and strings, plus an estimate for the trie entry and hash slots a subscription adds. */
#define SESSION_SUB_OVERHEAD 96
static size_t session_cost(const session *s)
{
    return sizeof *s + s->id_len + 1;
}

static size_t session_sub_cost(size_t filter_len)
{
    return sizeof(session_sub) + filter_len + 1 + SESSION_SUB_OVERHEAD;
}

session *session_new(broker *b, const char *id, size_t len)
{
    if (timer_heap_reserve(&b->session_timers, (uint32_t)b->nsessions + 1) < 0)
        return NULL;
    session *s = calloc(1, sizeof *s + len + 1);
    if (!s)
        return NULL;
    memcpy(s->client_id, id, len);
    s->client_id[len] = 0;
    s->id_len = (uint16_t)len;
    s->uid = ++b->next_uid;
    s->next_pid = 1;
    if (hmap_put(&b->sessions, s->client_id, len, s) < 0)
        goto fail;
    s->next = b->sessions_head;
    if (b->sessions_head)
        b->sessions_head->prev = s;
    b->sessions_head = s;
    b->nsessions++;
    b->mem_state += session_cost(s);
    return s;
fail:
    free(s);
    return NULL;
}

static void session_drop_subs(broker *b, session *s)
{
    for (uint32_t i = 0; i < s->subs.cap; i++) {
        session_sub *ss = s->subs.slots[i].value;
        if (!ss)
            continue;
        mqtt_bytes f = {(const uint8_t *)ss->filter, ss->filter_len}, group, inner;
        if (mqtt_shared_split(f, &group, &inner))
            trie_remove(&b->trie, (const char *)inner.data, inner.len, (const char *)group.data, group.len, s);
        else
            trie_remove(&b->trie, ss->filter, ss->filter_len, NULL, 0, s);
        b->mem_state -= session_sub_cost(ss->filter_len);
        free(ss);
    }
    hmap_free(&s->subs);
}

void session_send_will(broker *b, session *s)
{
    broker_msg *w = s->will;
    if (!w)
        return;
    s->will = NULL;
    s->will_at_ms = 0;
    persist_session_touch(b, s);
    if (!msg_expired(w, b->now_ms) &&
        broker_authorize(b, s->conn, s, BROKER_ACCESS_PUBLISH, w->topic, w->topic_len, s->will_qos, s->will_retain)) {
        if (s->will_retain && b->set.retain_available) {
            if (retain_set(&b->retained, w) < 0)
                log_warning("out of memory storing a retained will");
            else
                persist_retain_set(b, w);
        }
        route_publish(b, w);
    }
    msg_unref(w);
}

void session_end(broker *b, session *s)
{
    assert(!s->conn);
    session_send_will(b, s);
    /* Its messages that came through a shared subscription go to another connected member of the group, as
     * when its connection ended (MQTT 5 4.8.2: the session ended before the client came back). Not at
     * shutdown: the broker, not the session, goes away. */
    if (!b->stop)
        route_requeue_shared(b, s);
    persist_session_gone(b, s);
    timer_heap_cancel(&b->session_timers, &s->timer);
    session_drop_subs(b, s);
    dq_clear(&s->inflight);
    dq_clear(&s->queue);
    free(s->in_qos2);
    hmap_remove(&b->sessions, s->client_id, s->id_len);
    if (s->prev)
        s->prev->next = s->next;
    else
        b->sessions_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    b->nsessions--;
    b->mem_state -= session_cost(s);
    free(s->username);
    free(s);
}

void session_free_all(broker *b)
{
    /* Shutdown: wills of connected clients are not sent (the broker, not the client, went away). */
    while (b->sessions_head) {
        session *s = b->sessions_head;
        msg_unref(s->will);
        s->will = NULL;
        s->conn = NULL;
        session_end(b, s);
    }
    hmap_free(&b->sessions);
}

void session_detach(broker *b, session *s, bool keep_will)
{
    s->conn = NULL;
    if (!keep_will) {
        msg_unref(s->will);
        s->will = NULL;
    }
    route_requeue_shared(b, s);
    if (s->expiry_s == 0) {
        session_end(b, s);
        return;
    }
    s->expire_at_ms = s->expiry_s == UINT32_MAX ? 0 : b->now_ms + (uint64_t)s->expiry_s * 1000u;
    if (s->will && s->will_delay_s == 0)
        session_send_will(b, s);
    else if (s->will)
        s->will_at_ms = b->now_ms + (uint64_t)s->will_delay_s * 1000u;
    persist_session_touch(b, s);
    session_timer_arm(b, s);
}

void session_timer_arm(broker *b, session *s)
{
    uint64_t at = s->will_at_ms;
    if (s->expire_at_ms && (!at || s->expire_at_ms < at))
        at = s->expire_at_ms;
    if (s->conn || !at)
        timer_heap_cancel(&b->session_timers, &s->timer);
    else
        timer_heap_set(&b->session_timers, &s->timer, at);
}

size_t session_clamp_expiry(broker *b, uint32_t max)
{
    size_t n = 0;
    for (session *s = b->sessions_head; s; s = s->next) {
        if (s->expiry_s <= max)
            continue;
        if (!s->conn && s->expiry_s == UINT32_MAX) {
            s->expire_at_ms = b->now_ms + (uint64_t)max * 1000u;
        } else if (!s->conn) {
            uint64_t sooner = (uint64_t)(s->expiry_s - max) * 1000u;
            s->expire_at_ms = s->expire_at_ms > b->now_ms + sooner ? s->expire_at_ms - sooner : b->now_ms;
            if (!s->expire_at_ms)
                s->expire_at_ms = 1;
        }
        s->expiry_s = max;
        persist_session_touch(b, s);
        session_timer_arm(b, s);
        n++;
    }
    return n;
}

int session_subscribe(broker *b, session *s, const mqtt_subscription *sub, uint32_t sub_id, bool *existed)
{
    mqtt_bytes group = {0}, inner = sub->filter;
    bool shared = mqtt_shared_split(sub->filter, &group, &inner);
    trie_sub ts = {.owner = s,
                   .sub_id = sub_id,
                   .qos = sub->qos,
                   .no_local = sub->no_local,
                   .retain_as_published = sub->retain_as_published,
                   .retain_handling = sub->retain_handling};
    session_sub *old = hmap_get(&s->subs, sub->filter.data, sub->filter.len);
    *existed = old != NULL;
    if (!old && b->set.max_subscriptions && s->subs.count >= b->set.max_subscriptions) {
        counters_inc(COUNTER_LIMIT_MAX_SUBSCRIPTIONS);
        return -2;
    }
    if (!old && broker_over_memory(b)) {
        counters_inc(COUNTER_LIMIT_MEMORY);
        return -2;
    }
    session_sub *ss = old;
    if (!ss) {
        ss = malloc(sizeof *ss + sub->filter.len + 1);
        if (!ss)
            return -1;
        memcpy(ss->filter, sub->filter.data, sub->filter.len);
        ss->filter[sub->filter.len] = 0;
        ss->filter_len = (uint16_t)sub->filter.len;
        if (hmap_put(&s->subs, ss->filter, ss->filter_len, ss) < 0) {
            free(ss);
            return -1;
        }
        b->mem_state += session_sub_cost(ss->filter_len);
    }
    ss->qos = sub->qos;
    ss->sub_id = sub_id;
    ss->options = (uint8_t)((sub->no_local ? 1 : 0) | (sub->retain_as_published ? 2 : 0) | (sub->retain_handling << 2));
    persist_session_touch(b, s);
    int rc = trie_add(&b->trie, (const char *)inner.data, inner.len, shared ? (const char *)group.data : NULL,
                      group.len, &ts);
    if (rc < 0 && !old) {
        hmap_remove(&s->subs, ss->filter, ss->filter_len);
        b->mem_state -= session_sub_cost(ss->filter_len);
        free(ss);
    }
    return rc < 0 ? -1 : 0;
}

int session_unsubscribe(broker *b, session *s, mqtt_bytes filter)
{
    session_sub *ss = hmap_remove(&s->subs, filter.data, filter.len);
    mqtt_bytes group, inner;
    if (!ss)
        return -1;
    persist_session_touch(b, s);
    if (mqtt_shared_split(filter, &group, &inner))
        trie_remove(&b->trie, (const char *)inner.data, inner.len, (const char *)group.data, group.len, s);
    else
        trie_remove(&b->trie, (const char *)filter.data, filter.len, NULL, 0, s);
    b->mem_state -= session_sub_cost(ss->filter_len);
    free(ss);
    return 0;
}
