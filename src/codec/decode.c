/*
 * decode.c - whole-packet decoding of every MQTT 3.1.1 / 5.0 control packet, validated as a server must.
 * Each decode_* function reads the variable header and payload from a reader bounded by the packet's end;
 * mqtt_decode then rejects any byte left over.
 */
#include <string.h>

#include "codec/mqtt_internal.h"

static bool is_v5(uint8_t version)
{
    return version == MQTT_V5;
}

/* True if code is in the list of reason codes valid for a packet. */
static bool reason_in(uint8_t code, const uint8_t *list, size_t n)
{
    return memchr(list, code, n) != NULL;
}

static const uint8_t reasons_connack[] = {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                          0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F};
static const uint8_t reasons_puback[] = {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99};
static const uint8_t reasons_pubrel[] = {0x00, 0x92};
static const uint8_t reasons_suback[] = {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
static const uint8_t reasons_suback_v311[] = {0x00, 0x01, 0x02, 0x80};
static const uint8_t reasons_unsuback[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
static const uint8_t reasons_disconnect[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E,
                                             0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B,
                                             0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2};
static const uint8_t reasons_auth[] = {0x00, 0x18, 0x19};

/* Reads a reason code and checks it is one the packet may carry (a protocol error otherwise). */
static int read_reason(mqtt_reader *r, const uint8_t *list, size_t n, uint8_t *reason)
{
    if (mqtt_read_u8(r, reason) != MQTT_OK)
        return MQTT_ERROR;
    if (!reason_in(*reason, list, n)) {
        r->pos--;
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "reason code not valid for this packet");
    }
    return MQTT_OK;
}

/* Reads a packet identifier, which must not be 0 (MQTT-2.2.1-3). */
static int read_packet_id(mqtt_reader *r, uint16_t *id)
{
    if (mqtt_read_u16(r, id) != MQTT_OK)
        return MQTT_ERROR;
    if (*id == 0) {
        r->pos -= 2;
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "packet identifier 0");
    }
    return MQTT_OK;
}

static bool too_many_levels(const mqtt_limits *lim, mqtt_bytes s)
{
    return lim && lim->max_topic_levels && mqtt_topic_levels(s.data, s.len) > lim->max_topic_levels;
}

/* Reads a topic name (UTF-8 rules 0x81; wildcards, emptiness or too many levels 0x90). */
static int read_topic_name(mqtt_reader *r, const mqtt_limits *lim, mqtt_bytes *topic, bool allow_empty)
{
    size_t at = r->pos;
    if (mqtt_read_utf8(r, topic) != MQTT_OK)
        return MQTT_ERROR;
    if (topic->len == 0 && allow_empty)
        return MQTT_OK;
    if (!mqtt_topic_name_valid(topic->data, topic->len) || too_many_levels(lim, *topic))
        return mqtt_fail(r->err, MQTT_RC_TOPIC_NAME_INVALID, at, "invalid topic name");
    return MQTT_OK;
}

/* Reads a topic filter (UTF-8 rules 0x81; wildcard placement, $share syntax or too many levels 0x8F). */
static int read_topic_filter(mqtt_reader *r, const mqtt_limits *lim, mqtt_bytes *filter)
{
    size_t at = r->pos;
    if (mqtt_read_utf8(r, filter) != MQTT_OK)
        return MQTT_ERROR;
    if (!mqtt_topic_filter_valid(filter->data, filter->len) || too_many_levels(lim, *filter))
        return mqtt_fail(r->err, MQTT_RC_TOPIC_FILTER_INVALID, at, "invalid topic filter");
    return MQTT_OK;
}

/* ---- CONNECT ---- */

/* Protocol name and level: "MQTT" with 4 or 5, "MQIsdp" with 3. Another name is a protocol error (the
 * server may just close, MQTT-3.1.2-1); a known name with another level is 0x84 (CONNACK 0x01 in 3.1.1). */
static int connect_read_protocol(mqtt_reader *r, mqtt_connect *c)
{
    mqtt_bytes name;
    size_t at = r->pos;
    if (mqtt_read_binary(r, &name) != MQTT_OK || mqtt_read_u8(r, &c->version) != MQTT_OK)
        return MQTT_ERROR;
    bool is_mqtt = name.len == 4 && memcmp(name.data, "MQTT", 4) == 0;
    bool is_mqisdp = name.len == 6 && memcmp(name.data, "MQIsdp", 6) == 0;
    if (!is_mqtt && !is_mqisdp)
        return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, at, "unknown protocol name");
    if ((is_mqtt && c->version != MQTT_V311 && c->version != MQTT_V5) || (is_mqisdp && c->version != MQTT_V31))
        return mqtt_fail(r->err, MQTT_RC_UNSUPPORTED_VERSION, r->pos - 1, "unsupported protocol level");
    return MQTT_OK;
}

/* Connect flags (3.1.2.3): reserved bit 0 must be 0 (malformed); Will QoS 3 is malformed; Will QoS or
 * Will Retain without the Will flag, and (before 5.0) a password without a user name, are protocol errors. */
static int connect_read_flags(mqtt_reader *r, mqtt_connect *c)
{
    uint8_t f;
    if (mqtt_read_u8(r, &f) != MQTT_OK)
        return MQTT_ERROR;
    r->pos--;
    if (f & 0x01)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "reserved CONNECT flag set");
    c->clean_start = f & 0x02;
    c->has_will = f & 0x04;
    c->will_qos = (f >> 3) & 3;
    c->will_retain = f & 0x20;
    c->has_password = f & 0x40;
    c->has_username = f & 0x80;
    if (c->will_qos == 3)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "will QoS 3");
    if (!c->has_will && (c->will_qos || c->will_retain))
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "will QoS or retain without a will");
    if (!is_v5(c->version) && c->has_password && !c->has_username)
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "password without user name");
    r->pos++;
    return MQTT_OK;
}

/* Client identifier: before 5.0 an empty one requires a clean session (MQTT-3.1.3-8), and MQTT 3.1
 * (MQIsdp) requires a non-empty one; both are "identifier rejected" (0x85). */
static int connect_read_client_id(mqtt_reader *r, mqtt_connect *c)
{
    size_t at = r->pos;
    if (mqtt_read_utf8(r, &c->client_id) != MQTT_OK)
        return MQTT_ERROR;
    if (c->client_id.len == 0 && (c->version == MQTT_V31 || (c->version == MQTT_V311 && !c->clean_start)))
        return mqtt_fail(r->err, MQTT_RC_CLIENT_ID_NOT_VALID, at, "empty client identifier not allowed");
    return MQTT_OK;
}

static int connect_read_will(mqtt_reader *r, const mqtt_limits *lim, const mqtt_alloc *alloc, mqtt_connect *c)
{
    if (is_v5(c->version) && mqtt_props_read(r, MQTT_CONNECT, true, lim, alloc, &c->will_props) != MQTT_OK)
        return MQTT_ERROR;
    if (read_topic_name(r, lim, &c->will_topic, false) != MQTT_OK)
        return MQTT_ERROR;
    return mqtt_read_binary(r, &c->will_payload);
}

static int decode_connect(mqtt_reader *r, const mqtt_limits *lim, const mqtt_alloc *alloc, mqtt_connect *c)
{
    if (connect_read_protocol(r, c) != MQTT_OK || connect_read_flags(r, c) != MQTT_OK)
        return MQTT_ERROR;
    if (mqtt_read_u16(r, &c->keep_alive) != MQTT_OK)
        return MQTT_ERROR;
    if (is_v5(c->version) && mqtt_props_read(r, MQTT_CONNECT, false, lim, alloc, &c->props) != MQTT_OK)
        return MQTT_ERROR;
    if (connect_read_client_id(r, c) != MQTT_OK)
        return MQTT_ERROR;
    if (c->has_will && connect_read_will(r, lim, alloc, c) != MQTT_OK)
        return MQTT_ERROR;
    if (c->has_username && mqtt_read_utf8(r, &c->username) != MQTT_OK)
        return MQTT_ERROR;
    if (c->has_password && mqtt_read_binary(r, &c->password) != MQTT_OK)
        return MQTT_ERROR;
    return MQTT_OK;
}

/* ---- CONNACK ---- */

/* Acknowledge flags: bits 7-1 reserved (malformed); session present with a failure code is a protocol
 * error (MQTT-3.2.2-4 / 3.2.2-6). 3.1.1 return codes are 0..5. */
static int decode_connack(mqtt_reader *r, uint8_t version, const mqtt_limits *lim, const mqtt_alloc *alloc,
                          mqtt_connack *c)
{
    uint8_t f;
    if (mqtt_read_u8(r, &f) != MQTT_OK)
        return MQTT_ERROR;
    if (f & 0xFE) {
        r->pos--;
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "reserved CONNACK flag set");
    }
    c->session_present = f & 1;
    if (is_v5(version)) {
        if (read_reason(r, reasons_connack, sizeof(reasons_connack), &c->reason) != MQTT_OK)
            return MQTT_ERROR;
    } else {
        if (mqtt_read_u8(r, &c->reason) != MQTT_OK)
            return MQTT_ERROR;
        if (c->reason > 5) {
            r->pos--;
            return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "CONNACK return code above 5");
        }
    }
    if (c->session_present && c->reason != 0)
        return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, r->pos - 2, "session present on a refused connection");
    if (is_v5(version))
        return mqtt_props_read(r, MQTT_CONNACK, false, lim, alloc, &c->props);
    return MQTT_OK;
}

/* ---- PUBLISH ---- */

/* An empty topic is allowed in 5.0 only together with a Topic Alias (3.3.2.1, protocol error otherwise). */
static int decode_publish(mqtt_reader *r, uint8_t flags, uint8_t version, const mqtt_limits *lim,
                          const mqtt_alloc *alloc, mqtt_publish *p)
{
    p->qos = (flags >> 1) & 3;
    p->dup = flags & 0x08;
    p->retain = flags & 0x01;
    size_t topic_at = r->pos;
    if (read_topic_name(r, lim, &p->topic, is_v5(version)) != MQTT_OK)
        return MQTT_ERROR;
    if (p->qos > 0 && read_packet_id(r, &p->packet_id) != MQTT_OK)
        return MQTT_ERROR;
    if (is_v5(version)) {
        if (mqtt_props_read(r, MQTT_PUBLISH, false, lim, alloc, &p->props) != MQTT_OK)
            return MQTT_ERROR;
        if (p->topic.len == 0 && !(p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))
            return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, topic_at, "empty topic without a topic alias");
    }
    p->payload.len = (uint32_t)(r->end - r->pos);
    p->payload.data = p->payload.len ? r->buf + r->pos : NULL;
    r->pos = r->end;
    return MQTT_OK;
}

/* ---- PUBACK PUBREC PUBREL PUBCOMP ---- */

/* In 5.0 the reason code is absent when the remaining length is 2, the properties when it is below 4. */
static int decode_ack(mqtt_reader *r, uint8_t type, uint8_t version, const mqtt_limits *lim,
                      const mqtt_alloc *alloc, mqtt_ack *a)
{
    if (read_packet_id(r, &a->packet_id) != MQTT_OK)
        return MQTT_ERROR;
    if (!is_v5(version) || r->pos == r->end)
        return MQTT_OK;
    bool pub = type == MQTT_PUBACK || type == MQTT_PUBREC;
    if (read_reason(r, pub ? reasons_puback : reasons_pubrel, pub ? sizeof(reasons_puback) : sizeof(reasons_pubrel),
                    &a->reason) != MQTT_OK)
        return MQTT_ERROR;
    if (r->pos == r->end)
        return MQTT_OK;
    return mqtt_props_read(r, type, false, lim, alloc, &a->props);
}

/* ---- SUBSCRIBE ---- */

/* Subscription options (3.8.3.1). 5.0: bits 7-6 reserved (malformed, MQTT-3.8.3-5), QoS 3 and Retain
 * Handling 3 protocol errors, No Local on a shared subscription a protocol error (MQTT-3.8.3-4).
 * 3.1.1: everything above the QoS bits reserved, and QoS 3, malformed (MQTT-3.8.3-4 of 3.1.1). */
static int subscribe_check_options(mqtt_reader *r, uint8_t version, uint8_t o, mqtt_bytes filter)
{
    if (!is_v5(version)) {
        if ((o & 0xFC) || (o & 3) == 3)
            return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "invalid subscription options");
        return MQTT_OK;
    }
    if (o & 0xC0)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "reserved subscription option bits set");
    if ((o & 3) == 3)
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "subscription QoS 3");
    if (((o >> 4) & 3) == 3)
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "retain handling 3");
    mqtt_bytes group, inner;
    if ((o & 0x04) && mqtt_shared_split(filter, &group, &inner))
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "no local on a shared subscription");
    return MQTT_OK;
}

/* Reads one filter and its options byte; sub may be NULL (first, counting pass). */
static int subscribe_read_one(mqtt_reader *r, uint8_t version, const mqtt_limits *lim, mqtt_subscription *sub)
{
    mqtt_bytes filter;
    uint8_t o;
    if (read_topic_filter(r, lim, &filter) != MQTT_OK || mqtt_read_u8(r, &o) != MQTT_OK)
        return MQTT_ERROR;
    r->pos--;
    if (subscribe_check_options(r, version, o, filter) != MQTT_OK)
        return MQTT_ERROR;
    r->pos++;
    if (sub) {
        sub->filter = filter;
        sub->qos = o & 3;
        sub->no_local = o & 0x04;
        sub->retain_as_published = o & 0x08;
        sub->retain_handling = (o >> 4) & 3;
    }
    return MQTT_OK;
}

/* Counts the entries of a SUBSCRIBE / UNSUBSCRIBE payload, validating each, and checks the count limit:
 * none is a protocol error (3.8.3 / 3.10.3), more than the limit is refused (0x83). */
static int list_count(mqtt_reader *r, uint8_t type, uint8_t version, const mqtt_limits *lim, uint32_t *count)
{
    uint32_t max = lim && lim->max_subs_per_packet ? lim->max_subs_per_packet : UINT32_MAX;
    *count = 0;
    while (r->pos < r->end) {
        mqtt_bytes filter;
        int rc = type == MQTT_SUBSCRIBE ? subscribe_read_one(r, version, lim, NULL)
                                        : read_topic_filter(r, lim, &filter);
        if (rc != MQTT_OK)
            return MQTT_ERROR;
        if (++*count > max)
            return mqtt_reader_fail(r, MQTT_RC_IMPLEMENTATION_SPECIFIC, "too many topic filters in one packet");
    }
    if (*count == 0)
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "no topic filter");
    return MQTT_OK;
}

static int decode_subscribe(mqtt_reader *r, uint8_t version, const mqtt_limits *lim, const mqtt_alloc *alloc,
                            mqtt_subscribe *s)
{
    if (read_packet_id(r, &s->packet_id) != MQTT_OK)
        return MQTT_ERROR;
    if (is_v5(version) && mqtt_props_read(r, MQTT_SUBSCRIBE, false, lim, alloc, &s->props) != MQTT_OK)
        return MQTT_ERROR;
    size_t start = r->pos;
    if (list_count(r, MQTT_SUBSCRIBE, version, lim, &s->count) != MQTT_OK)
        return MQTT_ERROR;
    s->subs = mqtt_alloc_array(alloc, s->count, sizeof(*s->subs));
    if (!s->subs)
        return mqtt_fail(r->err, MQTT_RC_IMPLEMENTATION_SPECIFIC, start, "out of memory for subscriptions");
    r->pos = start;
    for (uint32_t i = 0; i < s->count; i++)
        (void)subscribe_read_one(r, version, lim, &s->subs[i]);
    return MQTT_OK;
}

static int decode_unsubscribe(mqtt_reader *r, uint8_t version, const mqtt_limits *lim, const mqtt_alloc *alloc,
                              mqtt_unsubscribe *u)
{
    if (read_packet_id(r, &u->packet_id) != MQTT_OK)
        return MQTT_ERROR;
    if (is_v5(version) && mqtt_props_read(r, MQTT_UNSUBSCRIBE, false, lim, alloc, &u->props) != MQTT_OK)
        return MQTT_ERROR;
    size_t start = r->pos;
    if (list_count(r, MQTT_UNSUBSCRIBE, version, lim, &u->count) != MQTT_OK)
        return MQTT_ERROR;
    u->filters = mqtt_alloc_array(alloc, u->count, sizeof(*u->filters));
    if (!u->filters)
        return mqtt_fail(r->err, MQTT_RC_IMPLEMENTATION_SPECIFIC, start, "out of memory for topic filters");
    r->pos = start;
    for (uint32_t i = 0; i < u->count; i++)
        (void)mqtt_read_binary(r, &u->filters[i]);
    return MQTT_OK;
}

/* ---- SUBACK UNSUBACK ---- */

/* One reason code per remaining byte; at least one, except for the 3.1.1 UNSUBACK which has none. */
static int decode_suback(mqtt_reader *r, uint8_t type, uint8_t version, const mqtt_limits *lim,
                         const mqtt_alloc *alloc, mqtt_suback *s)
{
    if (read_packet_id(r, &s->packet_id) != MQTT_OK)
        return MQTT_ERROR;
    if (is_v5(version) && mqtt_props_read(r, type, false, lim, alloc, &s->props) != MQTT_OK)
        return MQTT_ERROR;
    if (type == MQTT_UNSUBACK && !is_v5(version))
        return MQTT_OK;
    const uint8_t *list = type == MQTT_UNSUBACK ? reasons_unsuback : is_v5(version) ? reasons_suback : reasons_suback_v311;
    size_t n = type == MQTT_UNSUBACK ? sizeof(reasons_unsuback) : is_v5(version) ? sizeof(reasons_suback)
                                                                                 : sizeof(reasons_suback_v311);
    s->count = (uint32_t)(r->end - r->pos);
    if (s->count == 0)
        return mqtt_reader_fail(r, MQTT_RC_PROTOCOL_ERROR, "no reason codes");
    for (size_t i = r->pos; i < r->end; i++)
        if (!reason_in(r->buf[i], list, n))
            return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, i, "reason code not valid for this packet");
    s->reasons = mqtt_alloc_array(alloc, s->count, 1);
    if (!s->reasons)
        return mqtt_reader_fail(r, MQTT_RC_IMPLEMENTATION_SPECIFIC, "out of memory for reason codes");
    memcpy(s->reasons, r->buf + r->pos, s->count);
    r->pos = r->end;
    return MQTT_OK;
}

/* ---- DISCONNECT AUTH ---- */

/* 5.0 DISCONNECT: remaining length 0 means reason 0; below 2 there are no properties (3.14.2.2.1).
 * AUTH: remaining length 0 means reason 0, otherwise reason and property block are both present. */
static int decode_reason_only(mqtt_reader *r, uint8_t type, uint8_t version, const mqtt_limits *lim,
                              const mqtt_alloc *alloc, mqtt_reason_only *d)
{
    if (!is_v5(version) || r->pos == r->end)
        return MQTT_OK;
    bool auth = type == MQTT_AUTH;
    if (read_reason(r, auth ? reasons_auth : reasons_disconnect,
                    auth ? sizeof(reasons_auth) : sizeof(reasons_disconnect), &d->reason) != MQTT_OK)
        return MQTT_ERROR;
    if (!auth && r->pos == r->end)
        return MQTT_OK;
    return mqtt_props_read(r, type, false, lim, alloc, &d->props);
}

static int decode_body(mqtt_reader *r, const mqtt_frame *f, uint8_t version, const mqtt_limits *lim,
                       const mqtt_alloc *alloc, mqtt_packet *out)
{
    switch (f->type) {
    case MQTT_CONNECT: return decode_connect(r, lim, alloc, &out->u.connect);
    case MQTT_CONNACK: return decode_connack(r, version, lim, alloc, &out->u.connack);
    case MQTT_PUBLISH: return decode_publish(r, f->flags, version, lim, alloc, &out->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP: return decode_ack(r, f->type, version, lim, alloc, &out->u.ack);
    case MQTT_SUBSCRIBE: return decode_subscribe(r, version, lim, alloc, &out->u.subscribe);
    case MQTT_SUBACK:
    case MQTT_UNSUBACK: return decode_suback(r, f->type, version, lim, alloc, &out->u.suback);
    case MQTT_UNSUBSCRIBE: return decode_unsubscribe(r, version, lim, alloc, &out->u.unsubscribe);
    case MQTT_DISCONNECT:
    case MQTT_AUTH: return decode_reason_only(r, f->type, version, lim, alloc, &out->u.disconnect);
    default: return MQTT_OK; /* PINGREQ, PINGRESP: no body */
    }
}

/*
 * Decodes one whole packet held exactly by buf[0..len). A CONNECT is judged as the first packet of a
 * connection (its own protocol level applies); any other packet needs version 3, 4 or 5. On MQTT_ERROR
 * after a CONNECT's protocol level was read, out->u.connect.version holds it (to pick the CONNACK form).
 */
int mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, const mqtt_limits *lim,
                const mqtt_alloc *alloc, mqtt_packet *out, mqtt_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len == 0)
        return mqtt_fail(err, MQTT_RC_MALFORMED, 0, "empty packet");
    bool known = version == MQTT_V31 || version == MQTT_V311 || version == MQTT_V5;
    uint8_t frame_version = (buf[0] >> 4) == MQTT_CONNECT || !known ? 0 : version;
    mqtt_frame f;
    int rc = mqtt_frame_parse(buf, len, frame_version, lim ? lim->max_packet_size : 0, &f, err);
    if (rc == MQTT_NEED_MORE)
        return mqtt_fail(err, MQTT_RC_MALFORMED, len, "packet ends inside the fixed header");
    if (rc != MQTT_OK)
        return MQTT_ERROR;
    if ((size_t)f.header_len + f.remaining != len)
        return mqtt_fail(err, MQTT_RC_MALFORMED, f.header_len,
                         len < (size_t)f.header_len + f.remaining ? "packet shorter than its remaining length"
                                                                  : "bytes after the end of the packet");
    out->type = f.type;
    out->flags = f.flags;
    mqtt_reader r = {buf, f.header_len, len, err};
    if (decode_body(&r, &f, version, lim, alloc, out) != MQTT_OK)
        return MQTT_ERROR;
    if (r.pos != r.end)
        return mqtt_reader_fail(&r, MQTT_RC_MALFORMED, "trailing bytes after the packet's content");
    return MQTT_OK;
}
