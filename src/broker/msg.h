/*
 * msg.h - an application message as the broker holds it: stored once, shared by reference among every
 * session that must deliver it (queues, in-flight windows, the retained store, output queues).
 *
 * One allocation holds the struct, the topic, the payload and the forwarded MQTT 5 properties (Payload
 * Format Indicator, Content Type, Response Topic, Correlation Data, User Properties in order). Message
 * Expiry is held as an absolute monotonic deadline and re-encoded, decremented, at each delivery.
 * A message is immutable after msg_new.
 */
#ifndef RAMPART_BROKER_MSG_H
#define RAMPART_BROKER_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/mqtt.h"

typedef struct broker_msg {
    uint32_t refs;
    uint8_t qos;    /* as published */
    bool retain;    /* as published */
    uint16_t topic_len;
    const char *topic; /* NUL-terminated, inside the allocation */
    const uint8_t *payload;
    uint32_t payload_len;
    mqtt_props props; /* forwarded properties only; message_expiry is not used, see expiry_ms */
    uint64_t expiry_ms; /* monotonic milliseconds when it expires; 0: never */
    uint64_t origin;    /* id of the publishing session (for No Local); 0 for the broker itself */
    size_t size;        /* bytes of the allocation, as accounted in *accounted */
    size_t *accounted;  /* a counter the size is added to while the message lives, or NULL */
    uint64_t persist_id; /* its record number in the store, 0: not stored */
} broker_msg;

/*
 * A new message with refs = 1. `props` may be NULL (3.1.1); only forwarded properties are copied, and
 * message expiry is turned into an absolute deadline from now_ms. Returns NULL if out of memory.
 */
broker_msg *msg_new(const void *topic, size_t topic_len, const void *payload, size_t payload_len, uint8_t qos,
                    bool retain, const mqtt_props *props, uint64_t now_ms, uint64_t origin, size_t *accounted);
static inline broker_msg *msg_ref(broker_msg *m)
{
    m->refs++;
    return m;
}
/* Calls fn(ctx, persist_id) when a stored message (persist_id != 0) is freed; NULL fn: none. One per process
 * (the broker with persistence). */
void msg_set_release_hook(void (*fn)(void *ctx, uint64_t persist_id), void *ctx);
/* Drops one reference; frees the message with the last one. NULL is allowed. */
void msg_unref(broker_msg *m);
/* True if the message has a Message Expiry that has passed at now_ms. */
bool msg_expired(const broker_msg *m, uint64_t now_ms);
/* Seconds of expiry left (at least 1) for re-encoding; only meaningful when expiry_ms != 0. */
uint32_t msg_expiry_left(const broker_msg *m, uint64_t now_ms);

#endif
