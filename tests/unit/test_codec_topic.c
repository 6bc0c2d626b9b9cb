/*
 * test_codec_topic.c - MQTT UTF-8 strings (1.5.4), topic names and filters (4.7), shared subscriptions (4.8.2).
 */
#include "codec_helpers.h"

static bool u(const char *s, size_t n)
{
    return mqtt_utf8_valid((const uint8_t *)s, n);
}
#define U(lit) u(lit, sizeof(lit) - 1)

TEST(utf8_valid)
{
    CHECK(U(""));
    CHECK(U("plain ascii/topic"));
    CHECK(U("\xc2\x80"));             /* U+0080, smallest 2-byte */
    CHECK(U("\xdf\xbf"));             /* U+07FF */
    CHECK(U("\xe0\xa0\x80"));         /* U+0800 */
    CHECK(U("\xed\x9f\xbf"));         /* U+D7FF, just below the surrogates */
    CHECK(U("\xee\x80\x80"));         /* U+E000, just above */
    CHECK(U("\xef\xbb\xbf"));         /* U+FEFF: BOM kept, MQTT-1.5.4-3 */
    CHECK(U("\xef\xbf\xbf"));         /* U+FFFF non-character: SHOULD NOT, accepted */
    CHECK(U("\xf0\x90\x80\x80"));     /* U+10000 */
    CHECK(U("\xf4\x8f\xbf\xbf"));     /* U+10FFFF */
    CHECK(U("\x01\x1f\x7f"));         /* control characters: SHOULD NOT, accepted */
    CHECK(U("A\xf0\x9f\x98\x80Z"));   /* emoji */
}

TEST(utf8_invalid)
{
    CHECK(!U("\x00"));                /* U+0000, MQTT-1.5.4-2 */
    CHECK(!U("a\x00z"));
    CHECK(!U("\xc0\x80"));            /* overlong U+0000 */
    CHECK(!U("\xc1\xbf"));            /* overlong 2-byte */
    CHECK(!U("\xe0\x9f\xbf"));        /* overlong 3-byte */
    CHECK(!U("\xf0\x8f\xbf\xbf"));    /* overlong 4-byte */
    CHECK(!U("\xed\xa0\x80"));        /* U+D800 surrogate, MQTT-1.5.4-1 */
    CHECK(!U("\xed\xbf\xbf"));        /* U+DFFF */
    CHECK(!U("\xf4\x90\x80\x80"));    /* above U+10FFFF */
    CHECK(!U("\xf5\x80\x80\x80"));
    CHECK(!U("\xff"));
    CHECK(!U("\x80"));                /* lone continuation */
    CHECK(!U("\xc3"));                /* truncated */
    CHECK(!U("\xe2\x82"));
    CHECK(!U("\xf0\x9f\x98"));
    CHECK(!U("\xe2\x28\xa1"));        /* bad continuation */
    CHECK(!U("\xf0\x9f\x98\x28"));
}

/* Every 1- and 2-byte input agrees with a reference decoder written from the definition. */
static bool ref_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp, need, min;
        uint8_t b = s[i];
        if (b < 0x80) { cp = b; need = 0; min = 0; }
        else if ((b & 0xE0) == 0xC0) { cp = b & 0x1F; need = 1; min = 0x80; }
        else if ((b & 0xF0) == 0xE0) { cp = b & 0x0F; need = 2; min = 0x800; }
        else if ((b & 0xF8) == 0xF0) { cp = b & 0x07; need = 3; min = 0x10000; }
        else return false;
        if (need && i + need >= n)
            return false; /* truncated */
        for (uint32_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += need + 1;
    }
    return true;
}

TEST(utf8_exhaustive_short)
{
    uint8_t b[2];
    for (int x = 0; x < 256; x++) {
        b[0] = (uint8_t)x;
        CHECK_EQ(mqtt_utf8_valid(b, 1), ref_valid(b, 1));
        for (int y = 0; y < 256; y++) {
            b[1] = (uint8_t)y;
            if (mqtt_utf8_valid(b, 2) != ref_valid(b, 2)) {
                fprintf(stderr, "  mismatch %02x %02x\n", x, y);
                test_current_failed = 1;
            }
        }
    }
    /* 3-byte sequences starting with each lead byte E0..EF, all second bytes */
    for (int x = 0xE0; x <= 0xEF; x++)
        for (int y = 0; y < 256; y++) {
            uint8_t c[3] = {(uint8_t)x, (uint8_t)y, 0x80};
            CHECK_EQ(mqtt_utf8_valid(c, 3), ref_valid(c, 3));
        }
}

static bool tn(const char *s)
{
    return mqtt_topic_name_valid((const uint8_t *)s, strlen(s));
}
static bool tf(const char *s)
{
    return mqtt_topic_filter_valid((const uint8_t *)s, strlen(s));
}

TEST(topic_names)
{
    CHECK(tn("a"));
    CHECK(tn("/"));
    CHECK(tn("a//b/"));
    CHECK(tn("$SYS/broker/uptime"));
    CHECK(tn("sport/tennis/player1"));
    CHECK(tn("caf\xc3\xa9"));
    CHECK(!tn(""));
    CHECK(!tn("a/+"));
    CHECK(!tn("#"));
    CHECK(!tn("a/b#"));
    CHECK(!mqtt_topic_name_valid((const uint8_t *)"a\0b", 3));
    CHECK(!mqtt_topic_name_valid((const uint8_t *)"\xed\xa0\x80", 3));
}

/* The examples of 4.7.1.2 and 4.7.1.3. */
TEST(topic_filters)
{
    CHECK(tf("sport/tennis/player1/#"));
    CHECK(tf("sport/#"));
    CHECK(tf("#"));
    CHECK(tf("+"));
    CHECK(tf("+/tennis/#"));
    CHECK(tf("sport/+/player1"));
    CHECK(tf("/+"));
    CHECK(tf("+/+"));
    CHECK(tf("a//b"));
    CHECK(tf("$share")); /* not a shared subscription: an ordinary filter */
    CHECK(tf("$sharex/a"));
    CHECK(!tf(""));
    CHECK(!tf("sport/tennis#"));
    CHECK(!tf("sport/tennis/#/ranking"));
    CHECK(!tf("sport+"));
    CHECK(!tf("+a"));
    CHECK(!tf("a/++"));
    CHECK(!tf("##"));
    CHECK(!tf("#/"));
    CHECK(!mqtt_topic_filter_valid((const uint8_t *)"a/\0", 3));
}

TEST(shared_filters)
{
    CHECK(tf("$share/g/x"));
    CHECK(tf("$share/group-1/sport/+/#"));
    CHECK(tf("$share/g/#"));
    CHECK(tf("$share/g//"));
    CHECK(!tf("$share/"));
    CHECK(!tf("$share/g"));
    CHECK(!tf("$share/g/"));
    CHECK(!tf("$share//x"));
    CHECK(!tf("$share/+/x"));
    CHECK(!tf("$share/g#/x"));
    CHECK(!tf("$share/g/a#"));
    CHECK(!mqtt_topic_filter_valid((const uint8_t *)"$share/\xc3/x", 10));
}

TEST(shared_split)
{
    mqtt_bytes g, in;
    CHECK(mqtt_shared_split(MB("$share/grp/a/b"), &g, &in));
    CHECK(test_bytes_eq(g, "grp"));
    CHECK(test_bytes_eq(in, "a/b"));
    CHECK(mqtt_shared_split(MB("$share/grp/"), &g, &in));
    CHECK_EQ(in.len, 0);
    CHECK(!mqtt_shared_split(MB("$share/grp"), &g, &in));
    CHECK(!mqtt_shared_split(MB("$share//a"), &g, &in));
    CHECK(!mqtt_shared_split(MB("a/b"), &g, &in));
    CHECK(!mqtt_shared_split(MB("$shar"), &g, &in));
    CHECK(!mqtt_shared_split((mqtt_bytes){NULL, 0}, &g, &in));
}

TEST_MAIN()
