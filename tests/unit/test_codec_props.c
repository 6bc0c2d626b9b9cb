/*
 * test_codec_props.c - mqtt_props_decode and the property encoder: every property's data type, the
 * per-packet table (2.2.2.2), duplicates, repeatable properties, value ranges, sizes.
 */
#include "codec_helpers.h"

static int props(const uint8_t *b, size_t n, uint8_t type, bool will, mqtt_props *out, size_t *used,
                 mqtt_error *e)
{
    mqtt_alloc a = test_alloc();
    memset(e, 0, sizeof(*e));
    return mqtt_props_decode(b, n, type, will, NULL, &a, out, used, e);
}

#define DECODE_OK(type, will, ...)                                                                           \
    do {                                                                                                     \
        static const uint8_t b_[] = {__VA_ARGS__}; /* static: the decoded slices point into it */          \
        size_t used_;                                                                                        \
        mqtt_error e_;                                                                                       \
        CHECK_EQ(props(b_, sizeof(b_), type, will, &pr, &used_, &e_), MQTT_OK);                              \
        CHECK_EQ(used_, sizeof(b_));                                                                         \
    } while (0)

#define DECODE_ERR(want_reason, type, will, ...)                                                                  \
    do {                                                                                                     \
        const uint8_t b_[] = {__VA_ARGS__};                                                                  \
        size_t used_;                                                                                        \
        mqtt_error e_;                                                                                       \
        mqtt_props junk_;                                                                                    \
        CHECK_EQ(props(b_, sizeof(b_), type, will, &junk_, &used_, &e_), MQTT_ERROR);                        \
        CHECK_EQ(e_.reason, want_reason);                                                                         \
    } while (0)

TEST(empty_block)
{
    mqtt_props pr;
    DECODE_OK(MQTT_CONNECT, false, 0x00);
    CHECK_EQ(pr.present, 0);
    /* the block length counts only the block: bytes after it are not consumed */
    const uint8_t b[] = {0x00, 0xAA, 0xBB};
    size_t used;
    mqtt_error e;
    CHECK_EQ(props(b, sizeof(b), MQTT_CONNECT, false, &pr, &used, &e), MQTT_OK);
    CHECK_EQ(used, 1);
}

TEST(each_data_type)
{
    mqtt_props pr;
    /* byte, four-byte integer, UTF-8 string, binary: Will properties */
    DECODE_OK(MQTT_CONNECT, true, 0x15, 0x01, 0x01, 0x02, 0x12, 0x34, 0x56, 0x78, 0x03, 0x00, 0x01, 'j', 0x09, 0x00,
              0x02, 0x00, 0xFF, 0x18, 0xFF, 0xFF, 0xFF, 0xFF);
    CHECK_EQ(pr.payload_format, 1);
    CHECK_EQ(pr.message_expiry, 0x12345678);
    CHECK(test_bytes_eq(pr.content_type, "j"));
    CHECK_EQ(pr.correlation_data.len, 2);
    CHECK_EQ(pr.correlation_data.data[1], 0xFF);
    CHECK_EQ(pr.will_delay, 0xFFFFFFFF);
    /* two-byte integers, CONNACK */
    DECODE_OK(MQTT_CONNACK, false, 0x09, 0x13, 0x01, 0x00, 0x21, 0xFF, 0xFF, 0x22, 0x00, 0x00);
    CHECK_EQ(pr.server_keep_alive, 256);
    CHECK_EQ(pr.receive_maximum, 65535);
    CHECK_EQ(pr.topic_alias_maximum, 0);
    /* variable byte integer: subscription identifier 268435455 */
    DECODE_OK(MQTT_SUBSCRIBE, false, 0x05, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F);
    CHECK_EQ(pr.sub_id_count, 1);
    CHECK_EQ(pr.sub_ids[0], 268435455);
    /* string pair */
    DECODE_OK(MQTT_AUTH, false, 0x07, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b');
    CHECK_EQ(pr.user_count, 1);
}

TEST(repeatable)
{
    mqtt_props pr;
    /* user properties keep wire order and may repeat the same key */
    DECODE_OK(MQTT_PUBLISH, false, 0x13, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1', 0x26, 0x00, 0x01, 'a', 0x00, 0x01,
              '2', 0x26, 0x00, 0x00, 0x00, 0x00);
    CHECK_EQ(pr.user_count, 3);
    CHECK(test_bytes_eq(pr.user[0].value, "1"));
    CHECK(test_bytes_eq(pr.user[1].value, "2"));
    CHECK_EQ(pr.user[2].key.len, 0);
    /* several subscription identifiers in a PUBLISH (3.3.2.3.8) */
    DECODE_OK(MQTT_PUBLISH, false, 0x07, 0x0B, 0x01, 0x0B, 0x80, 0x01, 0x0B, 0x05);
    CHECK_EQ(pr.sub_id_count, 3);
    CHECK_EQ(pr.sub_ids[0], 1);
    CHECK_EQ(pr.sub_ids[1], 128);
    CHECK_EQ(pr.sub_ids[2], 5);
    /* but only one in a SUBSCRIBE (3.8.2.1.2) */
    DECODE_ERR(0x82, MQTT_SUBSCRIBE, false, 0x04, 0x0B, 0x01, 0x0B, 0x02);
}

/* Each property outside its packets is malformed (2.2.2.2). */
TEST(allowed_table)
{
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x02, 0x01, 0x00);             /* payload format */
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x02, 0x24, 0x00);             /* maximum QoS */
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x05, 0x18, 0, 0, 0, 0);       /* will delay outside will */
    DECODE_ERR(0x81, MQTT_CONNECT, true, 0x02, 0x17, 0x00);              /* request problem info in will */
    DECODE_ERR(0x81, MQTT_CONNACK, false, 0x02, 0x17, 0x00);
    DECODE_ERR(0x81, MQTT_PUBLISH, false, 0x03, 0x21, 0x00, 0x01);       /* receive maximum */
    DECODE_ERR(0x81, MQTT_SUBSCRIBE, false, 0x03, 0x1F, 0x00, 0x00);     /* reason string */
    DECODE_ERR(0x81, MQTT_UNSUBSCRIBE, false, 0x02, 0x0B, 0x01);         /* subscription id */
    DECODE_ERR(0x81, MQTT_DISCONNECT, false, 0x03, 0x15, 0x00, 0x00);    /* auth method */
    DECODE_ERR(0x81, MQTT_AUTH, false, 0x03, 0x1C, 0x00, 0x00);          /* server reference */
    DECODE_ERR(0x81, MQTT_PUBACK, false, 0x03, 0x23, 0x00, 0x01);
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x02, 0x00, 0x00);             /* identifier 0 */
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x02, 0x2B, 0x00);             /* beyond the table */
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x03, 0x80, 0x01, 0x00);       /* 128: valid VBI, unknown id */
    /* the positive side: everything CONNACK may carry */
    mqtt_props pr;
    DECODE_OK(MQTT_CONNACK, false, 0x18, 0x24, 0x00, 0x25, 0x01, 0x28, 0x00, 0x29, 0x01, 0x2A, 0x00, 0x11, 0, 0, 0,
              1, 0x12, 0x00, 0x00, 0x1A, 0x00, 0x00, 0x1C, 0x00, 0x00);
    CHECK_EQ(pr.retain_available, 1);
    CHECK_EQ(pr.sub_id_available, 1);
    /* packets without properties refuse */
    DECODE_ERR(0x82, MQTT_PINGREQ, false, 0x00);
    DECODE_ERR(0x82, 0, false, 0x00);
    DECODE_ERR(0x82, 16, false, 0x00);
}

TEST(duplicates)
{
    DECODE_ERR(0x82, MQTT_CONNECT, false, 0x06, 0x21, 0x00, 0x01, 0x21, 0x00, 0x02);
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x04, 0x24, 0x00, 0x24, 0x00);
    DECODE_ERR(0x82, MQTT_PUBLISH, false, 0x06, 0x03, 0x00, 0x00, 0x03, 0x00, 0x00);
    DECODE_ERR(0x82, MQTT_CONNECT, true, 0x0A, 0x18, 0, 0, 0, 1, 0x18, 0, 0, 0, 1);
    DECODE_ERR(0x82, MQTT_DISCONNECT, false, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00);
}

TEST(value_ranges)
{
    DECODE_ERR(0x82, MQTT_CONNECT, false, 0x03, 0x21, 0x00, 0x00);        /* receive maximum 0 */
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x03, 0x21, 0x00, 0x00);
    DECODE_ERR(0x82, MQTT_CONNECT, false, 0x05, 0x27, 0, 0, 0, 0);        /* maximum packet size 0 */
    DECODE_ERR(0x94, MQTT_PUBLISH, false, 0x03, 0x23, 0x00, 0x00);        /* topic alias 0 */
    DECODE_ERR(0x82, MQTT_SUBSCRIBE, false, 0x02, 0x0B, 0x00);            /* subscription id 0 */
    DECODE_ERR(0x81, MQTT_SUBSCRIBE, false, 0x03, 0x0B, 0x80, 0x00);      /* non-minimal VBI */
    DECODE_ERR(0x82, MQTT_PUBLISH, false, 0x02, 0x01, 0x02);              /* payload format 2 */
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x02, 0x24, 0x02);              /* maximum QoS 2 */
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x02, 0x25, 0x02);
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x02, 0x28, 0xFF);
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x02, 0x29, 0x02);
    DECODE_ERR(0x82, MQTT_CONNACK, false, 0x02, 0x2A, 0x02);
    DECODE_ERR(0x82, MQTT_CONNECT, false, 0x02, 0x17, 0x02);
    DECODE_ERR(0x82, MQTT_CONNECT, false, 0x02, 0x19, 0x02);
    DECODE_ERR(0x82, MQTT_CONNECT, false, 0x04, 0x16, 0x00, 0x01, 'x'); /* auth data without method */
    DECODE_ERR(0x82, MQTT_PUBLISH, false, 0x04, 0x08, 0x00, 0x01, '+'); /* response topic wildcard */
    DECODE_ERR(0x82, MQTT_PUBLISH, false, 0x03, 0x08, 0x00, 0x00);      /* empty response topic */
    mqtt_props pr;
    DECODE_OK(MQTT_CONNECT, false, 0x05, 0x27, 0, 0, 0, 1);
    CHECK_EQ(pr.maximum_packet_size, 1);
}

TEST(truncation)
{
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x05, 0x11, 0x00);             /* block longer than the buffer */
    DECODE_ERR(0x81, MQTT_CONNECT, false, 0x02, 0x11, 0x00, 0x00, 0x00); /* value longer than the block */
    DECODE_ERR(0x81, MQTT_PUBLISH, false, 0x03, 0x03, 0x00, 0x05);       /* string past the block */
    DECODE_ERR(0x81, MQTT_PUBLISH, false, 0x04, 0x26, 0x00, 0x00, 0x00); /* pair without value length */
    DECODE_ERR(0x81, MQTT_PUBLISH, false, 0x80);                          /* block length cut */
    DECODE_ERR(0x81, MQTT_PUBLISH, false, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F);  /* block length 5 bytes */
    DECODE_ERR(0x81, MQTT_SUBSCRIBE, false, 0x02, 0x0B, 0x80);            /* VBI value cut by block */
}

TEST(encode_sizes_and_order)
{
    mqtt_props pr = {0};
    CHECK_EQ(mqtt_props_encoded_size(&pr), 1);
    /* one user property, then a reason string: written in identifier order (0x1F before 0x26) */
    mqtt_user_prop u = {MB("k"), MB("v")};
    pr.present = MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY) | MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
    pr.user = &u;
    pr.user_count = 1;
    pr.reason_string = MB("r");
    CHECK_EQ(mqtt_props_encoded_size(&pr), 1 + 4 + 7);
    mqtt_packet p = {.type = MQTT_PUBACK};
    p.u.ack.packet_id = 1;
    p.u.ack.props = pr;
    uint8_t out[32];
    const uint8_t want[] = {0x40, 0x0F, 0x00, 0x01, 0x00, 0x0B, 0x1F, 0x00, 0x01, 'r',
                            0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'};
    CHECK_EQ(mqtt_encode(&p, 5, out, sizeof(out)), sizeof(want));
    CHECK_MEM(out, want, sizeof(want));
    /* a 200-byte block needs a 2-byte length */
    static uint8_t big[200];
    mqtt_props pb = {.present = MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA), .correlation_data = {big, 197}};
    CHECK_EQ(mqtt_props_encoded_size(&pb), 2 + 200);
}

TEST_MAIN()
