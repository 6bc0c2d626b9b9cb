/*
 * conn.c - one benchmark client connection: non-blocking TCP, an MQTT client state machine driven by the
 * codec, publishing with a window or at a fixed rate, and the subscriber's accounting of every delivery.
 * Everything here runs on the connection's worker thread; the only shared state is the per-publisher
 * counters (atomics) and, in the shared-subscription scenario, the per-publisher trackers (mutexes).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "codec/mqtt.h"
#include "tools/bench/conn.h"

/* ---- small helpers ------------------------------------------------------------------------------ */

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    uint32_t v = 0;

    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool bit_get(const uint64_t *map, uint16_t id)
{
    return (map[id / 64] >> (id % 64)) & 1;
}

static void bit_put(uint64_t *map, uint16_t id, bool on)
{
    if (on)
        map[id / 64] |= (uint64_t)1 << (id % 64);
    else
        map[id / 64] &= ~((uint64_t)1 << (id % 64));
}

/* The decode arena: per worker, reset before each packet. */
static void *arena_alloc(void *ctx, size_t size)
{
    bench_worker *w = ctx;
    size_t at = (w->arena_used + 15) & ~(size_t)15;

    if (at + size > sizeof w->arena)
        return NULL;
    w->arena_used = at + size;
    return w->arena + at;
}

/* Records the worker's first error message; counts every error. */
static void worker_error(bench_worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void worker_error(bench_worker *w, const char *fmt, ...)
{
    va_list ap;

    atomic_fetch_add_explicit(&w->c.errors, 1, memory_order_relaxed);
    if (w->error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

/* Grows *buf to hold at least need bytes (never beyond CONN_MAX_BUFFER). Returns 0 or -1. */
static int buffer_reserve(uint8_t **buf, size_t *cap, size_t need)
{
    size_t ncap = *cap ? *cap : 256;
    uint8_t *nb;

    if (need <= *cap)
        return 0;
    if (need > CONN_MAX_BUFFER)
        return -1;
    while (ncap < need)
        ncap *= 2;
    if (ncap > CONN_MAX_BUFFER)
        ncap = CONN_MAX_BUFFER;
    nb = realloc(*buf, ncap);
    if (!nb)
        return -1;
    *buf = nb;
    *cap = ncap;
    return 0;
}

/* ---- lifecycle ---------------------------------------------------------------------------------- */

/* Closes the socket and marks the connection dead (or free, for a reusable storm slot). */
static void conn_close(bench_conn *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    bench_ws_free(c->ws);
    c->ws = NULL;
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->rlen = c->woff = c->wlen = 0;
    c->blocked = false;
    c->state = c->role == ROLE_STORM ? CS_FREE : CS_DEAD;
}

/* A connection failed: count it, remember why, close it. Storm slots count a failed connection instead. */
static void conn_fail(bench_conn *c, const char *what)
{
    bench_worker *w = c->w;

    if (c->role == ROLE_STORM) {
        atomic_fetch_add_explicit(&w->c.connect_failures, 1, memory_order_relaxed);
        if (!w->error[0])
            snprintf(w->error, sizeof w->error, "storm connection: %s", what);
        w->storm_active--;
    } else if (atomic_load_explicit(&w->run->phase, memory_order_relaxed) != BENCH_PHASE_CLOSE) {
        worker_error(w, "%s %u: %s", c->role == ROLE_PUB ? "publisher" : c->role == ROLE_SUB ? "subscriber" : "client",
                     c->index, what);
    }
    conn_close(c);
}

enum { IO_AGAIN = -2, IO_ERROR = -1 };

/* Why the last TLS call failed, for the report. */
static const char *conn_tls_error(int ssl_error)
{
    unsigned long e = ERR_peek_last_error();

    if (ssl_error == SSL_ERROR_SYSCALL && !e)
        return errno ? strerror(errno) : "TLS: connection closed";
    return e ? ERR_reason_error_string(e) : "TLS error";
}

/* Writes up to len bytes over TCP or TLS. Returns the count (> 0), IO_AGAIN, or IO_ERROR with *why set. */
static ssize_t conn_io_write(bench_conn *c, const uint8_t *buf, size_t len, const char **why)
{
    ssize_t n;
    int rc;

    if (!c->ssl) {
        do
            n = send(c->fd, buf, len, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n > 0)
            return n;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return IO_AGAIN;
        *why = n < 0 ? strerror(errno) : "write returned 0";
        return IO_ERROR;
    }
    ERR_clear_error();
    rc = SSL_write(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
    if (rc > 0)
        return rc;
    rc = SSL_get_error(c->ssl, rc);
    if (rc == SSL_ERROR_WANT_WRITE || rc == SSL_ERROR_WANT_READ)
        return IO_AGAIN;
    *why = conn_tls_error(rc);
    return IO_ERROR;
}

/* Reads up to len bytes over TCP or TLS. Returns the count (> 0), 0 at end of stream, IO_AGAIN, or IO_ERROR
 * with *why set. */
static ssize_t conn_io_read(bench_conn *c, uint8_t *buf, size_t len, const char **why)
{
    ssize_t n;
    int rc;

    if (!c->ssl) {
        do
            n = recv(c->fd, buf, len, 0);
        while (n < 0 && errno == EINTR);
        if (n >= 0)
            return n;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return IO_AGAIN;
        *why = strerror(errno);
        return IO_ERROR;
    }
    ERR_clear_error();
    rc = SSL_read(c->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
    if (rc > 0)
        return rc;
    rc = SSL_get_error(c->ssl, rc);
    if (rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE)
        return IO_AGAIN;
    if (rc == SSL_ERROR_ZERO_RETURN || (rc == SSL_ERROR_SYSCALL && !ERR_peek_last_error() && errno == 0))
        return 0;
    *why = conn_tls_error(rc);
    return IO_ERROR;
}

/* WebSocket: writes the pending frames (or the upgrade request), framing the write buffer's bytes once the
 * upgrade is done. Returns 0, or -1 after conn_fail. */
static int conn_flush_ws(bench_conn *c)
{
    bench_ws *ws = c->ws;

    for (;;) {
        const char *why = NULL;
        ssize_t n;

        if (ws->off == ws->len) {
            ws->off = ws->len = 0;
            if (!ws->open || c->woff == c->wlen)
                return 0;
            if (bench_ws_frame(ws, WS_OP_BINARY, c->wbuf + c->woff, c->wlen - c->woff)) {
                conn_fail(c, "out of memory");
                return -1;
            }
            c->woff = c->wlen = 0;
        }
        errno = 0;
        n = conn_io_write(c, ws->out + ws->off, ws->len - ws->off, &why);
        if (n > 0) {
            ws->off += (size_t)n;
            continue;
        }
        if (n == IO_AGAIN) {
            c->blocked = true;
            return 0;
        }
        conn_fail(c, why);
        return -1;
    }
}

/* Whether bytes wait to be written. */
static bool conn_has_output(const bench_conn *c)
{
    return c->wlen > c->woff || (c->ws && c->ws->len > c->ws->off);
}

/* Writes out as much of the write buffer as the socket takes. Returns 0, or -1 after conn_fail. */
int bench_conn_flush(bench_conn *c)
{
    if (c->ws)
        return conn_flush_ws(c);
    while (c->woff < c->wlen) {
        const char *why = NULL;
        ssize_t n;

        errno = 0;
        n = conn_io_write(c, c->wbuf + c->woff, c->wlen - c->woff, &why);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n == IO_AGAIN) {
            c->blocked = true;
            return 0;
        }
        conn_fail(c, why);
        return -1;
    }
    c->woff = c->wlen = 0;
    return 0;
}

/* Encodes p at the end of the write buffer. Returns 0 or -1 after conn_fail. */
int bench_conn_queue(bench_conn *c, const mqtt_packet *p)
{
    uint8_t version = c->w->run->cfg.version;
    size_t size = mqtt_encoded_size(p, version);

    if (!size || buffer_reserve(&c->wbuf, &c->wcap, c->wlen + size)) {
        conn_fail(c, "cannot encode a packet (too large or out of memory)");
        return -1;
    }
    if (mqtt_encode(p, version, c->wbuf + c->wlen, c->wcap - c->wlen) != size) {
        conn_fail(c, "codec encoded an unexpected size");
        return -1;
    }
    c->wlen += size;
    return 0;
}

static int conn_queue_ack(bench_conn *c, uint8_t type, uint16_t id)
{
    mqtt_packet p;

    memset(&p, 0, sizeof p);
    p.type = type;
    p.flags = type == MQTT_PUBREL ? 2 : 0;
    p.u.ack.packet_id = id;
    return bench_conn_queue(c, &p);
}

/* Queues CONNECT with a client identifier unique to this run. */
static int conn_queue_connect(bench_conn *c)
{
    const bench_config *cfg = &c->w->run->cfg;
    static const char role_letter[] = {'p', 's', 'x', 'i'};
    char id[64];
    mqtt_packet p;
    int n;

    n = snprintf(id, sizeof id, "rb%08x%c%u-%u", cfg->magic, role_letter[c->role], c->w->id, c->index);
    memset(&p, 0, sizeof p);
    p.type = MQTT_CONNECT;
    p.u.connect.version = cfg->version;
    p.u.connect.clean_start = !cfg->persistent;
    if (cfg->persistent && cfg->version == MQTT_V5) {
        p.u.connect.props.present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
        p.u.connect.props.session_expiry = 300;
    }
    p.u.connect.keep_alive = (uint16_t)(cfg->duration + cfg->drain + cfg->connect_timeout + 60 < 65535
                                            ? cfg->duration + cfg->drain + cfg->connect_timeout + 60
                                            : 65535);
    p.u.connect.client_id = (mqtt_bytes){(const uint8_t *)id, (uint32_t)n};
    if (cfg->username) {
        p.u.connect.has_username = true;
        p.u.connect.username = (mqtt_bytes){(const uint8_t *)cfg->username, (uint32_t)strlen(cfg->username)};
    }
    if (cfg->password) {
        p.u.connect.has_password = true;
        p.u.connect.password = (mqtt_bytes){(const uint8_t *)cfg->password, (uint32_t)strlen(cfg->password)};
    }
    return bench_conn_queue(c, &p);
}

/* The topic filter subscriber `index` subscribes to in this scenario. */
static int conn_filter(const bench_config *cfg, uint32_t index, char *out, size_t cap)
{
    switch (cfg->scenario) {
    case BENCH_FAN_IN:
        return snprintf(out, cap, "%s/in/+", cfg->prefix);
    case BENCH_FAN_OUT:
        return snprintf(out, cap, "%s/out", cfg->prefix);
    case BENCH_PAIRS:
        return snprintf(out, cap, "%s/pair/%u", cfg->prefix, index);
    case BENCH_SHARED:
        return snprintf(out, cap, "$share/rbench/%s/sh/+", cfg->prefix);
    default:
        return -1;
    }
}

/* The topic publisher `index` publishes to in this scenario. */
static int conn_topic(const bench_config *cfg, uint32_t index, char *out, size_t cap)
{
    switch (cfg->scenario) {
    case BENCH_FAN_IN:
        return snprintf(out, cap, "%s/in/%u", cfg->prefix, index);
    case BENCH_FAN_OUT:
        return snprintf(out, cap, "%s/out", cfg->prefix);
    case BENCH_PAIRS:
        return snprintf(out, cap, "%s/pair/%u", cfg->prefix, index);
    case BENCH_SHARED:
        return snprintf(out, cap, "%s/sh/%u", cfg->prefix, index);
    default:
        return -1;
    }
}

static int conn_queue_subscribe(bench_conn *c)
{
    const bench_config *cfg = &c->w->run->cfg;
    char filter[160];
    mqtt_subscription sub;
    mqtt_packet p;
    int n = conn_filter(cfg, c->index, filter, sizeof filter);

    memset(&sub, 0, sizeof sub);
    sub.filter = (mqtt_bytes){(const uint8_t *)filter, (uint32_t)n};
    sub.qos = cfg->qos;
    memset(&p, 0, sizeof p);
    p.type = MQTT_SUBSCRIBE;
    p.flags = 2;
    p.u.subscribe.packet_id = 1;
    p.u.subscribe.subs = &sub;
    p.u.subscribe.count = 1;
    return bench_conn_queue(c, &p);
}

/* --sources N: binds the socket to 127.0.0.(1 + i % N), i counting this worker's connections, so that a
 * broker's per-address limits and the ephemeral port range are shared by N addresses. Returns 0 or -1. */
static int conn_bind_source(bench_conn *c)
{
    struct sockaddr_in src;
    uint32_t host = 1 + (c->w->id + c->w->run->cfg.threads * c->w->sources_next++) % c->w->run->cfg.sources;

    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000000u | host);
    if (bind(c->fd, (const struct sockaddr *)&src, sizeof src) < 0) {
        conn_fail(c, strerror(errno));
        return -1;
    }
    return 0;
}

/* Opens the TCP connection and queues CONNECT. Returns 0 or -1 (counted as a failure). */
int bench_conn_start(bench_conn *c)
{
    const bench_config *cfg = &c->w->run->cfg;
    struct epoll_event ev;
    int one = 1;

    c->t_start = bench_now_ns();
    c->state = CS_TCP_CONNECTING;
    c->fd = socket(cfg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, strerror(errno));
        return -1;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (cfg->sources > 1 && conn_bind_source(c) < 0)
        return -1;
    if (connect(c->fd, (const struct sockaddr *)&cfg->addr, cfg->addrlen) < 0 && errno != EINPROGRESS) {
        conn_fail(c, strerror(errno));
        return -1;
    }
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        conn_fail(c, strerror(errno));
        return -1;
    }
    return conn_queue_connect(c);
}

/* The client is connected (and subscribed): count it once. */
static void conn_ready(bench_conn *c)
{
    c->state = CS_READY;
    atomic_fetch_add_explicit(&c->w->c.ready, 1, memory_order_relaxed);
}

/* ---- receiving ---------------------------------------------------------------------------------- */

/* Accounts one delivered benchmark message and acknowledges it. */
static int sub_on_publish(bench_conn *c, const mqtt_publish *m)
{
    bench_worker *w = c->w;
    bench_run *run = w->run;
    const bench_config *cfg = &run->cfg;
    uint32_t pub, stream;
    uint64_t seq, stamp;

    if (m->qos == 1 && conn_queue_ack(c, MQTT_PUBACK, m->packet_id))
        return -1;
    if (m->qos == 2 && conn_queue_ack(c, MQTT_PUBREC, m->packet_id))
        return -1;
    if (m->payload.len < BENCH_PAYLOAD_HEADER || get_le32(m->payload.data) != cfg->magic) {
        w->foreign++;
        return 0;
    }
    pub = get_le32(m->payload.data + 4);
    seq = get_le64(m->payload.data + 8);
    stamp = get_le64(m->payload.data + 16);
    if (pub >= cfg->publishers || (cfg->scenario == BENCH_PAIRS && pub != c->index)) {
        worker_error(w, "subscriber %u got a message of publisher %u it did not subscribe to", c->index, pub);
        return 0;
    }
    bench_hist_record(&w->latency, w->now > stamp ? w->now - stamp : 0);
    w->last_delivery_ns = w->now;
    if (cfg->scenario == BENCH_FAN_IN || cfg->scenario == BENCH_FAN_OUT)
        stream = c->index * cfg->publishers + pub;
    else
        stream = pub;
    if (run->track_locks) {
        pthread_mutex_lock(&run->track_locks[stream]);
        bench_track_arrive(&run->tracks[stream], seq);
        pthread_mutex_unlock(&run->track_locks[stream]);
    } else {
        bench_track_arrive(&run->tracks[stream], seq);
    }
    atomic_fetch_add_explicit(&run->pubs[pub].delivered, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->c.delivered, 1, memory_order_relaxed);
    return 0;
}

/* A publisher's message is complete (PUBACK, or PUBCOMP). */
static void pub_complete(bench_conn *c)
{
    c->inflight--;
    atomic_fetch_sub_explicit(&c->w->inflight, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&c->w->c.acked, 1, memory_order_relaxed);
}

/* PUBACK, PUBREC, PUBREL, PUBCOMP. */
static int conn_on_ack(bench_conn *c, uint8_t type, const mqtt_ack *a)
{
    uint16_t id = a->packet_id;

    if (type == MQTT_PUBREL)
        return conn_queue_ack(c, MQTT_PUBCOMP, id);
    if (c->role != ROLE_PUB || !c->ids) {
        conn_fail(c, "unexpected acknowledgement");
        return -1;
    }
    if (type == MQTT_PUBCOMP) {
        if (!bit_get(c->rel, id)) {
            conn_fail(c, "PUBCOMP for a packet id not awaiting it");
            return -1;
        }
        bit_put(c->rel, id, false);
        pub_complete(c);
        return 0;
    }
    if (!bit_get(c->ids, id) || (type == MQTT_PUBACK) != (c->w->run->cfg.qos == 1)) {
        conn_fail(c, "acknowledgement for a packet id not awaiting it");
        return -1;
    }
    bit_put(c->ids, id, false);
    if (a->reason >= 0x80) {
        worker_error(c->w, "publisher %u: broker refused a message: %s", c->index, mqtt_reason_name(a->reason));
        pub_complete(c);
        return 0;
    }
    if (type == MQTT_PUBACK) {
        pub_complete(c);
        return 0;
    }
    bit_put(c->rel, id, true);
    return conn_queue_ack(c, MQTT_PUBREL, id);
}

static int conn_on_connack(bench_conn *c, const mqtt_connack *a)
{
    char why[96];

    if (c->state != CS_WAIT_CONNACK) {
        conn_fail(c, "unexpected CONNACK");
        return -1;
    }
    if (a->reason != 0) {
        snprintf(why, sizeof why, "connection refused: %s (%u)",
                 c->w->run->cfg.version == MQTT_V5 ? mqtt_reason_name(a->reason) : "3.1.1 return code",
                 a->reason);
        conn_fail(c, why);
        return -1;
    }
    c->receive_max = 65535;
    if (c->w->run->cfg.version == MQTT_V5 && (a->props.present & MQTT_PROP_BIT(MQTT_PROP_RECEIVE_MAXIMUM)))
        c->receive_max = a->props.receive_maximum;
    switch (c->role) {
    case ROLE_SUB:
        c->state = CS_WAIT_SUBACK;
        return conn_queue_subscribe(c);
    case ROLE_STORM: {
        mqtt_packet p;

        bench_hist_record(&c->w->latency, bench_now_ns() - c->t_start);
        atomic_fetch_add_explicit(&c->w->c.connects, 1, memory_order_relaxed);
        memset(&p, 0, sizeof p);
        p.type = MQTT_DISCONNECT;
        c->state = CS_CLOSING; /* the broker closes after DISCONNECT: the TIME_WAIT stays on its side */
        return bench_conn_queue(c, &p);
    }
    default:
        conn_ready(c);
        return 0;
    }
}

static int conn_on_suback(bench_conn *c, const mqtt_suback *s)
{
    if (c->state != CS_WAIT_SUBACK || s->count != 1) {
        conn_fail(c, "unexpected SUBACK");
        return -1;
    }
    if (s->reasons[0] >= 0x80) {
        conn_fail(c, "subscription refused");
        return -1;
    }
    if (s->reasons[0] != c->w->run->cfg.qos)
        worker_error(c->w, "subscriber %u: broker granted QoS %u, not %u", c->index, s->reasons[0],
                     c->w->run->cfg.qos);
    conn_ready(c);
    return 0;
}

/* Dispatches one decoded packet. Returns 0, or -1 when the connection was failed. */
static int conn_on_packet(bench_conn *c, const mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_CONNACK:
        return conn_on_connack(c, &p->u.connack);
    case MQTT_SUBACK:
        return conn_on_suback(c, &p->u.suback);
    case MQTT_PUBLISH:
        if (c->role != ROLE_SUB) {
            conn_fail(c, "PUBLISH to a client that did not subscribe");
            return -1;
        }
        return sub_on_publish(c, &p->u.publish);
    case MQTT_PUBACK:
    case MQTT_PUBREC:
    case MQTT_PUBREL:
    case MQTT_PUBCOMP:
        return conn_on_ack(c, p->type, &p->u.ack);
    case MQTT_PINGRESP:
        return 0;
    case MQTT_DISCONNECT: {
        char why[96];

        snprintf(why, sizeof why, "broker sent DISCONNECT: %s", mqtt_reason_name(p->u.disconnect.reason));
        conn_fail(c, why);
        return -1;
    }
    default:
        conn_fail(c, "unexpected packet from the broker");
        return -1;
    }
}

/* Decodes and handles every whole packet in the read buffer; keeps a partial one at the front. */
static int conn_parse(bench_conn *c)
{
    bench_worker *w = c->w;
    uint8_t version = w->run->cfg.version;
    mqtt_alloc alloc = {arena_alloc, w};
    size_t off = 0;
    int rc = 0;

    while (off < c->rlen && c->state != CS_DEAD && c->state != CS_FREE) {
        mqtt_frame fr;
        mqtt_packet p;
        mqtt_error err;
        size_t total;

        rc = mqtt_frame_parse(c->rbuf + off, c->rlen - off, version, CONN_MAX_BUFFER, &fr, &err);
        if (rc == MQTT_NEED_MORE) {
            rc = 0;
            break;
        }
        if (rc != MQTT_OK) {
            conn_fail(c, err.message ? err.message : "malformed packet from the broker");
            return -1;
        }
        total = fr.header_len + (size_t)fr.remaining;
        if (c->rlen - off < total) {
            if (total > c->rcap && buffer_reserve(&c->rbuf, &c->rcap, total)) {
                conn_fail(c, "packet from the broker too large");
                return -1;
            }
            break;
        }
        w->arena_used = 0;
        if (mqtt_decode(c->rbuf + off, total, version, NULL, &alloc, &p, &err) != MQTT_OK) {
            char why[128];

            snprintf(why, sizeof why, "cannot decode %s from the broker: %s", mqtt_packet_name(fr.type),
                     err.message ? err.message : "?");
            conn_fail(c, why);
            return -1;
        }
        off += total;
        if (conn_on_packet(c, &p))
            return -1;
    }
    if (off && c->state != CS_DEAD && c->state != CS_FREE) {
        memmove(c->rbuf, c->rbuf + off, c->rlen - off);
        c->rlen -= off;
    }
    return rc;
}

/* The peer closed. A storm client that sent DISCONNECT expects exactly that. */
static void conn_on_eof(bench_conn *c)
{
    if (c->role == ROLE_STORM && c->state == CS_CLOSING) {
        atomic_fetch_add_explicit(&c->w->c.closed, 1, memory_order_relaxed);
        c->w->storm_active--;
        if (c->ssl) /* a clean end: OpenSSL would otherwise mark the session (ticket) as not resumable */
            SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        conn_close(c);
        return;
    }
    conn_fail(c, "the broker closed the connection");
}

/* WebSocket: n raw bytes arrived at rbuf[rlen..): the upgrade response first, then frames whose data is
 * appended to the read buffer. Returns 0, or -1 once the connection was closed or failed. */
static int conn_ws_input(bench_conn *c, size_t n)
{
    const char *why = NULL;
    bool closed = false;
    ssize_t data;

    if (!c->ws->open) {
        long head;

        c->rlen += n;
        head = bench_ws_response(c->ws, c->rbuf, c->rlen, &why);
        if (head <= 0) {
            if (head < 0)
                conn_fail(c, why);
            return head < 0 ? -1 : 0;
        }
        n = c->rlen - (size_t)head;
        memmove(c->rbuf, c->rbuf + head, n);
        c->rlen = 0;
        c->state = CS_WAIT_CONNACK;
    }
    data = bench_ws_ingest(c->ws, c->rbuf + c->rlen, n, &closed, &why);
    if (data < 0) {
        if (closed)
            conn_on_eof(c);
        else
            conn_fail(c, why);
        return -1;
    }
    c->rlen += (size_t)data;
    return 0;
}

/* Reads (at most CONN_READ_BUDGET times) and handles what arrived. Leaves the connection on the worker's
 * resume list when input may remain. */
static void conn_read(bench_conn *c)
{
    for (int i = 0; i < CONN_READ_BUDGET; i++) {
        const char *why = NULL;
        size_t room;
        ssize_t n;

        if (c->rcap - c->rlen < 4096 && buffer_reserve(&c->rbuf, &c->rcap, c->rlen + 4096)) {
            conn_fail(c, "read buffer limit");
            return;
        }
        room = c->rcap - c->rlen;
        errno = 0;
        n = conn_io_read(c, c->rbuf + c->rlen, room, &why);
        if (n == 0) {
            conn_on_eof(c);
            return;
        }
        if (n == IO_AGAIN)
            return;
        if (n < 0) {
            conn_fail(c, why);
            return;
        }
        if (!c->ws)
            c->rlen += (size_t)n;
        else if (conn_ws_input(c, (size_t)n))
            return;
        if (c->ws && !c->ws->open)
            continue; /* still reading the upgrade response */
        if (conn_parse(c))
            return;
        /* a short TCP read drained the socket (edge-triggered: new data raises a new event); TLS may hold
         * decrypted bytes, so it reads on until it would block */
        if ((size_t)n < room && !c->ssl)
            return;
    }
    if (!c->resumable) {
        c->resumable = true;
        c->resume_next = c->w->resume;
        c->w->resume = c;
    }
}

/* ---- publishing --------------------------------------------------------------------------------- */

/* Finds a free packet id, or returns 0 when the window or the id space is full. */
static uint16_t pub_take_id(bench_conn *c)
{
    for (uint32_t tries = 0; tries < 65535; tries++) {
        uint16_t id = c->next_id;

        c->next_id = (uint16_t)(c->next_id == 65535 ? 1 : c->next_id + 1);
        if (!bit_get(c->ids, id) && !bit_get(c->rel, id))
            return id;
    }
    return 0;
}

/*
 * How many more messages the window allows now: messages not yet delivered to every receiver (end to end,
 * so that a broker's queues never grow without bound) and, for QoS 1/2, messages the broker has not yet
 * acknowledged. A full window that sees no delivery for CONN_STALL_NS is written off (a broker may drop
 * messages, QoS 0 ones in particular) so that the run goes on; the loss shows in the report.
 */
static uint64_t pub_window_room(bench_conn *c)
{
    bench_run *run = c->w->run;
    uint64_t window = run->cfg.window, proto_room = UINT64_MAX, delivered, outstanding;

    if (run->cfg.qos > 0) {
        uint64_t limit = window < c->receive_max ? window : c->receive_max;

        proto_room = c->inflight < limit ? limit - c->inflight : 0;
        if (!proto_room)
            return 0;
    }
    delivered = atomic_load_explicit(&run->pubs[c->index].delivered, memory_order_relaxed) / run->receivers;
    outstanding = c->seq - c->written_off > delivered ? c->seq - c->written_off - delivered : 0;
    if (outstanding < window) {
        c->stall_since = 0;
        return window - outstanding < proto_room ? window - outstanding : proto_room;
    }
    if (!c->stall_since || delivered != c->stall_mark) {
        c->stall_since = c->w->now;
        c->stall_mark = delivered;
    } else if (c->w->now - c->stall_since > CONN_STALL_NS) {
        c->written_off += outstanding;
        c->w->stalls++;
        c->stall_since = 0;
        return window < proto_room ? window : proto_room;
    }
    return 0;
}

/* Encodes one PUBLISH with its stamped payload at the end of the write buffer. */
static int pub_encode_one(bench_conn *c, uint64_t stamp)
{
    const bench_config *cfg = &c->w->run->cfg;
    mqtt_publish m;
    size_t head;
    uint8_t *pl;

    memset(&m, 0, sizeof m);
    m.qos = cfg->qos;
    m.topic = (mqtt_bytes){(const uint8_t *)c->topic, c->topic_len};
    m.payload = (mqtt_bytes){NULL, cfg->payload};
    if (cfg->qos > 0) {
        m.packet_id = pub_take_id(c);
        if (!m.packet_id)
            return 1;
    }
    if (buffer_reserve(&c->wbuf, &c->wcap, c->wlen + cfg->payload + c->topic_len + 16)) {
        conn_fail(c, "write buffer limit");
        return -1;
    }
    head = mqtt_encode_publish_head(&m, cfg->version, c->wbuf + c->wlen, c->wcap - c->wlen);
    if (!head) {
        conn_fail(c, "cannot encode PUBLISH");
        return -1;
    }
    pl = c->wbuf + c->wlen + head;
    memset(pl + BENCH_PAYLOAD_HEADER, 'x', cfg->payload - BENCH_PAYLOAD_HEADER);
    put_le32(pl, cfg->magic);
    put_le32(pl + 4, c->index);
    put_le64(pl + 8, c->seq);
    put_le64(pl + 16, stamp);
    c->wlen += head + cfg->payload;
    if (cfg->qos > 0) {
        bit_put(c->ids, m.packet_id, true);
        c->inflight++;
        atomic_fetch_add_explicit(&c->w->inflight, 1, memory_order_relaxed);
    }
    c->seq++;
    return 0;
}

/*
 * Publishes what the window, the rate and the count allow (at most CONN_BATCH messages), then writes.
 * Returns 1 when the publisher could send more right away, 0 when it waits (window, rate, socket, count),
 * and sets *next_due to the time the rate schedule next allows a message (0 when not rate limited).
 */
int bench_conn_pump(bench_conn *c, uint64_t *next_due)
{
    const bench_config *cfg = &c->w->run->cfg;
    uint64_t room = pub_window_room(c);
    uint32_t sent = 0;
    bool more = true;

    *next_due = 0;
    while (sent < CONN_BATCH && room > 0) {
        uint64_t stamp = c->w->now;
        int rc;

        if (cfg->count && c->seq >= cfg->count) {
            c->done = true;
            more = false;
            break;
        }
        if (c->interval_ns > 0) {
            uint64_t due = c->t0 + (uint64_t)((double)c->seq * c->interval_ns);

            if (due > c->w->now) {
                *next_due = due;
                more = false;
                break;
            }
            stamp = due; /* latency counts from when the message was due: no coordinated omission */
        }
        rc = pub_encode_one(c, stamp);
        if (rc < 0)
            return 0;
        if (rc > 0)
            break;
        sent++;
        room--;
    }
    if (room == 0)
        more = false;
    if (sent) {
        atomic_store_explicit(&c->w->run->pubs[c->index].sent, c->seq, memory_order_relaxed);
        atomic_fetch_add_explicit(&c->w->c.published, sent, memory_order_relaxed);
    }
    if (c->wlen > c->woff && bench_conn_flush(c))
        return 0;
    return more && !c->blocked;
}

/* ---- events ------------------------------------------------------------------------------------- */

/* Drives the TLS handshake. Returns 1 when done (the connection now waits for CONNACK), 0 while in
 * progress, -1 after conn_fail. */
static int conn_tls_handshake(bench_conn *c)
{
    int rc;

    if (!c->ssl) {
        c->ssl = SSL_new(c->w->run->tls_ctx);
        if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
            conn_fail(c, "cannot create a TLS session");
            return -1;
        }
        SSL_set_connect_state(c->ssl);
        SSL_set_app_data(c->ssl, c->w);
        if (c->w->tls_nsessions) { /* the newest unused ticket, used once */
            SSL_SESSION *s = c->w->tls_sessions[--c->w->tls_nsessions];
            SSL_set_session(c->ssl, s);
            SSL_SESSION_free(s);
        }
    }
    ERR_clear_error();
    errno = 0;
    rc = SSL_connect(c->ssl);
    if (rc == 1) {
        if (SSL_session_reused(c->ssl))
            c->w->c.tls_resumed++;
        c->state = CS_WAIT_CONNACK;
        return 1;
    }
    rc = SSL_get_error(c->ssl, rc);
    if (rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE)
        return 0;
    conn_fail(c, conn_tls_error(rc));
    return -1;
}

/* With --ws, once TCP (and TLS) is up: queues the HTTP upgrade; CONNECT waits in the write buffer until the
 * server accepts. Returns 0, or -1 after conn_fail. */
static int conn_ws_begin(bench_conn *c)
{
    const bench_config *cfg = &c->w->run->cfg;

    if (!cfg->ws)
        return 0;
    c->ws = bench_ws_new();
    if (!c->ws || bench_ws_request(c->ws, cfg->host, cfg->port, cfg->ws_path)) {
        conn_fail(c, "cannot start the WebSocket upgrade");
        return -1;
    }
    c->state = CS_WS_UPGRADE;
    return 0;
}

/* A readiness event for connection c. */
void bench_conn_on_event(bench_conn *c, uint32_t events)
{
    if (c->state == CS_DEAD || c->state == CS_FREE)
        return;
    if (c->state == CS_TCP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err) {
            conn_fail(c, strerror(err));
            return;
        }
        if (!(events & (EPOLLOUT | EPOLLIN)))
            return;
        c->state = c->w->run->tls_ctx ? CS_TLS_HANDSHAKE : CS_WAIT_CONNACK;
        if (c->state == CS_WAIT_CONNACK && conn_ws_begin(c))
            return;
        events |= EPOLLOUT;
    }
    if (c->state == CS_TLS_HANDSHAKE) {
        if (conn_tls_handshake(c) <= 0 || conn_ws_begin(c))
            return;
        events |= EPOLLOUT | EPOLLIN;
    }
    if (events & EPOLLOUT) {
        c->blocked = false;
        if (conn_has_output(c) && bench_conn_flush(c))
            return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        conn_read(c);
    if (c->state != CS_DEAD && c->state != CS_FREE && conn_has_output(c) && !c->blocked)
        bench_conn_flush(c);
}

/* Allocates a connection of the given role. Returns NULL when out of memory. */
bench_conn *bench_conn_new(bench_worker *w, uint8_t role, uint32_t index)
{
    const bench_config *cfg = &w->run->cfg;
    bench_conn *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->w = w;
    c->fd = -1;
    c->role = role;
    c->index = index;
    c->state = CS_FREE;
    c->next_id = 1;
    if (role == ROLE_PUB) {
        int n = conn_topic(cfg, index, c->topic, sizeof c->topic);

        c->topic_len = (uint16_t)(n > 0 ? n : 0);
        if (cfg->qos > 0) {
            c->ids = calloc(65536 / 64, sizeof *c->ids);
            c->rel = calloc(65536 / 64, sizeof *c->rel);
            if (!c->ids || !c->rel) {
                free(c->ids);
                free(c->rel);
                free(c);
                return NULL;
            }
        }
        if (cfg->rate > 0)
            c->interval_ns = 1e9 * cfg->publishers / cfg->rate;
    }
    return c;
}

void bench_conn_free(bench_conn *c)
{
    if (!c)
        return;
    SSL_free(c->ssl);
    bench_ws_free(c->ws);
    if (c->fd >= 0)
        close(c->fd);
    free(c->rbuf);
    free(c->wbuf);
    free(c->ids);
    free(c->rel);
    free(c);
}

