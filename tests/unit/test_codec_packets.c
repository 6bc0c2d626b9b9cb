/*
 * test_codec_packets.c - golden byte vectors for every packet type of MQTT 3.1.1 and 5.0, derived by hand
 * from the OASIS specifications (fixed header 2.1 / 2.1.1, variable headers and payloads of chapter 3), and
 * round trips encode -> decode -> encode of every packet type in both versions.
 */
#include <stdlib.h>

#include "codec_helpers.h"

struct golden {
    const char *name;
    uint8_t version;
    const uint8_t *bytes;
    size_t len;
};

#define G(name, version, ...)                                                                                \
    {name, version, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})}

/* Every vector is canonical: re-encoding its decoded form gives the same bytes. */
static const struct golden goldens[] = {
    /* ---- MQTT 3.1.1 ---- */
    /* CONNECT: name "MQTT", level 4, flags 02 (clean session), keep alive 60, client id "abc" (3.1.2, 3.1.3) */
    G("connect v311", 4, 0x10, 0x0F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x03, 'a', 'b',
      'c'),
    /* CONNECT with will (QoS 1, retain), user name and password: flags 1110 1110 = 0xEE, keep alive 10 */
    G("connect v311 full", 4, 0x10, 0x1F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xEE, 0x00, 0x0A, 0x00, 0x02, 'c',
      '1', 0x00, 0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e', 0x00, 0x01, 'u', 0x00, 0x02, 'p', 'w'),
    /* MQTT 3.1: protocol name "MQIsdp", level 3 */
    G("connect v31", 3, 0x10, 0x11, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x03,
      'a', 'b', 'c'),
    /* CONNACK: acknowledge flags 0, return code 0 (3.2) */
    G("connack v311", 4, 0x20, 0x02, 0x00, 0x00),
    G("connack v311 session present", 4, 0x20, 0x02, 0x01, 0x00),
    G("connack v311 not authorized", 4, 0x20, 0x02, 0x00, 0x05),
    /* PUBLISH QoS 0: topic "a/b", no packet id, payload "hi" (3.3) */
    G("publish v311 qos0", 4, 0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'),
    /* PUBLISH DUP, QoS 1, RETAIN: 0x3B; topic "t", packet id 10, payload "x" */
    G("publish v311 qos1 dup retain", 4, 0x3B, 0x06, 0x00, 0x01, 't', 0x00, 0x0A, 'x'),
    /* PUBLISH QoS 2, empty payload */
    G("publish v311 qos2", 4, 0x34, 0x05, 0x00, 0x01, 't', 0xFF, 0xFF),
    G("puback v311", 4, 0x40, 0x02, 0x00, 0x0A),
    G("pubrec v311", 4, 0x50, 0x02, 0x00, 0x0A),
    G("pubrel v311", 4, 0x62, 0x02, 0x00, 0x0A), /* flags 0010 (3.6.1) */
    G("pubcomp v311", 4, 0x70, 0x02, 0x00, 0x0A),
    /* SUBSCRIBE (flags 0010): id 1, "a/+" QoS 1, "#" QoS 0 (3.8) */
    G("subscribe v311", 4, 0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, 'a', '/', '+', 0x01, 0x00, 0x01, '#', 0x00),
    /* SUBACK: id 1, granted QoS 1, failure 0x80 (3.9) */
    G("suback v311", 4, 0x90, 0x04, 0x00, 0x01, 0x01, 0x80),
    /* UNSUBSCRIBE (flags 0010): id 2, "a/b" (3.10) */
    G("unsubscribe v311", 4, 0xA2, 0x07, 0x00, 0x02, 0x00, 0x03, 'a', '/', 'b'),
    G("unsuback v311", 4, 0xB0, 0x02, 0x00, 0x02), /* 3.11: packet id only */
    G("pingreq v311", 4, 0xC0, 0x00),
    G("pingresp v311", 4, 0xD0, 0x00),
    G("disconnect v311", 4, 0xE0, 0x00),

    /* ---- MQTT 5.0 ---- */
    /* CONNECT: level 5, clean start, keep alive 60, property length 0, client id "abc" (3.1.2.11) */
    G("connect v5", 5, 0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x03, 'a',
      'b', 'c'),
    /* CONNECT with properties Session Expiry 120 (0x11), Receive Maximum 20 (0x21), user property k=v (0x26);
     * will properties Payload Format 1 (0x01), Will Delay 5 (0x18); will topic "w/t" payload "bye";
     * user "u", password "pw"; flags 0xEE, keep alive 10 */
    G("connect v5 full", 5, 0x10, 0x37, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0xEE, 0x00, 0x0A,
      0x0F, 0x11, 0x00, 0x00, 0x00, 0x78, 0x21, 0x00, 0x14, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',
      0x00, 0x02, 'c', '1',
      0x07, 0x01, 0x01, 0x18, 0x00, 0x00, 0x00, 0x05,
      0x00, 0x03, 'w', '/', 't', 0x00, 0x03, 'b', 'y', 'e', 0x00, 0x01, 'u', 0x00, 0x02, 'p', 'w'),
    /* 5.0 allows a password without a user name (3.1.2.9): flags 0x42 */
    G("connect v5 password only", 5, 0x10, 0x12, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42, 0x00, 0x3C, 0x00,
      0x00, 0x01, 'a', 0x00, 0x02, 'p', 'w'),
    /* CONNACK: flags 0, reason 0, property length 0 */
    G("connack v5", 5, 0x20, 0x03, 0x00, 0x00, 0x00),
    /* CONNACK with Assigned Client Identifier "id" (0x12), Topic Alias Maximum 10 (0x22), Maximum QoS 1 (0x24) */
    G("connack v5 props", 5, 0x20, 0x0D, 0x00, 0x00, 0x0A, 0x12, 0x00, 0x02, 'i', 'd', 0x22, 0x00, 0x0A, 0x24,
      0x01),
    G("connack v5 refused", 5, 0x20, 0x03, 0x00, 0x87, 0x00),
    /* PUBLISH QoS 1: topic "a/b", id 5, Payload Format 1, Message Expiry 60, Subscription Identifier 7,
     * Topic Alias 1; payload "hi" */
    G("publish v5 qos1", 5, 0x32, 0x16, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x05, 0x0C, 0x01, 0x01, 0x02, 0x00, 0x00,
      0x00, 0x3C, 0x0B, 0x07, 0x23, 0x00, 0x01, 'h', 'i'),
    /* PUBLISH QoS 0 with an empty topic and Topic Alias 1 (3.3.2.3.4) */
    G("publish v5 alias", 5, 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, 'x'),
    /* PUBACK with remaining length 2: reason 0 and no properties implied (3.4.2.1) */
    G("puback v5 short", 5, 0x40, 0x02, 0x00, 0x05),
    /* PUBACK reason 0x10 (no matching subscribers), no property length */
    G("puback v5 reason", 5, 0x40, 0x03, 0x00, 0x05, 0x10),
    /* PUBACK reason 0x10 with Reason String "no" (0x1F) */
    G("puback v5 props", 5, 0x40, 0x09, 0x00, 0x05, 0x10, 0x05, 0x1F, 0x00, 0x02, 'n', 'o'),
    G("pubrec v5", 5, 0x50, 0x03, 0x00, 0x05, 0x80),
    G("pubrel v5", 5, 0x62, 0x03, 0x00, 0x05, 0x92),
    G("pubcomp v5", 5, 0x70, 0x02, 0x00, 0x05),
    /* SUBSCRIBE: id 1, Subscription Identifier 128 (VBI 80 01); "a/+" with options QoS 1 | No Local |
     * Retain As Published | Retain Handling 2 = 0x2D; "$share/g/x" QoS 2 */
    G("subscribe v5", 5, 0x82, 0x19, 0x00, 0x01, 0x03, 0x0B, 0x80, 0x01, 0x00, 0x03, 'a', '/', '+', 0x2D, 0x00,
      0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g', '/', 'x', 0x02),
    /* SUBACK: id 1, no properties, granted QoS 1 and 2 */
    G("suback v5", 5, 0x90, 0x05, 0x00, 0x01, 0x00, 0x01, 0x02),
    /* SUBACK with a User Property a=b and reason 0x8F */
    G("suback v5 props", 5, 0x90, 0x0B, 0x00, 0x01, 0x07, 0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b', 0x8F),
    G("unsubscribe v5", 5, 0xA2, 0x08, 0x00, 0x02, 0x00, 0x00, 0x03, 'a', '/', 'b'),
    G("unsuback v5", 5, 0xB0, 0x05, 0x00, 0x02, 0x00, 0x00, 0x11),
    G("pingreq v5", 5, 0xC0, 0x00),
    G("pingresp v5", 5, 0xD0, 0x00),
    /* DISCONNECT with remaining length 0: normal disconnection (3.14.2.1) */
    G("disconnect v5 short", 5, 0xE0, 0x00),
    /* DISCONNECT 0x04 (with will), no property length (3.14.2.2.1: below 2 bytes, properties are 0) */
    G("disconnect v5 reason", 5, 0xE0, 0x01, 0x04),
    /* DISCONNECT 0x00 with Session Expiry 0 */
    G("disconnect v5 props", 5, 0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00),
    G("auth v5 short", 5, 0xF0, 0x00),
    /* AUTH 0x18 (continue), Authentication Method "SCRM" (0x15), Authentication Data 01 02 (0x16) */
    G("auth v5", 5, 0xF0, 0x0E, 0x18, 0x0C, 0x15, 0x00, 0x04, 'S', 'C', 'R', 'M', 0x16, 0x00, 0x02, 0x01, 0x02),
};

#define NGOLDEN (sizeof(goldens) / sizeof(goldens[0]))

TEST(golden_decode_and_reencode)
{
    for (size_t i = 0; i < NGOLDEN; i++) {
        const struct golden *g = &goldens[i];
        mqtt_packet p;
        mqtt_error e = {0};
        int rc = test_decode(g->bytes, g->len, g->version, &p, &e);
        if (rc != MQTT_OK) {
            fprintf(stderr, "  %s: decode failed: 0x%02x at %u: %s\n", g->name, e.reason, e.offset, e.message);
            test_current_failed = 1;
            continue;
        }
        CHECK_EQ(p.type, g->bytes[0] >> 4);
        uint8_t out[256];
        size_t n = mqtt_encode(&p, g->version, out, sizeof(out));
        CHECK_EQ(mqtt_encoded_size(&p, g->version), g->len);
        if (n != g->len || memcmp(out, g->bytes, n) != 0) {
            fprintf(stderr, "  %s: re-encoding differs (%zu vs %zu bytes)\n", g->name, n, g->len);
            test_current_failed = 1;
        }
        /* a buffer one byte short is refused, not overrun */
        CHECK_EQ(mqtt_encode(&p, g->version, out, g->len - 1), 0);
    }
}

/* Every packet type appears among the vectors in both versions (AUTH only in 5.0). */
TEST(golden_covers_every_type)
{
    for (uint8_t version = 4; version <= 5; version++)
        for (uint8_t type = 1; type <= 15; type++) {
            if (type == MQTT_AUTH && version == 4)
                continue;
            bool found = false;
            for (size_t i = 0; i < NGOLDEN; i++)
                found |= goldens[i].version == version && (goldens[i].bytes[0] >> 4) == type;
            if (!found)
                fprintf(stderr, "  missing type %u version %u\n", type, version);
            CHECK(found);
        }
}

static const struct golden *golden_find(const char *name)
{
    for (size_t i = 0; i < NGOLDEN; i++)
        if (strcmp(goldens[i].name, name) == 0)
            return &goldens[i];
    return NULL;
}

static int decode_named(const char *name, mqtt_packet *p)
{
    const struct golden *g = golden_find(name);
    mqtt_error e;
    return g ? test_decode(g->bytes, g->len, g->version, p, &e) : MQTT_ERROR;
}

TEST(golden_connect_v311_fields)
{
    mqtt_packet p;
    CHECK_EQ(decode_named("connect v311 full", &p), MQTT_OK);
    const mqtt_connect *c = &p.u.connect;
    CHECK_EQ(c->version, 4);
    CHECK(c->clean_start);
    CHECK_EQ(c->keep_alive, 10);
    CHECK(test_bytes_eq(c->client_id, "c1"));
    CHECK(c->has_will && c->will_retain);
    CHECK_EQ(c->will_qos, 1);
    CHECK(test_bytes_eq(c->will_topic, "w/t"));
    CHECK(test_bytes_eq(c->will_payload, "bye"));
    CHECK(c->has_username && test_bytes_eq(c->username, "u"));
    CHECK(c->has_password && test_bytes_eq(c->password, "pw"));
    CHECK_EQ(decode_named("connect v31", &p), MQTT_OK);
    CHECK_EQ(p.u.connect.version, 3);
}

TEST(golden_connect_v5_fields)
{
    mqtt_packet p;
    CHECK_EQ(decode_named("connect v5 full", &p), MQTT_OK);
    const mqtt_connect *c = &p.u.connect;
    CHECK_EQ(c->version, 5);
    CHECK_EQ(c->props.session_expiry, 120);
    CHECK_EQ(c->props.receive_maximum, 20);
    CHECK_EQ(c->props.user_count, 1);
    CHECK(test_bytes_eq(c->props.user[0].key, "k") && test_bytes_eq(c->props.user[0].value, "v"));
    CHECK_EQ(c->props.present, MQTT_PROP_BIT(0x11) | MQTT_PROP_BIT(0x21) | MQTT_PROP_BIT(0x26));
    CHECK_EQ(c->will_props.payload_format, 1);
    CHECK_EQ(c->will_props.will_delay, 5);
    CHECK_EQ(c->will_props.present, MQTT_PROP_BIT(0x01) | MQTT_PROP_BIT(0x18));
    CHECK_EQ(decode_named("connect v5 password only", &p), MQTT_OK);
    CHECK(!p.u.connect.has_username && p.u.connect.has_password);
}

TEST(golden_publish_fields)
{
    mqtt_packet p;
    CHECK_EQ(decode_named("publish v5 qos1", &p), MQTT_OK);
    CHECK_EQ(p.u.publish.qos, 1);
    CHECK_EQ(p.u.publish.packet_id, 5);
    CHECK(test_bytes_eq(p.u.publish.topic, "a/b"));
    CHECK(test_bytes_eq(p.u.publish.payload, "hi"));
    CHECK_EQ(p.u.publish.props.message_expiry, 60);
    CHECK_EQ(p.u.publish.props.topic_alias, 1);
    CHECK_EQ(p.u.publish.props.sub_id_count, 1);
    CHECK_EQ(p.u.publish.props.sub_ids[0], 7);
    CHECK_EQ(decode_named("publish v311 qos1 dup retain", &p), MQTT_OK);
    CHECK(p.u.publish.dup && p.u.publish.retain);
    CHECK_EQ(p.u.publish.packet_id, 10);
    CHECK_EQ(decode_named("publish v311 qos2", &p), MQTT_OK);
    CHECK_EQ(p.u.publish.packet_id, 0xFFFF);
    CHECK_EQ(p.u.publish.payload.len, 0);
    CHECK_EQ(decode_named("publish v5 alias", &p), MQTT_OK);
    CHECK_EQ(p.u.publish.topic.len, 0);
}

TEST(golden_subscribe_fields)
{
    mqtt_packet p;
    CHECK_EQ(decode_named("subscribe v5", &p), MQTT_OK);
    const mqtt_subscribe *s = &p.u.subscribe;
    CHECK_EQ(s->packet_id, 1);
    CHECK_EQ(s->count, 2);
    CHECK_EQ(s->props.sub_id_count, 1);
    CHECK_EQ(s->props.sub_ids[0], 128);
    CHECK(test_bytes_eq(s->subs[0].filter, "a/+"));
    CHECK_EQ(s->subs[0].qos, 1);
    CHECK(s->subs[0].no_local && s->subs[0].retain_as_published);
    CHECK_EQ(s->subs[0].retain_handling, 2);
    CHECK(test_bytes_eq(s->subs[1].filter, "$share/g/x"));
    CHECK_EQ(s->subs[1].qos, 2);
    CHECK_EQ(decode_named("subscribe v311", &p), MQTT_OK);
    CHECK_EQ(p.u.subscribe.count, 2);
    CHECK(test_bytes_eq(p.u.subscribe.subs[1].filter, "#"));
    CHECK_EQ(decode_named("unsubscribe v5", &p), MQTT_OK);
    CHECK_EQ(p.u.unsubscribe.count, 1);
    CHECK(test_bytes_eq(p.u.unsubscribe.filters[0], "a/b"));
}

TEST(golden_acks_fields)
{
    mqtt_packet p;
    CHECK_EQ(decode_named("suback v311", &p), MQTT_OK);
    CHECK_EQ(p.u.suback.count, 2);
    CHECK_EQ(p.u.suback.reasons[1], 0x80);
    CHECK_EQ(decode_named("unsuback v311", &p), MQTT_OK);
    CHECK_EQ(p.u.suback.count, 0);
    CHECK_EQ(decode_named("puback v5 props", &p), MQTT_OK);
    CHECK_EQ(p.u.ack.reason, 0x10);
    CHECK(test_bytes_eq(p.u.ack.props.reason_string, "no"));
    CHECK_EQ(decode_named("puback v5 short", &p), MQTT_OK);
    CHECK_EQ(p.u.ack.reason, 0);
    CHECK_EQ(decode_named("connack v5 props", &p), MQTT_OK);
    CHECK(test_bytes_eq(p.u.connack.props.assigned_client_id, "id"));
    CHECK_EQ(p.u.connack.props.maximum_qos, 1);
    CHECK_EQ(decode_named("connack v311 session present", &p), MQTT_OK);
    CHECK(p.u.connack.session_present);
    CHECK_EQ(decode_named("auth v5", &p), MQTT_OK);
    CHECK_EQ(p.u.auth.reason, 0x18);
    CHECK(test_bytes_eq(p.u.auth.props.auth_method, "SCRM"));
    CHECK_EQ(p.u.auth.props.auth_data.len, 2);
    CHECK_EQ(decode_named("disconnect v5 reason", &p), MQTT_OK);
    CHECK_EQ(p.u.disconnect.reason, 4);
}

/* v5 acks with an explicit empty property block decode the same as the short form. */
TEST(ack_long_forms_accepted)
{
    const uint8_t puback4[] = {0x40, 0x04, 0x00, 0x05, 0x00, 0x00};
    const uint8_t disc2[] = {0xE0, 0x02, 0x00, 0x00};
    mqtt_packet p;
    mqtt_error e;
    CHECK_EQ(test_decode(puback4, sizeof(puback4), 5, &p, &e), MQTT_OK);
    CHECK_EQ(p.u.ack.packet_id, 5);
    CHECK_EQ(test_decode(disc2, sizeof(disc2), 5, &p, &e), MQTT_OK);
    CHECK_EQ(p.u.disconnect.reason, 0);
    uint8_t out[8];
    CHECK_EQ(mqtt_encode(&p, 5, out, sizeof(out)), 2); /* re-encoded in the shortest form */
}

/* ---- round trips from structures ---- */

static void roundtrip(const mqtt_packet *p, uint8_t version)
{
    uint8_t a[1024], b[1024];
    size_t n = mqtt_encode(p, version, a, sizeof(a));
    CHECK(n > 0);
    CHECK_EQ(n, mqtt_encoded_size(p, version));
    mqtt_packet q;
    mqtt_error e = {0};
    int rc = test_decode(a, n, version, &q, &e);
    if (rc != MQTT_OK)
        fprintf(stderr, "  %s v%u: decode failed 0x%02x: %s\n", mqtt_packet_name(p->type), version, e.reason,
                e.message);
    CHECK_EQ(rc, MQTT_OK);
    CHECK_EQ(q.type, p->type);
    size_t m = mqtt_encode(&q, version, b, sizeof(b));
    CHECK_EQ(m, n);
    CHECK_MEM(a, b, n);
}

static mqtt_user_prop users[2] = {{MB("k1"), MB("v1")}, {MB("k2"), MB("")}};
static uint32_t sub_ids[2] = {1, 268435455};

static mqtt_props props_for(uint8_t type, bool will)
{
    mqtt_props pr = {0};
    pr.present = MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY);
    pr.user = users;
    pr.user_count = 2;
    if (will) {
        pr.present |= MQTT_PROP_BIT(0x01) | MQTT_PROP_BIT(0x02) | MQTT_PROP_BIT(0x03) | MQTT_PROP_BIT(0x08) |
                      MQTT_PROP_BIT(0x09) | MQTT_PROP_BIT(0x18);
        pr.payload_format = 1;
        pr.message_expiry = 3600;
        pr.content_type = MB("text/plain");
        pr.response_topic = MB("reply/to");
        pr.correlation_data = MB("\x01\x02");
        pr.will_delay = 30;
        return pr;
    }
    switch (type) {
    case MQTT_CONNECT:
        pr.present |= MQTT_PROP_BIT(0x11) | MQTT_PROP_BIT(0x15) | MQTT_PROP_BIT(0x16) | MQTT_PROP_BIT(0x17) |
                      MQTT_PROP_BIT(0x19) | MQTT_PROP_BIT(0x21) | MQTT_PROP_BIT(0x22) | MQTT_PROP_BIT(0x27);
        pr.session_expiry = 0xFFFFFFFF;
        pr.auth_method = MB("SCRAM-SHA-256");
        pr.auth_data = MB("n,,n=user");
        pr.request_problem_info = 0;
        pr.request_response_info = 1;
        pr.receive_maximum = 65535;
        pr.topic_alias_maximum = 0;
        pr.maximum_packet_size = 1 << 20;
        break;
    case MQTT_CONNACK:
        pr.present |= MQTT_PROP_BIT(0x11) | MQTT_PROP_BIT(0x12) | MQTT_PROP_BIT(0x13) | MQTT_PROP_BIT(0x1A) |
                      MQTT_PROP_BIT(0x1C) | MQTT_PROP_BIT(0x1F) | MQTT_PROP_BIT(0x21) | MQTT_PROP_BIT(0x22) |
                      MQTT_PROP_BIT(0x24) | MQTT_PROP_BIT(0x25) | MQTT_PROP_BIT(0x27) | MQTT_PROP_BIT(0x28) |
                      MQTT_PROP_BIT(0x29) | MQTT_PROP_BIT(0x2A);
        pr.session_expiry = 10;
        pr.assigned_client_id = MB("auto-1");
        pr.server_keep_alive = 30;
        pr.response_info = MB("resp");
        pr.server_reference = MB("other:1883");
        pr.reason_string = MB("ok");
        pr.receive_maximum = 1;
        pr.topic_alias_maximum = 10;
        pr.maximum_qos = 1;
        pr.retain_available = 0;
        pr.maximum_packet_size = 268435460u;
        pr.wildcard_sub_available = 1;
        pr.sub_id_available = 1;
        pr.shared_sub_available = 0;
        break;
    case MQTT_PUBLISH:
        pr.present |= MQTT_PROP_BIT(0x01) | MQTT_PROP_BIT(0x02) | MQTT_PROP_BIT(0x03) | MQTT_PROP_BIT(0x08) |
                      MQTT_PROP_BIT(0x09) | MQTT_PROP_BIT(0x0B) | MQTT_PROP_BIT(0x23);
        pr.payload_format = 0;
        pr.message_expiry = 1;
        pr.content_type = MB("application/json");
        pr.response_topic = MB("r");
        pr.correlation_data = MB("");
        pr.sub_ids = sub_ids;
        pr.sub_id_count = 2;
        pr.topic_alias = 65535;
        break;
    case MQTT_SUBSCRIBE:
        pr.present |= MQTT_PROP_BIT(0x0B);
        pr.sub_ids = sub_ids + 1;
        pr.sub_id_count = 1;
        break;
    case MQTT_DISCONNECT:
        pr.present |= MQTT_PROP_BIT(0x11) | MQTT_PROP_BIT(0x1C) | MQTT_PROP_BIT(0x1F);
        pr.session_expiry = 0;
        pr.server_reference = MB("x");
        pr.reason_string = MB("bye");
        break;
    case MQTT_AUTH:
        pr.present |= MQTT_PROP_BIT(0x15) | MQTT_PROP_BIT(0x16) | MQTT_PROP_BIT(0x1F);
        pr.auth_method = MB("M");
        pr.auth_data = MB("D");
        pr.reason_string = MB("again");
        break;
    default: /* acks, SUBACK, UNSUBSCRIBE, UNSUBACK */
        if (type != MQTT_UNSUBSCRIBE) {
            pr.present |= MQTT_PROP_BIT(0x1F);
            pr.reason_string = MB("why");
        }
        break;
    }
    return pr;
}

TEST(roundtrip_connect)
{
    for (uint8_t version = 3; version <= 5; version++) {
        mqtt_packet p = {.type = MQTT_CONNECT};
        mqtt_connect *c = &p.u.connect;
        c->version = version;
        c->clean_start = true;
        c->keep_alive = 65535;
        c->client_id = MB("client-\xc3\xa9");
        c->has_will = true;
        c->will_qos = 2;
        c->will_retain = true;
        c->will_topic = MB("last/will");
        c->will_payload = MB("\x00\x01gone");
        c->has_username = true;
        c->username = MB("user");
        c->has_password = true;
        c->password = MB("secret\x00");
        if (version == 5) {
            c->props = props_for(MQTT_CONNECT, false);
            c->will_props = props_for(MQTT_CONNECT, true);
        }
        roundtrip(&p, version);
        c->has_will = false;
        c->will_qos = 0;
        c->will_retain = false;
        roundtrip(&p, version);
    }
}

TEST(roundtrip_all_other_types)
{
    static mqtt_subscription subs[3] = {
        {MB("a/+/c"), 1, false, false, 0},
        {MB("$share/grp/s/#"), 2, false, true, 1},
        {MB("+"), 0, true, false, 2},
    };
    static mqtt_bytes filters[2] = {MB("a/#"), MB("$share/g/x")};
    static uint8_t suback_codes[3] = {0x00, 0x01, 0x80};
    static uint8_t unsuback_codes[2] = {0x00, 0x11};
    for (uint8_t version = 4; version <= 5; version++) {
        bool v5 = version == 5;
        for (uint8_t type = MQTT_CONNACK; type <= MQTT_AUTH; type++) {
            if (type == MQTT_AUTH && !v5)
                continue;
            mqtt_packet p = {.type = type};
            if (v5)
                p.u.ack.props = props_for(type, false); /* props sit at different offsets: set per type below */
            switch (type) {
            case MQTT_CONNACK:
                p.u.connack = (mqtt_connack){true, 0, v5 ? props_for(type, false) : (mqtt_props){0}};
                break;
            case MQTT_PUBLISH:
                p.u.publish = (mqtt_publish){2, true, true, MB("sensors/\xe2\x82\xac/t"), 77,
                                             v5 ? props_for(type, false) : (mqtt_props){0}, MB("payload\x00\xff")};
                break;
            case MQTT_PUBACK:
            case MQTT_PUBREC:
            case MQTT_PUBREL:
            case MQTT_PUBCOMP:
                p.u.ack = (mqtt_ack){0xBEEF, (uint8_t)(v5 && type <= MQTT_PUBREC ? 0x97 : v5 ? 0x92 : 0),
                                     v5 ? props_for(type, false) : (mqtt_props){0}};
                break;
            case MQTT_SUBSCRIBE:
                p.u.subscribe = (mqtt_subscribe){1, v5 ? props_for(type, false) : (mqtt_props){0}, subs, 3};
                if (!v5) { /* 3.1.1 has no options beyond QoS */
                    static mqtt_subscription subs311[2] = {{MB("a/+/c"), 1, false, false, 0},
                                                           {MB("$share/grp/s/#"), 2, false, false, 0}};
                    p.u.subscribe.subs = subs311;
                    p.u.subscribe.count = 2;
                }
                break;
            case MQTT_SUBACK:
                p.u.suback = (mqtt_suback){2, v5 ? props_for(type, false) : (mqtt_props){0}, suback_codes, 3};
                break;
            case MQTT_UNSUBSCRIBE:
                p.u.unsubscribe = (mqtt_unsubscribe){3, v5 ? props_for(type, false) : (mqtt_props){0}, filters, 2};
                break;
            case MQTT_UNSUBACK:
                p.u.suback = (mqtt_suback){4, v5 ? props_for(type, false) : (mqtt_props){0},
                                           v5 ? unsuback_codes : NULL, v5 ? 2 : 0};
                break;
            case MQTT_DISCONNECT:
                p.u.disconnect = (mqtt_reason_only){(uint8_t)(v5 ? 0x8E : 0),
                                                    v5 ? props_for(type, false) : (mqtt_props){0}};
                break;
            case MQTT_AUTH:
                p.u.auth = (mqtt_reason_only){0x19, props_for(type, false)};
                break;
            default:
                break;
            }
            roundtrip(&p, version);
        }
    }
}

/* The publish head plus the payload appended afterwards equals the whole encoded PUBLISH. */
TEST(encode_publish_head_plus_payload)
{
    for (uint8_t version = 4; version <= 5; version++) {
        mqtt_packet p = {.type = MQTT_PUBLISH};
        p.u.publish = (mqtt_publish){1, false, false, MB("t/1"), 9, props_for(MQTT_PUBLISH, false), MB("body")};
        if (version == 4)
            p.u.publish.props = (mqtt_props){0};
        uint8_t whole[256], head[256];
        size_t n = mqtt_encode(&p, version, whole, sizeof(whole));
        size_t h = mqtt_encode_publish_head(&p.u.publish, version, head, sizeof(head));
        CHECK(h > 0);
        CHECK_EQ(h + 4, n);
        CHECK_MEM(head, whole, h);
        CHECK_MEM(whole + h, "body", 4);
        CHECK_EQ(mqtt_encode_publish_head(&p.u.publish, version, head, h - 1), 0);
    }
}

/* Sizes that cannot be encoded are reported as 0, not truncated. */
TEST(encode_refuses_oversized_fields)
{
    static uint8_t big[70000];
    mqtt_packet p = {.type = MQTT_PUBLISH};
    p.u.publish.topic = (mqtt_bytes){big, 65536};
    CHECK_EQ(mqtt_encoded_size(&p, 5), 0);
    p.u.publish.topic = MB("t");
    p.u.publish.payload = (mqtt_bytes){big, sizeof(big)};
    CHECK_EQ(mqtt_encoded_size(&p, 5), 1 + 3 + 3 + 1 + sizeof(big));
    mqtt_packet a = {.type = MQTT_AUTH};
    CHECK_EQ(mqtt_encoded_size(&a, 4), 0); /* no AUTH before 5.0 */
}

TEST(names)
{
    CHECK_STR(mqtt_packet_name(MQTT_SUBSCRIBE), "SUBSCRIBE");
    CHECK_STR(mqtt_packet_name(99), "UNKNOWN");
    CHECK_STR(mqtt_reason_name(0x95), "packet too large");
    CHECK_STR(mqtt_reason_name(0x42), "unknown reason code");
    CHECK_EQ(mqtt_connack_code_v311(0x00), 0);
    CHECK_EQ(mqtt_connack_code_v311(0x84), 1);
    CHECK_EQ(mqtt_connack_code_v311(0x85), 2);
    CHECK_EQ(mqtt_connack_code_v311(0x88), 3);
    CHECK_EQ(mqtt_connack_code_v311(0x86), 4);
    CHECK_EQ(mqtt_connack_code_v311(0x87), 5);
}

/* Decodes buf (copied to an exact-size heap block so ASan sees any over-read); a failure must carry a
 * reason and a message, a success must re-encode and decode again. Returns the decode result. */
static int decode_checked(const uint8_t *bytes, size_t len, uint8_t version)
{
    uint8_t *buf = malloc(len ? len : 1);
    memcpy(buf, bytes, len);
    mqtt_packet p, q;
    mqtt_error e = {0};
    int rc = test_decode(buf, len, version, &p, &e);
    if (rc == MQTT_ERROR && (e.reason < 0x80 || !e.message || e.offset > len)) {
        fprintf(stderr, "  bad error report 0x%02x offset %u\n", e.reason, e.offset);
        test_current_failed = 1;
    }
    if (rc == MQTT_OK) {
        static uint8_t out[512];
        uint8_t v = p.type == MQTT_CONNECT ? p.u.connect.version : version;
        size_t n = mqtt_encode(&p, v, out, sizeof(out));
        CHECK(n > 0 && n <= len);
        mqtt_alloc a = {test_arena_alloc, &test_arena_global}; /* keep p's arrays: do not reset */
        CHECK_EQ(mqtt_decode(out, n, v, NULL, &a, &q, &e), MQTT_OK);
    }
    free(buf);
    return rc;
}

/* Every golden vector with its body cut at every length (remaining length adjusted), and with every byte
 * replaced by each of a set of values: never a crash, an over-read or an error without a reason. */
TEST(truncations_and_mutations)
{
    static const uint8_t values[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x7F, 0x80, 0x81, 0xC0, 0xED, 0xFF,
                                     '#', '+', '/', '$'};
    for (size_t i = 0; i < NGOLDEN; i++) {
        const struct golden *g = &goldens[i];
        uint8_t buf[256];
        size_t h = 2; /* every golden vector has a one-byte remaining length */
        for (size_t k = 0; k + h < g->len; k++) {
            buf[0] = g->bytes[0];
            buf[1] = (uint8_t)k;
            memcpy(buf + 2, g->bytes + 2, k);
            (void)decode_checked(buf, k + 2, g->version);
        }
        for (size_t pos = 0; pos < g->len; pos++)
            for (size_t v = 0; v < sizeof(values); v++) {
                memcpy(buf, g->bytes, g->len);
                buf[pos] = values[v];
                (void)decode_checked(buf, g->len, g->version);
            }
    }
}

TEST_MAIN()
