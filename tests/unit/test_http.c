/* test_http.c - the WebSocket upgrade parser, list helpers and answer writers. */
#include "codec/http.h"

#include "test.h"

static const char good[] = "GET /mqtt HTTP/1.1\r\n"
                           "Host: localhost:8083\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: keep-alive, Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: mqttv3.1, mqtt\r\n"
                           "Origin: https://example.com\r\n"
                           "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\n"
                           "\r\n";

static int parse(const char *req, size_t len, http_upgrade_request *out)
{
    http_parser p;
    http_parser_init(&p, 0, 0);
    return http_upgrade_parse(&p, (const uint8_t *)req, len, out);
}

static bool slice_is(http_slice s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.data, lit, s.len) == 0;
}

TEST(parses_a_browser_request_byte_by_byte)
{
    http_parser p;
    http_upgrade_request r;
    http_parser_init(&p, 0, 0);
    size_t n = strlen(good);
    for (size_t i = 1; i < n; i++)
        CHECK_EQ(http_upgrade_parse(&p, (const uint8_t *)good, i, &r), HTTP_NEED_MORE);
    CHECK_EQ(http_upgrade_parse(&p, (const uint8_t *)good, n, &r), HTTP_OK);
    CHECK_EQ(r.header_len, n);
    CHECK(slice_is(r.target, "/mqtt"));
    CHECK(slice_is(r.host, "localhost:8083"));
    CHECK(slice_is(r.origin, "https://example.com"));
    CHECK_STR(http_select_subprotocol(r.protocols), "mqttv3.1");
    http_slice last;
    CHECK(http_list_item_from_right(r.forwarded_for, 0, &last));
    CHECK(slice_is(last, "10.0.0.1"));
    CHECK(http_list_item_from_right(r.forwarded_for, 1, &last));
    CHECK(slice_is(last, "203.0.113.7"));
    CHECK(!http_list_item_from_right(r.forwarded_for, 2, &last));
}

TEST(trailing_websocket_bytes_not_part_of_head)
{
    char buf[1024];
    size_t n = strlen(good);
    memcpy(buf, good, n);
    memcpy(buf + n, "\x82\x80", 2);
    http_upgrade_request r;
    CHECK_EQ(parse(buf, n + 2, &r), HTTP_OK);
    CHECK_EQ(r.header_len, n);
}

TEST(accept_key_matches_rfc_example)
{
    char accept[HTTP_WS_ACCEPT_LEN + 1];
    http_slice key = {"dGhlIHNhbXBsZSBub25jZQ==", 24};
    CHECK(http_ws_accept(key, accept));
    CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    char resp[512];
    size_t n = http_upgrade_response_write(resp, sizeof resp, accept, "mqtt", false);
    CHECK(n > 0);
    CHECK(strstr(resp, "Strict-Transport-Security") == NULL);
    CHECK(strstr(resp, "Sec-WebSocket-Protocol: mqtt\r\n") != NULL);
    CHECK(strstr(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    CHECK_EQ(http_upgrade_response_write(resp, 20, accept, "mqtt", false), 0);
    CHECK(http_upgrade_response_write(resp, sizeof resp, accept, "mqtt", true) > 0);
    CHECK(strstr(resp, "\r\nStrict-Transport-Security: max-age=63072000; includeSubDomains\r\n") != NULL);
    CHECK(strstr(resp, "\r\n\r\n") == resp + strlen(resp) - 4);
}

/* Replaces the first occurrence of `from` in the good request by `to` and parses it. */
static int parse_variant(const char *from, const char *to, http_upgrade_request *r)
{
    static char buf[2048];
    const char *at = strstr(good, from);
    size_t pre = (size_t)(at - good);
    memcpy(buf, good, pre);
    strcpy(buf + pre, to);
    strcat(buf, at + strlen(from));
    return parse(buf, strlen(buf), r);
}

TEST(refusals_carry_the_right_status)
{
    http_upgrade_request r;
    CHECK_EQ(parse_variant("GET ", "POST ", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 405);
    CHECK_EQ(parse_variant("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 505);
    CHECK_EQ(parse_variant("Version: 13", "Version: 8", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 426);
    CHECK_EQ(parse_variant("Upgrade: websocket", "Upgrade: h2c", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 426);
    CHECK_EQ(parse_variant("keep-alive, Upgrade", "keep-alive", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("dGhlIHNhbXBsZSBub25jZQ==", "short==", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("Host: localhost:8083\r\n", "", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("Origin:", "Host: twice\r\nOrigin:", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("Origin:", " folded\r\nOrigin:", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("Origin:", "Content-Length: 5\r\nOrigin:", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("Origin: ", "Origin : ", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("/mqtt", "mqtt", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse_variant("Origin: https", "Origin: \x01https", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
}

TEST(line_structure_errors_are_immediate)
{
    http_upgrade_request r;
    CHECK_EQ(parse("GET / HTTP/1.1\nHost: x\n\n", 24, &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse("GET / HTTP/1.1\rX", 16, &r), HTTP_ERROR);
    CHECK_EQ(parse("GET /\0 HTTP/1.1", 15, &r), HTTP_ERROR);
    CHECK_EQ(parse("\r\n\r\n", 4, &r), HTTP_ERROR);
}

TEST(size_and_count_limits)
{
    static char big[9000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /", 5);
    http_upgrade_request r;
    CHECK_EQ(parse(big, sizeof big, &r), HTTP_ERROR);
    CHECK_EQ(r.status, 431);
    char many[4096] = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 70; i++)
        strcat(many, "X-A: b\r\n");
    strcat(many, "\r\n");
    CHECK_EQ(parse(many, strlen(many), &r), HTTP_ERROR);
    CHECK_EQ(r.status, 431);
}

TEST(list_helpers)
{
    http_slice l = {" a ,B,, c", 9};
    CHECK(http_list_contains(l, "b"));
    CHECK(http_list_contains(l, "C"));
    CHECK(!http_list_contains(l, "d"));
    CHECK(http_select_subprotocol((http_slice){"wamp, MQTT", 10}) == NULL);
    CHECK_STR(http_select_subprotocol((http_slice){"wamp, mqtt", 10}), "mqtt");
    http_slice item;
    CHECK(!http_list_item_from_right((http_slice){" , ", 3}, 0, &item));
}

TEST(error_answers)
{
    char out[512];
    CHECK(http_error_response_write(out, sizeof out, 426, false) > 0);
    CHECK(strstr(out, "HTTP/1.1 426 Upgrade Required\r\n") == out);
    CHECK(strstr(out, "Sec-WebSocket-Version: 13\r\n") != NULL);
    CHECK(strstr(out, "\r\nX-Content-Type-Options: nosniff\r\n") != NULL);
    CHECK(strstr(out, "\r\nCache-Control: no-store\r\n") != NULL);
    CHECK(strstr(out, "Strict-Transport-Security") == NULL);
    CHECK(http_error_response_write(out, sizeof out, 403, true) > 0);
    CHECK(strstr(out, "403 Forbidden") != NULL);
    CHECK(strstr(out, "\r\nStrict-Transport-Security: max-age=63072000; includeSubDomains\r\n") != NULL);
    CHECK_EQ(http_error_response_write(out, 64, 403, true), 0);
}

TEST_MAIN()
