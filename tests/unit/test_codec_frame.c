/*
 * test_codec_frame.c - variable byte integers and the fixed header (mqtt_frame_parse): golden values from
 * table 1.5.5 of MQTT 5.0 (2.2.3 of 3.1.1), per-type flags, sizes, and resumable one-byte-at-a-time framing.
 */
#include "codec_helpers.h"

struct vbi_case {
    uint32_t value;
    uint8_t bytes[4];
    size_t len;
};

/* The boundaries listed in the spec's table of remaining-length sizes. */
static const struct vbi_case vbi_cases[] = {
    {0, {0x00}, 1},
    {127, {0x7F}, 1},
    {128, {0x80, 0x01}, 2},
    {16383, {0xFF, 0x7F}, 2},
    {16384, {0x80, 0x80, 0x01}, 3},
    {2097151, {0xFF, 0xFF, 0x7F}, 3},
    {2097152, {0x80, 0x80, 0x80, 0x01}, 4},
    {268435455, {0xFF, 0xFF, 0xFF, 0x7F}, 4},
    {321, {0xC1, 0x02}, 2}, /* 321 = 65 + 2*128: the example of MQTT 3.1.1 section 2.2.3 */
};

TEST(vbi_golden_encode_decode)
{
    for (size_t i = 0; i < sizeof(vbi_cases) / sizeof(vbi_cases[0]); i++) {
        const struct vbi_case *c = &vbi_cases[i];
        uint8_t out[4];
        CHECK_EQ(mqtt_vbi_encode(c->value, out), c->len);
        CHECK_MEM(out, c->bytes, c->len);
        CHECK_EQ(mqtt_vbi_size(c->value), c->len);
        uint32_t v = 0;
        size_t used = 0;
        CHECK_EQ(mqtt_vbi_decode(c->bytes, c->len, &v, &used), MQTT_OK);
        CHECK_EQ(v, c->value);
        CHECK_EQ(used, c->len);
        /* every proper prefix needs more */
        for (size_t k = 0; k < c->len; k++)
            CHECK_EQ(mqtt_vbi_decode(c->bytes, k, &v, &used), MQTT_NEED_MORE);
    }
}

TEST(vbi_five_bytes_is_error)
{
    const uint8_t b[] = {0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    uint32_t v;
    size_t used;
    CHECK_EQ(mqtt_vbi_decode(b, sizeof(b), &v, &used), MQTT_ERROR);
    CHECK_EQ(mqtt_vbi_decode(b, 4, &v, &used), MQTT_ERROR); /* known after 4 bytes already */
}

TEST(vbi_non_minimal_is_error)
{
    const uint8_t b1[] = {0x80, 0x00}, b2[] = {0xFF, 0x80, 0x00};
    uint32_t v;
    size_t used;
    CHECK_EQ(mqtt_vbi_decode(b1, sizeof(b1), &v, &used), MQTT_ERROR);
    CHECK_EQ(mqtt_vbi_decode(b2, sizeof(b2), &v, &used), MQTT_ERROR);
}

static int frame(const uint8_t *b, size_t n, uint8_t version, uint32_t max, mqtt_frame *f, mqtt_error *e)
{
    memset(e, 0, sizeof(*e));
    return mqtt_frame_parse(b, n, version, max, f, e);
}

TEST(frame_connect_header)
{
    const uint8_t b[] = {0x10, 0x0F};
    mqtt_frame f;
    mqtt_error e;
    CHECK_EQ(frame(b, 2, 0, 0, &f, &e), MQTT_OK);
    CHECK_EQ(f.type, MQTT_CONNECT);
    CHECK_EQ(f.flags, 0);
    CHECK_EQ(f.header_len, 2);
    CHECK_EQ(f.remaining, 15);
    CHECK_EQ(frame(b, 0, 0, 0, &f, &e), MQTT_NEED_MORE);
    CHECK_EQ(frame(b, 1, 0, 0, &f, &e), MQTT_NEED_MORE);
}

/* The flags every non-PUBLISH type must carry (table 2-2): 0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE. */
TEST(frame_flags_per_type)
{
    mqtt_frame f;
    mqtt_error e;
    for (uint8_t version = 3; version <= 5; version++) {
        for (uint8_t type = 2; type <= 15; type++) {
            if (type == MQTT_PUBLISH || (type == MQTT_AUTH && version != 5))
                continue;
            uint8_t want = (type == 6 || type == 8 || type == 10) ? 2 : 0;
            for (uint8_t flags = 0; flags < 16; flags++) {
                uint8_t b[2] = {(uint8_t)(type << 4 | flags), 0};
                int rc = frame(b, 2, version, 0, &f, &e);
                if (flags == want) {
                    CHECK_EQ(rc, MQTT_OK);
                } else {
                    CHECK_EQ(rc, MQTT_ERROR);
                    CHECK_EQ(e.reason, MQTT_RC_MALFORMED);
                }
            }
        }
        const uint8_t connect_bad[] = {0x11, 0x00};
        CHECK_EQ(frame(connect_bad, 2, 0, 0, &f, &e), MQTT_ERROR);
        CHECK_EQ(e.reason, MQTT_RC_MALFORMED);
    }
}

TEST(frame_publish_flags)
{
    mqtt_frame f;
    mqtt_error e;
    for (uint8_t flags = 0; flags < 16; flags++) {
        uint8_t b[2] = {(uint8_t)(0x30 | flags), 0};
        int rc = frame(b, 2, MQTT_V5, 0, &f, &e);
        uint8_t qos = (flags >> 1) & 3;
        if (qos == 3) {
            CHECK_EQ(rc, MQTT_ERROR);
            CHECK_EQ(e.reason, MQTT_RC_MALFORMED); /* MQTT-3.3.1-4 */
        } else if (qos == 0 && (flags & 8)) {
            CHECK_EQ(rc, MQTT_ERROR);
            CHECK_EQ(e.reason, MQTT_RC_PROTOCOL_ERROR); /* MQTT-3.3.1-2 */
        } else {
            CHECK_EQ(rc, MQTT_OK);
            CHECK_EQ(f.flags, flags);
        }
    }
}

TEST(frame_reserved_type_and_auth_before_v5)
{
    mqtt_frame f;
    mqtt_error e;
    const uint8_t t0[] = {0x00, 0x00}, auth[] = {0xF0, 0x00};
    CHECK_EQ(frame(t0, 2, MQTT_V5, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_MALFORMED);
    CHECK_EQ(frame(auth, 2, MQTT_V311, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_MALFORMED);
    CHECK_EQ(frame(auth, 2, MQTT_V5, 0, &f, &e), MQTT_OK);
}

TEST(frame_first_packet_must_be_connect)
{
    mqtt_frame f;
    mqtt_error e;
    const uint8_t ping[] = {0xC0, 0x00}, connect[] = {0x10, 0x00};
    CHECK_EQ(frame(ping, 2, 0, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_PROTOCOL_ERROR);
    /* a second CONNECT is a protocol error (MQTT-3.1.0-2) */
    CHECK_EQ(frame(connect, 2, MQTT_V5, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_PROTOCOL_ERROR);
    CHECK_EQ(frame(connect, 2, MQTT_V311, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_PROTOCOL_ERROR);
}

TEST(frame_remaining_length_too_long)
{
    mqtt_frame f;
    mqtt_error e;
    const uint8_t b[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    CHECK_EQ(frame(b, sizeof(b), MQTT_V5, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_MALFORMED);
    CHECK_EQ(frame(b, 5, MQTT_V5, 0, &f, &e), MQTT_ERROR); /* decided at the 4th length byte */
    const uint8_t maxed[] = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    CHECK_EQ(frame(maxed, sizeof(maxed), MQTT_V5, 0, &f, &e), MQTT_OK);
    CHECK_EQ(f.remaining, 268435455);
    CHECK_EQ(f.header_len, 5);
}

/* The size limit is applied on the header alone: a 1 MB packet is refused after 4 bytes. */
TEST(frame_max_packet_size_before_body)
{
    mqtt_frame f;
    mqtt_error e;
    const uint8_t b[] = {0x30, 0x80, 0x80, 0x40}; /* remaining = 0x40 << 14 = 1048576 */
    CHECK_EQ(frame(b, sizeof(b), MQTT_V5, 1024, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_PACKET_TOO_LARGE);
    CHECK_EQ(frame(b, sizeof(b), MQTT_V5, 0, &f, &e), MQTT_OK);
    /* exactly at the limit: 2 + 98 = 100 */
    const uint8_t at[] = {0x30, 98};
    CHECK_EQ(frame(at, 2, MQTT_V5, 100, &f, &e), MQTT_OK);
    CHECK_EQ(frame(at, 2, MQTT_V5, 99, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_PACKET_TOO_LARGE);
    /* the tighter pre-CONNECT cap is the caller's max: a big CONNECT is refused the same way */
    const uint8_t big_connect[] = {0x10, 0x80, 0x80, 0x01};
    CHECK_EQ(frame(big_connect, sizeof(big_connect), 0, 4096, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, MQTT_RC_PACKET_TOO_LARGE);
}

/* Feeds a stream of several packets one byte more at a time; each packet is recognised exactly when its
 * last byte arrives, never earlier, and decodes. */
TEST(frame_one_byte_at_a_time)
{
    const uint8_t stream[] = {
        0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x03, 'a', 'b', 'c',
        0x32, 0x08, 0x00, 0x01, 't', 0x00, 0x07, 0x00, 'h', 'i', /* PUBLISH QoS 1 */
        0xC0, 0x00,                                              /* PINGREQ */
        0xE0, 0x01, 0x04,                                        /* DISCONNECT with will */
    };
    size_t start = 0, packets = 0, calls = 0;
    uint8_t version = 0;
    for (size_t have = 0; have <= sizeof(stream) && start < sizeof(stream); have++) {
        mqtt_frame f;
        mqtt_error e;
        calls++;
        int rc = mqtt_frame_parse(stream + start, have - start, version, 0, &f, &e);
        CHECK(rc != MQTT_ERROR);
        if (rc != MQTT_OK || have - start < (size_t)f.header_len + f.remaining)
            continue;
        CHECK_EQ(have - start, (size_t)f.header_len + f.remaining);
        mqtt_packet p;
        CHECK_EQ(test_decode(stream + start, have - start, version, &p, &e), MQTT_OK);
        if (p.type == MQTT_CONNECT)
            version = p.u.connect.version;
        start = have;
        packets++;
    }
    CHECK_EQ(packets, 4);
    CHECK_EQ(start, sizeof(stream));
    CHECK_EQ(calls, sizeof(stream) + 1);
}

TEST(frame_error_offset_and_message)
{
    mqtt_frame f;
    mqtt_error e;
    const uint8_t b[] = {0x30, 0x80, 0x80, 0x80, 0x80};
    CHECK_EQ(frame(b, sizeof(b), MQTT_V5, 0, &f, &e), MQTT_ERROR);
    CHECK_EQ(e.offset, 1);
    CHECK(e.message != NULL);
}

TEST_MAIN()
