/*
 * props.c - MQTT 5 properties (section 2.2.2): which may appear in which packet, duplicates, value ranges;
 * decoding and encoding of a property block.
 */
#include <assert.h>
#include <string.h>

#include "codec/mqtt_internal.h"

enum prop_kind { PROP_NONE = 0, PROP_BYTE, PROP_U16, PROP_U32, PROP_VBI, PROP_UTF8, PROP_BINARY, PROP_PAIR };

/* Bit 0 of `packets` stands for the will properties of CONNECT; bit N for packet type N. */
#define P(t) (1u << (t))
#define WILL 1u
#define ACKS (P(MQTT_PUBACK) | P(MQTT_PUBREC) | P(MQTT_PUBREL) | P(MQTT_PUBCOMP))
#define ALL_WITH_PROPS (WILL | P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_PUBLISH) | ACKS | P(MQTT_SUBSCRIBE) | \
                        P(MQTT_SUBACK) | P(MQTT_UNSUBSCRIBE) | P(MQTT_UNSUBACK) | P(MQTT_DISCONNECT) | P(MQTT_AUTH))

struct prop_rule {
    uint8_t kind;
    uint32_t packets;
};

/* Table 2-4 of MQTT 5.0: the data type of each property and the packets it is valid in. */
static const struct prop_rule prop_rules[0x2B] = {
    [MQTT_PROP_PAYLOAD_FORMAT] = {PROP_BYTE, P(MQTT_PUBLISH) | WILL},
    [MQTT_PROP_MESSAGE_EXPIRY] = {PROP_U32, P(MQTT_PUBLISH) | WILL},
    [MQTT_PROP_CONTENT_TYPE] = {PROP_UTF8, P(MQTT_PUBLISH) | WILL},
    [MQTT_PROP_RESPONSE_TOPIC] = {PROP_UTF8, P(MQTT_PUBLISH) | WILL},
    [MQTT_PROP_CORRELATION_DATA] = {PROP_BINARY, P(MQTT_PUBLISH) | WILL},
    [MQTT_PROP_SUBSCRIPTION_ID] = {PROP_VBI, P(MQTT_PUBLISH) | P(MQTT_SUBSCRIBE)},
    [MQTT_PROP_SESSION_EXPIRY] = {PROP_U32, P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_DISCONNECT)},
    [MQTT_PROP_ASSIGNED_CLIENT_ID] = {PROP_UTF8, P(MQTT_CONNACK)},
    [MQTT_PROP_SERVER_KEEP_ALIVE] = {PROP_U16, P(MQTT_CONNACK)},
    [MQTT_PROP_AUTH_METHOD] = {PROP_UTF8, P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_AUTH)},
    [MQTT_PROP_AUTH_DATA] = {PROP_BINARY, P(MQTT_CONNECT) | P(MQTT_CONNACK) | P(MQTT_AUTH)},
    [MQTT_PROP_REQUEST_PROBLEM_INFO] = {PROP_BYTE, P(MQTT_CONNECT)},
    [MQTT_PROP_WILL_DELAY] = {PROP_U32, WILL},
    [MQTT_PROP_REQUEST_RESPONSE_INFO] = {PROP_BYTE, P(MQTT_CONNECT)},
    [MQTT_PROP_RESPONSE_INFO] = {PROP_UTF8, P(MQTT_CONNACK)},
    [MQTT_PROP_SERVER_REFERENCE] = {PROP_UTF8, P(MQTT_CONNACK) | P(MQTT_DISCONNECT)},
    [MQTT_PROP_REASON_STRING] = {PROP_UTF8, P(MQTT_CONNACK) | ACKS | P(MQTT_SUBACK) | P(MQTT_UNSUBACK) |
                                                P(MQTT_DISCONNECT) | P(MQTT_AUTH)},
    [MQTT_PROP_RECEIVE_MAXIMUM] = {PROP_U16, P(MQTT_CONNECT) | P(MQTT_CONNACK)},
    [MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = {PROP_U16, P(MQTT_CONNECT) | P(MQTT_CONNACK)},
    [MQTT_PROP_TOPIC_ALIAS] = {PROP_U16, P(MQTT_PUBLISH)},
    [MQTT_PROP_MAXIMUM_QOS] = {PROP_BYTE, P(MQTT_CONNACK)},
    [MQTT_PROP_RETAIN_AVAILABLE] = {PROP_BYTE, P(MQTT_CONNACK)},
    [MQTT_PROP_USER_PROPERTY] = {PROP_PAIR, ALL_WITH_PROPS},
    [MQTT_PROP_MAXIMUM_PACKET_SIZE] = {PROP_U32, P(MQTT_CONNECT) | P(MQTT_CONNACK)},
    [MQTT_PROP_WILDCARD_SUB_AVAILABLE] = {PROP_BYTE, P(MQTT_CONNACK)},
    [MQTT_PROP_SUB_ID_AVAILABLE] = {PROP_BYTE, P(MQTT_CONNACK)},
    [MQTT_PROP_SHARED_SUB_AVAILABLE] = {PROP_BYTE, P(MQTT_CONNACK)},
};

#define PROP_MAX_ID 0x2A

/* Where the decoded value of a property goes; NULL for the repeatable ones handled separately. */
static uint8_t *prop_u8_field(mqtt_props *p, uint32_t id)
{
    switch (id) {
    case MQTT_PROP_PAYLOAD_FORMAT: return &p->payload_format;
    case MQTT_PROP_REQUEST_PROBLEM_INFO: return &p->request_problem_info;
    case MQTT_PROP_REQUEST_RESPONSE_INFO: return &p->request_response_info;
    case MQTT_PROP_MAXIMUM_QOS: return &p->maximum_qos;
    case MQTT_PROP_RETAIN_AVAILABLE: return &p->retain_available;
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE: return &p->wildcard_sub_available;
    case MQTT_PROP_SUB_ID_AVAILABLE: return &p->sub_id_available;
    case MQTT_PROP_SHARED_SUB_AVAILABLE: return &p->shared_sub_available;
    default: return NULL;
    }
}

static uint16_t *prop_u16_field(mqtt_props *p, uint32_t id)
{
    switch (id) {
    case MQTT_PROP_SERVER_KEEP_ALIVE: return &p->server_keep_alive;
    case MQTT_PROP_RECEIVE_MAXIMUM: return &p->receive_maximum;
    case MQTT_PROP_TOPIC_ALIAS_MAXIMUM: return &p->topic_alias_maximum;
    case MQTT_PROP_TOPIC_ALIAS: return &p->topic_alias;
    default: return NULL;
    }
}

static uint32_t *prop_u32_field(mqtt_props *p, uint32_t id)
{
    switch (id) {
    case MQTT_PROP_MESSAGE_EXPIRY: return &p->message_expiry;
    case MQTT_PROP_SESSION_EXPIRY: return &p->session_expiry;
    case MQTT_PROP_WILL_DELAY: return &p->will_delay;
    case MQTT_PROP_MAXIMUM_PACKET_SIZE: return &p->maximum_packet_size;
    default: return NULL;
    }
}

static mqtt_bytes *prop_bytes_field(mqtt_props *p, uint32_t id)
{
    switch (id) {
    case MQTT_PROP_CONTENT_TYPE: return &p->content_type;
    case MQTT_PROP_RESPONSE_TOPIC: return &p->response_topic;
    case MQTT_PROP_CORRELATION_DATA: return &p->correlation_data;
    case MQTT_PROP_ASSIGNED_CLIENT_ID: return &p->assigned_client_id;
    case MQTT_PROP_AUTH_METHOD: return &p->auth_method;
    case MQTT_PROP_AUTH_DATA: return &p->auth_data;
    case MQTT_PROP_RESPONSE_INFO: return &p->response_info;
    case MQTT_PROP_SERVER_REFERENCE: return &p->server_reference;
    case MQTT_PROP_REASON_STRING: return &p->reason_string;
    default: return NULL;
    }
}

/* Range rules on single-byte and integer values. Boolean bytes and Maximum QoS must be 0 or 1; Receive
 * Maximum, Maximum Packet Size and Subscription Identifier must not be 0 (protocol errors); Topic Alias 0 is
 * "Topic Alias invalid" (3.3.2.3.4). `at` is the offset of the property identifier. */
static int prop_check_value(mqtt_reader *r, size_t at, uint32_t id, uint32_t v)
{
    switch (id) {
    case MQTT_PROP_PAYLOAD_FORMAT:
    case MQTT_PROP_REQUEST_PROBLEM_INFO:
    case MQTT_PROP_REQUEST_RESPONSE_INFO:
    case MQTT_PROP_MAXIMUM_QOS:
    case MQTT_PROP_RETAIN_AVAILABLE:
    case MQTT_PROP_WILDCARD_SUB_AVAILABLE:
    case MQTT_PROP_SUB_ID_AVAILABLE:
    case MQTT_PROP_SHARED_SUB_AVAILABLE:
        if (v > 1)
            return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, at, "property value must be 0 or 1");
        return MQTT_OK;
    case MQTT_PROP_RECEIVE_MAXIMUM:
    case MQTT_PROP_MAXIMUM_PACKET_SIZE:
    case MQTT_PROP_SUBSCRIPTION_ID:
        if (v == 0)
            return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, at, "property value must not be 0");
        return MQTT_OK;
    case MQTT_PROP_TOPIC_ALIAS:
        if (v == 0)
            return mqtt_fail(r->err, MQTT_RC_TOPIC_ALIAS_INVALID, at, "topic alias 0");
        return MQTT_OK;
    default:
        return MQTT_OK;
    }
}

/* Reads one integer-valued property into its field (or returns it in *v for a subscription identifier). */
static int prop_read_integer(mqtt_reader *r, mqtt_props *out, uint32_t id, uint8_t kind, uint32_t *v)
{
    uint8_t b;
    uint16_t s;
    switch (kind) {
    case PROP_BYTE:
        if (mqtt_read_u8(r, &b) != MQTT_OK)
            return MQTT_ERROR;
        *v = b;
        *prop_u8_field(out, id) = b;
        return MQTT_OK;
    case PROP_U16:
        if (mqtt_read_u16(r, &s) != MQTT_OK)
            return MQTT_ERROR;
        *v = s;
        *prop_u16_field(out, id) = s;
        return MQTT_OK;
    case PROP_U32:
        if (mqtt_read_u32(r, v) != MQTT_OK)
            return MQTT_ERROR;
        *prop_u32_field(out, id) = *v;
        return MQTT_OK;
    default:
        return mqtt_read_vbi(r, v);
    }
}

/* Reads the value of property `id` (already checked to be valid for the packet) into out, counting the
 * repeatable ones. String values are checked against the UTF-8 rules; a Response Topic must be a topic name. */
static int prop_read_value(mqtt_reader *r, mqtt_props *out, uint32_t id, size_t at)
{
    uint8_t kind = prop_rules[id].kind;
    uint32_t v = 0;
    mqtt_bytes key, value;
    switch (kind) {
    case PROP_UTF8:
        if (mqtt_read_utf8(r, prop_bytes_field(out, id)) != MQTT_OK)
            return MQTT_ERROR;
        if (id == MQTT_PROP_RESPONSE_TOPIC && !mqtt_topic_name_valid(out->response_topic.data,
                                                                      out->response_topic.len))
            return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, at, "response topic is not a valid topic name");
        return MQTT_OK;
    case PROP_BINARY:
        return mqtt_read_binary(r, prop_bytes_field(out, id));
    case PROP_PAIR:
        if (mqtt_read_utf8(r, &key) != MQTT_OK || mqtt_read_utf8(r, &value) != MQTT_OK)
            return MQTT_ERROR;
        out->user_count++;
        return MQTT_OK;
    default:
        if (prop_read_integer(r, out, id, kind, &v) != MQTT_OK)
            return MQTT_ERROR;
        if (prop_check_value(r, at, id, v) != MQTT_OK)
            return MQTT_ERROR;
        if (id == MQTT_PROP_SUBSCRIPTION_ID)
            out->sub_id_count++;
        return MQTT_OK;
    }
}

/* Reads one property identifier and checks it is known, allowed in this packet and not a forbidden
 * duplicate. An identifier invalid for the packet is malformed (2.2.2.2); a duplicate is a protocol error.
 * Subscription identifiers repeat only in PUBLISH (server to client), user properties everywhere. */
static int prop_read_id(mqtt_reader *r, uint32_t packet_bit, uint8_t type, mqtt_props *out, uint32_t *id)
{
    size_t at = r->pos;
    if (mqtt_read_vbi(r, id) != MQTT_OK)
        return MQTT_ERROR;
    if (*id > PROP_MAX_ID || prop_rules[*id].kind == PROP_NONE)
        return mqtt_fail(r->err, MQTT_RC_MALFORMED, at, "unknown property identifier");
    if (!(prop_rules[*id].packets & packet_bit))
        return mqtt_fail(r->err, MQTT_RC_MALFORMED, at, "property not valid in this packet");
    bool repeatable = *id == MQTT_PROP_USER_PROPERTY || (*id == MQTT_PROP_SUBSCRIPTION_ID && type == MQTT_PUBLISH);
    if (!repeatable && (out->present & MQTT_PROP_BIT(*id)))
        return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, at, "property appears more than once");
    out->present |= MQTT_PROP_BIT(*id);
    return MQTT_OK;
}

/* Second pass over a block already validated by the first: copies user properties and subscription
 * identifiers, in wire order, into the arrays. Cannot fail. */
static void props_fill_arrays(mqtt_reader *r, mqtt_props *out)
{
    uint32_t users = 0, subs = 0, id;
    while (r->pos < r->end) {
        (void)mqtt_read_vbi(r, &id);
        mqtt_bytes skipped;
        uint32_t v = 0;
        switch (prop_rules[id].kind) {
        case PROP_PAIR:
            (void)mqtt_read_binary(r, &out->user[users].key);
            (void)mqtt_read_binary(r, &out->user[users].value);
            users++;
            break;
        case PROP_VBI:
            (void)mqtt_read_vbi(r, &v);
            out->sub_ids[subs++] = v;
            break;
        case PROP_UTF8:
        case PROP_BINARY:
            (void)mqtt_read_binary(r, &skipped);
            break;
        case PROP_BYTE: r->pos += 1; break;
        case PROP_U16: r->pos += 2; break;
        default: r->pos += 4; break;
        }
    }
}

/* Allocates the arrays for the counted user properties and subscription identifiers, then fills them. */
static int props_alloc_arrays(mqtt_reader *r, size_t start, const mqtt_alloc *alloc, mqtt_props *out)
{
    if (out->user_count) {
        out->user = mqtt_alloc_array(alloc, out->user_count, sizeof(*out->user));
        if (!out->user)
            return mqtt_fail(r->err, MQTT_RC_IMPLEMENTATION_SPECIFIC, start, "out of memory for user properties");
    }
    if (out->sub_id_count) {
        out->sub_ids = mqtt_alloc_array(alloc, out->sub_id_count, sizeof(*out->sub_ids));
        if (!out->sub_ids)
            return mqtt_fail(r->err, MQTT_RC_IMPLEMENTATION_SPECIFIC, start, "out of memory for subscription ids");
    }
    mqtt_reader again = {r->buf, start, r->end, r->err};
    props_fill_arrays(&again, out);
    return MQTT_OK;
}

/*
 * Reads a property block (length VBI, then properties) at r->pos for packet `type`. Linear: a first pass
 * validates and counts, the arrays are allocated once at their exact size, a second pass fills them.
 * On success r->pos is just past the block.
 */
int mqtt_props_read(mqtt_reader *r, uint8_t type, bool will, const mqtt_limits *lim, const mqtt_alloc *alloc,
                    mqtt_props *out)
{
    memset(out, 0, sizeof(*out));
    uint32_t block_len;
    if (mqtt_read_vbi(r, &block_len) != MQTT_OK)
        return MQTT_ERROR;
    if (block_len > r->end - r->pos)
        return mqtt_reader_fail(r, MQTT_RC_MALFORMED, "property length runs past the end of the packet");
    mqtt_reader block = {r->buf, r->pos, r->pos + block_len, r->err};
    uint32_t packet_bit = will ? WILL : P(type);
    uint32_t max_user = lim && lim->max_user_props ? lim->max_user_props : UINT32_MAX;
    while (block.pos < block.end) {
        uint32_t id;
        size_t at = block.pos;
        if (prop_read_id(&block, packet_bit, type, out, &id) != MQTT_OK)
            return MQTT_ERROR;
        if (prop_read_value(&block, out, id, at) != MQTT_OK)
            return MQTT_ERROR;
        if (out->user_count > max_user)
            return mqtt_fail(r->err, MQTT_RC_IMPLEMENTATION_SPECIFIC, at, "too many user properties");
    }
    if ((out->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)) && !(out->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)))
        return mqtt_fail(r->err, MQTT_RC_PROTOCOL_ERROR, r->pos, "authentication data without a method");
    if ((out->user_count || out->sub_id_count) && props_alloc_arrays(&block, r->pos, alloc, out) != MQTT_OK)
        return MQTT_ERROR;
    r->pos = block.end;
    return MQTT_OK;
}

int mqtt_props_decode(const uint8_t *buf, size_t len, uint8_t type, bool will, const mqtt_limits *lim,
                      const mqtt_alloc *alloc, mqtt_props *out, size_t *used, mqtt_error *err)
{
    if (type < MQTT_CONNECT || type > MQTT_AUTH || !(prop_rules[MQTT_PROP_USER_PROPERTY].packets & P(type)))
        return mqtt_fail(err, MQTT_RC_PROTOCOL_ERROR, 0, "this packet type has no properties");
    mqtt_reader r = {buf, 0, len, err};
    if (mqtt_props_read(&r, type, will, lim, alloc, out) != MQTT_OK)
        return MQTT_ERROR;
    *used = r.pos;
    return MQTT_OK;
}

/* ---- encoding ---- */

static size_t prop_value_size(const mqtt_props *p, uint32_t id)
{
    switch (prop_rules[id].kind) {
    case PROP_BYTE: return 1;
    case PROP_U16: return 2;
    case PROP_U32: return 4;
    case PROP_UTF8:
    case PROP_BINARY: return 2 + (size_t)prop_bytes_field((mqtt_props *)p, id)->len;
    default: return 0; /* repeatable ones are sized by the caller */
    }
}

size_t mqtt_props_body_size(const mqtt_props *props)
{
    size_t n = 0;
    for (uint32_t id = 1; id <= PROP_MAX_ID; id++) {
        if (!(props->present & MQTT_PROP_BIT(id)) || prop_rules[id].kind == PROP_NONE)
            continue;
        if (id == MQTT_PROP_USER_PROPERTY) {
            for (uint32_t i = 0; i < props->user_count; i++)
                n += 1 + 4 + (size_t)props->user[i].key.len + props->user[i].value.len;
        } else if (id == MQTT_PROP_SUBSCRIPTION_ID) {
            for (uint32_t i = 0; i < props->sub_id_count; i++)
                n += 1 + mqtt_vbi_size(props->sub_ids[i]);
        } else {
            n += 1 + prop_value_size(props, id);
        }
    }
    return n;
}

size_t mqtt_props_encoded_size(const mqtt_props *props)
{
    size_t body = mqtt_props_body_size(props);
    return mqtt_vbi_size((uint32_t)body) + body;
}

/* Writes one non-repeatable property: identifier then value. */
static void prop_write_one(mqtt_writer *w, const mqtt_props *p, uint32_t id)
{
    mqtt_props *mp = (mqtt_props *)p; /* the field helpers do not modify */
    mqtt_write_u8(w, (uint8_t)id);
    switch (prop_rules[id].kind) {
    case PROP_BYTE: mqtt_write_u8(w, *prop_u8_field(mp, id)); break;
    case PROP_U16: mqtt_write_u16(w, *prop_u16_field(mp, id)); break;
    case PROP_U32: mqtt_write_u32(w, *prop_u32_field(mp, id)); break;
    default: mqtt_write_binary(w, *prop_bytes_field(mp, id)); break;
    }
}

/* Properties are written in identifier order, user properties in array order. */
void mqtt_props_write(mqtt_writer *w, const mqtt_props *props)
{
    mqtt_write_vbi(w, (uint32_t)mqtt_props_body_size(props));
    for (uint32_t id = 1; id <= PROP_MAX_ID; id++) {
        if (!(props->present & MQTT_PROP_BIT(id)) || prop_rules[id].kind == PROP_NONE)
            continue;
        if (id == MQTT_PROP_USER_PROPERTY) {
            for (uint32_t i = 0; i < props->user_count; i++) {
                mqtt_write_u8(w, (uint8_t)id);
                mqtt_write_binary(w, props->user[i].key);
                mqtt_write_binary(w, props->user[i].value);
            }
        } else if (id == MQTT_PROP_SUBSCRIPTION_ID) {
            for (uint32_t i = 0; i < props->sub_id_count; i++) {
                assert(props->sub_ids[i] != 0);
                mqtt_write_u8(w, (uint8_t)id);
                mqtt_write_vbi(w, props->sub_ids[i]);
            }
        } else {
            prop_write_one(w, props, id);
        }
    }
}

/* True if every string of props fits a two-byte length and every subscription identifier is 1..268435455,
 * so that the block can be encoded. */
bool mqtt_props_encodable(const mqtt_props *props)
{
    for (uint32_t id = 1; id <= PROP_MAX_ID; id++) {
        if (!(props->present & MQTT_PROP_BIT(id)))
            continue;
        uint8_t kind = prop_rules[id].kind;
        if ((kind == PROP_UTF8 || kind == PROP_BINARY) && prop_bytes_field((mqtt_props *)props, id)->len > 0xFFFF)
            return false;
    }
    if (props->present & MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY))
        for (uint32_t i = 0; i < props->user_count; i++)
            if (props->user[i].key.len > 0xFFFF || props->user[i].value.len > 0xFFFF)
                return false;
    if (props->present & MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID))
        for (uint32_t i = 0; i < props->sub_id_count; i++)
            if (props->sub_ids[i] == 0 || props->sub_ids[i] > 268435455u)
                return false;
    return mqtt_props_body_size(props) <= 268435455u;
}
