/*
 * encode.c - encoding of every MQTT 3.1.1 / 5.0 control packet. Encoding handles our own data: sizes are
 * computed first (0 when something cannot be encoded), then a writer that asserts fills the buffer.
 * Properties are written only for MQTT 5; v5-only fields are ignored for earlier versions.
 */
#include <assert.h>

#include "codec/mqtt_internal.h"

#define MQTT_VBI_MAX 268435455u

/* Running size of a packet body; `bad` is set when a field cannot be encoded. */
typedef struct size_acc {
    size_t n;
    bool bad;
} size_acc;

static void acc_bytes(size_acc *a, mqtt_bytes b)
{
    if (b.len > 0xFFFF)
        a->bad = true;
    a->n += 2 + (size_t)b.len;
}

static void acc_props(size_acc *a, const mqtt_props *props, uint8_t version)
{
    if (version != MQTT_V5)
        return;
    if (!mqtt_props_encodable(props))
        a->bad = true;
    else
        a->n += mqtt_props_encoded_size(props);
}

static bool props_empty(const mqtt_props *props)
{
    return mqtt_props_body_size(props) == 0;
}

static const uint8_t name_mqtt[] = "MQTT", name_mqisdp[] = "MQIsdp";

static mqtt_bytes connect_protocol_name(uint8_t version)
{
    return version == MQTT_V31 ? (mqtt_bytes){name_mqisdp, 6} : (mqtt_bytes){name_mqtt, 4};
}

static void size_connect(size_acc *a, const mqtt_connect *c)
{
    if (c->version != MQTT_V31 && c->version != MQTT_V311 && c->version != MQTT_V5)
        a->bad = true;
    acc_bytes(a, connect_protocol_name(c->version));
    a->n += 1 + 1 + 2; /* level, flags, keep alive */
    acc_props(a, &c->props, c->version);
    acc_bytes(a, c->client_id);
    if (c->has_will) {
        acc_props(a, &c->will_props, c->version);
        acc_bytes(a, c->will_topic);
        acc_bytes(a, c->will_payload);
    }
    if (c->has_username)
        acc_bytes(a, c->username);
    if (c->has_password)
        acc_bytes(a, c->password);
}

/* Body size of the 5.0 forms that may drop trailing fields: `fixed` bytes always present, then the reason
 * code if it or any property is present, then the property block if non-empty (and always for AUTH). */
static void size_reason_props(size_acc *a, uint8_t reason, const mqtt_props *props, uint8_t type)
{
    if (reason == 0 && props_empty(props))
        return;
    a->n += 1;
    if (!props_empty(props) || type == MQTT_AUTH)
        acc_props(a, props, MQTT_V5);
}

static void size_publish(size_acc *a, const mqtt_publish *p, uint8_t version)
{
    acc_bytes(a, p->topic);
    a->n += p->qos ? 2 : 0;
    acc_props(a, &p->props, version);
    a->n += p->payload.len;
}

static void size_body(size_acc *a, const mqtt_packet *p, uint8_t version)
{
    switch (p->type) {
    case MQTT_CONNECT: size_connect(a, &p->u.connect); break;
    case MQTT_CONNACK: a->n += 2; acc_props(a, &p->u.connack.props, version); break;
    case MQTT_PUBLISH: size_publish(a, &p->u.publish, version); break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        a->n += 2;
        if (version == MQTT_V5)
            size_reason_props(a, p->u.ack.reason, &p->u.ack.props, p->type);
        break;
    case MQTT_SUBSCRIBE:
        a->n += 2;
        acc_props(a, &p->u.subscribe.props, version);
        for (uint32_t i = 0; i < p->u.subscribe.count; i++) {
            acc_bytes(a, p->u.subscribe.subs[i].filter);
            a->n += 1;
        }
        break;
    case MQTT_UNSUBSCRIBE:
        a->n += 2;
        acc_props(a, &p->u.unsubscribe.props, version);
        for (uint32_t i = 0; i < p->u.unsubscribe.count; i++)
            acc_bytes(a, p->u.unsubscribe.filters[i]);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        a->n += 2;
        acc_props(a, &p->u.suback.props, version);
        if (p->type == MQTT_SUBACK || version == MQTT_V5)
            a->n += p->u.suback.count;
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (p->type == MQTT_AUTH && version != MQTT_V5)
            a->bad = true;
        else if (version == MQTT_V5)
            size_reason_props(a, p->u.disconnect.reason, &p->u.disconnect.props, p->type);
        break;
    case MQTT_PINGREQ:
    case MQTT_PINGRESP: break;
    default: a->bad = true; break;
    }
}

/* Remaining length of p, or false if p cannot be encoded. */
static bool packet_remaining(const mqtt_packet *p, uint8_t version, uint32_t *remaining)
{
    size_acc a = {0, false};
    size_body(&a, p, version);
    if (a.bad || a.n > MQTT_VBI_MAX)
        return false;
    *remaining = (uint32_t)a.n;
    return true;
}

size_t mqtt_encoded_size(const mqtt_packet *p, uint8_t version)
{
    uint32_t remaining;
    if (!packet_remaining(p, p->type == MQTT_CONNECT ? p->u.connect.version : version, &remaining))
        return 0;
    return 1 + mqtt_vbi_size(remaining) + remaining;
}

/* Fixed-header flags are derived from the packet, never taken from p->flags. */
static uint8_t header_flags(const mqtt_packet *p)
{
    if (p->type == MQTT_PUBLISH) {
        const mqtt_publish *pub = &p->u.publish;
        assert(pub->qos <= 2 && !(pub->dup && pub->qos == 0));
        return (uint8_t)((pub->dup ? 0x08 : 0) | (pub->qos << 1) | (pub->retain ? 1 : 0));
    }
    return (p->type == MQTT_PUBREL || p->type == MQTT_SUBSCRIBE || p->type == MQTT_UNSUBSCRIBE) ? 0x02 : 0x00;
}

static void write_connect(mqtt_writer *w, const mqtt_connect *c)
{
    bool v5 = c->version == MQTT_V5;
    assert(c->will_qos <= 2 && (c->has_will || (c->will_qos == 0 && !c->will_retain)));
    uint8_t flags = (uint8_t)((c->has_username ? 0x80 : 0) | (c->has_password ? 0x40 : 0) |
                              (c->will_retain ? 0x20 : 0) | (c->will_qos << 3) | (c->has_will ? 0x04 : 0) |
                              (c->clean_start ? 0x02 : 0));
    mqtt_write_binary(w, connect_protocol_name(c->version));
    mqtt_write_u8(w, c->version);
    mqtt_write_u8(w, flags);
    mqtt_write_u16(w, c->keep_alive);
    if (v5)
        mqtt_props_write(w, &c->props);
    mqtt_write_binary(w, c->client_id);
    if (c->has_will) {
        if (v5)
            mqtt_props_write(w, &c->will_props);
        mqtt_write_binary(w, c->will_topic);
        mqtt_write_binary(w, c->will_payload);
    }
    if (c->has_username)
        mqtt_write_binary(w, c->username);
    if (c->has_password)
        mqtt_write_binary(w, c->password);
}

static void write_reason_props(mqtt_writer *w, uint8_t reason, const mqtt_props *props, uint8_t type)
{
    if (reason == 0 && props_empty(props))
        return;
    mqtt_write_u8(w, reason);
    if (!props_empty(props) || type == MQTT_AUTH)
        mqtt_props_write(w, props);
}

static void write_publish_head(mqtt_writer *w, const mqtt_publish *p, uint8_t version)
{
    mqtt_write_binary(w, p->topic);
    if (p->qos) {
        assert(p->packet_id != 0);
        mqtt_write_u16(w, p->packet_id);
    }
    if (version == MQTT_V5)
        mqtt_props_write(w, &p->props);
}

static void write_subscribe(mqtt_writer *w, const mqtt_subscribe *s, uint8_t version)
{
    assert(s->packet_id != 0 && s->count > 0);
    mqtt_write_u16(w, s->packet_id);
    if (version == MQTT_V5)
        mqtt_props_write(w, &s->props);
    for (uint32_t i = 0; i < s->count; i++) {
        const mqtt_subscription *sub = &s->subs[i];
        assert(sub->qos <= 2 && sub->retain_handling <= 2);
        uint8_t o = sub->qos;
        if (version == MQTT_V5)
            o |= (uint8_t)((sub->no_local ? 0x04 : 0) | (sub->retain_as_published ? 0x08 : 0) |
                           (sub->retain_handling << 4));
        mqtt_write_binary(w, sub->filter);
        mqtt_write_u8(w, o);
    }
}

static void write_body(mqtt_writer *w, const mqtt_packet *p, uint8_t version)
{
    bool v5 = version == MQTT_V5;
    switch (p->type) {
    case MQTT_CONNECT: write_connect(w, &p->u.connect); break;
    case MQTT_CONNACK:
        mqtt_write_u8(w, p->u.connack.session_present ? 1 : 0);
        mqtt_write_u8(w, p->u.connack.reason);
        if (v5)
            mqtt_props_write(w, &p->u.connack.props);
        break;
    case MQTT_PUBLISH:
        write_publish_head(w, &p->u.publish, version);
        mqtt_write_raw(w, p->u.publish.payload.data, p->u.publish.payload.len);
        break;
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        assert(p->u.ack.packet_id != 0);
        mqtt_write_u16(w, p->u.ack.packet_id);
        if (v5)
            write_reason_props(w, p->u.ack.reason, &p->u.ack.props, p->type);
        break;
    case MQTT_SUBSCRIBE: write_subscribe(w, &p->u.subscribe, version); break;
    case MQTT_UNSUBSCRIBE:
        assert(p->u.unsubscribe.packet_id != 0 && p->u.unsubscribe.count > 0);
        mqtt_write_u16(w, p->u.unsubscribe.packet_id);
        if (v5)
            mqtt_props_write(w, &p->u.unsubscribe.props);
        for (uint32_t i = 0; i < p->u.unsubscribe.count; i++)
            mqtt_write_binary(w, p->u.unsubscribe.filters[i]);
        break;
    case MQTT_SUBACK:
    case MQTT_UNSUBACK:
        mqtt_write_u16(w, p->u.suback.packet_id);
        if (v5)
            mqtt_props_write(w, &p->u.suback.props);
        if (p->type == MQTT_SUBACK || v5)
            mqtt_write_raw(w, p->u.suback.reasons, p->u.suback.count);
        break;
    case MQTT_DISCONNECT:
    case MQTT_AUTH:
        if (v5)
            write_reason_props(w, p->u.disconnect.reason, &p->u.disconnect.props, p->type);
        break;
    default: break;
    }
}

size_t mqtt_encode(const mqtt_packet *p, uint8_t version, uint8_t *out, size_t cap)
{
    uint8_t v = p->type == MQTT_CONNECT ? p->u.connect.version : version;
    uint32_t remaining;
    if (!packet_remaining(p, v, &remaining))
        return 0;
    size_t total = 1 + mqtt_vbi_size(remaining) + remaining;
    if (total > cap)
        return 0;
    mqtt_writer w = {out, 0, cap};
    mqtt_write_u8(&w, (uint8_t)((p->type << 4) | header_flags(p)));
    mqtt_write_vbi(&w, remaining);
    write_body(&w, p, v);
    assert(w.pos == total);
    return total;
}

/* Called once per delivery: sizes the PUBLISH directly (no whole-packet copy; that copy and the zeroing of
 * a 584-byte mqtt_packet were 12% of the broker's CPU in a QoS 0 fan-out, docs/performance.md). */
size_t mqtt_encode_publish_head(const mqtt_publish *p, uint8_t version, uint8_t *out, size_t cap)
{
    size_acc a = {0, false};
    size_publish(&a, p, version);
    if (a.bad || a.n > MQTT_VBI_MAX)
        return 0;
    uint32_t remaining = (uint32_t)a.n;
    size_t head = 1 + mqtt_vbi_size(remaining) + remaining - p->payload.len;
    if (head > cap)
        return 0;
    assert(p->qos <= 2 && !(p->dup && p->qos == 0));
    mqtt_writer w = {out, 0, cap};
    mqtt_write_u8(&w, (uint8_t)((MQTT_PUBLISH << 4) | (p->dup ? 0x08 : 0) | (p->qos << 1) | (p->retain ? 1 : 0)));
    mqtt_write_vbi(&w, remaining);
    write_publish_head(&w, p, version);
    assert(w.pos == head);
    return head;
}
