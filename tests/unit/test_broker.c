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

TEST_MAIN()
