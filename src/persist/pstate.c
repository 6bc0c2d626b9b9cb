/* pstate.c - see pstate.h. */
#include "persist/pstate.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define PSTATE_MSG_FORMAT 1
#define PROP(id) MQTT_PROP_BIT(MQTT_PROP_##id)
#define PSTATE_FORWARDED                                                                                     \
    (PROP(PAYLOAD_FORMAT) | PROP(CONTENT_TYPE) | PROP(RESPONSE_TOPIC) | PROP(CORRELATION_DATA) | PROP(USER_PROPERTY))

/* ---- writing ---- */

void pstate_buf_free(pstate_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void pstate_put(pstate_buf *b, const void *p, size_t n)
{
    if (b->oom || n == 0)
        return;
    if (b->len + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n)
            ncap *= 2;
        uint8_t *nd = realloc(b->data, ncap);
        if (!nd) {
            b->oom = true;
            return;
        }
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void pstate_put_raw(pstate_buf *b, const void *p, size_t len)
{
    pstate_put(b, p, len);
}

void pstate_put_u8(pstate_buf *b, uint8_t v)
{
    pstate_put(b, &v, 1);
}

void pstate_put_u16(pstate_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    pstate_put(b, x, 2);
}

void pstate_put_u32(pstate_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    pstate_put(b, x, 4);
}

void pstate_put_u64(pstate_buf *b, uint64_t v)
{
    pstate_put_u32(b, (uint32_t)(v >> 32));
    pstate_put_u32(b, (uint32_t)v);
}

void pstate_put_bytes16(pstate_buf *b, const void *p, size_t len)
{
    assert(len <= UINT16_MAX);
    pstate_put_u16(b, (uint16_t)len);
    pstate_put(b, p, len);
}

void pstate_put_bytes32(pstate_buf *b, const void *p, size_t len)
{
    assert(len <= UINT32_MAX);
    pstate_put_u32(b, (uint32_t)len);
    pstate_put(b, p, len);
}

void pstate_msg_encode(pstate_buf *b, uint8_t qos, bool retain, uint64_t expiry_wall_ms, const char *topic,
                       size_t topic_len, const uint8_t *payload, size_t payload_len, const mqtt_props *props)
{
    uint64_t present = props ? props->present & PSTATE_FORWARDED : 0;
    pstate_put_u8(b, PSTATE_MSG_FORMAT);
    pstate_put_u8(b, qos);
    pstate_put_u8(b, retain);
    pstate_put_u64(b, expiry_wall_ms);
    pstate_put_bytes16(b, topic, topic_len);
    pstate_put_bytes32(b, payload, payload_len);
    pstate_put_u8(b, (uint8_t)((present & PROP(PAYLOAD_FORMAT) ? 1 : 0) | (present & PROP(CONTENT_TYPE) ? 2 : 0) |
                               (present & PROP(RESPONSE_TOPIC) ? 4 : 0) | (present & PROP(CORRELATION_DATA) ? 8 : 0) |
                               (present & PROP(USER_PROPERTY) ? 16 : 0)));
    if (present & PROP(PAYLOAD_FORMAT))
        pstate_put_u8(b, props->payload_format);
    if (present & PROP(CONTENT_TYPE))
        pstate_put_bytes16(b, props->content_type.data, props->content_type.len);
    if (present & PROP(RESPONSE_TOPIC))
        pstate_put_bytes16(b, props->response_topic.data, props->response_topic.len);
    if (present & PROP(CORRELATION_DATA))
        pstate_put_bytes16(b, props->correlation_data.data, props->correlation_data.len);
    if (present & PROP(USER_PROPERTY)) {
        pstate_put_u32(b, props->user_count);
        for (uint32_t i = 0; i < props->user_count; i++) {
            pstate_put_bytes16(b, props->user[i].key.data, props->user[i].key.len);
            pstate_put_bytes16(b, props->user[i].value.data, props->user[i].value.len);
        }
    }
}

/* ---- reading ---- */

typedef struct pstate_rd {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
} pstate_rd;

static bool pstate_need(pstate_rd *r, size_t n)
{
    if (r->bad || r->len - r->pos < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint8_t pstate_u8(pstate_rd *r)
{
    return pstate_need(r, 1) ? r->p[r->pos++] : 0;
}

static uint16_t pstate_u16(pstate_rd *r)
{
    if (!pstate_need(r, 2))
        return 0;
    uint16_t v = (uint16_t)(r->p[r->pos] << 8 | r->p[r->pos + 1]);
    r->pos += 2;
    return v;
}

static uint32_t pstate_u32(pstate_rd *r)
{
    if (!pstate_need(r, 4))
        return 0;
    const uint8_t *x = r->p + r->pos;
    r->pos += 4;
    return (uint32_t)x[0] << 24 | (uint32_t)x[1] << 16 | (uint32_t)x[2] << 8 | x[3];
}

static uint64_t pstate_u64(pstate_rd *r)
{
    uint64_t hi = pstate_u32(r);
    return hi << 32 | pstate_u32(r);
}

static mqtt_bytes pstate_bytes(pstate_rd *r, size_t n)
{
    mqtt_bytes b = {NULL, 0};
    if (!pstate_need(r, n))
        return b;
    b.data = n ? r->p + r->pos : NULL;
    b.len = (uint32_t)n;
    r->pos += n;
    return b;
}

static bool pstate_bool(pstate_rd *r)
{
    uint8_t v = pstate_u8(r);
    if (v > 1)
        r->bad = true;
    return v == 1;
}

static int pstate_msg_read(pstate_rd *r, pstate_msg *m)
{
    memset(m, 0, sizeof *m);
    if (pstate_u8(r) != PSTATE_MSG_FORMAT)
        return -1;
    m->qos = pstate_u8(r);
    m->retain = pstate_bool(r);
    m->expiry_wall_ms = pstate_u64(r);
    m->topic = pstate_bytes(r, pstate_u16(r));
    m->payload = pstate_bytes(r, pstate_u32(r));
    uint8_t flags = pstate_u8(r);
    if (r->bad || m->qos > 2 || m->topic.len == 0 || flags > 31 || !mqtt_utf8_valid(m->topic.data, m->topic.len))
        return -1;
    if (flags & 1) {
        m->props.present |= PROP(PAYLOAD_FORMAT);
        m->props.payload_format = pstate_u8(r);
    }
    if (flags & 2) {
        m->props.present |= PROP(CONTENT_TYPE);
        m->props.content_type = pstate_bytes(r, pstate_u16(r));
    }
    if (flags & 4) {
        m->props.present |= PROP(RESPONSE_TOPIC);
        m->props.response_topic = pstate_bytes(r, pstate_u16(r));
    }
    if (flags & 8) {
        m->props.present |= PROP(CORRELATION_DATA);
        m->props.correlation_data = pstate_bytes(r, pstate_u16(r));
    }
    if (flags & 16) {
        uint32_t n = pstate_u32(r);
        if (r->bad || n > (r->len - r->pos) / 4) /* each pair takes at least 4 bytes */
            return -1;
        m->props.present |= PROP(USER_PROPERTY);
        if (n) {
            m->props.user = calloc(n, sizeof *m->props.user);
            if (!m->props.user)
                return -1;
        }
        m->props.user_count = n;
        for (uint32_t i = 0; i < n && !r->bad; i++) {
            m->props.user[i].key = pstate_bytes(r, pstate_u16(r));
            m->props.user[i].value = pstate_bytes(r, pstate_u16(r));
        }
    }
    return r->bad ? -1 : 0;
}

int pstate_msg_decode(const uint8_t *p, size_t len, size_t *pos, pstate_msg *out)
{
    pstate_rd r = {p, len, *pos, false};
    if (pstate_msg_read(&r, out) < 0) {
        pstate_msg_clear(out);
        return -1;
    }
    *pos = r.pos;
    return 0;
}

void pstate_msg_clear(pstate_msg *m)
{
    free(m->props.user);
    memset(m, 0, sizeof *m);
}

int pstate_segment_open(const uint8_t *p, size_t len, uint32_t max, uint32_t *count, size_t *pos)
{
    pstate_rd r = {p, len, 0, false};
    uint8_t format = pstate_u8(&r);
    if (!r.bad && format == PSTATE_MSG_FORMAT_OLD)
        return -2;
    *count = pstate_u32(&r);
    if (r.bad || format != PSTATE_SEGMENT_FORMAT || *count == 0 || *count > max)
        return -1;
    *pos = r.pos;
    return 0;
}

static int pstate_subs_read(pstate_rd *r, pstate_session *s)
{
    uint32_t n = pstate_u32(r);
    if (r->bad || n > PSTATE_MAX_SUBS || n > (r->len - r->pos) / 8)
        return -1;
    s->subs = n ? calloc(n, sizeof *s->subs) : NULL;
    if (n && !s->subs)
        return -1;
    s->nsubs = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        pstate_sub *sub = &s->subs[i];
        sub->filter = pstate_bytes(r, pstate_u16(r));
        sub->qos = pstate_u8(r);
        sub->options = pstate_u8(r);
        sub->sub_id = pstate_u32(r);
        if (sub->filter.len == 0 || sub->qos > 2 || sub->options > 15 || (sub->options >> 2) > 2 ||
            sub->sub_id > 268435455u || !mqtt_utf8_valid(sub->filter.data, sub->filter.len))
            r->bad = true;
    }
    return r->bad ? -1 : 0;
}

static int pstate_deliveries_read(pstate_rd *r, pstate_session *s)
{
    uint32_t n = pstate_u32(r);
    if (r->bad || n > PSTATE_MAX_DELIVERIES || n > (r->len - r->pos) / 14)
        return -1;
    s->deliveries = n ? calloc(n, sizeof *s->deliveries) : NULL;
    if (n && !s->deliveries)
        return -1;
    s->ndeliveries = n;
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        pstate_delivery *d = &s->deliveries[i];
        d->msg_id = pstate_u64(r);
        d->packet_id = pstate_u16(r);
        d->qos = pstate_u8(r);
        d->flags = pstate_u8(r);
        d->nsub = pstate_u16(r);
        if (pstate_need(r, (size_t)d->nsub * 4)) {
            d->sub_ids = r->p + r->pos;
            r->pos += (size_t)d->nsub * 4;
        }
        d->share_group = pstate_bytes(r, pstate_u16(r));
        if (d->share_group.len) {
            d->share_filter = pstate_bytes(r, pstate_u16(r));
            if (d->share_filter.len == 0 || !mqtt_utf8_valid(d->share_filter.data, d->share_filter.len) ||
                !mqtt_utf8_valid(d->share_group.data, d->share_group.len))
                r->bad = true;
        }
        bool pubrel = d->flags & PSTATE_DLV_PUBREL;
        if (d->qos > 2 || d->flags > 7 || (pubrel != (d->msg_id == 0)) || (pubrel && d->qos != 2) ||
            (pubrel && !(d->flags & PSTATE_DLV_INFLIGHT)) || (d->qos && (d->flags & PSTATE_DLV_INFLIGHT) && !d->packet_id))
            r->bad = true;
    }
    return r->bad ? -1 : 0;
}

int pstate_session_decode(const uint8_t *p, size_t len, pstate_session *s)
{
    pstate_rd r = {p, len, 0, false};
    memset(s, 0, sizeof *s);
    if (pstate_u8(&r) != PSTATE_SESSION_FORMAT)
        goto bad;
    s->expiry_s = pstate_u32(&r);
    s->version = pstate_u8(&r);
    s->next_pid = pstate_u16(&r);
    s->listener_port = pstate_u16(&r);
    s->expire_at_wall_ms = pstate_u64(&r);
    s->has_username = pstate_bool(&r);
    if (s->has_username)
        s->username = pstate_bytes(&r, pstate_u16(&r));
    s->has_will = pstate_bool(&r);
    if (r.bad || s->expiry_s == 0 || (s->version != MQTT_V311 && s->version != MQTT_V5) || s->next_pid == 0)
        goto bad;
    if (s->has_will) {
        if (pstate_msg_read(&r, &s->will) < 0)
            goto bad;
        s->will_qos = pstate_u8(&r);
        s->will_retain = pstate_bool(&r);
        s->will_delay_s = pstate_u32(&r);
        s->will_at_wall_ms = pstate_u64(&r);
        if (s->will_qos > 2)
            goto bad;
    }
    if (pstate_subs_read(&r, s) < 0)
        goto bad;
    uint32_t n = pstate_u32(&r);
    if (r.bad || n > 65535)
        goto bad;
    s->in_qos2 = n ? calloc(n, sizeof *s->in_qos2) : NULL;
    if (n && !s->in_qos2)
        goto bad;
    s->nin_qos2 = n;
    for (uint32_t i = 0; i < n; i++)
        s->in_qos2[i] = pstate_u16(&r);
    if (pstate_deliveries_read(&r, s) < 0 || r.bad || r.pos != r.len)
        goto bad;
    return 0;
bad:
    pstate_session_clear(s);
    return -1;
}

void pstate_session_clear(pstate_session *s)
{
    pstate_msg_clear(&s->will);
    free(s->subs);
    free(s->in_qos2);
    free(s->deliveries);
    memset(s, 0, sizeof *s);
}

uint32_t pstate_delivery_sub_id(const pstate_delivery *d, uint16_t i)
{
    const uint8_t *x = d->sub_ids + (size_t)i * 4;
    assert(i < d->nsub);
    return (uint32_t)x[0] << 24 | (uint32_t)x[1] << 16 | (uint32_t)x[2] << 8 | x[3];
}
