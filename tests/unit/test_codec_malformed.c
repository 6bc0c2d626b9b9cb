/*
 * test_codec_malformed.c - one violating packet per rule the decoder enforces, each checked for the exact
 * reason code a server sends (MQTT 5.0 section 2.4 and the rule's own section; 3.1.1 closes the
 * connection, the reason is then the one logged).
 *
 * Most cases give the fixed-header byte and the body; the remaining length is computed. Cases about the
 * length itself give raw bytes.
 */
#include "codec_helpers.h"

struct bad_case {
    const char *name;
    uint8_t version;
    uint8_t header;
    const uint8_t *body;
    size_t len;
    int reason;
};

#define B(name, version, header, reason, ...)                                                                \
    {name, version, header, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), reason}
#define B0(name, version, header, reason) {name, version, header, NULL, 0, reason}

/* CONNECT prefixes: protocol name and level. */
#define CN4 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04
#define CN5 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05
#define KA 0x00, 0x3C
#define CID 0x00, 0x01, 'c'

static const struct bad_case cases[] = {
    /* ---- fixed header (2.1.3, 3.3.1) ---- */
    B("puback reserved flags", 5, 0x41, 0x81, 0x00, 0x01),
    B("pubrel flags 0000", 5, 0x60, 0x81, 0x00, 0x01),
    B("subscribe flags 0000", 5, 0x80, 0x81, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x00),
    B("unsubscribe flags 0000", 4, 0xA0, 0x81, 0x00, 0x01, 0x00, 0x01, 'a'),
    B("pingreq flags", 4, 0xC1, 0x81),
    B("publish qos 3", 5, 0x36, 0x81, 0x00, 0x01, 't', 0x00, 0x01, 0x00),
    B("publish dup on qos 0", 4, 0x38, 0x82, 0x00, 0x01, 't'),
    B0("reserved type 0", 5, 0x00, 0x81),
    B0("auth in 3.1.1", 4, 0xF0, 0x81),
    B("connect flags 0001", 5, 0x11, 0x81, CN5, 0x02, KA, 0x00, CID),
    /* ---- trailing bytes after the packet's content ---- */
    B("pingreq with body", 4, 0xC0, 0x81, 0x00),
    B("pingresp with body", 5, 0xD0, 0x81, 0x00),
    B("disconnect v311 with body", 4, 0xE0, 0x81, 0x00),
    B("puback v311 with reason", 4, 0x40, 0x81, 0x00, 0x01, 0x00),
    B("unsuback v311 with payload", 4, 0xB0, 0x81, 0x00, 0x01, 0x00),
    B("connack v311 with properties", 4, 0x20, 0x81, 0x00, 0x00, 0x00),
    B("connect trailing byte", 4, 0x10, 0x81, CN4, 0x02, KA, CID, 0x00),
    B("puback v5 trailing after props", 5, 0x40, 0x81, 0x00, 0x01, 0x10, 0x00, 0xAA),
    /* ---- CONNECT (3.1.2, 3.1.3) ---- */
    B("connect unknown protocol name", 5, 0x10, 0x82, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x05, 0x02, KA, 0x00, CID),
    B("connect level 6", 5, 0x10, 0x84, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, KA, 0x00, CID),
    B("connect MQTT level 3", 4, 0x10, 0x84, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, KA, CID),
    B("connect MQIsdp level 4", 4, 0x10, 0x84, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x04, 0x02, KA, CID),
    B("connect reserved flag", 4, 0x10, 0x81, CN4, 0x03, KA, CID),
    B("connect reserved flag v5", 5, 0x10, 0x81, CN5, 0x03, KA, 0x00, CID),
    B("connect will qos 3", 5, 0x10, 0x81, CN5, 0x1E, KA, 0x00, CID, 0x00, 0x00, 0x01, 't', 0x00, 0x00),
    B("connect will qos without will", 4, 0x10, 0x82, CN4, 0x0A, KA, CID),
    B("connect will retain without will", 5, 0x10, 0x82, CN5, 0x22, KA, 0x00, CID),
    B("connect v311 password without user", 4, 0x10, 0x82, CN4, 0x42, KA, CID, 0x00, 0x01, 'p'),
    B("connect v311 empty id, no clean session", 4, 0x10, 0x85, CN4, 0x00, KA, 0x00, 0x00),
    B("connect v31 empty id", 3, 0x10, 0x85, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, KA, 0x00,
      0x00),
    B("connect client id ill-formed utf8", 4, 0x10, 0x81, CN4, 0x02, KA, 0x00, 0x02, 0xC3, 0x28),
    B("connect client id U+0000", 5, 0x10, 0x81, CN5, 0x02, KA, 0x00, 0x00, 0x01, 0x00),
    B("connect will topic wildcard", 4, 0x10, 0x90, CN4, 0x06, KA, CID, 0x00, 0x01, '#', 0x00, 0x00),
    B("connect will topic empty", 4, 0x10, 0x90, CN4, 0x06, KA, CID, 0x00, 0x00, 0x00, 0x00),
    B("connect missing client id", 4, 0x10, 0x81, CN4, 0x02, KA),
    B("connect user name missing", 5, 0x10, 0x81, CN5, 0x82, KA, 0x00, CID),
    B("connect user name bad utf8", 5, 0x10, 0x81, CN5, 0x82, KA, 0x00, CID, 0x00, 0x01, 0xFF),
    B("connect auth data without method", 5, 0x10, 0x82, CN5, 0x02, KA, 0x04, 0x16, 0x00, 0x01, 'x', CID),
    B("connect property not for connect", 5, 0x10, 0x81, CN5, 0x02, KA, 0x03, 0x23, 0x00, 0x01, CID),
    B("connect will property not for will", 5, 0x10, 0x81, CN5, 0x06, KA, 0x00, CID, 0x05, 0x11, 0x00, 0x00,
      0x00, 0x01, 0x00, 0x01, 't', 0x00, 0x00),
    B("connect receive maximum 0", 5, 0x10, 0x82, CN5, 0x02, KA, 0x03, 0x21, 0x00, 0x00, CID),
    B("connect maximum packet size 0", 5, 0x10, 0x82, CN5, 0x02, KA, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00, CID),
    B("connect request problem info 2", 5, 0x10, 0x82, CN5, 0x02, KA, 0x02, 0x17, 0x02, CID),
    B("connect request response info 2", 5, 0x10, 0x82, CN5, 0x02, KA, 0x02, 0x19, 0x02, CID),
    B("connect duplicate session expiry", 5, 0x10, 0x82, CN5, 0x02, KA, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x01, 0x11,
      0x00, 0x00, 0x00, 0x02, CID),
    B("connect will payload format 2", 5, 0x10, 0x82, CN5, 0x06, KA, 0x00, CID, 0x02, 0x01, 0x02, 0x00, 0x01,
      't', 0x00, 0x00),
    B("connect will response topic wildcard", 5, 0x10, 0x82, CN5, 0x06, KA, 0x00, CID, 0x04, 0x08, 0x00, 0x01,
      '+', 0x00, 0x01, 't', 0x00, 0x00),
    /* ---- CONNACK (3.2) ---- */
    B("connack reserved flags", 4, 0x20, 0x81, 0x02, 0x00),
    B("connack v311 return code 6", 4, 0x20, 0x82, 0x00, 0x06),
    B("connack session present on refusal", 4, 0x20, 0x82, 0x01, 0x05),
    B("connack v5 session present on refusal", 5, 0x20, 0x82, 0x01, 0x87, 0x00),
    B("connack v5 invalid reason", 5, 0x20, 0x82, 0x00, 0x05, 0x00),
    B("connack v5 missing properties", 5, 0x20, 0x81, 0x00, 0x00),
    B("connack maximum qos 2", 5, 0x20, 0x82, 0x00, 0x00, 0x02, 0x24, 0x02),
    B("connack retain available 2", 5, 0x20, 0x82, 0x00, 0x00, 0x02, 0x25, 0x02),
    B("connack wildcard available 2", 5, 0x20, 0x82, 0x00, 0x00, 0x02, 0x28, 0x02),
    B("connack sub id available 2", 5, 0x20, 0x82, 0x00, 0x00, 0x02, 0x29, 0x02),
    B("connack shared available 2", 5, 0x20, 0x82, 0x00, 0x00, 0x02, 0x2A, 0x02),
    /* ---- PUBLISH (3.3) ---- */
    B("publish topic with +", 4, 0x30, 0x90, 0x00, 0x03, 'a', '/', '+'),
    B("publish topic with #", 5, 0x30, 0x90, 0x00, 0x01, '#', 0x00),
    B("publish topic U+0000", 4, 0x30, 0x81, 0x00, 0x03, 'a', 0x00, 'b'),
    B("publish topic surrogate", 4, 0x30, 0x81, 0x00, 0x03, 0xED, 0xA0, 0x80),
    B("publish topic overlong", 4, 0x30, 0x81, 0x00, 0x02, 0xC0, 0xAF),
    B("publish v311 empty topic", 4, 0x30, 0x90, 0x00, 0x00, 'x'),
    B("publish v5 empty topic without alias", 5, 0x30, 0x82, 0x00, 0x00, 0x00, 'x'),
    B("publish qos1 packet id 0", 4, 0x32, 0x82, 0x00, 0x01, 't', 0x00, 0x00),
    B("publish qos2 missing packet id", 4, 0x34, 0x81, 0x00, 0x01, 't'),
    B("publish topic alias 0", 5, 0x30, 0x94, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00),
    B("publish subscription id 0", 5, 0x30, 0x82, 0x00, 0x01, 't', 0x02, 0x0B, 0x00),
    B("publish topic length past end", 4, 0x30, 0x81, 0x00, 0x05, 't'),
    B("publish property length past end", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x05, 0x01, 0x00),
    B("publish property cut inside value", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x03, 0x02, 0x00, 0x00),
    B("publish payload format 2", 5, 0x30, 0x82, 0x00, 0x01, 't', 0x02, 0x01, 0x02),
    B("publish unknown property 0x05", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x02, 0x05, 0x00),
    B("publish property id non-minimal vbi", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x03, 0x81, 0x00, 0x00),
    B("publish duplicate topic alias", 5, 0x30, 0x82, 0x00, 0x01, 't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x02),
    B("publish response topic wildcard", 5, 0x30, 0x82, 0x00, 0x01, 't', 0x04, 0x08, 0x00, 0x01, '#'),
    B("publish content type bad utf8", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x04, 0x03, 0x00, 0x01, 0x80),
    B("publish user property bad utf8", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x06, 0x26, 0x00, 0x01, 0xF8, 0x00,
      0x00),
    B("publish session expiry not allowed", 5, 0x30, 0x81, 0x00, 0x01, 't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x00),
    /* ---- PUBACK PUBREC PUBREL PUBCOMP (3.4-3.7) ---- */
    B("puback packet id 0", 4, 0x40, 0x82, 0x00, 0x00),
    B("pubrel packet id 0", 5, 0x62, 0x82, 0x00, 0x00),
    B("puback truncated", 4, 0x40, 0x81, 0x00),
    B("puback v5 reason 0x92", 5, 0x40, 0x82, 0x00, 0x01, 0x92),
    B("pubrec v5 reason 0x01", 5, 0x50, 0x82, 0x00, 0x01, 0x01),
    B("pubrel v5 reason 0x10", 5, 0x62, 0x82, 0x00, 0x01, 0x10),
    B("pubcomp v5 reason 0x80", 5, 0x70, 0x82, 0x00, 0x01, 0x80),
    B("puback v5 property length past end", 5, 0x40, 0x81, 0x00, 0x01, 0x00, 0x04, 0x1F),
    B("puback v5 duplicate reason string", 5, 0x40, 0x82, 0x00, 0x01, 0x00, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00,
      0x00),
    B("puback v5 property not for ack", 5, 0x40, 0x81, 0x00, 0x01, 0x00, 0x02, 0x01, 0x00),
    /* ---- SUBSCRIBE (3.8) ---- */
    B("subscribe v311 no filter", 4, 0x82, 0x82, 0x00, 0x01),
    B("subscribe v5 no filter", 5, 0x82, 0x82, 0x00, 0x01, 0x00),
    B("subscribe packet id 0", 4, 0x82, 0x82, 0x00, 0x00, 0x00, 0x01, 'a', 0x00),
    B("subscribe v5 reserved option bits", 5, 0x82, 0x81, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x40),
    B("subscribe v5 qos 3", 5, 0x82, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x03),
    B("subscribe v5 retain handling 3", 5, 0x82, 0x82, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x30),
    B("subscribe v5 no local on shared", 5, 0x82, 0x82, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r',
      'e', '/', 'g', '/', 'x', 0x04),
    B("subscribe v311 option bit 2", 4, 0x82, 0x81, 0x00, 0x01, 0x00, 0x01, 'a', 0x04),
    B("subscribe v311 qos 3", 4, 0x82, 0x81, 0x00, 0x01, 0x00, 0x01, 'a', 0x03),
    B("subscribe # not last", 4, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x05, 'a', '/', '#', '/', 'b', 0x00),
    B("subscribe + inside level", 4, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x02, 'a', '+', 0x00),
    B("subscribe # inside level", 5, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x04, 'a', '/', 'b', '#', 0x00),
    B("subscribe empty filter", 4, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x00),
    B("subscribe $share without filter", 5, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x08, '$', 's', 'h', 'a', 'r', 'e',
      '/', 'g', 0x00),
    B("subscribe $share empty group", 5, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x09, '$', 's', 'h', 'a', 'r', 'e',
      '/', '/', 'x', 0x00),
    B("subscribe $share wildcard group", 5, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x00, 0x0B, '$', 's', 'h', 'a', 'r',
      'e', '/', 'g', '+', '/', 'x', 0x00),
    B("subscribe $share empty filter", 4, 0x82, 0x8F, 0x00, 0x01, 0x00, 0x09, '$', 's', 'h', 'a', 'r', 'e', '/',
      'g', '/', 0x00),
    B("subscribe filter bad utf8", 4, 0x82, 0x81, 0x00, 0x01, 0x00, 0x01, 0xFE, 0x00),
    B("subscribe missing options byte", 4, 0x82, 0x81, 0x00, 0x01, 0x00, 0x01, 'a'),
    B("subscribe v5 two subscription ids", 5, 0x82, 0x82, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01,
      'a', 0x00),
    B("subscribe v5 subscription id 0", 5, 0x82, 0x82, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 'a', 0x00),
    B("subscribe v5 subscription id 5 bytes", 5, 0x82, 0x81, 0x00, 0x01, 0x06, 0x0B, 0xFF, 0xFF, 0xFF, 0xFF,
      0x7F, 0x00, 0x01, 'a', 0x00),
    /* ---- UNSUBSCRIBE (3.10) ---- */
    B("unsubscribe no filter", 4, 0xA2, 0x82, 0x00, 0x01),
    B("unsubscribe v5 no filter", 5, 0xA2, 0x82, 0x00, 0x01, 0x00),
    B("unsubscribe packet id 0", 5, 0xA2, 0x82, 0x00, 0x00, 0x00, 0x00, 0x01, 'a'),
    B("unsubscribe bad filter", 4, 0xA2, 0x8F, 0x00, 0x01, 0x00, 0x03, '#', '/', 'a'),
    B("unsubscribe v5 subscription id", 5, 0xA2, 0x81, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00, 0x01, 'a'),
    /* ---- SUBACK UNSUBACK (3.9, 3.11) ---- */
    B("suback v311 return code 3", 4, 0x90, 0x82, 0x00, 0x01, 0x03),
    B("suback v311 no codes", 4, 0x90, 0x82, 0x00, 0x01),
    B("suback v5 no codes", 5, 0x90, 0x82, 0x00, 0x01, 0x00),
    B("suback v5 reason 0x11", 5, 0x90, 0x82, 0x00, 0x01, 0x00, 0x11),
    B("unsuback v5 reason 0x01", 5, 0xB0, 0x82, 0x00, 0x01, 0x00, 0x01),
    B("unsuback v5 no codes", 5, 0xB0, 0x82, 0x00, 0x01, 0x00),
    B("unsuback v311 packet id 0", 4, 0xB0, 0x82, 0x00, 0x00),
    /* ---- DISCONNECT AUTH (3.14, 3.15) ---- */
    B("disconnect v5 reason 0x01", 5, 0xE0, 0x82, 0x01),
    B("disconnect v5 topic alias property", 5, 0xE0, 0x81, 0x00, 0x03, 0x23, 0x00, 0x01),
    B("disconnect v5 property length past end", 5, 0xE0, 0x81, 0x00, 0x02),
    B("auth reason 0x01", 5, 0xF0, 0x82, 0x01, 0x00),
    B("auth reason without properties", 5, 0xF0, 0x81, 0x18),
    B("auth session expiry property", 5, 0xF0, 0x81, 0x18, 0x05, 0x11, 0x00, 0x00, 0x00, 0x00),
    B("auth duplicate method", 5, 0xF0, 0x82, 0x18, 0x08, 0x15, 0x00, 0x01, 'a', 0x15, 0x00, 0x01, 'b'),
};

TEST(every_rule_gives_its_reason_code)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bad_case *c = &cases[i];
        uint8_t buf[512];
        buf[0] = c->header;
        size_t h = 1 + mqtt_vbi_encode((uint32_t)c->len, buf + 1);
        if (c->len)
            memcpy(buf + h, c->body, c->len);
        int got = test_decode_reason(buf, h + c->len, c->version);
        if (got != c->reason) {
            fprintf(stderr, "  %s: expected 0x%02x, got %d (0x%02x)\n", c->name, c->reason, got, got & 0xFF);
            test_current_failed = 1;
        }
    }
}

TEST(every_case_is_fine_once_fixed)
{
    /* Sanity: the surroundings of the cases are valid, so each case fails for its one reason. */
    const uint8_t connect5[] = {0x10, 0x0E, CN5, 0x02, KA, 0x00, CID};
    const uint8_t sub5[] = {0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 'a', 0x2D};
    const uint8_t shared_ok[] = {0x82, 0x10, 0x00, 0x01, 0x00, 0x00, 0x0A, '$', 's', 'h', 'a', 'r', 'e', '/', 'g',
                                 '/', 'x', 0x00};
    CHECK_EQ(test_decode_reason(connect5, sizeof(connect5), 0), -1);
    CHECK_EQ(test_decode_reason(sub5, sizeof(sub5), 5), -1);
    CHECK_EQ(test_decode_reason(shared_ok, sizeof(shared_ok), 5), -1);
}

/* Remaining length disagreeing with the bytes given, and lengths the fixed header cannot hold. */
TEST(length_mismatches)
{
    const uint8_t shorter[] = {0x30, 0x05, 0x00, 0x01, 't'};
    const uint8_t longer[] = {0x40, 0x02, 0x00, 0x01, 0xFF};
    const uint8_t vbi5[] = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    const uint8_t vbi_nonminimal[] = {0xC0, 0x80, 0x00};
    const uint8_t header_cut[] = {0x30, 0x80};
    CHECK_EQ(test_decode_reason(shorter, sizeof(shorter), 4), 0x81);
    CHECK_EQ(test_decode_reason(longer, sizeof(longer), 4), 0x81);
    CHECK_EQ(test_decode_reason(vbi5, sizeof(vbi5), 4), 0x81);
    CHECK_EQ(test_decode_reason(vbi_nonminimal, sizeof(vbi_nonminimal), 4), 0x81);
    CHECK_EQ(test_decode_reason(header_cut, sizeof(header_cut), 4), 0x81);
    CHECK_EQ(test_decode_reason(header_cut, 0, 4), 0x81);
}

TEST(first_packet_and_second_connect)
{
    const uint8_t ping[] = {0xC0, 0x00};
    CHECK_EQ(test_decode_reason(ping, sizeof(ping), 0), 0x82);
}

static int decode_with(const uint8_t *b, size_t n, uint8_t version, mqtt_limits lim, size_t arena_limit)
{
    mqtt_alloc a = test_alloc();
    test_arena_global.limit = arena_limit;
    mqtt_packet p;
    mqtt_error e = {0};
    int rc = mqtt_decode(b, n, version, &lim, &a, &p, &e);
    return rc == MQTT_OK ? -1 : e.reason;
}

TEST(limits)
{
    const uint8_t pub[] = {0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'}; /* 9 bytes, 2 levels */
    CHECK_EQ(decode_with(pub, sizeof(pub), 4, (mqtt_limits){.max_packet_size = 9}, 0), -1);
    CHECK_EQ(decode_with(pub, sizeof(pub), 4, (mqtt_limits){.max_packet_size = 8}, 0), 0x95);
    CHECK_EQ(decode_with(pub, sizeof(pub), 4, (mqtt_limits){.max_topic_levels = 2}, 0), -1);
    CHECK_EQ(decode_with(pub, sizeof(pub), 4, (mqtt_limits){.max_topic_levels = 1}, 0), 0x90);
    const uint8_t sub[] = {0x82, 0x0C, 0x00, 0x01, 0x00, 0x03, 'a', '/', '+', 0x01, 0x00, 0x01, '#', 0x00};
    CHECK_EQ(decode_with(sub, sizeof(sub), 4, (mqtt_limits){.max_subs_per_packet = 2}, 0), -1);
    CHECK_EQ(decode_with(sub, sizeof(sub), 4, (mqtt_limits){.max_subs_per_packet = 1}, 0), 0x83);
    CHECK_EQ(decode_with(sub, sizeof(sub), 4, (mqtt_limits){.max_topic_levels = 1}, 0), 0x8F);
    /* three user properties against a limit of two */
    const uint8_t users[] = {0x30, 0x16, 0x00, 0x01, 't', 0x12, 0x26, 0x00, 0x01, 'a', 0x00, 0x00,
                             0x26, 0x00, 0x01, 'b', 0x00, 0x00, 0x26, 0x00, 0x01, 'c', 0x00, 0x00};
    CHECK_EQ(decode_with(users, sizeof(users), 5, (mqtt_limits){.max_user_props = 3}, 0), -1);
    CHECK_EQ(decode_with(users, sizeof(users), 5, (mqtt_limits){.max_user_props = 2}, 0), 0x83);
    /* allocator exhausted: a clean error, not a crash */
    CHECK_EQ(decode_with(users, sizeof(users), 5, (mqtt_limits){0}, 16), 0x83);
    CHECK_EQ(decode_with(sub, sizeof(sub), 4, (mqtt_limits){0}, 16), 0x83);
    /* no allocator at all */
    mqtt_packet p;
    mqtt_error e;
    CHECK_EQ(mqtt_decode(sub, sizeof(sub), 4, NULL, NULL, &p, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, 0x83);
    CHECK_EQ(mqtt_decode(pub, sizeof(pub), 4, NULL, NULL, &p, &e), MQTT_OK); /* nothing to allocate */
}

/* The offset of an error points at the offending field. */
TEST(error_offsets)
{
    const uint8_t b[] = {0x30, 0x05, 0x00, 0x03, 'a', '/', '+'};
    mqtt_packet p;
    mqtt_error e;
    CHECK_EQ(test_decode(b, sizeof(b), 4, &p, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, 0x90);
    CHECK_EQ(e.offset, 2);
    const uint8_t c[] = {0x10, 0x0D, CN4, 0x03, KA, CID};
    CHECK_EQ(test_decode(c, sizeof(c), 0, &p, &e), MQTT_ERROR);
    CHECK_EQ(e.offset, 9); /* the connect flags byte */
    CHECK_EQ(p.u.connect.version, 4); /* known, to pick the CONNACK form */
}

/* A bump allocator over a large static buffer, for the big inputs below. */
static uint8_t big_arena[8 << 20];
static size_t big_used;

static void *big_alloc(void *ctx, size_t size)
{
    (void)ctx;
    size = (size + 15) & ~(size_t)15;
    if (size > sizeof(big_arena) - big_used)
        return NULL;
    big_used += size;
    return big_arena + big_used - size;
}

/* Decoding stays linear: a SUBSCRIBE with 100000 filters and a 1 MB PUBLISH of user properties decode in
 * one pass each (a quadratic decoder would make this test time out; no time is asserted). */
TEST(large_inputs_decode)
{
    static uint8_t buf[1 << 20];
    uint32_t count = 100000;
    uint32_t remaining = 2 + 1 + count * 5;
    size_t n = 0;
    buf[n++] = 0x82;
    n += mqtt_vbi_encode(remaining, buf + n);
    const uint8_t head[] = {0x00, 0x01, 0x00};
    memcpy(buf + n, head, 3);
    n += 3;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t entry[] = {0x00, 0x02, (uint8_t)('a' + i % 26), '/', 0x01}; /* "x/" QoS 1 */
        memcpy(buf + n, entry, 5);
        n += 5;
    }
    mqtt_alloc a = {big_alloc, NULL};
    mqtt_packet p;
    mqtt_error e = {0};
    big_used = 0;
    CHECK_EQ(mqtt_decode(buf, n, 5, NULL, &a, &p, &e), MQTT_OK);
    if (e.message)
        fprintf(stderr, "  0x%02x at %u: %s\n", e.reason, e.offset, e.message);
    CHECK_EQ(p.u.subscribe.count, count);
    CHECK(test_bytes_eq(p.u.subscribe.subs[count - 1].filter, "d/"));
    mqtt_limits lim = {.max_subs_per_packet = 100};
    big_used = 0;
    CHECK_EQ(mqtt_decode(buf, n, 5, &lim, &a, &p, &e), MQTT_ERROR);
    CHECK_EQ(e.reason, 0x83);
    CHECK_EQ(big_used, 0); /* refused before anything was allocated */

    /* PUBLISH: topic "t" and a property block of almost 1 MB of 6-byte user properties "k"="" */
    uint32_t users = ((1u << 20) - 64) / 6, props_len = users * 6;
    remaining = 3 + (uint32_t)mqtt_vbi_size(props_len) + props_len;
    n = 0;
    buf[n++] = 0x30;
    n += mqtt_vbi_encode(remaining, buf + n);
    buf[n++] = 0x00;
    buf[n++] = 0x01;
    buf[n++] = 't';
    n += mqtt_vbi_encode(props_len, buf + n);
    for (uint32_t i = 0; i < users; i++) {
        const uint8_t prop[] = {0x26, 0x00, 0x01, 'k', 0x00, 0x00};
        memcpy(buf + n, prop, 6);
        n += 6;
    }
    big_used = 0;
    memset(&e, 0, sizeof(e));
    CHECK_EQ(mqtt_decode(buf, n, 5, NULL, &a, &p, &e), MQTT_OK);
    if (e.message)
        fprintf(stderr, "  0x%02x at %u: %s\n", e.reason, e.offset, e.message);
    CHECK_EQ(p.u.publish.props.user_count, users);
    CHECK_EQ(p.u.publish.payload.len, 0);
}

TEST_MAIN()
