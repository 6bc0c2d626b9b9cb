/* test_ws_transport.c - the WebSocket transport over a fake inner transport (a socketpair whose writes can
 * be throttled to a few bytes per call): upgrade policy, framing, ping/pong, close, X-Forwarded-For. */
#include "net/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "codec/ws.h"
#include "test.h"

/* ---- a fake inner transport: plain non-blocking socket, optional write throttle ---- */
typedef struct fake {
    transport base;
    size_t write_cap; /* max bytes per writev, 0 = unlimited */
} fake;

static ssize_t fake_read(transport *t, void *buf, size_t len)
{
    ssize_t n = recv(t->fd, buf, len, 0);
    t->want_read = n < 0 && errno == EAGAIN;
    return n;
}

static ssize_t fake_writev(transport *t, const struct iovec *iov, int iovcnt)
{
    fake *f = (fake *)t;
    uint8_t buf[1 << 16];
    size_t len = 0;
    for (int i = 0; i < iovcnt; i++) {
        size_t take = iov[i].iov_len < sizeof buf - len ? iov[i].iov_len : sizeof buf - len;
        memcpy(buf + len, iov[i].iov_base, take);
        len += take;
    }
    if (f->write_cap && len > f->write_cap)
        len = f->write_cap;
    return send(t->fd, buf, len, MSG_NOSIGNAL);
}

static bool fake_pending(const transport *t)
{
    return false;
}

static void fake_shutdown(transport *t, int code)
{
}

static void fake_destroy(transport *t)
{
    free(t);
}

static const transport_ops fake_ops = {.name = "fake", .read = fake_read, .writev = fake_writev,
                                       .pending = fake_pending, .shutdown = fake_shutdown,
                                       .destroy = fake_destroy};

typedef struct conn {
    int fds[2];
    fake *inner;
    transport *ws;
} conn;

static ws_cidr proxies[1];
static const char *origins[] = {"https://app.example"};

static ws_transport_settings settings(void)
{
    sec_cidr_parse("127.0.0.0/8", &proxies[0].base, &proxies[0].bits);
    ws_transport_settings s = {.path = "/mqtt", .origins = origins, .origin_count = 1,
                               .trusted_proxies = proxies, .trusted_proxy_count = 1, .max_frame = 4096,
                               .name = "test"};
    return s;
}

static void conn_open(conn *c, const ws_transport_settings *s, const char *peer)
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, c->fds) != 0)
        abort();
    fcntl(c->fds[0], F_SETFL, O_NONBLOCK);
    c->inner = calloc(1, sizeof *c->inner);
    c->inner->base.ops = &fake_ops;
    c->inner->base.fd = c->fds[0];
    c->ws = transport_ws_new(&c->inner->base, s, peer);
}

static void conn_close(conn *c)
{
    c->ws->ops->destroy(c->ws);
    close(c->fds[0]);
    close(c->fds[1]);
}

static const char request_fmt[] = "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                                   "Sec-WebSocket-Protocol: %s\r\nOrigin: %s\r\n%s\r\n";

/* Sends a request and runs the server handshake; returns its result and the answer in resp. */
static int upgrade(conn *c, const char *path, const char *proto, const char *origin, const char *extra,
                   char *resp, size_t cap)
{
    char req[1024];
    int n = snprintf(req, sizeof req, request_fmt, path, proto, origin, extra);
    int r = 0;
    for (int i = 0; i < n; i += 7) { /* in small pieces */
        send(c->fds[1], req + i, (size_t)(n - i < 7 ? n - i : 7), 0);
        r = c->ws->ops->handshake(c->ws);
        if (r != 0)
            break;
    }
    for (int i = 0; r == 0 && i < 100; i++)
        r = c->ws->ops->handshake(c->ws);
    ssize_t got = recv(c->fds[1], resp, cap - 1, MSG_DONTWAIT);
    resp[got > 0 ? got : 0] = '\0';
    return r;
}

static void client_frame(conn *c, uint8_t op, bool fin, const void *payload, size_t len)
{
    static const uint8_t mask[4] = {9, 8, 7, 6};
    uint8_t buf[WS_HEADER_MAX + 4096];
    size_t n = ws_frame_header_encode_masked(buf, op, fin, len, mask);
    memcpy(buf + n, payload, len);
    ws_mask_apply(buf + n, len, mask, 0);
    send(c->fds[1], buf, n + len, 0);
}

TEST(upgrade_then_stream_with_fragments_ping_and_close)
{
    ws_transport_settings s = settings();
    conn c;
    char resp[1024];
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt?x=1", "mqtt", "https://APP.example", "", resp, sizeof resp), 1);
    CHECK(strstr(resp, "HTTP/1.1 101 ") == resp);
    CHECK(strstr(resp, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != NULL);
    CHECK(strstr(resp, "Sec-WebSocket-Protocol: mqtt\r\n") != NULL);
    CHECK_STR(transport_ws_subprotocol(c.ws), "mqtt");
    CHECK_STR(transport_ws_client_address(c.ws), "192.0.2.9");
    client_frame(&c, WS_OP_BINARY, false, "\x10\x03", 2);
    client_frame(&c, WS_OP_PING, true, "p!", 2);
    client_frame(&c, WS_OP_CONTINUATION, true, "abc", 3);
    char buf[64];
    size_t got = 0;
    for (int i = 0; i < 10 && got < 5; i++) {
        ssize_t n = c.ws->ops->read(c.ws, buf + got, sizeof buf - got);
        if (n > 0)
            got += (size_t)n;
    }
    CHECK_EQ(got, 5);
    CHECK(memcmp(buf, "\x10\x03" "abc", 5) == 0);
    uint8_t out[64];
    ssize_t n = recv(c.fds[1], out, sizeof out, MSG_DONTWAIT);
    CHECK_EQ(n, 4);
    CHECK(memcmp(out, "\x8a\x02p!", 4) == 0); /* pong echoes the ping */
    struct iovec iov[2] = {{"\x20\x02", 2}, {"\x00\x00", 2}};
    CHECK_EQ(c.ws->ops->writev(c.ws, iov, 2), 4);
    n = recv(c.fds[1], out, sizeof out, MSG_DONTWAIT);
    CHECK_EQ(n, 6);
    CHECK(memcmp(out, "\x82\x04\x20\x02\x00\x00", 6) == 0);
    client_frame(&c, WS_OP_CLOSE, true, "\x03\xe8", 2);
    CHECK_EQ(c.ws->ops->read(c.ws, buf, sizeof buf), 0);
    n = recv(c.fds[1], out, sizeof out, MSG_DONTWAIT);
    CHECK_EQ(n, 4);
    CHECK(memcmp(out, "\x88\x02\x03\xe8", 4) == 0);
    conn_close(&c);
}

TEST(policy_refusals)
{
    ws_transport_settings s = settings();
    conn c;
    char resp[1024];
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/other", "mqtt", "https://app.example", "", resp, sizeof resp), -1);
    CHECK(strstr(resp, "HTTP/1.1 404 ") == resp);
    conn_close(&c);
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt", "mqtt", "https://evil.example", "", resp, sizeof resp), -1);
    CHECK(strstr(resp, "HTTP/1.1 403 ") == resp);
    conn_close(&c);
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt", "chat", "https://app.example", "", resp, sizeof resp), -1);
    CHECK(strstr(resp, "HTTP/1.1 400 ") == resp);
    conn_close(&c);
    s.handshake_timeout_ms = 1;
    conn_open(&c, &s, "192.0.2.9");
    struct timespec ts = {0, 5000000};
    nanosleep(&ts, NULL);
    CHECK_EQ(c.ws->ops->handshake(c.ws), -1);
    conn_close(&c);
}

TEST(forwarded_for_only_from_trusted_proxies)
{
    ws_transport_settings s = settings();
    conn c;
    char resp[1024];
    conn_open(&c, &s, "127.0.0.1");
    CHECK_EQ(upgrade(&c, "/mqtt", "mqttv3.1", "https://app.example",
                     "X-Forwarded-For: 198.51.100.1, 203.0.113.5, 127.0.0.2\r\n", resp, sizeof resp), 1);
    CHECK_STR(transport_ws_client_address(c.ws), "203.0.113.5");
    CHECK_STR(transport_ws_subprotocol(c.ws), "mqttv3.1");
    conn_close(&c);
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt", "mqtt", "https://app.example", "X-Forwarded-For: 198.51.100.1\r\n", resp,
                     sizeof resp), 1);
    CHECK_STR(transport_ws_client_address(c.ws), "192.0.2.9");
    conn_close(&c);
}

TEST(protocol_errors_close_with_code)
{
    ws_transport_settings s = settings();
    conn c;
    char resp[1024], buf[64];
    uint8_t out[256];
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt", "mqtt", "https://app.example", "", resp, sizeof resp), 1);
    send(c.fds[1], "\x82\x01x", 3, 0); /* unmasked */
    CHECK_EQ(c.ws->ops->read(c.ws, buf, sizeof buf), -1);
    ssize_t n = recv(c.fds[1], out, sizeof out, MSG_DONTWAIT);
    CHECK(n >= 4);
    CHECK(out[0] == 0x88 && out[2] == 0x03 && out[3] == 0xea); /* 1002 */
    conn_close(&c);
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt", "mqtt", "https://app.example", "", resp, sizeof resp), 1);
    uint8_t big[8] = {0x82, 0x80 | 126, 0x20, 0x00, 1, 2, 3, 4}; /* 8192 > max_frame 4096 */
    send(c.fds[1], big, sizeof big, 0);
    CHECK_EQ(c.ws->ops->read(c.ws, buf, sizeof buf), -1);
    n = recv(c.fds[1], out, sizeof out, MSG_DONTWAIT);
    CHECK(n >= 4 && out[2] == 0x03 && out[3] == 0xf1); /* 1009 */
    conn_close(&c);
}

TEST(throttled_inner_writes_keep_frames_whole)
{
    ws_transport_settings s = settings();
    conn c;
    char resp[1024];
    conn_open(&c, &s, "192.0.2.9");
    CHECK_EQ(upgrade(&c, "/mqtt", "mqtt", "https://app.example", "", resp, sizeof resp), 1);
    c.inner->write_cap = 3;
    static char payload[300];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)i;
    size_t sent = 0;
    for (int i = 0; i < 1000 && sent < sizeof payload; i++) {
        struct iovec iov = {payload + sent, sizeof payload - sent};
        ssize_t n = c.ws->ops->writev(c.ws, &iov, 1);
        if (n > 0)
            sent += (size_t)n;
        else
            CHECK(errno == EAGAIN);
    }
    CHECK_EQ(sent, sizeof payload);
    uint8_t out[1024];
    ssize_t n = recv(c.fds[1], out, sizeof out, MSG_DONTWAIT);
    CHECK_EQ(n, 4 + 300);
    CHECK(memcmp(out, "\x82\x7e\x01\x2c", 4) == 0);
    CHECK(memcmp(out + 4, payload, 300) == 0);
    conn_close(&c);
}

TEST_MAIN()
