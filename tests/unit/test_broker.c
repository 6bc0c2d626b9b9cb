/*
 * test_broker.c - the broker core driven over socketpairs with hand-built packets: sessions, QoS flows,
 * in-flight windows, bounded queues, slow consumers, takeover, wills, protocol errors. Packets are written
 * byte by byte from the specifications (not with the codec), so these tests check the broker, not the
 * codec against itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "broker/core.h"
#include "test.h"

/* ---- packet builder ---- */

typedef struct pkt {
    uint8_t b[4096];
    size_t n;
} pkt;

static void put(pkt *p, const void *d, size_t n)
{
    if (n == 0)
        return;
    memcpy(p->b + p->n, d, n);
    p->n += n;
}
static void put8(pkt *p, uint8_t v)
{
    p->b[p->n++] = v;
}
static void put16(pkt *p, uint16_t v)
{
    put8(p, (uint8_t)(v >> 8));
    put8(p, (uint8_t)v);
}
static void putstr(pkt *p, const char *s)
{
    put16(p, (uint16_t)strlen(s));
    put(p, s, strlen(s));
}

/* Wraps body as a packet with first byte `first`. */
static pkt frame(uint8_t first, const pkt *body)
{
    pkt p = {.n = 0};
    put8(&p, first);
    size_t len = body->n;
    do {
        uint8_t d = len & 127;
        len >>= 7;
        put8(&p, (uint8_t)(d | (len ? 128 : 0)));
    } while (len);
    put(&p, body->b, body->n);
    return p;
}

static pkt connect_pkt(const char *id, uint8_t version, bool clean, uint16_t ka, const char *will_topic,
                       const uint8_t *props, size_t props_len)
{
    pkt b = {.n = 0};
    putstr(&b, "MQTT");
    put8(&b, version);
    put8(&b, (uint8_t)((clean ? 2 : 0) | (will_topic ? 0x04 | 0x08 : 0)));
    put16(&b, ka);
    if (version == 5) {
        put8(&b, (uint8_t)props_len);
        put(&b, props, props_len);
    }
    putstr(&b, id);
    if (will_topic) {
        if (version == 5)
            put8(&b, 0);
        putstr(&b, will_topic);
        putstr(&b, "gone");
    }
    return frame(0x10, &b);
}

static pkt subscribe_pkt(uint16_t pid, const char *filter, uint8_t opts, uint8_t version)
{
    pkt b = {.n = 0};
    put16(&b, pid);
    if (version == 5)
        put8(&b, 0);
    putstr(&b, filter);
    put8(&b, opts);
    return frame(0x82, &b);
}

static pkt publish_pkt(const char *topic, const char *payload, uint8_t qos, uint16_t pid, bool retain,
                       uint8_t version)
{
    pkt b = {.n = 0};
    putstr(&b, topic);
    if (qos)
        put16(&b, pid);
    if (version == 5)
        put8(&b, 0);
    put(&b, payload, strlen(payload));
    return frame((uint8_t)(0x30 | qos << 1 | (retain ? 1 : 0)), &b);
}

static pkt ack_pkt(uint8_t first, uint16_t pid)
{
    pkt b = {.n = 0};
    put16(&b, pid);
    return frame(first, &b);
}

/* ---- harness ---- */

static broker *start(void (*tweak)(broker_settings *))
{
    broker_settings s;
    log_set_level(LOG_LEVEL_ERROR);
    signal(SIGPIPE, SIG_IGN); /* the test's own writes to sockets the broker closed */
    broker_settings_default(&s);
    broker_settings_add_listener(&s, "127.0.0.1", 0)->allow_anonymous = true; /* never opened */
    s.no_signals = true;
    s.sys_interval = 0;
    if (tweak)
        tweak(&s);
    return broker_new(&s);
}

/* A client socket attached to the broker. */
static int attach(broker *b)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    broker_attach_fd(b, sv[1], "192.0.2.1");
    return sv[0];
}

static void pump(broker *b)
{
    for (int i = 0; i < 5; i++)
        broker_step(b, 5);
}

static void send_pkt(broker *b, int fd, pkt p)
{
    CHECK_EQ(write(fd, p.b, p.n), (ssize_t)p.n);
    pump(b);
}

/* Everything the broker sent to fd so far. */
static size_t recv_all(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    return n;
}

static bool closed_by_broker(broker *b, int fd)
{
    uint8_t buf[256];
    pump(b);
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0)
            return true;
        if (r < 0)
            return false;
    }
}

/* Counts the PUBLISH packets in buf (and checks the framing is whole). */
static int count_publishes(const uint8_t *buf, size_t n, uint8_t *qos_out, uint16_t *first_pid)
{
    int count = 0;
    size_t pos = 0;
    while (pos < n) {
        uint8_t type = buf[pos] >> 4;
        size_t len = 0, mul = 1, i = pos + 1;
        do {
            len += (buf[i] & 127) * mul;
            mul <<= 7;
        } while (buf[i++] & 128);
        if (type == 3) {
            if (count == 0 && qos_out)
                *qos_out = (buf[pos] >> 1) & 3;
            if (count == 0 && first_pid && ((buf[pos] >> 1) & 3)) {
                size_t tl = (size_t)buf[i] << 8 | buf[i + 1];
                *first_pid = (uint16_t)(buf[i + 2 + tl] << 8 | buf[i + 3 + tl]);
            }
            count++;
        }
        pos = i + len;
    }
    CHECK_EQ(pos, n);
    return count;
}

static int connect_client(broker *b, const char *id, uint8_t version, bool clean, uint8_t *connack, size_t *n)
{
    int fd = attach(b);
    send_pkt(b, fd, connect_pkt(id, version, clean, 60, NULL, NULL, 0));
    uint8_t buf[512];
    size_t got = recv_all(fd, buf, sizeof buf);
    if (connack) {
        memcpy(connack, buf, got);
        *n = got;
    }
    return fd;
}

/* ---- tests ---- */

TEST(connect_v311_and_ping)
{
    broker *b = start(NULL);
    uint8_t ck[512];
    size_t n = 0;
    int fd = connect_client(b, "c1", 4, true, ck, &n);
    CHECK_EQ(n, 4);
    CHECK_MEM(ck, "\x20\x02\x00\x00", 4);
    pkt ping = {.b = {0xc0, 0x00}, .n = 2};
    send_pkt(b, fd, ping);
    uint8_t buf[16];
    CHECK_EQ(recv_all(fd, buf, sizeof buf), 2);
    CHECK_MEM(buf, "\xd0\x00", 2);
    close(fd);
    broker_free(b);
}

TEST(connect_unsupported_level_gets_return_code_1)
{
    broker *b = start(NULL);
    int fd = attach(b);
    send_pkt(b, fd, connect_pkt("x", 3, true, 60, NULL, NULL, 0));
    uint8_t buf[16];
    size_t n = recv_all(fd, buf, sizeof buf);
    CHECK_EQ(n, 4);
    CHECK_MEM(buf, "\x20\x02\x00\x01", 4);
    CHECK(closed_by_broker(b, fd));
    close(fd);
    broker_free(b);
}

TEST(first_packet_not_connect_closes)
{
    broker *b = start(NULL);
    int fd = attach(b);
    send_pkt(b, fd, publish_pkt("a", "x", 0, 0, false, 4));
    CHECK(closed_by_broker(b, fd));
    CHECK_EQ(b->nconns, 0);
    close(fd);
    broker_free(b);
}

TEST(zero_length_id_v311_needs_clean_session)
{
    broker *b = start(NULL);
    uint8_t ck[512];
    size_t n = 0;
    int fd = connect_client(b, "", 4, false, ck, &n);
    CHECK_EQ(n, 4);
    CHECK_MEM(ck, "\x20\x02\x00\x02", 4);
    close(fd);
    fd = connect_client(b, "", 4, true, ck, &n);
    CHECK_MEM(ck, "\x20\x02\x00\x00", 4);
    close(fd);
    broker_free(b);
}

TEST(qos1_publish_subscribe_roundtrip)
{
    broker *b = start(NULL);
    int sub = connect_client(b, "sub", 4, true, NULL, NULL);
    int pub = connect_client(b, "pub", 4, true, NULL, NULL);
    uint8_t buf[512];
    send_pkt(b, sub, subscribe_pkt(1, "a/#", 1, 4));
    CHECK_EQ(recv_all(sub, buf, sizeof buf), 5);
    CHECK_MEM(buf, "\x90\x03\x00\x01\x01", 5);
    send_pkt(b, pub, publish_pkt("a/b", "hello", 1, 7, false, 4));
    CHECK_EQ(recv_all(pub, buf, sizeof buf), 4);
    CHECK_MEM(buf, "\x40\x02\x00\x07", 4);
    size_t n = recv_all(sub, buf, sizeof buf);
    /* 32 len 00 03 'a/b' pid(2) 'hello' */
    CHECK_EQ(n, 2 + 5 + 2 + 5);
    CHECK_EQ(buf[0], 0x32);
    CHECK_MEM(buf + 4, "a/b", 3);
    CHECK_MEM(buf + 9, "hello", 5);
    uint16_t pid = (uint16_t)(buf[7] << 8 | buf[8]);
    send_pkt(b, sub, ack_pkt(0x40, pid));
    CHECK_EQ(b->sessions_head && hmap_get(&b->sessions, "sub", 3) ? ((session *)hmap_get(&b->sessions, "sub", 3))->inflight.count : 99, 0);
    close(sub);
    close(pub);
    broker_free(b);
}

TEST(persistent_session_queues_in_order_and_resumes)
{
    broker *b = start(NULL);
    uint8_t buf[2048], ck[512];
    size_t n;
    int sub = connect_client(b, "keep", 4, false, NULL, NULL);
    send_pkt(b, sub, subscribe_pkt(1, "q/+", 1, 4));
    recv_all(sub, buf, sizeof buf);
    pkt d = {.b = {0xe0, 0x00}, .n = 2};
    send_pkt(b, sub, d);
    close(sub);
    int pub = connect_client(b, "pub", 4, true, NULL, NULL);
    const char *payloads[] = {"m1", "m2", "m3"};
    for (int i = 0; i < 3; i++)
        send_pkt(b, pub, publish_pkt("q/x", payloads[i], 1, (uint16_t)(i + 1), false, 4));
    sub = connect_client(b, "keep", 4, false, ck, &n);
    CHECK_MEM(ck, "\x20\x02\x01\x00", 4); /* session present */
    n -= 4;
    memmove(buf, ck + 4, n);
    n += recv_all(sub, buf + n, sizeof buf - n);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 3);
    /* In order: m1 m2 m3 (each 2+3+2+2 = 11 bytes: 32 09 00 03 q/x pid m?) */
    CHECK_MEM(buf + 9, "m1", 2);
    CHECK_MEM(buf + 20, "m2", 2);
    CHECK_MEM(buf + 31, "m3", 2);
    close(sub);
    close(pub);
    broker_free(b);
}

static void small_window(broker_settings *s)
{
    s->max_inflight_messages = 2;
    s->max_queued_messages = 3;
}

TEST(inflight_window_and_bounded_queue)
{
    broker *b = start(small_window);
    uint8_t buf[4096];
    int sub = connect_client(b, "w", 4, false, NULL, NULL);
    send_pkt(b, sub, subscribe_pkt(1, "t", 1, 4));
    recv_all(sub, buf, sizeof buf);
    int pub = connect_client(b, "p", 4, true, NULL, NULL);
    for (int i = 0; i < 10; i++)
        send_pkt(b, pub, publish_pkt("t", "x", 1, (uint16_t)(i + 1), false, 4));
    uint16_t pid = 0;
    size_t n = recv_all(sub, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, &pid), 2); /* window of 2 */
    session *s = hmap_get(&b->sessions, "w", 1);
    CHECK_EQ(s->inflight.count, 2);
    CHECK_EQ(s->queue.count, 3); /* 5 dropped: the queue holds 3 */
    CHECK(b->stats.dropped >= 5);
    send_pkt(b, sub, ack_pkt(0x40, pid));
    n = recv_all(sub, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1); /* one slot freed, one sent */
    close(sub);
    close(pub);
    broker_free(b);
}

static void tiny_out(broker_settings *s)
{
    s->out_buffer_limit = 64 * 1024;
}

TEST(slow_qos0_subscriber_is_bounded)
{
    broker *b = start(tiny_out);
    uint8_t buf[512];
    int sub = connect_client(b, "slow", 4, true, NULL, NULL);
    send_pkt(b, sub, subscribe_pkt(1, "big", 0, 4));
    recv_all(sub, buf, sizeof buf);
    int pub = connect_client(b, "p", 4, true, NULL, NULL);
    /* Shrink the subscriber's socket buffer so the broker's queue has to hold what it cannot write. */
    char payload[2001];
    memset(payload, 'z', 2000);
    payload[2000] = 0;
    for (int i = 0; i < 2000; i++) {
        pkt p = publish_pkt("big", payload, 0, 0, false, 4);
        (void)!write(pub, p.b, p.n);
        if (i % 50 == 0)
            pump(b);
    }
    pump(b);
    session *s = hmap_get(&b->sessions, "slow", 4);
    CHECK(s && s->conn);
    if (s && s->conn)
        CHECK(s->conn->out.bytes <= 64 * 1024 + 4096);
    CHECK(b->stats.dropped > 0);
    close(sub);
    close(pub);
    broker_free(b);
}

TEST(qos2_exactly_once_inbound)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    int sub = connect_client(b, "s", 4, true, NULL, NULL);
    send_pkt(b, sub, subscribe_pkt(1, "e", 2, 4));
    recv_all(sub, buf, sizeof buf);
    int pub = connect_client(b, "p", 4, true, NULL, NULL);
    send_pkt(b, pub, publish_pkt("e", "once", 2, 5, false, 4));
    CHECK_EQ(recv_all(pub, buf, sizeof buf), 4);
    CHECK_MEM(buf, "\x50\x02\x00\x05", 4); /* PUBREC */
    pkt dup = publish_pkt("e", "once", 2, 5, false, 4);
    dup.b[0] |= 0x08;
    send_pkt(b, pub, dup);
    CHECK_EQ(recv_all(pub, buf, sizeof buf), 4);
    CHECK_MEM(buf, "\x50\x02\x00\x05", 4);
    send_pkt(b, pub, ack_pkt(0x62, 5));
    CHECK_EQ(recv_all(pub, buf, sizeof buf), 4);
    CHECK_MEM(buf, "\x70\x02\x00\x05", 4); /* PUBCOMP */
    size_t n = recv_all(sub, buf, sizeof buf);
    uint16_t pid = 0;
    CHECK_EQ(count_publishes(buf, n, NULL, &pid), 1);
    /* Outbound QoS 2: PUBREC -> PUBREL -> PUBCOMP. */
    send_pkt(b, sub, ack_pkt(0x50, pid));
    CHECK_EQ(recv_all(sub, buf, sizeof buf), 4);
    CHECK_EQ(buf[0], 0x62);
    send_pkt(b, sub, ack_pkt(0x70, pid));
    session *s = hmap_get(&b->sessions, "s", 1);
    CHECK_EQ(s->inflight.count, 0);
    close(sub);
    close(pub);
    broker_free(b);
}

TEST(receive_maximum_exceeded_v5)
{
    broker *b = start(small_window);
    uint8_t buf[512];
    int pub = connect_client(b, "p5", 5, true, NULL, NULL);
    for (uint16_t i = 1; i <= 2; i++)
        send_pkt(b, pub, publish_pkt("r", "x", 2, i, false, 5));
    recv_all(pub, buf, sizeof buf);
    send_pkt(b, pub, publish_pkt("r", "x", 2, 3, false, 5));
    size_t n = recv_all(pub, buf, sizeof buf);
    CHECK(n >= 3);
    CHECK_EQ(buf[0], 0xe0);
    CHECK_EQ(buf[2], 0x93);
    CHECK(closed_by_broker(b, pub));
    close(pub);
    broker_free(b);
}

TEST(takeover_v5_gets_0x8e)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    int first = connect_client(b, "same", 5, true, NULL, NULL);
    int second = connect_client(b, "same", 5, true, NULL, NULL);
    size_t n = recv_all(first, buf, sizeof buf);
    CHECK(n >= 3);
    CHECK_EQ(buf[0], 0xe0);
    CHECK_EQ(buf[2], 0x8e);
    CHECK(closed_by_broker(b, first));
    CHECK_EQ(b->stats.clients_connected, 1);
    close(first);
    close(second);
    broker_free(b);
}

TEST(will_on_abnormal_close_not_on_disconnect)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    int sub = connect_client(b, "ws", 4, true, NULL, NULL);
    send_pkt(b, sub, subscribe_pkt(1, "will/#", 0, 4));
    recv_all(sub, buf, sizeof buf);
    int w = attach(b);
    send_pkt(b, w, connect_pkt("w1", 4, true, 60, "will/a", NULL, 0));
    recv_all(w, buf, sizeof buf);
    pkt d = {.b = {0xe0, 0x00}, .n = 2};
    send_pkt(b, w, d);
    close(w);
    pump(b);
    CHECK_EQ(recv_all(sub, buf, sizeof buf), 0);
    w = attach(b);
    send_pkt(b, w, connect_pkt("w2", 4, true, 60, "will/b", NULL, 0));
    recv_all(w, buf, sizeof buf);
    close(w); /* no DISCONNECT */
    pump(b);
    size_t n = recv_all(sub, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    CHECK_MEM(buf + 4, "will/b", 6);
    close(sub);
    broker_free(b);
}

TEST(retained_store_replace_delete_over_the_wire)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    int pub = connect_client(b, "p", 4, true, NULL, NULL);
    send_pkt(b, pub, publish_pkt("r/1", "one", 0, 0, true, 4));
    send_pkt(b, pub, publish_pkt("r/1", "two", 0, 0, true, 4));
    send_pkt(b, pub, publish_pkt("r/2", "x", 0, 0, true, 4));
    send_pkt(b, pub, publish_pkt("r/2", "", 0, 0, true, 4));
    int sub = connect_client(b, "s", 4, true, NULL, NULL);
    send_pkt(b, sub, subscribe_pkt(1, "r/#", 0, 4));
    size_t n = recv_all(sub, buf, sizeof buf);
    CHECK(n > 5);
    CHECK_EQ(count_publishes(buf + 5, n - 5, NULL, NULL), 1);
    CHECK_EQ(buf[5], 0x31); /* retain flag set */
    CHECK_MEM(buf + 5 + 7, "two", 3);
    close(sub);
    close(pub);
    broker_free(b);
}

TEST(garbage_after_connect_closes_only_that_client)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    int good = connect_client(b, "good", 4, true, NULL, NULL);
    int bad = connect_client(b, "bad", 4, true, NULL, NULL);
    pkt junk = {.b = {0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, .n = 6};
    send_pkt(b, bad, junk);
    CHECK(closed_by_broker(b, bad));
    pkt ping = {.b = {0xc0, 0x00}, .n = 2};
    send_pkt(b, good, ping);
    CHECK_EQ(recv_all(good, buf, sizeof buf), 2);
    close(bad);
    close(good);
    broker_free(b);
}

TEST(packet_too_large_before_connect)
{
    broker *b = start(NULL);
    int fd = attach(b);
    /* A CONNECT announcing 1 MB: above the pre-authentication cap, refused before anything is allocated. */
    pkt p = {.b = {0x10, 0x80, 0x80, 0x40}, .n = 4};
    send_pkt(b, fd, p);
    CHECK(closed_by_broker(b, fd));
    close(fd);
    broker_free(b);
}

/* ---- authentication hooks ---- */

typedef struct fake_auth {
    int mode; /* 0: pending, 1: continue once then accept */
    uint64_t cookie;
    int steps, abandoned;
    char last_user[32];
} fake_auth;

static int fake_authenticate(void *ctx, const broker_client *client, const mqtt_connect *ck, uint64_t cookie,
                             broker_auth_result *out)
{
    fake_auth *fa = ctx;
    fa->cookie = cookie;
    snprintf(fa->last_user, sizeof fa->last_user, "%s", client->username ? client->username : "");
    if (fa->mode == 0)
        return BROKER_AUTH_PENDING;
    out->reason = MQTT_RC_CONTINUE_AUTH;
    out->data = (const uint8_t *)"challenge";
    out->data_len = 9;
    return BROKER_AUTH_DONE;
}

static int fake_step(void *ctx, const broker_client *client, const mqtt_reason_only *a, uint64_t cookie,
                     broker_auth_result *out)
{
    fake_auth *fa = ctx;
    fa->steps++;
    bool good = a->props.auth_data.len == 8 && memcmp(a->props.auth_data.data, "response", 8) == 0;
    out->reason = good ? 0 : MQTT_RC_BAD_USERNAME_OR_PASSWORD;
    return BROKER_AUTH_DONE;
}

static void fake_abandoned(void *ctx, uint64_t cookie)
{
    ((fake_auth *)ctx)->abandoned++;
}

static pkt connect_user(const char *id, const char *user, const char *pass)
{
    pkt b = {.n = 0};
    putstr(&b, "MQTT");
    put8(&b, 4);
    put8(&b, 0x02 | 0x80 | 0x40);
    put16(&b, 60);
    putstr(&b, id);
    putstr(&b, user);
    putstr(&b, pass);
    return frame(0x10, &b);
}

TEST(auth_pending_then_accept_keeps_pipelined_packets)
{
    broker *b = start(NULL);
    fake_auth fa = {.mode = 0};
    broker_security sec = {.ctx = &fa, .authenticate = fake_authenticate, .auth_abandoned = fake_abandoned};
    broker_set_security(b, &sec);
    uint8_t buf[512];
    int fd = attach(b);
    /* CONNECT and a PINGREQ in one write: the PINGREQ must wait for the answer, then be handled. */
    pkt ck = connect_user("u1", "alice", "secret");
    ck.b[ck.n++] = 0xc0;
    ck.b[ck.n++] = 0x00;
    send_pkt(b, fd, ck);
    CHECK_EQ(recv_all(fd, buf, sizeof buf), 0);
    CHECK_STR(fa.last_user, "alice");
    broker_auth_result ok = {0};
    broker_auth_complete(b, fa.cookie, &ok);
    pump(b);
    size_t n = recv_all(fd, buf, sizeof buf);
    CHECK_EQ(n, 6);
    CHECK_MEM(buf, "\x20\x02\x00\x00\xd0\x00", 6);
    broker_auth_complete(b, fa.cookie, &ok); /* a late duplicate is ignored */
    CHECK_EQ(fa.abandoned, 0);
    close(fd);
    broker_free(b);
}

TEST(auth_pending_refused_and_abandoned)
{
    broker *b = start(NULL);
    fake_auth fa = {.mode = 0};
    broker_security sec = {.ctx = &fa, .authenticate = fake_authenticate, .auth_abandoned = fake_abandoned};
    broker_set_security(b, &sec);
    uint8_t buf[512];
    int fd = attach(b);
    send_pkt(b, fd, connect_user("u1", "bob", "bad"));
    broker_auth_result no = {.reason = MQTT_RC_BAD_USERNAME_OR_PASSWORD};
    broker_auth_complete(b, fa.cookie, &no);
    pump(b);
    CHECK_EQ(recv_all(fd, buf, sizeof buf), 4);
    CHECK_MEM(buf, "\x20\x02\x00\x04", 4); /* 3.1.1: bad user name or password */
    close(fd);
    /* A connection that ends while its answer is pending: the hook hears of it. */
    fd = attach(b);
    send_pkt(b, fd, connect_user("u2", "carol", "x"));
    CHECK_EQ(fa.abandoned, 0);
    broker_free(b);
    CHECK_EQ(fa.abandoned, 1);
    close(fd);
}

TEST(enhanced_auth_continue_with_auth_packets)
{
    broker *b = start(NULL);
    fake_auth fa = {.mode = 1};
    broker_security sec = {.ctx = &fa, .authenticate = fake_authenticate, .auth_step = fake_step};
    broker_set_security(b, &sec);
    uint8_t buf[512];
    int fd = attach(b);
    const uint8_t method[] = {0x15, 0x00, 0x04, 'T', 'E', 'S', 'T'};
    send_pkt(b, fd, connect_pkt("e1", 5, true, 60, NULL, method, sizeof method));
    size_t n = recv_all(fd, buf, sizeof buf);
    /* AUTH 0x18: f0 len 18 props(len) 15 0004 TEST 16 0009 challenge */
    CHECK(n > 4);
    CHECK_EQ(buf[0], 0xf0);
    CHECK_EQ(buf[2], 0x18);
    CHECK(n >= 9 && memmem(buf, n, "challenge", 9) != NULL);
    pkt body = {.n = 0};
    put8(&body, 0x18);
    put8(&body, 7 + 11);
    put(&body, method, sizeof method);
    put8(&body, 0x16);
    putstr(&body, "response");
    send_pkt(b, fd, frame(0xf0, &body));
    n = recv_all(fd, buf, sizeof buf);
    CHECK(n > 4);
    CHECK_EQ(buf[0], 0x20);
    CHECK_EQ(buf[3], 0x00); /* accepted */
    CHECK(memmem(buf, n, "TEST", 4) != NULL); /* CONNACK carries the method */
    CHECK_EQ(fa.steps, 1);
    close(fd);
    broker_free(b);
}

static void small_memory(broker_settings *s)
{
    s->memory_limit = 1024;
}

TEST(memory_ceiling_refuses_new_messages)
{
    broker *b = start(small_memory);
    uint8_t buf[512];
    int pub = connect_client(b, "m5", 5, true, NULL, NULL);
    char big[1500];
    memset(big, 'r', sizeof big - 1);
    big[sizeof big - 1] = 0;
    send_pkt(b, pub, publish_pkt("keep", big, 0, 0, true, 5)); /* retained: 1.5 KB stays stored */
    CHECK(b->mem_msgs > 1024);
    send_pkt(b, pub, publish_pkt("t", "x", 1, 3, false, 5));
    size_t n = recv_all(pub, buf, sizeof buf);
    CHECK(n > 5 && (size_t)buf[1] + 2 == n);
    CHECK_MEM(buf + 2, "\x00\x03\x97", 3); /* quota exceeded */
    CHECK_EQ(buf[6], 0x1F);                  /* with a Reason String (the client asked for no limit) */
    send_pkt(b, pub, publish_pkt("keep", "", 0, 0, true, 5)); /* deleting is always possible */
    CHECK(b->mem_msgs < 1024);
    send_pkt(b, pub, publish_pkt("t", "x", 1, 4, false, 5));
    n = recv_all(pub, buf, sizeof buf);
    CHECK_EQ(n, 5);
    CHECK_EQ(buf[4], 0x10); /* accepted, no subscribers */
    close(pub);
    pump(b);
    CHECK_EQ(b->mem_out, 0);
    broker_free(b);
}

/* ---- MQTT 5 subscription options, identifiers, aliases, sizes, shared requeue ---- */

static pkt subscribe5(uint16_t pid, const char *filter, uint8_t opts, uint32_t sub_id)
{
    pkt b = {.n = 0};
    put16(&b, pid);
    if (sub_id) {
        put8(&b, 2);
        put8(&b, 0x0b);
        put8(&b, (uint8_t)sub_id); /* < 128: one byte */
    } else {
        put8(&b, 0);
    }
    putstr(&b, filter);
    put8(&b, opts);
    return frame(0x82, &b);
}

static int connect5(broker *b, const char *id, const uint8_t *props, size_t len)
{
    uint8_t buf[512];
    int fd = attach(b);
    send_pkt(b, fd, connect_pkt(id, 5, true, 60, NULL, props, len));
    recv_all(fd, buf, sizeof buf);
    return fd;
}

TEST(no_local_and_retain_as_published)
{
    broker *b = start(NULL);
    uint8_t buf[1024];
    int a = connect5(b, "nl-a", NULL, 0);
    int o = connect5(b, "nl-o", NULL, 0);
    send_pkt(b, a, subscribe5(1, "nl", 0x04 | 0x08 | 1, 0)); /* No Local, Retain As Published */
    send_pkt(b, o, subscribe5(1, "nl", 1, 0));
    recv_all(a, buf, sizeof buf);
    recv_all(o, buf, sizeof buf);
    send_pkt(b, a, publish_pkt("nl", "mine", 0, 0, true, 5));
    CHECK_EQ(recv_all(a, buf, sizeof buf), 0); /* not sent back to its publisher */
    size_t n = recv_all(o, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    CHECK_EQ(buf[0] & 1, 0); /* live delivery without Retain As Published: RETAIN cleared */
    send_pkt(b, o, publish_pkt("nl", "theirs", 0, 0, true, 5));
    n = recv_all(a, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    CHECK_EQ(buf[0] & 1, 1); /* Retain As Published keeps it */
    close(a);
    close(o);
    broker_free(b);
}

TEST(retain_handling_1_and_2)
{
    broker *b = start(NULL);
    uint8_t buf[1024];
    int p = connect5(b, "rh-p", NULL, 0);
    send_pkt(b, p, publish_pkt("rh/x", "kept", 0, 0, true, 5));
    int s = connect5(b, "rh-s", NULL, 0);
    send_pkt(b, s, subscribe5(1, "rh/#", 0x20 | 1, 0)); /* 2: never */
    size_t n = recv_all(s, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 0);
    send_pkt(b, s, subscribe5(2, "rh/+", 0x10 | 1, 0)); /* 1: only when new */
    n = recv_all(s, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    send_pkt(b, s, subscribe5(3, "rh/+", 0x10 | 1, 0)); /* existed: nothing */
    n = recv_all(s, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 0);
    send_pkt(b, s, subscribe5(4, "rh/+", 1, 0)); /* 0: always */
    n = recv_all(s, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    close(p);
    close(s);
    broker_free(b);
}

TEST(overlapping_subscriptions_one_copy_all_identifiers)
{
    broker *b = start(NULL);
    uint8_t buf[1024];
    int s = connect5(b, "ov", NULL, 0);
    send_pkt(b, s, subscribe5(1, "ov/#", 0, 7));
    send_pkt(b, s, subscribe5(2, "ov/+", 1, 9));
    recv_all(s, buf, sizeof buf);
    int p = connect5(b, "ov-p", NULL, 0);
    send_pkt(b, p, publish_pkt("ov/a", "x", 1, 1, false, 5));
    uint8_t qos = 9;
    size_t n = recv_all(s, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, &qos, NULL), 1);
    CHECK_EQ(qos, 1); /* the highest of the two */
    CHECK(memmem(buf, n, "\x0b\x07", 2) != NULL);
    CHECK(memmem(buf, n, "\x0b\x09", 2) != NULL);
    close(s);
    close(p);
    broker_free(b);
}

TEST(outbound_topic_alias_assigned)
{
    broker *b = start(NULL);
    uint8_t buf[1024];
    const uint8_t props[] = {0x22, 0x00, 0x05}; /* Topic Alias Maximum 5 */
    int s = connect5(b, "al", props, sizeof props);
    send_pkt(b, s, subscribe5(1, "alias/topic", 0, 0));
    recv_all(s, buf, sizeof buf);
    int p = connect5(b, "al-p", NULL, 0);
    send_pkt(b, p, publish_pkt("alias/topic", "1", 0, 0, false, 5));
    size_t n = recv_all(s, buf, sizeof buf);
    CHECK(memmem(buf, n, "alias/topic", 11) != NULL);
    CHECK(memmem(buf, n, "\x23\x00\x01", 3) != NULL);
    send_pkt(b, p, publish_pkt("alias/topic", "2", 0, 0, false, 5));
    n = recv_all(s, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    CHECK(memmem(buf, n, "alias/topic", 11) == NULL); /* the alias alone */
    CHECK_MEM(buf + 2, "\x00\x00\x03\x23\x00\x01", 6);
    close(s);
    close(p);
    broker_free(b);
}

TEST(client_maximum_packet_size_drops_for_that_client_only)
{
    broker *b = start(NULL);
    uint8_t buf[4096];
    const uint8_t props[] = {0x27, 0x00, 0x00, 0x00, 0x40}; /* Maximum Packet Size 64 */
    int small = connect5(b, "small", props, sizeof props);
    int big = connect5(b, "big", NULL, 0);
    send_pkt(b, small, subscribe5(1, "sz", 1, 0));
    send_pkt(b, big, subscribe5(1, "sz", 1, 0));
    recv_all(small, buf, sizeof buf);
    recv_all(big, buf, sizeof buf);
    int p = connect5(b, "sz-p", NULL, 0);
    char payload[201];
    memset(payload, 'p', 200);
    payload[200] = 0;
    send_pkt(b, p, publish_pkt("sz", payload, 1, 1, false, 5));
    send_pkt(b, p, publish_pkt("sz", "tiny", 1, 2, false, 5));
    size_t n = recv_all(small, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1); /* only the small one */
    n = recv_all(big, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 2);
    session *s = hmap_get(&b->sessions, "small", 5);
    CHECK_EQ(s->inflight.count, 1); /* the dropped one left no hole in the window */
    close(small);
    close(big);
    close(p);
    broker_free(b);
}

TEST(shared_subscription_fair_and_requeued_on_disconnect)
{
    broker *b = start(NULL);
    uint8_t buf[4096];
    int m1 = connect5(b, "m1", NULL, 0);
    int m2 = connect5(b, "m2", NULL, 0);
    send_pkt(b, m1, subscribe5(1, "$share/g/job", 1, 0));
    send_pkt(b, m2, subscribe5(1, "$share/g/job", 1, 0));
    recv_all(m1, buf, sizeof buf);
    recv_all(m2, buf, sizeof buf);
    int p = connect5(b, "jp", NULL, 0);
    for (uint16_t i = 1; i <= 4; i++)
        send_pkt(b, p, publish_pkt("job", "w", 1, i, false, 5));
    size_t n1 = recv_all(m1, buf, sizeof buf);
    int c1 = count_publishes(buf, n1, NULL, NULL);
    size_t n2 = recv_all(m2, buf, sizeof buf);
    int c2 = count_publishes(buf, n2, NULL, NULL);
    CHECK_EQ(c1, 2);
    CHECK_EQ(c2, 2);
    /* m1 never acknowledges and goes away: its two messages go to m2. */
    close(m1);
    pump(b);
    size_t n = recv_all(m2, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 2);
    close(m2);
    close(p);
    broker_free(b);
}

static void ka_max(broker_settings *s)
{
    s->max_keepalive = 1;
}

TEST(keep_alive_enforced_and_server_keep_alive_sent)
{
    broker *b = start(ka_max);
    uint8_t buf[512];
    int fd = attach(b);
    send_pkt(b, fd, connect_pkt("ka", 5, true, 0, NULL, NULL, 0));
    size_t n = recv_all(fd, buf, sizeof buf);
    CHECK(n > 4 && memmem(buf, n, "\x13\x00\x01", 3) != NULL); /* Server Keep Alive 1 */
    bool closed = false;
    for (int i = 0; i < 400 && !closed; i++) { /* 1.5 s of silence ends it; give it up to 4 s */
        broker_step(b, 10);
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0 && buf[0] == 0xe0)
            CHECK_EQ(buf[2], 0x8d);
        closed = r == 0;
    }
    CHECK(closed);
    close(fd);
    broker_free(b);
}

TEST(timers_only_for_connections_and_sessions_with_deadlines)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    enum { N = 50 };
    int fds[N];
    for (int i = 0; i < N; i++)
        fds[i] = attach(b);
    CHECK_EQ(b->conn_timers.count, N); /* CONNECT deadlines */
    char id[16];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "t%d", i);
        send_pkt(b, fds[i], connect_pkt(id, 4, false, i % 2 ? 0 : 60, NULL, NULL, 0));
        recv_all(fds[i], buf, sizeof buf);
    }
    /* Keep alive 0: no timer at all; keep alive 60: one timer at 90 s after the last packet. */
    CHECK_EQ(b->conn_timers.count, N / 2);
    conn *c = (conn *)((char *)timer_heap_top(&b->conn_timers) - offsetof(conn, timer));
    CHECK_EQ(c->keepalive_s, 60);
    CHECK_EQ(c->timer.at, c->last_rx_ms + 90000 + 1);
    /* A tick now pops nothing (nothing is due) however many connections are idle. */
    broker_step(b, 0);
    CHECK_EQ(b->conn_timers.count, N / 2);
    CHECK_EQ(b->session_timers.count, 0); /* online sessions have none */
    for (int i = 0; i < N; i++)
        close(fds[i]);
    pump(b);
    CHECK_EQ(b->conn_timers.count, 0);
    CHECK_EQ(b->session_timers.count, 0); /* 3.1.1 persistent sessions never expire: no timer */
    broker_free(b);
}

TEST(session_and_subscription_memory_is_counted_and_returned)
{
    broker *b = start(NULL);
    uint8_t buf[512];
    CHECK_EQ(b->mem_state, 0);
    int fd = connect_client(b, "memc", 4, true, NULL, NULL);
    size_t with_session = b->mem_state;
    CHECK(with_session > 0);
    send_pkt(b, fd, subscribe_pkt(1, "a/b/c", 0, 4));
    send_pkt(b, fd, subscribe_pkt(2, "d/#", 1, 4));
    recv_all(fd, buf, sizeof buf);
    CHECK(b->mem_state > with_session);
    close(fd);
    pump(b);
    CHECK_EQ(b->nsessions, 0);
    CHECK_EQ(b->mem_state, 0);
    broker_free(b);
}

static void mounted(broker_settings *s)
{
    s->listeners[0].mount_point = strdup("tenant1/");
    s->listeners[0].use_username_as_clientid = true;
}

TEST(mount_point_and_username_as_client_id)
{
    broker *b = start(mounted);
    uint8_t buf[1024];
    int a = attach(b);
    send_pkt(b, a, connect_user("ignored-id", "alice", "pw"));
    CHECK_EQ(recv_all(a, buf, sizeof buf), 4);
    CHECK(hmap_get(&b->sessions, "alice", 5) != NULL); /* the username is the client id */
    CHECK(hmap_get(&b->sessions, "ignored-id", 10) == NULL);
    send_pkt(b, a, subscribe_pkt(1, "x/#", 0, 4));
    recv_all(a, buf, sizeof buf);
    session *s = hmap_get(&b->sessions, "alice", 5);
    CHECK(hmap_get(&s->subs, "tenant1/x/#", 11) != NULL);
    int p = attach(b);
    send_pkt(b, p, connect_user("x", "bob", "pw"));
    recv_all(p, buf, sizeof buf);
    send_pkt(b, p, publish_pkt("x/y", "in-tenant", 0, 0, false, 4));
    size_t n = recv_all(a, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    CHECK_MEM(buf + 2, "\x00\x03x/y", 5); /* delivered without the mount point */
    /* Without a username there is no client id to use. */
    int anon = attach(b);
    send_pkt(b, anon, connect_pkt("nouser", 4, true, 60, NULL, NULL, 0));
    CHECK_EQ(recv_all(anon, buf, sizeof buf), 4);
    CHECK_EQ(buf[3], 5); /* not authorized */
    close(anon);
    close(a);
    close(p);
    broker_free(b);
}

TEST(resume_respects_a_smaller_receive_maximum)
{
    broker *b = start(NULL);
    uint8_t buf[4096];
    const uint8_t keep[] = {0x11, 0x00, 0x00, 0x00, 0x3c}; /* Session Expiry 60 */
    int s1 = connect5(b, "rm", keep, sizeof keep);
    send_pkt(b, s1, subscribe5(1, "rm", 1, 0));
    recv_all(s1, buf, sizeof buf);
    int p = connect5(b, "rm-p", NULL, 0);
    for (uint16_t i = 1; i <= 5; i++)
        send_pkt(b, p, publish_pkt("rm", "m", 1, i, false, 5));
    size_t n = recv_all(s1, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 5); /* none acknowledged */
    close(s1);
    pump(b);
    /* Back with Receive Maximum 2: only two may be in flight, resent with DUP. */
    const uint8_t props[] = {0x11, 0x00, 0x00, 0x00, 0x3c, 0x21, 0x00, 0x02};
    int s2 = attach(b);
    send_pkt(b, s2, connect_pkt("rm", 5, false, 60, NULL, props, sizeof props));
    n = recv_all(s2, buf, sizeof buf);
    size_t ck = (size_t)buf[1] + 2;
    uint16_t pid = 0;
    CHECK_EQ(count_publishes(buf + ck, n - ck, NULL, &pid), 2);
    CHECK(buf[ck] & 0x08); /* DUP */
    session *s = hmap_get(&b->sessions, "rm", 2);
    CHECK_EQ(s->inflight.count, 2);
    CHECK_EQ(s->queue.count, 3);
    send_pkt(b, s2, ack_pkt(0x40, pid));
    n = recv_all(s2, buf, sizeof buf);
    CHECK_EQ(count_publishes(buf, n, NULL, NULL), 1);
    close(s2);
    close(p);
    broker_free(b);
}

TEST_MAIN()
