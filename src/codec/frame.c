/*
 * frame.c - the fixed header: packet type, per-type flags, remaining length (variable byte integer).
 */
#include <assert.h>

#include "codec/mqtt_internal.h"

#define MQTT_VBI_MAX 268435455u

/*
 * Decodes a variable byte integer of at most 4 bytes from buf[0..len). The encoding must be minimal
 * (MQTT-1.5.5-1): a multi-byte encoding ending in 0x00 is rejected. Returns MQTT_OK with *value and *used,
 * MQTT_NEED_MORE when buf ends before the last byte, or MQTT_ERROR (5th byte needed, or not minimal).
 */
int mqtt_vbi_decode(const uint8_t *buf, size_t len, uint32_t *value, size_t *used)
{
    uint32_t v = 0;
    for (size_t i = 0; i < 4; i++) {
        if (i >= len)
            return MQTT_NEED_MORE;
        uint8_t b = buf[i];
        v |= (uint32_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            if (i > 0 && b == 0)
                return MQTT_ERROR;
            *value = v;
            *used = i + 1;
            return MQTT_OK;
        }
    }
    return MQTT_ERROR;
}

size_t mqtt_vbi_size(uint32_t value)
{
    assert(value <= MQTT_VBI_MAX);
    return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

size_t mqtt_vbi_encode(uint32_t value, uint8_t out[4])
{
    assert(value <= MQTT_VBI_MAX);
    size_t n = 0;
    do {
        uint8_t b = value & 0x7F;
        value >>= 7;
        out[n++] = value ? (uint8_t)(b | 0x80) : b;
    } while (value);
    return n;
}

/*
 * Checks the type and low-nibble flags of the first header byte for `version` (0: nothing negotiated yet).
 * Reserved flag values are malformed (2.1.3); a packet other than CONNECT first is a protocol error
 * (MQTT-3.1.0-1); QoS 3 is malformed (MQTT-3.3.1-4); DUP on QoS 0 violates MQTT-3.3.1-2 (protocol error).
 */
static int frame_check_type(uint8_t type, uint8_t flags, uint8_t version, mqtt_error *err)
{
    if (type == 0)
        return mqtt_fail(err, MQTT_RC_MALFORMED, 0, "reserved packet type 0");
    if (version == 0 && type != MQTT_CONNECT)
        return mqtt_fail(err, MQTT_RC_PROTOCOL_ERROR, 0, "first packet is not CONNECT");
    if (version != 0 && type == MQTT_CONNECT)
        return mqtt_fail(err, MQTT_RC_PROTOCOL_ERROR, 0, "second CONNECT on a connection");
    if (type == MQTT_AUTH && version != MQTT_V5)
        return mqtt_fail(err, MQTT_RC_MALFORMED, 0, "packet type 15 is reserved before MQTT 5");
    if (type == MQTT_PUBLISH) {
        uint8_t qos = (flags >> 1) & 3;
        if (qos == 3)
            return mqtt_fail(err, MQTT_RC_MALFORMED, 0, "PUBLISH with QoS 3");
        if (qos == 0 && (flags & 0x08))
            return mqtt_fail(err, MQTT_RC_PROTOCOL_ERROR, 0, "PUBLISH with DUP set on QoS 0");
        return MQTT_OK;
    }
    uint8_t want = (type == MQTT_PUBREL || type == MQTT_SUBSCRIBE || type == MQTT_UNSUBSCRIBE) ? 0x2 : 0x0;
    if (flags != want)
        return mqtt_fail(err, MQTT_RC_MALFORMED, 0, "invalid fixed header flags for this packet type");
    return MQTT_OK;
}

/*
 * Parses the fixed header at buf[0..len). The type byte is judged as soon as it arrives, the packet size
 * as soon as the remaining length is complete, so nothing needs to be buffered to reject either.
 */
int mqtt_frame_parse(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_packet_size,
                     mqtt_frame *out, mqtt_error *err)
{
    if (len == 0)
        return MQTT_NEED_MORE;
    uint8_t type = buf[0] >> 4, flags = buf[0] & 0x0F;
    if (frame_check_type(type, flags, version, err) != MQTT_OK)
        return MQTT_ERROR;
    uint32_t remaining = 0;
    size_t used = 0;
    int rc = mqtt_vbi_decode(buf + 1, len - 1, &remaining, &used);
    if (rc == MQTT_NEED_MORE)
        return MQTT_NEED_MORE;
    if (rc != MQTT_OK)
        return mqtt_fail(err, MQTT_RC_MALFORMED, 1, "invalid remaining length");
    uint64_t total = 1 + (uint64_t)used + remaining;
    if (max_packet_size != 0 && total > max_packet_size)
        return mqtt_fail(err, MQTT_RC_PACKET_TOO_LARGE, 1, "packet exceeds the maximum packet size");
    out->type = type;
    out->flags = flags;
    out->header_len = (uint8_t)(1 + used);
    out->remaining = remaining;
    return MQTT_OK;
}
