/* persist.c - the broker's durable state: hooks, group commit, restore at start. See persist.h. */
#include "broker/persist.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "broker/core.h"
#include "persist/pstate.h"
#include "persist/store.h"

#define PERSIST_RESERVE ((uint64_t)1 << 20) /* below this much free space new QoS 1/2 messages are refused */
#define PERSIST_RETRY_MS 250                /* a failed batch is retried at most this often */
#define PERSIST_BUF_KEEP (1u << 20)         /* encoding buffers are kept between records up to this size */
/* Messages are stored in segments: one record holds the messages first stored in one batch for one session
 * (at most PERSIST_SEG_MSGS of them, or about PERSIST_SEG_BYTES), and is deleted when the last of them is
 * released. A message delivered to several sessions is in the segment of the first one written.
 * A message's number is its segment's number << PERSIST_SEG_BITS | its index in the segment. */
#define PERSIST_SEG_BITS 16
#define PERSIST_SEG_MSGS 1024u
#define PERSIST_SEG_BYTES (64u << 10)

typedef struct persist_retain_op {
    broker_msg *msg; /* NULL: delete */
    uint16_t len;
    char topic[];
} persist_retain_op;

typedef struct persist_id_list {
    char **ids; /* session client ids to delete (each: u16 length + bytes) */
    size_t count, cap;
} persist_id_list;

/* A stored message segment: how many of its messages are still alive (referenced in memory). */
typedef struct persist_seg {
    uint64_t no;
    uint32_t live;
} persist_seg;

typedef struct persist persist;
struct persist {
    store *st;
    bool relaxed;
    uint32_t sync_interval_ms;
    uint64_t last_sync_ms;
    uint64_t seq, done;      /* the open batch, the last committed one */
    bool loading;            /* restoring: hooks do nothing */
    bool failed;             /* the last commit failed: its writes are still pending */
    bool full;               /* no space: new QoS 1/2 refused */
    uint64_t last_try_ms;
    session *dirty_head;
    uint64_t *del_segs;      /* message segments to delete: their last message was released */
    size_t ndel_segs, capdel_segs;
    persist_id_list del_sessions;
    hmap retain_ops;         /* topic -> persist_retain_op */
    broker_msg **assigned;   /* messages given a record number in the batch being written (referenced) */
    size_t nassigned, capassigned;
    hmap segs;               /* segment number -> persist_seg, every stored segment */
    uint64_t next_seg;       /* the number of the next segment */
    uint64_t batch_first_seg; /* the first segment numbered in the batch being written */
    persist_seg *seg_open;   /* the segment being filled (seg_buf), or NULL */
    uint32_t seg_count;      /* messages in seg_open */
    uint64_t skipped;        /* records or deliveries dropped at restore */
    pstate_buf msg_buf, session_buf, seg_buf; /* encoding buffers, reused (persist_buf_take) */
    char filter_buf[UINT16_MAX];     /* a shared delivery's filter (persist_encode_share) */
};

static uint64_t persist_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A monotonic deadline as wall-clock ms (0 stays 0). */
static uint64_t persist_to_wall(const broker *b, uint64_t mono_ms, uint64_t wall_now)
{
    if (!mono_ms)
        return 0;
    return mono_ms > b->now_ms ? wall_now + (mono_ms - b->now_ms) : wall_now;
}

/* A stored wall-clock deadline as a monotonic one (never 0 for a set deadline). */
static uint64_t persist_to_mono(const broker *b, uint64_t wall_ms, uint64_t wall_now)
{
    if (!wall_ms)
        return 0;
    return wall_ms > wall_now ? b->now_ms + (wall_ms - wall_now) : (b->now_ms ? b->now_ms : 1);
}

static void persist_be64(uint64_t v, uint8_t out[8])
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

/* ---- hooks ---- */

static void persist_unlink(persist *p, session *s)
{
    if (!s->persist_dirty)
        return;
    if (s->persist_prev)
        s->persist_prev->persist_next = s->persist_next;
    else
        p->dirty_head = s->persist_next;
    if (s->persist_next)
        s->persist_next->persist_prev = s->persist_prev;
    s->persist_prev = s->persist_next = NULL;
    s->persist_dirty = false;
}

/* Puts s in the batch (once). */
static void persist_mark_dirty(persist *p, session *s)
{
    if (s->persist_dirty)
        return;
    s->persist_dirty = true;
    s->persist_prev = NULL;
    s->persist_next = p->dirty_head;
    if (p->dirty_head)
        p->dirty_head->persist_prev = s;
    p->dirty_head = s;
}

void persist_session_touch(broker *b, session *s)
{
    persist *p = b->persist;
    if (!p || !s || p->loading || (s->expiry_s == 0 && !s->persist_stored))
        return;
    /* What the client learns of this change (SUBACK, PUBREL, PUBCOMP, a delivery, CONNACK) leaves after the
     * commit: after a crash it never saw state the store lost (a QoS 2 message twice, a lost subscription). */
    if (s->conn)
        s->conn->persist_wait = p->seq;
    persist_mark_dirty(p, s);
}

void persist_session_gone(broker *b, session *s)
{
    persist *p = b->persist;
    if (!p)
        return;
    persist_unlink(p, s);
    if (!s->persist_stored || p->loading)
        return;
    s->persist_stored = false;
    if (p->del_sessions.count == p->del_sessions.cap) {
        size_t ncap = p->del_sessions.cap ? p->del_sessions.cap * 2 : 16;
        char **n = realloc(p->del_sessions.ids, ncap * sizeof *n);
        if (!n)
            goto oom;
        p->del_sessions.ids = n;
        p->del_sessions.cap = ncap;
    }
    char *id = malloc(2 + (size_t)s->id_len);
    if (!id)
        goto oom;
    id[0] = (char)(s->id_len >> 8);
    id[1] = (char)s->id_len;
    memcpy(id + 2, s->client_id, s->id_len);
    p->del_sessions.ids[p->del_sessions.count++] = id;
    return;
oom:
    log_warning("persistence: out of memory: the record of session %s stays until it is overwritten", s->client_id);
}

void persist_retain_set(broker *b, broker_msg *msg)
{
    persist *p = b->persist;
    if (!p || p->loading || (msg->topic_len >= 5 && memcmp(msg->topic, "$SYS/", 5) == 0))
        return;
    persist_retain_op *op = hmap_get(&p->retain_ops, msg->topic, msg->topic_len);
    if (!op) {
        op = calloc(1, sizeof *op + msg->topic_len);
        if (!op || hmap_put(&p->retain_ops, op->topic, msg->topic_len, op) < 0) {
            free(op);
            log_warning("persistence: out of memory: retained message on %s not stored", msg->topic);
            return;
        }
        memcpy(op->topic, msg->topic, msg->topic_len);
        op->len = msg->topic_len;
    }
    msg_unref(op->msg);
    op->msg = msg->payload_len ? msg_ref(msg) : NULL;
}

/* A stored message was freed: when it was the last alive of its segment, the segment's record is deleted in
 * the next batch. */
static void persist_on_release(void *ctx, uint64_t id)
{
    persist *p = ctx;
    uint64_t no = id >> PERSIST_SEG_BITS;
    persist_seg *seg = hmap_get(&p->segs, &no, sizeof no);
    if (!seg || --seg->live > 0)
        return;
    hmap_remove(&p->segs, &no, sizeof no);
    free(seg);
    if (p->ndel_segs == p->capdel_segs) {
        size_t ncap = p->capdel_segs ? p->capdel_segs * 2 : 64;
        uint64_t *n = realloc(p->del_segs, ncap * sizeof *n);
        if (!n)
            return; /* an orphan record: deleted at the next start */
        p->del_segs = n;
        p->capdel_segs = ncap;
    }
    p->del_segs[p->ndel_segs++] = no;
}

bool persist_refusing(const broker *b)
{
    return b->persist && (b->persist->full || b->persist->failed);
}

void persist_hold(conn *c)
{
    if (c->b->persist)
        c->persist_wait = c->b->persist->seq;
}

bool persist_conn_held(const conn *c)
{
    return c->b->persist && c->persist_wait > c->b->persist->done;
}

/* ---- writing a batch ---- */

/* b emptied for a new encoding; its memory is kept unless an unusually large record grew it. */
static pstate_buf *persist_buf_take(pstate_buf *b)
{
    if (b->cap > PERSIST_BUF_KEEP)
        pstate_buf_free(b);
    b->len = 0;
    b->oom = false;
    return b;
}

static void persist_encode_msg(const broker *b, pstate_buf *buf, const broker_msg *m, uint64_t wall_now)
{
    pstate_msg_encode(buf, m->qos, m->retain, persist_to_wall(b, m->expiry_ms, wall_now), m->topic, m->topic_len,
                      m->payload, m->payload_len, &m->props);
}

/* Writes the segment being filled, if any. Returns STORE_OK or an error. */
static int persist_seg_flush(persist *p)
{
    persist_seg *seg = p->seg_open;
    uint8_t key[8];
    if (!seg)
        return STORE_OK;
    p->seg_open = NULL;
    if (p->seg_buf.oom)
        return STORE_ERROR;
    for (int i = 0; i < 4; i++) /* the count, after the format byte */
        p->seg_buf.data[1 + i] = (uint8_t)(p->seg_count >> (24 - 8 * i));
    persist_be64(seg->no, key);
    return store_put(p->st, STORE_KIND_MSG, key, sizeof key, p->seg_buf.data, p->seg_buf.len);
}

/* Starts a new segment. Returns STORE_OK or STORE_ERROR (out of memory). */
static int persist_seg_start(persist *p)
{
    persist_seg *seg = calloc(1, sizeof *seg);
    if (!seg)
        return STORE_ERROR;
    seg->no = p->next_seg;
    if (hmap_put(&p->segs, &seg->no, sizeof seg->no, seg) < 0) {
        free(seg);
        return STORE_ERROR;
    }
    p->next_seg++;
    p->seg_open = seg;
    p->seg_count = 0;
    pstate_buf *buf = persist_buf_take(&p->seg_buf);
    pstate_put_u8(buf, PSTATE_SEGMENT_FORMAT);
    pstate_put_u32(buf, 0); /* the count, set by persist_seg_flush */
    return STORE_OK;
}

/* Gives m a number and adds it to the batch's segment (once). Returns STORE_OK or an error. */
static int persist_store_msg(broker *b, persist *p, broker_msg *m, uint64_t wall_now)
{
    int rc = STORE_OK;
    if (m->persist_id)
        return STORE_OK;
    if (p->nassigned == p->capassigned) {
        size_t ncap = p->capassigned ? p->capassigned * 2 : 64;
        broker_msg **n = realloc(p->assigned, ncap * sizeof *n);
        if (!n)
            return STORE_ERROR;
        p->assigned = n;
        p->capassigned = ncap;
    }
    /* A message that would take the segment past PERSIST_SEG_BYTES starts a new one: a message near the
     * protocol's maximum size then has a segment of its own, within the record limit (RECORD_MAX_VALUE). */
    if (p->seg_open && (p->seg_count >= PERSIST_SEG_MSGS || p->seg_buf.len >= PERSIST_SEG_BYTES ||
                        (p->seg_count && p->seg_buf.len + m->topic_len + m->payload_len > PERSIST_SEG_BYTES)))
        rc = persist_seg_flush(p);
    if (rc == STORE_OK && !p->seg_open)
        rc = persist_seg_start(p);
    if (rc != STORE_OK)
        return rc;
    persist_encode_msg(b, &p->seg_buf, m, wall_now);
    m->persist_id = p->seg_open->no << PERSIST_SEG_BITS | p->seg_count++;
    p->seg_open->live++;
    p->assigned[p->nassigned++] = msg_ref(m);
    return p->seg_buf.oom ? STORE_ERROR : STORE_OK;
}

/* The shared subscription a delivery came through: group name and filter, or an empty name. A group no
 * longer in the trie (its last member left) is not stored: nobody could take the message over. */
static void persist_encode_share(persist *p, pstate_buf *buf, const trie_group *g)
{
    size_t flen = g ? trie_group_filter(g, p->filter_buf, sizeof p->filter_buf) : 0;
    if (!flen) {
        pstate_put_u16(buf, 0);
        return;
    }
    pstate_put_bytes16(buf, g->name, g->name_len);
    pstate_put_bytes16(buf, p->filter_buf, flen);
}

static int persist_encode_queue(broker *b, persist *p, pstate_buf *buf, const dqueue *q, bool inflight,
                                uint64_t wall_now)
{
    for (uint32_t i = 0; i < q->count; i++) {
        delivery *d = dq_at(q, i);
        int rc = d->msg ? persist_store_msg(b, p, d->msg, wall_now) : STORE_OK;
        if (rc != STORE_OK)
            return rc;
        /* the fixed fields (and a single subscription identifier) in one append: this runs for every
         * delivery of every session changed in a batch */
        uint8_t fixed[18];
        uint64_t id = d->msg ? d->msg->persist_id : 0;
        size_t n = 0;
        for (int k = 56; k >= 0; k -= 8)
            fixed[n++] = (uint8_t)(id >> k);
        fixed[n++] = (uint8_t)(d->packet_id >> 8);
        fixed[n++] = (uint8_t)d->packet_id;
        fixed[n++] = d->qos;
        fixed[n++] = (uint8_t)((inflight ? PSTATE_DLV_INFLIGHT : 0) | (d->flags & DLV_RETAIN ? PSTATE_DLV_RETAIN : 0) |
                               (d->flags & DLV_PUBREL ? PSTATE_DLV_PUBREL : 0));
        fixed[n++] = (uint8_t)(d->nsub >> 8);
        fixed[n++] = (uint8_t)d->nsub;
        if (d->nsub == 1)
            for (int k = 24; k >= 0; k -= 8)
                fixed[n++] = (uint8_t)(d->sub_id >> k);
        pstate_put_raw(buf, fixed, n);
        for (uint16_t k = 0; k < d->nsub && d->nsub > 1; k++)
            pstate_put_u32(buf, d->sub_ids[k]);
        persist_encode_share(p, buf, d->group);
    }
    return STORE_OK;
}

/* The inbound QoS 2 packet ids awaiting PUBREL: an array, or a bitmap beyond the in-flight limit (3.1.1). */
static void persist_encode_in_qos2(pstate_buf *buf, const session *s)
{
    pstate_put_u32(buf, s->in_qos2_count);
    if (s->in_qos2_cap != SESSION_IN_QOS2_MAP) {
        const uint16_t *ids = s->in_qos2;
        for (uint32_t i = 0; i < s->in_qos2_count; i++)
            pstate_put_u16(buf, ids[i]);
        return;
    }
    const uint8_t *map = s->in_qos2;
    uint32_t n = 0;
    for (uint32_t pid = 0; pid < 65536 && n < s->in_qos2_count; pid++)
        if ((map[pid >> 3] >> (pid & 7)) & 1) {
            pstate_put_u16(buf, (uint16_t)pid);
            n++;
        }
    assert(n == s->in_qos2_count);
}

/* Writes s's record (its messages first). */
static int persist_write_session(broker *b, persist *p, session *s, uint64_t wall_now)
{
    pstate_buf *buf = persist_buf_take(&p->session_buf);
    int rc;
    pstate_put_u8(buf, PSTATE_SESSION_FORMAT);
    pstate_put_u32(buf, s->expiry_s);
    pstate_put_u8(buf, s->version);
    pstate_put_u16(buf, s->next_pid);
    pstate_put_u16(buf, s->listener_port);
    pstate_put_u64(buf, s->conn ? 0 : persist_to_wall(b, s->expire_at_ms, wall_now));
    pstate_put_u8(buf, s->username != NULL);
    if (s->username)
        pstate_put_bytes16(buf, s->username, strnlen(s->username, UINT16_MAX));
    pstate_put_u8(buf, s->will != NULL);
    if (s->will) {
        persist_encode_msg(b, buf, s->will, wall_now);
        pstate_put_u8(buf, s->will_qos);
        pstate_put_u8(buf, s->will_retain);
        pstate_put_u32(buf, s->will_delay_s);
        pstate_put_u64(buf, persist_to_wall(b, s->will_at_ms, wall_now));
    }
    pstate_put_u32(buf, s->subs.count);
    for (uint32_t i = 0; i < s->subs.cap; i++) {
        const session_sub *ss = s->subs.slots[i].value;
        if (!ss)
            continue;
        pstate_put_bytes16(buf, ss->filter, ss->filter_len);
        pstate_put_u8(buf, ss->qos);
        pstate_put_u8(buf, ss->options);
        pstate_put_u32(buf, ss->sub_id);
    }
    persist_encode_in_qos2(buf, s);
    pstate_put_u32(buf, s->inflight.count + s->queue.count);
    rc = persist_encode_queue(b, p, buf, &s->inflight, true, wall_now);
    if (rc == STORE_OK)
        rc = persist_encode_queue(b, p, buf, &s->queue, false, wall_now);
    if (rc == STORE_OK) /* the session's new messages make their own segment: it lives as long as its queue */
        rc = persist_seg_flush(p);
    if (rc == STORE_OK)
        rc = buf->oom ? STORE_ERROR : store_put(p->st, STORE_KIND_SESSION, s->client_id, s->id_len, buf->data, buf->len);
    return rc;
}

static int persist_write_batch(broker *b, persist *p)
{
    uint64_t wall_now = persist_wall_ms();
    int rc = store_begin(p->st);
    p->batch_first_seg = p->next_seg;
    for (size_t i = 0; i < p->ndel_segs && rc == STORE_OK; i++) {
        uint8_t key[8];
        persist_be64(p->del_segs[i], key);
        rc = store_del(p->st, STORE_KIND_MSG, key, sizeof key);
    }
    for (size_t i = 0; i < p->del_sessions.count && rc == STORE_OK; i++) {
        const char *id = p->del_sessions.ids[i];
        rc = store_del(p->st, STORE_KIND_SESSION, id + 2, (size_t)(uint8_t)id[0] << 8 | (uint8_t)id[1]);
    }
    for (uint32_t i = 0; i < p->retain_ops.cap && rc == STORE_OK; i++) {
        persist_retain_op *op = p->retain_ops.slots[i].value;
        if (!op)
            continue;
        if (!op->msg) {
            rc = store_del(p->st, STORE_KIND_RETAIN, op->topic, op->len);
            continue;
        }
        pstate_buf *buf = persist_buf_take(&p->msg_buf);
        persist_encode_msg(b, buf, op->msg, wall_now);
        rc = buf->oom ? STORE_ERROR : store_put(p->st, STORE_KIND_RETAIN, op->topic, op->len, buf->data, buf->len);
    }
    for (session *s = p->dirty_head; s && rc == STORE_OK; s = s->persist_next) {
        if (s->expiry_s)
            rc = persist_write_session(b, p, s, wall_now);
        else if (s->persist_stored)
            rc = store_del(p->st, STORE_KIND_SESSION, s->client_id, s->id_len);
    }
    int frc = persist_seg_flush(p);
    rc = rc == STORE_OK ? frc : rc;
    if (rc != STORE_OK) {
        store_abort(p->st);
        return rc;
    }
    return store_commit(p->st);
}

/* Forgets what a committed batch wrote. */
static void persist_batch_done(persist *p)
{
    p->ndel_segs = 0;
    for (size_t i = 0; i < p->del_sessions.count; i++)
        free(p->del_sessions.ids[i]);
    p->del_sessions.count = 0;
    for (uint32_t i = 0; i < p->retain_ops.cap; i++) {
        persist_retain_op *op = p->retain_ops.slots[i].value;
        if (op) {
            msg_unref(op->msg);
            free(op);
        }
    }
    hmap_free(&p->retain_ops);
    while (p->dirty_head) {
        session *s = p->dirty_head;
        s->persist_stored = s->expiry_s != 0;
        persist_unlink(p, s);
    }
}

/* Drops the references taken on messages numbered in the last attempt; after a failure they lose the number
 * and the segments numbered in it are forgotten (nothing of them was written). */
static void persist_release_assigned(persist *p, bool committed)
{
    for (size_t i = 0; i < p->nassigned; i++) {
        if (!committed)
            p->assigned[i]->persist_id = 0;
        msg_unref(p->assigned[i]);
    }
    p->nassigned = 0;
    p->seg_open = NULL;
    if (committed) {
        p->batch_first_seg = p->next_seg;
        return;
    }
    for (uint64_t no = p->batch_first_seg; no < p->next_seg; no++)
        free(hmap_remove(&p->segs, &no, sizeof no));
    p->next_seg = p->batch_first_seg;
}

static bool persist_pending(const persist *p)
{
    return p->dirty_head || p->ndel_segs || p->del_sessions.count || p->retain_ops.count;
}

static void persist_sync_relaxed(broker *b, persist *p)
{
    if (!p->relaxed || b->now_ms - p->last_sync_ms < p->sync_interval_ms)
        return;
    p->last_sync_ms = b->now_ms;
    if (store_sync(p->st) != STORE_OK)
        log_warning("persistence: syncing the store failed");
}

/* Refuses new QoS 1/2 messages while the store has less than PERSIST_RESERVE of room; logs the changes. */
static void persist_check_space(broker *b, persist *p)
{
    uint64_t room = store_room(p->st);
    bool low = room < PERSIST_RESERVE;
    if (low && !p->full)
        log_warning("persistence: store almost full (%llu bytes of room left in the map and on the file system): "
                    "refusing new QoS 1/2 messages", (unsigned long long)room);
    else if (!low && p->full && !p->failed)
        log_notice("persistence: space available again: QoS 1/2 messages accepted");
    p->full = low || p->failed;
}

void persist_commit(broker *b)
{
    persist *p = b->persist;
    if (!p)
        return;
    if (!persist_pending(p)) {
        p->done = p->seq++;
        persist_sync_relaxed(b, p);
        return;
    }
    if (p->failed && b->now_ms - p->last_try_ms < PERSIST_RETRY_MS)
        return;
    p->last_try_ms = b->now_ms;
    int rc = persist_write_batch(b, p);
    persist_release_assigned(p, rc == STORE_OK);
    if (rc != STORE_OK) {
        if (!p->failed)
            log_error("persistence: commit failed (%s): acknowledgements are held and new QoS 1/2 messages are "
                      "refused until the store accepts writes again",
                      rc == STORE_FULL ? "no space left in the store or on its file system" : "storage error");
        p->failed = true;
        p->full = p->full || rc == STORE_FULL;
        return;
    }
    persist_batch_done(p);
    p->done = p->seq++;
    if (p->failed)
        log_notice("persistence: the store accepts writes again; held acknowledgements released");
    p->failed = false;
    persist_check_space(b, p); /* after every batch: one batch is far smaller than the reserve */
    persist_sync_relaxed(b, p);
}

void persist_tick(broker *b)
{
    persist *p = b->persist;
    if (!p)
        return;
    if (p->failed)
        persist_commit(b);
    persist_check_space(b, p);
    persist_sync_relaxed(b, p);
}

/* ---- restore ---- */

typedef struct persist_load {
    broker *b;
    persist *p;
    hmap msgs; /* record number -> broker_msg (keys: &msg->persist_id) */
    uint64_t wall_now;
    size_t nmsgs, nretained, nsessions;
    bool old_format; /* a record of an earlier format was found */
} persist_load;

/* A broker message from its stored form. NULL if out of memory. */
static broker_msg *persist_msg_from(persist_load *l, const pstate_msg *pm)
{
    broker *b = l->b;
    broker_msg *m = msg_new(pm->topic.data, pm->topic.len, pm->payload.data, pm->payload.len, pm->qos, pm->retain,
                            &pm->props, b->now_ms, 0, &b->mem_msgs);
    if (m)
        m->expiry_ms = persist_to_mono(b, pm->expiry_wall_ms, l->wall_now);
    return m;
}

static void persist_skip(persist_load *l, const char *what, const char *why)
{
    l->p->skipped++;
    if (l->p->skipped <= 20)
        log_warning("persistence: skipped %s: %s", what, why);
}

/* Restores the messages of one segment record (their numbers: the segment's << PERSIST_SEG_BITS | index). */
static int persist_load_msg(void *ctx, const uint8_t *lkey, size_t lkey_len, const uint8_t *v, size_t len)
{
    persist_load *l = ctx;
    uint64_t no = 0;
    uint32_t count = 0;
    size_t pos = 0;
    int hrc = pstate_segment_open(v, len, PERSIST_SEG_MSGS, &count, &pos);
    if (hrc == -2) {
        l->old_format = true;
        return STORE_STOP;
    }
    for (size_t i = 0; i < 8 && lkey_len == 8; i++)
        no = no << 8 | lkey[i];
    if (hrc < 0 || lkey_len != 8 || no == 0 || no >> (64 - PERSIST_SEG_BITS)) {
        persist_skip(l, "a message segment", "cannot be decoded");
        return STORE_OK;
    }
    persist_seg *seg = calloc(1, sizeof *seg);
    if (!seg)
        return STORE_ERROR;
    seg->no = no;
    if (hmap_put(&l->p->segs, &seg->no, sizeof seg->no, seg) < 0) {
        free(seg);
        return STORE_ERROR;
    }
    if (no >= l->p->next_seg)
        l->p->next_seg = no + 1;
    for (uint32_t i = 0; i < count; i++) {
        pstate_msg pm;
        if (pstate_msg_decode(v, len, &pos, &pm) < 0) {
            persist_skip(l, "a message segment", "cannot be decoded"); /* what it held so far stays */
            break;
        }
        broker_msg *m = persist_msg_from(l, &pm);
        pstate_msg_clear(&pm);
        if (!m)
            return STORE_ERROR;
        m->persist_id = no << PERSIST_SEG_BITS | i;
        seg->live++;
        if (hmap_put(&l->msgs, &m->persist_id, sizeof m->persist_id, m) < 0) {
            msg_unref(m);
            return STORE_ERROR;
        }
        l->nmsgs++;
    }
    if (seg->live == 0) { /* nothing readable in it: the record stays, reported, like a tampered one */
        hmap_remove(&l->p->segs, &no, sizeof no);
        free(seg);
    }
    return STORE_OK;
}

static int persist_load_retained(void *ctx, const uint8_t *lkey, size_t lkey_len, const uint8_t *v, size_t len)
{
    persist_load *l = ctx;
    pstate_msg pm;
    size_t pos = 0;
    if (pstate_msg_decode(v, len, &pos, &pm) < 0) {
        persist_skip(l, "a retained message", "cannot be decoded");
        return STORE_OK;
    }
    if (pos != len || pm.topic.len != lkey_len || memcmp(pm.topic.data, lkey, lkey_len) != 0 || pm.payload.len == 0) {
        pstate_msg_clear(&pm);
        persist_skip(l, "a retained message", "its contents do not match its key");
        return STORE_OK;
    }
    broker_msg *m = persist_msg_from(l, &pm);
    pstate_msg_clear(&pm);
    if (!m)
        return STORE_ERROR;
    int rc = retain_set(&l->b->retained, m);
    msg_unref(m);
    if (rc < 0)
        return STORE_ERROR;
    l->nretained++;
    return STORE_OK;
}

/* The listener (configuration record) a restored session last came through, by port; NULL if none now. */
static void *persist_listener_user(broker *b, uint16_t port)
{
    for (int i = 0; i < b->set.nlisteners; i++)
        if (b->set.listeners[i].port == port)
            return b->set.listeners[i].user;
    return NULL;
}

/* Rebuilds one delivery; false when its message is missing or memory ran out (then it is skipped). */
static bool persist_restore_delivery(persist_load *l, session *s, const pstate_delivery *pd)
{
    delivery d;
    memset(&d, 0, sizeof d);
    if (pd->msg_id) {
        broker_msg *m = hmap_get(&l->msgs, &pd->msg_id, sizeof pd->msg_id);
        if (!m)
            return false;
        d.msg = msg_ref(m);
    }
    if (pd->share_group.len) { /* back in its group if the group is still subscribed */
        d.group = trie_group_lookup(&l->b->trie, (const char *)pd->share_filter.data, pd->share_filter.len,
                                    (const char *)pd->share_group.data, pd->share_group.len);
        if (d.group)
            trie_group_ref(d.group);
    }
    d.qos = pd->qos;
    d.packet_id = pd->packet_id;
    d.flags = (uint8_t)((pd->flags & PSTATE_DLV_INFLIGHT ? DLV_SENT : 0) | (pd->flags & PSTATE_DLV_RETAIN ? DLV_RETAIN : 0) |
                        (pd->flags & PSTATE_DLV_PUBREL ? DLV_PUBREL : 0));
    d.nsub = pd->nsub;
    if (pd->nsub == 1)
        d.sub_id = pstate_delivery_sub_id(pd, 0);
    if (pd->nsub > 1) {
        d.sub_ids = malloc((size_t)pd->nsub * sizeof *d.sub_ids);
        if (!d.sub_ids) {
            d.nsub = 0;
            delivery_release(&d);
            return false;
        }
        for (uint16_t k = 0; k < pd->nsub; k++)
            d.sub_ids[k] = pstate_delivery_sub_id(pd, k);
    }
    dqueue *q = pd->flags & PSTATE_DLV_INFLIGHT ? &s->inflight : &s->queue;
    if (dq_push(q, &d) < 0) {
        delivery_release(&d);
        return false;
    }
    if (q == &s->queue && d.msg)
        s->queued_bytes += d.msg->payload_len + d.msg->topic_len;
    return true;
}

/*
 * The expiry of a restored session under the current configuration: a Session Expiry above today's maximum
 * (max_session_expiry, persistent_client_expiration) is lowered to it, and an offline session's deadline
 * moves to what the lowered expiry gives from the time it went offline. A session whose connection was up at
 * the stop went offline at the restart; so did one that never expired (its disconnect time is not stored).
 */
static void persist_restore_expiry(persist_load *l, session *s, const pstate_session *ps)
{
    const broker *b = l->b;
    uint32_t max = b->set.max_session_expiry;
    s->expiry_s = ps->expiry_s > max ? max : ps->expiry_s;
    if (s->expiry_s == UINT32_MAX) {
        s->expire_at_ms = 0;
    } else if (!ps->expire_at_wall_ms || ps->expiry_s == UINT32_MAX) {
        s->expire_at_ms = b->now_ms + (uint64_t)s->expiry_s * 1000u;
    } else {
        uint64_t sooner = (uint64_t)(ps->expiry_s - s->expiry_s) * 1000u; /* the deadline comes this much sooner */
        uint64_t wall = ps->expire_at_wall_ms > sooner ? ps->expire_at_wall_ms - sooner : 1;
        s->expire_at_ms = persist_to_mono(b, wall, l->wall_now);
    }
    if (s->expiry_s == ps->expiry_s)
        return;
    persist_mark_dirty(l->p, s); /* stored again with the lowered expiry in the first batch */
    char was[16];
    snprintf(was, sizeof was, ps->expiry_s == UINT32_MAX ? "never" : "%u s", ps->expiry_s);
    log_notice("persistence: session %s: expiry lowered from %s to %u s (the configured maximum)", s->client_id, was,
             s->expiry_s);
}

static int persist_restore_session(persist_load *l, session *s, const pstate_session *ps)
{
    broker *b = l->b;
    s->version = ps->version;
    s->next_pid = ps->next_pid;
    s->listener_port = ps->listener_port;
    s->listener_user = persist_listener_user(b, ps->listener_port);
    s->persist_stored = true;
    if (ps->has_username && !(s->username = strndup((const char *)ps->username.data, ps->username.len)))
        return -1;
    persist_restore_expiry(l, s, ps);
    if (ps->has_will) {
        if (!(s->will = persist_msg_from(l, &ps->will)))
            return -1;
        s->will->origin = s->uid;
        s->will_qos = ps->will_qos;
        s->will_retain = ps->will_retain;
        s->will_delay_s = ps->will_delay_s;
        /* A will pending at the crash keeps its time; a client connected at the crash lost its connection
         * then: its will is scheduled after its delay from now. */
        s->will_at_ms = ps->will_at_wall_ms ? persist_to_mono(b, ps->will_at_wall_ms, l->wall_now)
                                            : b->now_ms + (uint64_t)s->will_delay_s * 1000u;
        if (!s->will_at_ms)
            s->will_at_ms = 1;
    }
    for (uint32_t i = 0; i < ps->nsubs; i++) {
        const pstate_sub *su = &ps->subs[i];
        mqtt_subscription sub = {.filter = su->filter, .qos = su->qos, .no_local = su->options & 1,
                                 .retain_as_published = (su->options >> 1) & 1,
                                 .retain_handling = (uint8_t)(su->options >> 2)};
        bool existed;
        if (session_subscribe(b, s, &sub, su->sub_id, &existed) < 0)
            persist_skip(l, "a subscription", "could not be restored (limit or memory)");
    }
    if (ps->nin_qos2) {
        if (!(s->in_qos2 = malloc(ps->nin_qos2 * sizeof(uint16_t)))) /* the array form (proto.c) */
            return -1;
        memcpy(s->in_qos2, ps->in_qos2, ps->nin_qos2 * sizeof(uint16_t));
        s->in_qos2_count = s->in_qos2_cap = ps->nin_qos2;
    }
    for (uint32_t i = 0; i < ps->ndeliveries; i++)
        if (!persist_restore_delivery(l, s, &ps->deliveries[i]))
            persist_skip(l, "a queued delivery", "its message record is missing");
    session_timer_arm(b, s); /* offline: its expiry and pending will */
    return 0;
}

static int persist_load_session(void *ctx, const uint8_t *lkey, size_t lkey_len, const uint8_t *v, size_t len)
{
    persist_load *l = ctx;
    pstate_session ps;
    if (len >= 1 && v[0] < PSTATE_SESSION_FORMAT) {
        l->old_format = true;
        return STORE_STOP;
    }
    if (lkey_len == 0 || lkey_len > UINT16_MAX || pstate_session_decode(v, len, &ps) < 0) {
        persist_skip(l, "a session record", "cannot be decoded");
        return STORE_OK;
    }
    if (hmap_get(&l->b->sessions, lkey, lkey_len)) {
        pstate_session_clear(&ps);
        return STORE_OK;
    }
    session *s = session_new(l->b, (const char *)lkey, lkey_len);
    int rc = s ? persist_restore_session(l, s, &ps) : -1;
    pstate_session_clear(&ps);
    if (rc < 0) {
        if (s)
            session_end(l->b, s);
        return STORE_ERROR;
    }
    l->nsessions++;
    return STORE_OK;
}

static void persist_free(persist *p)
{
    if (!p)
        return;
    persist_batch_done(p);
    free(p->del_segs);
    for (uint32_t i = 0; i < p->segs.cap; i++)
        free(p->segs.slots[i].value);
    hmap_free(&p->segs);
    free(p->del_sessions.ids);
    free(p->assigned);
    pstate_buf_free(&p->msg_buf);
    pstate_buf_free(&p->session_buf);
    pstate_buf_free(&p->seg_buf);
    store_close(p->st);
    free(p);
}

/* Reads every record into the broker. Returns 0, -1 (out of memory or a storage error) or -2 (the store holds
 * records of an earlier format). */
static int persist_restore(broker *b, persist *p)
{
    persist_load l = {.b = b, .p = p, .wall_now = persist_wall_ms()};
    uint64_t t0 = b->now_ms;
    int rc = store_iterate(p->st, STORE_KIND_MSG, persist_load_msg, &l);
    if (rc == STORE_OK && !l.old_format)
        rc = store_iterate(p->st, STORE_KIND_RETAIN, persist_load_retained, &l);
    if (rc == STORE_OK && !l.old_format)
        rc = store_iterate(p->st, STORE_KIND_SESSION, persist_load_session, &l);
    /* Messages no restored delivery references are freed now; the release hook deletes their records in the
     * first batch. */
    p->loading = false;
    for (uint32_t i = 0; i < l.msgs.cap; i++)
        if (l.msgs.slots[i].value)
            msg_unref(l.msgs.slots[i].value);
    hmap_free(&l.msgs);
    const store_stats *st = store_get_stats(p->st);
    log_notice("persistence: restored %zu sessions, %zu retained messages, %zu queued messages in %llu ms "
               "(%llu records failed authentication, %llu under an unknown key, %llu skipped)",
               l.nsessions, l.nretained, l.nmsgs, (unsigned long long)(loop_now_ms() - t0),
               (unsigned long long)st->corrupt, (unsigned long long)st->unknown_key, (unsigned long long)p->skipped);
    if (l.old_format)
        return -2;
    return rc == STORE_OK ? 0 : -1;
}

int persist_open(broker *b, const persist_options *o, char *err, size_t errlen)
{
    persist *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    store_options so = {.path = o->path, .engine = o->engine, .map_size = o->max_size, .durable = !o->relaxed, .key = o->key,
                        .old_key = o->old_key};
    if (!(p->st = store_open(&so, err, errlen))) {
        free(p);
        return -1;
    }
    p->relaxed = o->relaxed;
    p->sync_interval_ms = o->sync_interval_ms ? o->sync_interval_ms : 1000;
    p->seq = 1;
    p->next_seg = 1;
    p->loading = true;
    b->now_ms = loop_now_ms();
    p->last_sync_ms = b->now_ms;
    b->persist = p;
    msg_set_release_hook(persist_on_release, p);
    int rc = persist_restore(b, p);
    if (rc < 0) {
        p->loading = true;
        if (rc == -2)
            snprintf(err, errlen, "%s: the store was written in an earlier format (message or session records of "
                     "format 1; this broker reads format %d); there is no migration: move it away to start with "
                     "an empty store", o->path, PSTATE_SESSION_FORMAT);
        else
            snprintf(err, errlen, "%s: restoring the stored state failed (out of memory or a storage error)",
                     o->path);
        return -1; /* b->persist stays: broker_free closes it without writing */
    }
    if (p->relaxed)
        log_notice("persistence: relaxed durability: acknowledged messages survive a crash of the broker, but "
                   "up to %u ms of them may be lost in a power failure or kernel crash", p->sync_interval_ms);
    else
        log_notice("persistence: every PUBACK/PUBREC waits for a group-committed, synced write (%s)", o->path);
    return 0;
}

int persist_rekey(broker *b, const uint8_t key[RECORD_MASTER_KEY_LEN], char *err, size_t errlen)
{
    persist *p = b->persist;
    if (!p) {
        snprintf(err, errlen, "persistence is not running");
        return -1;
    }
    b->now_ms = loop_now_ms();
    p->last_try_ms = 0;
    persist_commit(b);
    if (p->failed) {
        snprintf(err, errlen, "pending changes cannot be committed");
        return -1;
    }
    return store_rekey(p->st, key, err, errlen);
}

void persist_close(broker *b)
{
    persist *p = b->persist;
    if (!p)
        return;
    if (!p->loading) {
        b->now_ms = loop_now_ms();
        p->failed = false; /* one last try */
        persist_commit(b);
        if (p->failed)
            log_error("persistence: the final commit failed: changes since the last commit are lost");
        if (p->relaxed)
            store_sync(p->st);
    }
    persist_release_assigned(p, false);
    /* Sessions still marked dirty are freed next by the broker: forget them without writing. */
    while (p->dirty_head)
        persist_unlink(p, p->dirty_head);
    msg_set_release_hook(NULL, NULL);
    b->persist = NULL;
    persist_free(p);
}
