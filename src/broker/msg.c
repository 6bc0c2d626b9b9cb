/* msg.c - see msg.h. */
#include "broker/msg.h"

#include <assert.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#define MSG_FORWARDED                                                                                        \
    (MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) | MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |                       \
     MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) | MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) |                   \
     MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY))

static size_t msg_props_bytes(const mqtt_props *p)
{
    size_t n = 0;
    if (!p)
        return 0;
    n += p->content_type.len + p->response_topic.len + p->correlation_data.len;
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY)) {
        n += (size_t)p->user_count * sizeof(mqtt_user_prop);
        for (uint32_t i = 0; i < p->user_count; i++)
            n += p->user[i].key.len + p->user[i].value.len;
    }
    return n;
}

static mqtt_bytes msg_copy_bytes(uint8_t **cursor, mqtt_bytes src)
{
    mqtt_bytes out = {*cursor, src.len};
    if (src.len)
        memcpy(*cursor, src.data, src.len);
    else
        out.data = NULL;
    *cursor += src.len;
    return out;
}

static void msg_copy_props(broker_msg *m, const mqtt_props *p, uint8_t **cursor)
{
    m->props.present = p->present & MSG_FORWARDED;
    m->props.payload_format = p->payload_format;
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY) && p->user_count) {
        /* The array first (it is the only part with alignment needs), then the strings. */
        m->props.user = (mqtt_user_prop *)*cursor;
        m->props.user_count = p->user_count;
        *cursor += (size_t)p->user_count * sizeof(mqtt_user_prop);
        for (uint32_t i = 0; i < p->user_count; i++) {
            m->props.user[i].key = msg_copy_bytes(cursor, p->user[i].key);
            m->props.user[i].value = msg_copy_bytes(cursor, p->user[i].value);
        }
    }
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE))
        m->props.content_type = msg_copy_bytes(cursor, p->content_type);
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC))
        m->props.response_topic = msg_copy_bytes(cursor, p->response_topic);
    if (p->present & MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA))
        m->props.correlation_data = msg_copy_bytes(cursor, p->correlation_data);
}

broker_msg *msg_new(const void *topic, size_t topic_len, const void *payload, size_t payload_len, uint8_t qos,
                    bool retain, const mqtt_props *props, uint64_t now_ms, uint64_t origin, size_t *accounted)
{
    size_t head = (sizeof(broker_msg) + alignof(mqtt_user_prop) - 1) & ~(alignof(mqtt_user_prop) - 1);
    size_t size = head + msg_props_bytes(props) + topic_len + 1 + payload_len;
    assert(topic_len <= UINT16_MAX && payload_len <= UINT32_MAX);
    broker_msg *m = malloc(size);
    if (!m)
        return NULL;
    memset(m, 0, sizeof *m);
    uint8_t *cursor = (uint8_t *)m + head;
    m->refs = 1;
    m->qos = qos;
    m->retain = retain;
    m->origin = origin;
    m->size = size;
    m->accounted = accounted;
    if (props) {
        msg_copy_props(m, props, &cursor);
        if (props->present & MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY))
            m->expiry_ms = now_ms + (uint64_t)props->message_expiry * 1000u;
    }
    memcpy(cursor, topic, topic_len);
    cursor[topic_len] = 0;
    m->topic = (const char *)cursor;
    m->topic_len = (uint16_t)topic_len;
    cursor += topic_len + 1;
    if (payload_len)
        memcpy(cursor, payload, payload_len);
    m->payload = cursor;
    m->payload_len = (uint32_t)payload_len;
    if (accounted)
        *accounted += size;
    return m;
}

static void (*msg_release_fn)(void *ctx, uint64_t persist_id);
static void *msg_release_ctx;

void msg_set_release_hook(void (*fn)(void *ctx, uint64_t persist_id), void *ctx)
{
    msg_release_fn = fn;
    msg_release_ctx = ctx;
}

void msg_unref(broker_msg *m)
{
    if (!m)
        return;
    assert(m->refs > 0);
    if (--m->refs)
        return;
    if (m->accounted)
        *m->accounted -= m->size;
    if (m->persist_id && msg_release_fn)
        msg_release_fn(msg_release_ctx, m->persist_id);
    free(m);
}

bool msg_expired(const broker_msg *m, uint64_t now_ms)
{
    return m->expiry_ms && now_ms >= m->expiry_ms;
}

uint32_t msg_expiry_left(const broker_msg *m, uint64_t now_ms)
{
    if (now_ms >= m->expiry_ms)
        return 1;
    uint64_t left = (m->expiry_ms - now_ms + 999u) / 1000u;
    return left > UINT32_MAX ? UINT32_MAX : (uint32_t)left;
}
