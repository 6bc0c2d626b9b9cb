/* conn.c - one client connection: accept, handshake, reading and framing, output batching, closing. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "base/counters.h"
#include "base/log.h"
#include "broker/core.h"

#define CONN_READS_PER_EVENT 8
#define CONN_KEEP_IBUF 4096

static void conn_msg_release(void *ref)
{
    msg_unref(ref);
}

static void conn_on_event(void *ctx, uint32_t events);

static ip_count *conn_ip_get(broker *b, const char *addr, bool create)
{
    size_t len = strlen(addr);
    ip_count *ic = hmap_get(&b->per_ip, addr, len);
    if (ic || !create)
        return ic;
    ic = calloc(1, sizeof *ic);
    if (!ic)
        return NULL;
    memcpy(ic->key, addr, len);
    ic->len = (uint8_t)len;
    if (hmap_put(&b->per_ip, ic->key, len, ic) < 0) {
        free(ic);
        return NULL;
    }
    return ic;
}

static void conn_peer_string(const struct sockaddr_storage *peer, char *out, size_t outlen, uint16_t *port)
{
    *port = 0;
    snprintf(out, outlen, "unknown");
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)peer;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)outlen);
        *port = ntohs(a->sin_port);
    } else if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)peer;
        inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)outlen);
        *port = ntohs(a->sin6_port);
    }
}

void conn_accept(void *ctx, net_listener *l, int fd, const struct sockaddr_storage *peer, socklen_t len)
{
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    (void)len;
    conn_peer_string(peer, addr, sizeof addr, &port);
    conn_attach(ctx, l, fd, addr, port);
}

/* Refuses a new connection on one of the broker's own limits: logs it, tells the security hook (audit),
 * closes fd. */
static void conn_refuse(broker *b, const broker_listener_settings *ls, net_listener *l, int fd, const char *addr,
                        uint16_t port, const char *why)
{
    log_notice("refusing connection from %s: %s", addr, why);
    if (b->sec.refused) {
        broker_client cl = {.address = addr, .port = port, .listener_port = l ? listener_port(l) : 0,
                            .listener_user = ls ? ls->user : NULL};
        b->sec.refused(b->sec.ctx, &cl, why);
    }
    close(fd);
}

/* The client's address as the transport reports it (transport_ops.client_address): 1 with *addr, 0 the
 * socket peer, -1 not known before the handshake ends. */
static int conn_client_address(const conn *c, const char **addr, uint16_t *port)
{
    *addr = NULL;
    *port = 0;
    return c->t->ops->client_address ? c->t->ops->client_address(c->t, addr, port) : 0;
}

/* Points c->address at addr's per-address record (its key lives as long as c counts there), giving back the
 * copy the connection held until then. */
static void conn_set_address(conn *c, const char *key)
{
    if (c->address_owned)
        free((char *)c->address);
    c->address = key;
    c->address_owned = false;
}

/* The per-address admission of a connection from client address addr: the broker's
 * max_connections_per_address, then the security accept hook (connection limits, rate). Returns false after
 * closing the connection. */
static bool conn_admit(conn *c, const char *addr)
{
    broker *b = c->b;
    broker_client info;
    ip_count *ic = conn_ip_get(b, addr, true);
    if (!ic || (b->set.max_connections_per_ip && ic->count >= b->set.max_connections_per_ip)) {
        const char *why = "max_connections_per_address reached";
        if (ic)
            counters_inc(COUNTER_LIMIT_MAX_CONNECTIONS_PER_ADDRESS);
        limit_hit_peer(c->ls, addr, c->port, ic ? "max_connections_per_address" : "memory");
        if (ic && ic->count == 0)
            free(hmap_remove(&b->per_ip, ic->key, ic->len));
        log_notice("refusing connection from %s: %s", addr, why);
        if (b->sec.refused) {
            conn_client(c, &info);
            info.address = addr;
            b->sec.refused(b->sec.ctx, &info, why);
        }
        conn_close(c, -1, why);
        return false;
    }
    ic->count++;
    c->counted_ip = true;
    conn_set_address(c, ic->key);
    conn_client(c, &info);
    if (b->sec.accept && !b->sec.accept(b->sec.ctx, &info, c->id, &c->security_state)) {
        conn_close(c, -1, "refused by connection limits");
        return false;
    }
    return true;
}

/* After the transport handshake: a connection from a trusted proxy takes the client address the proxy
 * reported, and only now passes the per-address checks. Returns false after closing the connection. */
static bool conn_admit_after_handshake(conn *c)
{
    const char *real;
    uint16_t port;
    if (!c->admit_pending)
        return true;
    c->admit_pending = false;
    if (conn_client_address(c, &real, &port) > 0) {
        log_debug("connection from %s:%u is client %s:%u (reported by a trusted proxy)", c->address, c->port,
                  real, port);
        c->port = port; /* 0 when the proxy did not say (X-Forwarded-For) */
        return conn_admit(c, real);
    }
    return conn_admit(c, c->address);
}

void conn_attach(broker *b, net_listener *l, int fd, const char *addr, uint16_t port)
{
    broker_listener_settings *ls = l ? listener_user(l) : &b->set.listeners[0];
    if (!l && b->set.nlisteners == 0) {
        close(fd);
        return;
    }
    if (b->stop) {
        close(fd);
        return;
    }
    if (b->set.max_connections && b->nconns >= b->set.max_connections) {
        counters_inc(COUNTER_LIMIT_MAX_CONNECTIONS);
        limit_hit_peer(ls, addr, port, "max_connections_global");
        conn_refuse(b, ls, l, fd, addr, port, "max_connections_global reached");
        return;
    }
    if (ls->max_connections >= 0 && ls->connections >= (uint32_t)ls->max_connections) {
        counters_inc(COUNTER_LIMIT_LISTENER_MAX_CONNECTIONS);
        limit_hit_peer(ls, addr, port, "listener_max_connections");
        conn_refuse(b, ls, l, fd, addr, port, "max_connections of the listener reached");
        return;
    }
    conn *c = NULL;
    if (timer_heap_reserve(&b->conn_timers, b->nconns + 1) == 0)
        c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->b = b;
    c->id = ++b->next_conn_id;
    c->listener = l;
    c->out.release = conn_msg_release;
    c->address = strdup(addr); /* until admission points it at the per-address record */
    c->address_owned = true;
    c->port = port;
    c->t = c->address ? (l ? listener_make_transport(l, fd) : transport_tcp_new(fd)) : NULL;
    if (!c->t || loop_watch_add(b->loop, &c->watch, fd, LOOP_READ, conn_on_event, c) < 0) {
        if (c->t)
            c->t->ops->destroy(c->t);
        close(fd);
        free((char *)c->address);
        free(c);
        return;
    }
    c->ls = ls;
    ls->connections++;
    ls->accepted++;
    c->state = CONN_HANDSHAKE;
    c->last_rx_ms = b->now_ms;
    timer_heap_set(&b->conn_timers, &c->timer, b->now_ms + (uint64_t)b->set.connect_timeout_s * 1000u);
    c->next = b->conns_head;
    if (b->conns_head)
        b->conns_head->prev = c;
    b->conns_head = c;
    b->nconns++;
    b->stats.connections_total++;
    log_debug("new connection from %s:%u on port %u (%s)", addr, port, l ? listener_port(l) : 0, c->t->ops->name);
    /* Behind a trusted proxy the client's address is known only after the handshake (PROXY header,
     * X-Forwarded-For): the per-address checks wait for it, the CONNECT deadline runs meanwhile. */
    const char *real;
    uint16_t real_port;
    c->admit_pending = conn_client_address(c, &real, &real_port) != 0;
    if (!c->admit_pending && !conn_admit(c, addr))
        return;
    /* Plain TCP needs no handshake: finish it now so the first read happens on the first event. */
    conn_on_event(c, 0);
}

void conn_client(const conn *c, broker_client *out)
{
    memset(out, 0, sizeof *out);
    out->client_id = c->session ? c->session->client_id : conn_auth_client_id(c);
    out->username = c->username;
    out->address = c->address;
    out->port = c->port;
    out->listener_port = c->listener ? listener_port(c->listener) : 0;
    out->listener_user = c->ls->user;
    out->transport = c->t;
    out->security_state = c->security_state;
    out->version = c->version;
}

conn_auth *conn_auth_get(conn *c)
{
    if (!c->auth)
        c->auth = calloc(1, sizeof *c->auth);
    return c->auth;
}

void conn_auth_trim(conn *c)
{
    if (c->auth && !c->auth->client_id && !c->auth->method && !c->auth->saved) {
        free(c->auth);
        c->auth = NULL;
    }
}

const char *conn_auth_client_id(const conn *c)
{
    return c->auth ? c->auth->client_id : NULL;
}

const char *conn_auth_method(const conn *c)
{
    return c->auth ? c->auth->method : NULL;
}

conn_aliases *conn_aliases_get(conn *c)
{
    if (!c->aliases)
        c->aliases = calloc(1, sizeof *c->aliases);
    return c->aliases;
}

/* Frees c's topic alias tables. */
static void conn_aliases_free(conn *c)
{
    conn_aliases *al = c->aliases;
    if (!al)
        return;
    for (uint16_t i = 0; al->out_topics && i < al->out_count; i++) {
        c->b->mem_state -= strlen(al->out_topics[i]) + 1; /* counted against memory_limit */
        free(al->out_topics[i]);
    }
    free(al->out_topics);
    hmap_free(&al->out);
    for (uint16_t i = 0; al->in && i < c->in_alias_max; i++) {
        if (al->in[i])
            c->b->mem_state -= strlen(al->in[i]) + 1;
        free(al->in[i]);
    }
    free(al->in);
    free(al);
    c->aliases = NULL;
}

/* Keeps the broker's count of queued output bytes (the memory ceiling) in step with this connection. */
static void conn_account(conn *c)
{
    c->b->mem_out += c->out.area_pending - c->out_accounted;
    c->out_accounted = c->out.area_pending;
}

void conn_mark_dirty(conn *c)
{
    conn_account(c);
    if (c->dirty || c->state == CONN_CLOSING)
        return;
    c->dirty = true;
    c->next_dirty = c->b->dirty_head;
    c->b->dirty_head = c;
}

/* The property set of a control packet the broker sends, or NULL (PINGRESP). */
static mqtt_props *conn_control_props(mqtt_packet *p)
{
    switch (p->type) {
    case MQTT_CONNACK: return &p->u.connack.props;
    case MQTT_PUBACK: case MQTT_PUBREC: case MQTT_PUBREL: case MQTT_PUBCOMP: return &p->u.ack.props;
    case MQTT_SUBACK: case MQTT_UNSUBACK: return &p->u.suback.props;
    case MQTT_DISCONNECT: return &p->u.disconnect.props;
    case MQTT_AUTH: return &p->u.auth.props;
    default: return NULL;
    }
}

/*
 * Fits control packet *p into the client's Maximum Packet Size as the standard orders: first the Reason String
 * goes, then the User Properties [MQTT-3.1.2-24, 3.2.2-19/20, 3.4.2-2/3, 3.5.2-2/3, 3.6.2-2/3, 3.7.2-2/3,
 * 3.9.2-1/2, 3.11.2-1/2, 3.14.2-3/4, 3.15.2-2/3]. Returns the encoded size, or 0 when it still does not fit
 * (or cannot be encoded). PUBLISH is not handled here: a message too large is dropped by route.c.
 */
static size_t conn_fit_control(const conn *c, mqtt_packet *p, uint8_t version)
{
    size_t n = mqtt_encoded_size(p, version);
    mqtt_props *pr = conn_control_props(p);
    if (n && c->out_max_packet && n > c->out_max_packet && pr && (pr->present & MQTT_PROP_BIT(MQTT_PROP_REASON_STRING))) {
        pr->present &= ~MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
        n = mqtt_encoded_size(p, version);
    }
    if (n && c->out_max_packet && n > c->out_max_packet && pr && (pr->present & MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY))) {
        pr->present &= ~MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY);
        pr->user_count = 0;
        n = mqtt_encoded_size(p, version);
    }
    return c->out_max_packet && n > c->out_max_packet ? 0 : n;
}

bool conn_send(conn *c, const mqtt_packet *orig)
{
    uint8_t version = c->version ? c->version : MQTT_V311;
    mqtt_packet copy = *orig;
    const mqtt_packet *p = orig;
    size_t n = mqtt_encoded_size(p, version);
    if (n == 0)
        return false;
    if (c->out_max_packet && n > c->out_max_packet && p->type != MQTT_PUBLISH) {
        p = &copy;
        n = conn_fit_control(c, &copy, version);
        if (n == 0) {
            /* Never send a packet above the client's limit [MQTT-3.1.2-24]; without this answer the
             * conversation cannot go on: close (a bare DISCONNECT 0x95 is tried by the caller's close). */
            log_info("client %s (%s): a %s does not fit its Maximum Packet Size %u", c->session ? c->session->client_id : "-",
                     c->address, mqtt_packet_name(orig->type), c->out_max_packet);
            if (orig->type != MQTT_DISCONNECT) /* no DISCONNECT may come before CONNACK [MQTT-3.2.0-1] */
                conn_close(c, orig->type == MQTT_CONNACK ? -1 : MQTT_RC_PACKET_TOO_LARGE,
                           "answer larger than the client's Maximum Packet Size");
            return false;
        }
    }
    uint8_t *dst = outq_reserve(&c->out, n);
    if (!dst)
        return false;
    size_t w = mqtt_encode(p, version, dst, n);
    if (w != n)
        return false;
    outq_commit(&c->out, n);
    conn_mark_dirty(c);
    return true;
}

void conn_update_watch(conn *c)
{
    uint32_t ev = 0;
    if (c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_HANDSHAKE && c->t->waiting) { /* broker_resume_waiting() calls again */
        loop_watch_set(c->b->loop, &c->watch, 0);
        return;
    }
    if ((!c->read_paused && !c->auth_waiting) || c->t->want_read)
        ev |= LOOP_READ;
    if (c->out.bytes > 0 || c->t->want_write)
        ev |= LOOP_WRITE;
    loop_watch_set(c->b->loop, &c->watch, ev);
}

/* Writes what is queued. Returns false if the connection broke. */
static bool conn_flush(conn *c)
{
    if (persist_conn_held(c)) /* an acknowledgement waits for its batch's commit */
        return true;
    size_t before = c->out.bytes;
    ssize_t n = outq_flush(&c->out, c->t);
    if (n < 0) {
        c->out.bytes = before;
        return false;
    }
    c->b->stats.bytes_sent += (uint64_t)n;
    conn_account(c);
    /* Drained with buffers still held: give them back within a second if it stays idle. */
    if (c->out.bytes == 0 && (c->out.area || c->out.segs) && c->state == CONN_ACTIVE &&
        (!timer_armed(&c->timer) || c->timer.at > c->b->now_ms + 1000))
        timer_heap_set(&c->b->conn_timers, &c->timer, c->b->now_ms + 1000);
    /* Resume reading once the output drained below half the limit. */
    if (c->read_paused && c->out.bytes < c->b->set.out_buffer_limit / 2)
        c->read_paused = false;
    return true;
}

void conn_flush_dirty(broker *b)
{
    conn *held = NULL;
    while (b->dirty_head) {
        conn *c = b->dirty_head;
        b->dirty_head = c->next_dirty;
        c->dirty = false;
        c->next_dirty = NULL;
        if (c->state == CONN_CLOSING)
            continue;
        if (persist_conn_held(c)) { /* stays dirty until the store commits (persist_commit retries) */
            c->dirty = true;
            c->next_dirty = held;
            held = c;
            continue;
        }
        if (!conn_flush(c)) {
            conn_close(c, -1, "write failed");
            continue;
        }
        if (c->out.bytes > b->set.out_buffer_limit && !c->read_paused) {
            counters_inc(COUNTER_LIMIT_OUT_BUFFER);
            c->read_paused = true;
        }
        conn_update_watch(c);
    }
    b->dirty_head = held;
}

/* The CONNECT-less framing cap, or the negotiated one. */
static uint32_t conn_max_packet(const conn *c)
{
    return c->state == CONN_ACTIVE ? c->b->set.max_packet_size : c->b->set.max_packet_size_unauth;
}

static void conn_frame_error(conn *c, const mqtt_error *err)
{
    if (err->reason == MQTT_RC_PACKET_TOO_LARGE)
        counters_inc(COUNTER_LIMIT_MAX_PACKET_SIZE);
    log_info("client %s (%s): %s", c->session ? c->session->client_id : "-", c->address,
             err->message ? err->message : "malformed packet");
    if (err->reason == MQTT_RC_PACKET_TOO_LARGE)
        limit_hit_client(c, NULL, c->state == CONN_ACTIVE ? "max_packet_size" : "max_packet_size_unauthenticated",
                         c->state == CONN_ACTIVE ? "disconnected" : "refused", NULL, 0);
    if (c->state == CONN_ACTIVE)
        proto_disconnect(c, err->reason ? err->reason : MQTT_RC_MALFORMED, err->message);
    else
        conn_close(c, -1, "bad packet before CONNECT");
}

/*
 * Consumes the whole packets in buf[0..len). Returns the number of bytes used; the rest (a partial packet)
 * must be kept. *need is set to the size of the partial packet when its header is known, else 0.
 */
static size_t conn_process(conn *c, const uint8_t *buf, size_t len, size_t *need)
{
    broker *b = c->b;
    size_t pos = 0;
    *need = 0;
    while (pos < len && c->state != CONN_CLOSING && !c->auth_waiting) {
        mqtt_frame f;
        mqtt_error err = {0};
        uint8_t version = c->state == CONN_ACTIVE || c->state == CONN_AUTH ? c->version : 0;
        int rc = mqtt_frame_parse(buf + pos, len - pos, version, conn_max_packet(c), &f, &err);
        if (rc == MQTT_NEED_MORE)
            break;
        if (rc == MQTT_ERROR) {
            conn_frame_error(c, &err);
            return len;
        }
        size_t total = (size_t)f.header_len + f.remaining;
        if (len - pos < total) {
            *need = total;
            break;
        }
        mqtt_packet p;
        mqtt_limits lim = {.max_packet_size = conn_max_packet(c),
                           .max_user_props = b->set.max_user_properties,
                           .max_subs_per_packet = 0,
                           .max_topic_levels = b->set.max_topic_levels};
        mqtt_alloc al = {broker_arena_alloc, b};
        broker_arena_reset(b);
        memset(&err, 0, sizeof err);
        rc = mqtt_decode(buf + pos, total, version, &lim, &al, &p, &err);
        c->last_rx_ms = b->now_ms;
        b->stats.msgs_received++;
        if (rc != MQTT_OK) {
            if (f.type == MQTT_CONNECT && c->state == CONN_NEW)
                proto_connect_failed(c, buf + pos, total, &err);
            else
                conn_frame_error(c, &err);
            return len;
        }
        proto_handle(c, &p, buf + pos, total);
        if (p.type == MQTT_CONNECT)
            OPENSSL_cleanse((uint8_t *)buf + pos, total);
        pos += total;
    }
    return pos;
}

static bool conn_ibuf_reserve(conn *c, size_t want)
{
    if (want <= c->icap)
        return true;
    uint8_t *n = realloc(c->ibuf, want);
    if (!n)
        return false;
    c->ibuf = n;
    c->icap = (uint32_t)want;
    return true;
}

/* Keeps the unprocessed tail of a read. */
static bool conn_keep(conn *c, const uint8_t *src, size_t len, size_t need)
{
    size_t want = need > len ? need : len;
    if (want < CONN_KEEP_IBUF)
        want = CONN_KEEP_IBUF;
    bool inside = c->ibuf && src >= c->ibuf && src < c->ibuf + c->icap;
    if (!inside) {
        if (!conn_ibuf_reserve(c, want))
            return false;
        memcpy(c->ibuf, src, len);
    } else {
        memmove(c->ibuf, src, len);
        if (!conn_ibuf_reserve(c, want))
            return false;
    }
    c->ilen = (uint32_t)len;
    return true;
}

static void conn_ibuf_release(conn *c)
{
    if (c->icap > CONN_KEEP_IBUF) {
        free(c->ibuf);
        c->ibuf = NULL;
        c->icap = 0;
    }
}

/* Handles the whole packets in base[0..avail) and keeps the rest for the next read. */
static void conn_consume(conn *c, uint8_t *base, size_t avail)
{
    size_t need = 0;
    size_t used = conn_process(c, base, avail, &need);
    if (c->state == CONN_CLOSING)
        return;
    if (used == avail) {
        c->ilen = 0;
        conn_ibuf_release(c);
    } else if (!conn_keep(c, base + used, avail - used, need)) {
        conn_close(c, MQTT_RC_UNSPECIFIED, "out of memory");
    }
}

/* One read: into the shared buffer when nothing is pending, else onto the pending bytes. Returns bytes
 * read, 0 at end of stream, -1 with errno. */
static ssize_t conn_read_once(conn *c)
{
    broker *b = c->b;
    uint8_t *base;
    size_t have, room;
    if (c->ilen == 0) {
        base = b->rbuf;
        have = 0;
        room = BROKER_READ_BUF;
    } else {
        if (c->ilen == c->icap && !conn_ibuf_reserve(c, (size_t)c->icap * 2))
            return -1;
        base = c->ibuf;
        have = c->ilen;
        room = c->icap - c->ilen;
    }
    ssize_t n = c->t->ops->read(c->t, base + have, room);
    if (n <= 0)
        return n;
    b->stats.bytes_received += (uint64_t)n;
    conn_consume(c, base, have + (size_t)n);
    return n;
}

void conn_resume(conn *c)
{
    if (c->state != CONN_CLOSING && c->ilen > 0)
        conn_consume(c, c->ibuf, c->ilen);
    if (c->state != CONN_CLOSING)
        conn_update_watch(c);
}

static void conn_do_read(conn *c)
{
    for (int i = 0; i < CONN_READS_PER_EVENT && c->state != CONN_CLOSING; i++) {
        if ((c->read_paused && c->state == CONN_ACTIVE) || c->auth_waiting)
            return;
        ssize_t n = conn_read_once(c);
        if (n == 0) {
            conn_close(c, -1, "connection closed by peer");
            return;
        }
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn_close(c, -1, "read error");
            return;
        }
        if (!c->t->ops->pending(c->t) && c->t->want_read)
            return;
    }
    /* Out of turns with input still inside the transport: epoll will not say so, come back next round. */
    if (c->state != CONN_CLOSING && c->t->ops->pending(c->t) && !c->again) {
        c->again = true;
        c->next_again = c->b->again_head;
        c->b->again_head = c;
    }
}

void conn_read_again(broker *b)
{
    conn *list = b->again_head;
    b->again_head = NULL;
    while (list) {
        conn *c = list;
        list = c->next_again;
        c->again = false;
        c->next_again = NULL;
        if (c->state != CONN_CLOSING)
            conn_on_event(c, LOOP_READ);
    }
}

static void conn_on_event(void *ctx, uint32_t events)
{
    conn *c = ctx;
    if (c->state == CONN_CLOSING)
        return;
    c->b->now_ms = loop_now_ms();
    if (c->state == CONN_HANDSHAKE) {
        int rc = c->t->ops->handshake(c->t);
        if (rc < 0) {
            conn_close(c, -1, "transport handshake failed");
            return;
        }
        if (rc == 0 && c->t->waiting && (events & (LOOP_HANGUP | LOOP_ERROR))) {
            conn_close(c, -1, "connection lost during the handshake"); /* else the hang-up repeats */
            return;
        }
        if (rc == 0) {
            conn_update_watch(c);
            return;
        }
        c->state = CONN_NEW;
        if (!conn_admit_after_handshake(c))
            return;
        events |= LOOP_READ;
    }
    if (events & LOOP_WRITE) {
        if (!conn_flush(c)) {
            conn_close(c, -1, "write failed");
            return;
        }
    }
    if ((events & (LOOP_HANGUP | LOOP_ERROR)) && (c->auth_waiting || c->read_paused)) {
        /* Not reading now, so the read would never see the end: a hang-up must not spin the loop. */
        conn_close(c, -1, "connection lost");
        return;
    }
    if (events & (LOOP_READ | LOOP_HANGUP | LOOP_ERROR))
        conn_do_read(c);
    if (c->state != CONN_CLOSING) {
        if (c->out.bytes > 0)
            conn_mark_dirty(c);
        conn_update_watch(c);
    }
}

/* 1.5 x the negotiated keep alive in milliseconds [MQTT-3.1.2-24]; 0: none. */
static uint64_t conn_keepalive_ms(const conn *c)
{
    return (uint64_t)c->keepalive_s * 1500u;
}

void conn_timer_arm(conn *c)
{
    timer_heap *h = &c->b->conn_timers;
    if (c->state == CONN_ACTIVE && c->keepalive_s)
        timer_heap_set(h, &c->timer, c->last_rx_ms + conn_keepalive_ms(c) + 1);
    else if (c->state == CONN_ACTIVE)
        timer_heap_cancel(h, &c->timer);
}

void conn_timer_fire(conn *c)
{
    broker *b = c->b;
    if (c->state == CONN_CLOSING)
        return;
    if (c->state != CONN_ACTIVE) {
        conn_close(c, -1, "no CONNECT in time"); /* before CONN_ACTIVE the timer is the CONNECT deadline */
        return;
    }
    if (c->out.bytes == 0)
        outq_trim(&c->out);
    if (c->keepalive_s && b->now_ms - c->last_rx_ms > conn_keepalive_ms(c)) {
        proto_disconnect(c, MQTT_RC_KEEP_ALIVE_TIMEOUT, "keep alive timeout");
        return;
    }
    /* Traffic came since it was armed: move it to 1.5 x keep alive after the last packet (lazily, so
     * receiving a packet costs nothing here). */
    conn_timer_arm(c);
}

void conn_close(conn *c, int reason, const char *why)
{
    broker *b = c->b;
    if (c->state == CONN_CLOSING)
        return;
    if (reason >= 0x80 && c->version == MQTT_V5 && c->state == CONN_ACTIVE) {
        mqtt_packet p = {.type = MQTT_DISCONNECT};
        p.u.disconnect.reason = (uint8_t)reason;
        conn_send(c, &p);
    }
    if (c->out.bytes && !persist_conn_held(c)) /* a held acknowledgement is dropped: the client resends */
        (void)outq_flush(&c->out, c->t);
    log_info("client %s (%s:%u) disconnected: %s", c->session ? c->session->client_id : "-", c->address, c->port,
             why);
    c->state = CONN_CLOSING;
    timer_heap_cancel(&b->conn_timers, &c->timer);
    loop_watch_remove(b->loop, &c->watch);
    c->t->ops->shutdown(c->t, 1000);
    if (c->session) {
        session *s = c->session;
        c->session = NULL;
        b->stats.clients_connected--;
        session_detach(b, s, c->will_keep);
    }
    c->next_closing = b->closing_head;
    b->closing_head = c;
}

void conn_destroy(conn *c)
{
    broker *b = c->b;
    int fd = c->watch.fd;
    if (c->again) {
        for (conn **pp = &b->again_head; *pp; pp = &(*pp)->next_again)
            if (*pp == c) {
                *pp = c->next_again;
                break;
            }
    }
    proto_auth_forget(c);
    if (c->auth) {
        free(c->auth->method);
        c->auth->method = NULL;
        conn_auth_trim(c);
    }
    timer_heap_cancel(&b->conn_timers, &c->timer);
    if (b->sec.closed)
        b->sec.closed(b->sec.ctx, c->id, c->security_state);
    outq_free(&c->out);
    conn_account(c);
    free(c->ibuf);
    conn_aliases_free(c);
    c->ls->connections--;
    if (c->counted_ip) {
        ip_count *ic = conn_ip_get(b, c->address, false);
        if (ic && --ic->count == 0)
            free(hmap_remove(&b->per_ip, ic->key, ic->len));
    }
    if (c->address_owned)
        free((char *)c->address);
    free(c->username);
    c->t->ops->destroy(c->t);
    close(fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        b->conns_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->nconns--;
    free(c);
}

void conn_reap(broker *b)
{
    while (b->closing_head) {
        conn *c = b->closing_head;
        b->closing_head = c->next_closing;
        conn_destroy(c);
    }
}

void broker_resume_waiting(broker *b)
{
    conn *next;
    for (conn *c = b->conns_head; c; c = next) {
        next = c->next;
        if (c->state == CONN_HANDSHAKE && c->t->waiting)
            conn_on_event(c, 0);
    }
}
