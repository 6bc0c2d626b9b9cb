/*
 * pstate.h - the plaintext inside persisted records: a message (retained or queued) and a session, in a small
 * versioned binary format (big endian; docs/persistence.md). Writing code builds into a growable buffer and
 * asserts; reading code validates every length and value (it runs on the decrypted bytes of the store, which
 * only our key can produce, but a bug or an old format must never crash the broker). Pure: no I/O, no broker.
 */
#ifndef RAMPART_PERSIST_PSTATE_H
#define RAMPART_PERSIST_PSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/mqtt.h"

#define PSTATE_MAX_SUBS 10000000u
#define PSTATE_MAX_DELIVERIES 100000000u

/* A growable output buffer; `oom` is set (and later writes ignored) when an allocation fails. */
typedef struct pstate_buf {
    uint8_t *data;
    size_t len, cap;
    bool oom;
} pstate_buf;

void pstate_buf_free(pstate_buf *b);
void pstate_put_raw(pstate_buf *b, const void *p, size_t len); /* bytes as they are */
void pstate_put_u8(pstate_buf *b, uint8_t v);
void pstate_put_u16(pstate_buf *b, uint16_t v);
void pstate_put_u32(pstate_buf *b, uint32_t v);
void pstate_put_u64(pstate_buf *b, uint64_t v);
void pstate_put_bytes16(pstate_buf *b, const void *p, size_t len); /* u16 length + bytes; len <= 65535 */
void pstate_put_bytes32(pstate_buf *b, const void *p, size_t len);

/* A message as stored. expiry_wall_ms: wall-clock (CLOCK_REALTIME) ms when it expires, 0: never. */
typedef struct pstate_msg {
    uint8_t qos;
    bool retain;
    uint64_t expiry_wall_ms;
    mqtt_bytes topic, payload;
    mqtt_props props; /* forwarded properties; props.user is allocated (pstate_msg_clear) */
} pstate_msg;

/* Appends the message encoding. props may be NULL; only forwarded properties are written. */
void pstate_msg_encode(pstate_buf *b, uint8_t qos, bool retain, uint64_t expiry_wall_ms, const char *topic,
                       size_t topic_len, const uint8_t *payload, size_t payload_len, const mqtt_props *props);
/* Decodes a message from the reader position; out points into the input. Returns 0 or -1 (invalid). */
int pstate_msg_decode(const uint8_t *p, size_t len, size_t *pos, pstate_msg *out);
void pstate_msg_clear(pstate_msg *m);

/* Delivery flags as stored. */
enum { PSTATE_DLV_INFLIGHT = 1, PSTATE_DLV_RETAIN = 2, PSTATE_DLV_PUBREL = 4 };

typedef struct pstate_sub {
    mqtt_bytes filter;
    uint8_t qos;
    uint8_t options; /* bit 0 no local, bit 1 retain as published, bits 2-3 retain handling */
    uint32_t sub_id;
} pstate_sub;

typedef struct pstate_delivery {
    uint64_t msg_id; /* 0 for a QoS 2 delivery at PUBREL */
    uint16_t packet_id;
    uint8_t qos;
    uint8_t flags;
    uint16_t nsub;
    const uint8_t *sub_ids; /* nsub big-endian u32 */
    mqtt_bytes share_group;  /* the shared subscription it came through: group name (len 0: none) */
    mqtt_bytes share_filter; /* and its filter without the $share/GROUP/ prefix */
} pstate_delivery;

/* A session as stored. Times are wall-clock ms, 0: none. */
typedef struct pstate_session {
    uint32_t expiry_s;
    uint8_t version;
    uint16_t next_pid;
    uint16_t listener_port;
    uint64_t expire_at_wall_ms;
    bool has_username;
    mqtt_bytes username;
    bool has_will;
    pstate_msg will;
    uint8_t will_qos;
    bool will_retain;
    uint32_t will_delay_s;
    uint64_t will_at_wall_ms;
    pstate_sub *subs;
    uint32_t nsubs;
    uint16_t *in_qos2;
    uint32_t nin_qos2;
    pstate_delivery *deliveries;
    uint32_t ndeliveries;
} pstate_session;

/*
 * The session encoding is written by its owner (src/broker/persist.c) in this order, with the helpers above:
 *   u8 format (1), u32 expiry_s, u8 version, u16 next_pid, u16 listener_port, u64 expire_at_wall_ms,
 *   u8 has_username [bytes16 username], u8 has_will [msg, u8 will_qos, u8 will_retain, u32 will_delay_s,
 *   u64 will_at_wall_ms], u32 nsubs {bytes16 filter, u8 qos, u8 options, u32 sub_id},
 *   u32 nin_qos2 {u16}, u32 ndeliveries {u64 msg_id, u16 packet_id, u8 qos, u8 flags, u16 nsub {u32},
 *   bytes16 share_group [bytes16 share_filter when the group is not empty]}
 */
#define PSTATE_SESSION_FORMAT 2
/* The value of a message record: u8 PSTATE_SEGMENT_FORMAT, u32 count, then count messages (pstate_msg_encode)
 * in order; message i of segment n is message number n << 16 | i. Format 1 stores (one message per record,
 * whose value began with PSTATE_MSG_FORMAT_OLD) are refused at start. */
#define PSTATE_SEGMENT_FORMAT 2
#define PSTATE_MSG_FORMAT_OLD 1
/*
 * Reads the header of a segment: *count (1..max) messages follow from *pos (pstate_msg_decode each). Returns 0,
 * -1 (not a valid segment) or -2 (a message record of format 1).
 */
int pstate_segment_open(const uint8_t *p, size_t len, uint32_t max, uint32_t *count, size_t *pos);
/* Decodes a whole session value; out points into p (arrays allocated: pstate_session_clear). 0 or -1. */
int pstate_session_decode(const uint8_t *p, size_t len, pstate_session *out);
void pstate_session_clear(pstate_session *s);
uint32_t pstate_delivery_sub_id(const pstate_delivery *d, uint16_t i);

#endif
