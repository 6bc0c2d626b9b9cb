/* test_ws.c - the WebSocket frame codec: decoding in every chunking, limits, control frames, errors. */
#include "codec/ws.h"

#include <stdlib.h>

#include "test.h"

static const ws_limits server_limits = {.max_frame = 1000, .max_message = 1500, .require_mask = true};
static const uint8_t mask[4] = {0x12, 0x34, 0x56, 0x78};

/* Appends a masked client frame to buf at *n. */
static void put_frame(uint8_t *buf, size_t *n, uint8_t op, bool fin, const void *payload, size_t len)
{
    *n += ws_frame_header_encode_masked(buf + *n, op, fin, len, mask);
    memcpy(buf + *n, payload, len);
    ws_mask_apply(buf + *n, len, mask, 0);
    *n += len;
}

/* Feeds buf in chunks of `step` bytes; collects data into out, counts events; returns the last event. */
static ws_event feed_all(ws_decoder *d, uint8_t *buf, size_t n, size_t step, uint8_t *out, size_t *out_len,
                         int *pings)
{
    ws_event ev = {0};
    size_t pos = 0;
    *out_len = 0;
    *pings = 0;
    while (pos < n) {
        size_t chunk = n - pos < step ? n - pos : step;
        size_t off = 0;
        while (off < chunk) {
            size_t used = ws_decoder_feed(d, buf + pos + off, chunk - off, &ev);
            off += used;
            if (ev.type == WS_EV_DATA) {
                memcpy(out + *out_len, ev.data, ev.len);
                *out_len += ev.len;
            } else if (ev.type == WS_EV_PING) {
                (*pings)++;
            } else if (ev.type == WS_EV_ERROR || ev.type == WS_EV_CLOSE) {
                return ev;
            } else if (used == 0) {
                break;
            }
        }
        pos += chunk;
    }
    return ev;
}

TEST(fragmented_message_with_interleaved_ping_any_chunking)
{
    for (size_t step = 1; step <= 40; step++) {
        uint8_t buf[512], out[512];
        size_t n = 0, out_len;
        int pings;
        put_frame(buf, &n, WS_OP_BINARY, false, "\x10\x0c\x00\x04MQ", 6);
        put_frame(buf, &n, WS_OP_PING, true, "hi", 2);
        put_frame(buf, &n, WS_OP_CONTINUATION, false, "TT\x04\x02\x00", 5);
        put_frame(buf, &n, WS_OP_CONTINUATION, true, "\x3c\x00\x00", 3);
        ws_decoder d;
        ws_decoder_init(&d, &server_limits);
        ws_event ev = feed_all(&d, buf, n, step, out, &out_len, &pings);
        CHECK(ev.type != WS_EV_ERROR);
        CHECK_EQ(out_len, 14);
        CHECK_MEM(out, "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14);
        CHECK_EQ(pings, 1);
        CHECK(ws_decoder_idle(&d));
    }
}

TEST(long_lengths_16_and_64_bit)
{
    static uint8_t buf[70000 + 20], out[70000];
    uint8_t *payload = malloc(70000);
    for (size_t i = 0; i < 70000; i++)
        payload[i] = (uint8_t)i;
    ws_limits lim = {.max_frame = 100000, .max_message = 100000, .require_mask = true};
    size_t n = 0, out_len;
    int pings;
    put_frame(buf, &n, WS_OP_BINARY, true, payload, 300);
    CHECK_EQ(buf[1], 0x80 | 126);
    ws_decoder d;
    ws_decoder_init(&d, &lim);
    feed_all(&d, buf, n, 7, out, &out_len, &pings);
    CHECK_EQ(out_len, 300);
    CHECK_MEM(out, payload, 300);
    n = 0;
    put_frame(buf, &n, WS_OP_BINARY, true, payload, 70000);
    CHECK_EQ(buf[1], 0x80 | 127);
    feed_all(&d, buf, n, 4096, out, &out_len, &pings);
    CHECK_EQ(out_len, 70000);
    CHECK_MEM(out, payload, 70000);
    free(payload);
}

/* Decodes raw (already built) bytes in one go and returns the event that stops it. */
static ws_event decode_raw(const ws_limits *lim, uint8_t *buf, size_t n)
{
    ws_decoder d;
    uint8_t out[4096];
    size_t out_len;
    int pings;
    ws_decoder_init(&d, lim);
    return feed_all(&d, buf, n, n, out, &out_len, &pings);
}

TEST(protocol_errors_get_1002)
{
    uint8_t unmasked[] = {0x82, 0x01, 0x00};
    CHECK_EQ(decode_raw(&server_limits, unmasked, sizeof unmasked).close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t rsv[] = {0xC2, 0x80, 1, 2, 3, 4};
    CHECK_EQ(decode_raw(&server_limits, rsv, sizeof rsv).close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t opcode3[] = {0x83, 0x80, 1, 2, 3, 4};
    CHECK_EQ(decode_raw(&server_limits, opcode3, sizeof opcode3).close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t frag_ping[] = {0x09, 0x80, 1, 2, 3, 4};
    CHECK_EQ(decode_raw(&server_limits, frag_ping, sizeof frag_ping).close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t big_ping[] = {0x89, 0x80 | 126, 0, 126, 1, 2, 3, 4};
    CHECK_EQ(decode_raw(&server_limits, big_ping, sizeof big_ping).close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t lone_cont[] = {0x80, 0x80, 1, 2, 3, 4};
    CHECK_EQ(decode_raw(&server_limits, lone_cont, sizeof lone_cont).close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t nonminimal[] = {0x82, 0x80 | 126, 0, 5, 1, 2, 3, 4};
    ws_event ev = decode_raw(&server_limits, nonminimal, sizeof nonminimal);
    CHECK_EQ(ev.type, WS_EV_ERROR);
    CHECK_EQ(ev.close_code, WS_CLOSE_PROTOCOL_ERROR);
    uint8_t msb[] = {0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
    CHECK_EQ(decode_raw(&server_limits, msb, sizeof msb).close_code, WS_CLOSE_PROTOCOL_ERROR);
    /* A new binary frame while a fragmented one is open. */
    uint8_t buf[64];
    size_t n = 0;
    put_frame(buf, &n, WS_OP_BINARY, false, "a", 1);
    put_frame(buf, &n, WS_OP_BINARY, true, "b", 1);
    CHECK_EQ(decode_raw(&server_limits, buf, n).close_code, WS_CLOSE_PROTOCOL_ERROR);
}

TEST(text_frames_refused_with_1003)
{
    uint8_t buf[32];
    size_t n = 0;
    put_frame(buf, &n, WS_OP_TEXT, true, "x", 1);
    ws_event ev = decode_raw(&server_limits, buf, n);
    CHECK_EQ(ev.type, WS_EV_ERROR);
    CHECK_EQ(ev.close_code, WS_CLOSE_UNSUPPORTED_DATA);
}

TEST(limits_get_1009_before_payload)
{
    uint8_t big[] = {0x82, 0x80 | 126, 0x03, 0xE9, 1, 2, 3, 4}; /* 1001 bytes announced, none sent */
    ws_event ev = decode_raw(&server_limits, big, sizeof big);
    CHECK_EQ(ev.type, WS_EV_ERROR);
    CHECK_EQ(ev.close_code, WS_CLOSE_TOO_BIG);
    /* Two fragments of 800 each exceed the 1500-byte message limit on the second header. */
    static uint8_t buf[2000];
    static uint8_t payload[800];
    size_t n = 0;
    put_frame(buf, &n, WS_OP_BINARY, false, payload, 800);
    put_frame(buf, &n, WS_OP_CONTINUATION, true, payload, 800);
    ev = decode_raw(&server_limits, buf, n);
    CHECK_EQ(ev.close_code, WS_CLOSE_TOO_BIG);
}

TEST(close_frames)
{
    uint8_t buf[200];
    size_t n = 0;
    put_frame(buf, &n, WS_OP_CLOSE, true, "\x03\xe8" "bye", 5);
    ws_event ev = decode_raw(&server_limits, buf, n);
    CHECK_EQ(ev.type, WS_EV_CLOSE);
    CHECK_EQ(ev.close_code, 1000);
    CHECK_EQ(ev.len, 3);
    CHECK_MEM(ev.data, "bye", 3);
    n = 0;
    put_frame(buf, &n, WS_OP_CLOSE, true, "", 0);
    ev = decode_raw(&server_limits, buf, n);
    CHECK_EQ(ev.type, WS_EV_CLOSE);
    CHECK_EQ(ev.close_code, WS_CLOSE_NO_STATUS);
    n = 0;
    put_frame(buf, &n, WS_OP_CLOSE, true, "\x03", 1);
    CHECK_EQ(decode_raw(&server_limits, buf, n).close_code, WS_CLOSE_PROTOCOL_ERROR);
    n = 0;
    put_frame(buf, &n, WS_OP_CLOSE, true, "\x03\xed", 2); /* 1005 may not be sent */
    CHECK_EQ(decode_raw(&server_limits, buf, n).close_code, WS_CLOSE_PROTOCOL_ERROR);
    n = 0;
    put_frame(buf, &n, WS_OP_CLOSE, true, "\x03\xe8\xc0\xaf", 4); /* overlong '/' */
    CHECK_EQ(decode_raw(&server_limits, buf, n).close_code, WS_CLOSE_INVALID_DATA);
    n = 0;
    put_frame(buf, &n, WS_OP_CLOSE, true, "\x0f\xa0\xe2\x82\xac", 5); /* 4000 + euro sign */
    ev = decode_raw(&server_limits, buf, n);
    CHECK_EQ(ev.type, WS_EV_CLOSE);
    CHECK_EQ(ev.close_code, 4000);
}

TEST(error_is_sticky)
{
    uint8_t bad[] = {0x82, 0x00};
    ws_decoder d;
    ws_event ev;
    ws_decoder_init(&d, &server_limits);
    ws_decoder_feed(&d, bad, 2, &ev);
    CHECK_EQ(ev.type, WS_EV_ERROR);
    uint8_t good[8] = {0};
    CHECK_EQ(ws_decoder_feed(&d, good, 8, &ev), 0);
    CHECK_EQ(ev.type, WS_EV_ERROR);
}

TEST(encoders)
{
    uint8_t h[WS_HEADER_MAX];
    CHECK_EQ(ws_frame_header_encode(h, WS_OP_BINARY, true, 5), 2);
    CHECK_MEM(h, "\x82\x05", 2);
    CHECK_EQ(ws_frame_header_encode(h, WS_OP_BINARY, false, 126), 4);
    CHECK_MEM(h, "\x02\x7e\x00\x7e", 4);
    CHECK_EQ(ws_frame_header_encode(h, WS_OP_BINARY, true, 65536), 10);
    CHECK_MEM(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    uint8_t c[WS_HEADER_MAX + WS_CONTROL_MAX];
    CHECK_EQ(ws_close_frame_encode(c, 1009, "too big"), 11);
    CHECK_MEM(c, "\x88\x09\x03\xf1too big", 11);
    char longreason[300];
    memset(longreason, 'a', sizeof longreason - 1);
    longreason[299] = '\0';
    CHECK_EQ(ws_close_frame_encode(c, 1000, longreason), 2 + 125);
}

TEST_MAIN()
