/* ws.c (net) - the WebSocket transport; see net/ws.h for the contract. */
#include "net/ws.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/log.h"
#include "codec/http.h"
#include "codec/ws.h"
#include "net/tls.h"

#define WS_READ_BUF 16384
#define WS_OUT_FRAME_MAX (256 * 1024) /* largest data frame the server sends */
#define WS_DEFAULT_MAX_FRAME (16u * 1024 * 1024)

enum ws_state { WS_STATE_INNER, WS_STATE_REQUEST, WS_STATE_RESPONSE, WS_STATE_OPEN, WS_STATE_FAILED };

typedef struct ws_conn {
    transport base;
    const ws_transport_settings *s;
    enum ws_state state;
    char peer[SEC_ADDR_TEXT_MAX];
    char client[SEC_ADDR_TEXT_MAX];
    const char *subprotocol;
    struct timespec deadline;
    /* handshake */
    http_parser hp;
    uint8_t *req;
    size_t req_len;
    char *resp;
    size_t resp_len, resp_off;
    /* reading */
    ws_decoder dec;
    uint8_t *rbuf;
    size_t rlen, roff;
    const uint8_t *data;
    size_t data_len;
    bool eof;
    /* writing */
    uint8_t ctrl[WS_HEADER_MAX + WS_CONTROL_MAX];
    size_t ctrl_len, ctrl_off;
    bool close_queued;
    uint8_t hdr[WS_HEADER_MAX];
    size_t hdr_len, hdr_off;
    uint64_t frame_left;
} ws_conn;

static const transport_ops ws_ops;

static const char *ws_name(const ws_conn *c)
{
    return c->s->name ? c->s->name : "listener";
}

static void ws_copy_wants(ws_conn *c)
{
    c->base.want_read = c->base.inner->want_read;
    c->base.want_write = c->base.inner->want_write;
    c->base.waiting = c->base.inner->waiting;
}

/* ---- handshake ---------------------------------------------------------------------------------- */

static bool ws_deadline_passed(const ws_conn *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > c->deadline.tv_sec ||
           (now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec);
}

/* Writes what is left of the prepared HTTP answer. Returns 1 all sent, 0 EAGAIN, -1 failed. */
static int ws_flush_response(ws_conn *c)
{
    transport *in = c->base.inner;
    while (c->resp_off < c->resp_len) {
        struct iovec iov = {c->resp + c->resp_off, c->resp_len - c->resp_off};
        ssize_t n = in->ops->writev(in, &iov, 1);
        if (n < 0) {
            ws_copy_wants(c);
            return errno == EAGAIN ? 0 : -1;
        }
        c->resp_off += (size_t)n;
    }
    return 1;
}

/* Refuses the upgrade: logs one line, sends the HTTP error best-effort, fails the handshake. */
static int ws_refuse(ws_conn *c, int status, const char *why)
{
    char buf[512];
    size_t n = http_error_response_write(buf, sizeof buf, status, transport_is_tls(c->base.inner));
    log_warning("ws: upgrade refused from %s on %s: %d %s", c->peer, ws_name(c), status, why);
    free(c->resp);
    c->resp = n ? strndup(buf, n) : NULL;
    c->resp_len = c->resp ? n : 0;
    c->resp_off = 0;
    ws_flush_response(c);
    c->state = WS_STATE_FAILED;
    errno = EPROTO;
    return -1;
}

static bool ws_peer_is_trusted_proxy(const ws_conn *c, const char *addr)
{
    sec_addr a;
    if (sec_addr_parse(addr, &a) != 0)
        return false;
    for (size_t i = 0; i < c->s->trusted_proxy_count; i++)
        if (sec_addr_in_cidr(&a, &c->s->trusted_proxies[i].base, c->s->trusted_proxies[i].bits))
            return true;
    return false;
}

/* Takes the client address from X-Forwarded-For: the rightmost entry that is not a trusted proxy, walking
 * left only through trusted proxies. Nothing changes unless the socket peer itself is trusted. */
static bool ws_apply_forwarded_for(ws_conn *c, http_slice xff)
{
    if (!xff.data || !ws_peer_is_trusted_proxy(c, c->peer))
        return true;
    http_slice item;
    for (size_t i = 0; i < 16 && http_list_item_from_right(xff, i, &item); i++) {
        char text[SEC_ADDR_TEXT_MAX];
        sec_addr a;
        if (item.len >= sizeof text)
            return false;
        memcpy(text, item.data, item.len);
        text[item.len] = '\0';
        if (sec_addr_parse(text, &a) != 0)
            return false;
        snprintf(c->client, sizeof c->client, "%s", a.text);
        if (!ws_peer_is_trusted_proxy(c, a.text))
            return true;
    }
    return true;
}

static bool ws_origin_allowed(const ws_conn *c, http_slice origin)
{
    if (c->s->origin_count == 0)
        return true;
    for (size_t i = 0; origin.data && i < c->s->origin_count; i++)
        if (strlen(c->s->origins[i]) == origin.len && strncasecmp(c->s->origins[i], origin.data, origin.len) == 0)
            return true;
    return false;
}

static bool ws_path_matches(const ws_conn *c, http_slice target)
{
    const char *want = c->s->path ? c->s->path : "/mqtt";
    const char *q = memchr(target.data, '?', target.len);
    size_t len = q ? (size_t)(q - target.data) : target.len;
    return strlen(want) == len && memcmp(want, target.data, len) == 0;
}

/* Checks a complete request against the listener's policy and prepares the 101 answer. */
static int ws_accept_request(ws_conn *c, const http_upgrade_request *r)
{
    char accept[HTTP_WS_ACCEPT_LEN + 1], buf[512];
    if (!ws_path_matches(c, r->target))
        return ws_refuse(c, 404, "wrong path");
    if (!ws_origin_allowed(c, r->origin))
        return ws_refuse(c, 403, "Origin not in the allowlist");
    c->subprotocol = http_select_subprotocol(r->protocols);
    if (!c->subprotocol)
        return ws_refuse(c, 400, "subprotocol mqtt not offered");
    if (!ws_apply_forwarded_for(c, r->forwarded_for))
        return ws_refuse(c, 400, "malformed X-Forwarded-For");
    if (!http_ws_accept(r->key, accept))
        return ws_refuse(c, 400, "cannot compute Sec-WebSocket-Accept");
    size_t n = http_upgrade_response_write(buf, sizeof buf, accept, c->subprotocol,
                                           transport_is_tls(c->base.inner));
    c->resp = n ? strndup(buf, n) : NULL;
    if (!c->resp)
        return ws_refuse(c, 400, "out of memory");
    c->resp_len = n;
    c->resp_off = 0;
    /* Bytes after the head (a client that did not wait for 101) are WebSocket data. */
    c->rlen = c->req_len - r->header_len;
    memcpy(c->rbuf, c->req + r->header_len, c->rlen);
    free(c->req);
    c->req = NULL;
    c->state = WS_STATE_RESPONSE;
    return 0;
}

/* Reads the upgrade request until it is complete. Returns 1 complete (answer prepared), 0 EAGAIN, -1. */
static int ws_read_request(ws_conn *c)
{
    transport *in = c->base.inner;
    size_t cap = (c->s->max_header ? c->s->max_header : HTTP_DEFAULT_MAX_SIZE) + 1;
    for (;;) {
        http_upgrade_request r;
        if (c->req_len > 0) {
            int pr = http_upgrade_parse(&c->hp, c->req, c->req_len, &r);
            if (pr == HTTP_ERROR)
                return ws_refuse(c, r.status, r.message);
            if (pr == HTTP_OK)
                return ws_accept_request(c, &r) == 0 ? 1 : -1;
        }
        if (c->req_len >= cap)
            return ws_refuse(c, 431, "request head too large");
        ssize_t n = in->ops->read(in, c->req + c->req_len, cap - c->req_len);
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0) {
            ws_copy_wants(c);
            return errno == EAGAIN ? 0 : -1;
        }
        c->req_len += (size_t)n;
    }
}

static int ws_handshake(transport *t)
{
    ws_conn *c = (ws_conn *)t;
    transport *in = t->inner;
    t->want_read = t->want_write = t->waiting = false;
    if (c->state == WS_STATE_OPEN)
        return 1;
    if (c->state == WS_STATE_FAILED)
        return -1;
    if (ws_deadline_passed(c))
        return ws_refuse(c, 408, "handshake deadline passed");
    if (c->state == WS_STATE_INNER) {
        int r = in->ops->handshake ? in->ops->handshake(in) : 1;
        if (r != 1) {
            ws_copy_wants(c);
            return r;
        }
        c->state = WS_STATE_REQUEST;
    }
    if (c->state == WS_STATE_REQUEST) {
        int r = ws_read_request(c);
        if (r != 1)
            return r;
    }
    int r = ws_flush_response(c);
    if (r != 1)
        return r;
    free(c->resp);
    c->resp = NULL;
    c->state = WS_STATE_OPEN;
    log_info("ws: %s upgraded on %s (subprotocol %s, client %s)", c->peer, ws_name(c), c->subprotocol,
             c->client);
    return 1;
}

/* ---- frames ------------------------------------------------------------------------------------- */

/* Sends the pending control frame unless a data frame is half-written. Returns false on a fatal error. */
static bool ws_flush_control(ws_conn *c)
{
    transport *in = c->base.inner;
    if (c->ctrl_off >= c->ctrl_len || c->frame_left > 0 || c->hdr_off < c->hdr_len)
        return true;
    struct iovec iov = {c->ctrl + c->ctrl_off, c->ctrl_len - c->ctrl_off};
    ssize_t n = in->ops->writev(in, &iov, 1);
    if (n < 0) {
        ws_copy_wants(c);
        return errno == EAGAIN;
    }
    c->ctrl_off += (size_t)n;
    return true;
}

/* Queues a pong echoing the ping (a newer ping replaces an unsent pong) unless a close is queued. */
static void ws_queue_pong(ws_conn *c, const uint8_t *data, size_t len)
{
    if (c->close_queued || (c->ctrl_off > 0 && c->ctrl_off < c->ctrl_len))
        return;
    c->ctrl_len = ws_frame_header_encode(c->ctrl, WS_OP_PONG, true, len);
    memcpy(c->ctrl + c->ctrl_len, data, len);
    c->ctrl_len += len;
    c->ctrl_off = 0;
}

static void ws_queue_close(ws_conn *c, uint16_t code, const char *reason)
{
    if (c->close_queued || (c->ctrl_off > 0 && c->ctrl_off < c->ctrl_len))
        return;
    c->ctrl_len = ws_close_frame_encode(c->ctrl, code, reason);
    c->ctrl_off = 0;
    c->close_queued = true;
}

/* Handles one decoder event. Returns 1 to keep going, 0 orderly end, -1 protocol error. */
static int ws_handle_event(ws_conn *c, const ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_DATA:
        c->data = ev->data;
        c->data_len = ev->len;
        return 1;
    case WS_EV_PING:
        ws_queue_pong(c, ev->data, ev->len);
        ws_flush_control(c);
        return 1;
    case WS_EV_PONG:
    case WS_EV_NONE:
        return 1;
    case WS_EV_CLOSE:
        ws_queue_close(c, ev->close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : ev->close_code, NULL);
        ws_flush_control(c);
        c->eof = true;
        return 0;
    case WS_EV_ERROR:
    default:
        log_warning("ws: protocol error from %s on %s: %s (closing with %u)", c->client, ws_name(c),
                    ev->message ? ev->message : "?", ev->close_code);
        ws_queue_close(c, ev->close_code, ev->message);
        ws_flush_control(c);
        errno = EPROTO;
        return -1;
    }
}

static ssize_t ws_read(transport *t, void *buf, size_t len)
{
    ws_conn *c = (ws_conn *)t;
    transport *in = t->inner;
    t->want_read = t->want_write = false;
    if (c->state != WS_STATE_OPEN) {
        errno = ENOTCONN;
        return -1;
    }
    ws_flush_control(c);
    for (;;) {
        if (c->data_len > 0) {
            size_t n = c->data_len < len ? c->data_len : len;
            memcpy(buf, c->data, n);
            c->data += n;
            c->data_len -= n;
            return (ssize_t)n;
        }
        if (c->eof)
            return 0;
        if (c->roff < c->rlen) {
            ws_event ev;
            c->roff += ws_decoder_feed(&c->dec, c->rbuf + c->roff, c->rlen - c->roff, &ev);
            int r = ws_handle_event(c, &ev);
            if (r <= 0)
                return r;
            continue;
        }
        c->roff = c->rlen = 0;
        ssize_t n = in->ops->read(in, c->rbuf, WS_READ_BUF);
        if (n <= 0) {
            ws_copy_wants(c);
            return n;
        }
        c->rlen = (size_t)n;
    }
}

static ssize_t ws_writev(transport *t, const struct iovec *iov, int iovcnt)
{
    ws_conn *c = (ws_conn *)t;
    transport *in = t->inner;
    struct iovec out[17];
    int outcnt = 0;
    size_t total = 0;
    t->want_read = t->want_write = false;
    if (c->state != WS_STATE_OPEN || c->close_queued) {
        errno = c->state != WS_STATE_OPEN ? ENOTCONN : EPIPE;
        return -1;
    }
    if (!ws_flush_control(c))
        return -1;
    if (c->ctrl_off < c->ctrl_len) { /* a control frame is still going out */
        errno = EAGAIN;
        t->want_write = true;
        return -1;
    }
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len;
    if (total == 0)
        return 0;
    if (c->frame_left == 0 && c->hdr_off >= c->hdr_len) {
        c->frame_left = total < WS_OUT_FRAME_MAX ? total : WS_OUT_FRAME_MAX;
        c->hdr_len = ws_frame_header_encode(c->hdr, WS_OP_BINARY, true, c->frame_left);
        c->hdr_off = 0;
    }
    if (c->hdr_off < c->hdr_len)
        out[outcnt++] = (struct iovec){c->hdr + c->hdr_off, c->hdr_len - c->hdr_off};
    uint64_t left = c->frame_left;
    for (int i = 0; i < iovcnt && left > 0 && outcnt < 17; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : (size_t)left;
        if (take)
            out[outcnt++] = (struct iovec){iov[i].iov_base, take};
        left -= take;
    }
    ssize_t n = in->ops->writev(in, out, outcnt);
    if (n < 0) {
        ws_copy_wants(c);
        return -1;
    }
    size_t h = c->hdr_len - c->hdr_off < (size_t)n ? c->hdr_len - c->hdr_off : (size_t)n;
    c->hdr_off += h;
    size_t payload = (size_t)n - h;
    c->frame_left -= payload;
    if (payload == 0) {
        errno = EAGAIN;
        t->want_write = true;
        return -1;
    }
    return (ssize_t)payload;
}

static bool ws_pending(const transport *t)
{
    const ws_conn *c = (const ws_conn *)t;
    if (c->state != WS_STATE_OPEN)
        return false;
    return c->data_len > 0 || c->roff < c->rlen || t->inner->ops->pending(t->inner);
}

static void ws_shutdown(transport *t, int code)
{
    ws_conn *c = (ws_conn *)t;
    if (c->state == WS_STATE_OPEN) {
        ws_queue_close(c, (uint16_t)(code >= 1000 && code <= 4999 ? code : WS_CLOSE_NORMAL), NULL);
        ws_flush_control(c);
    }
    t->inner->ops->shutdown(t->inner, code);
}

static void ws_destroy(transport *t)
{
    ws_conn *c = (ws_conn *)t;
    if (!c)
        return;
    if (t->inner)
        t->inner->ops->destroy(t->inner);
    free(c->req);
    free(c->resp);
    free(c->rbuf);
    free(c);
}

static const char *ws_peer_subject(const transport *t)
{
    return t->inner->ops->peer_subject ? t->inner->ops->peer_subject(t->inner) : NULL;
}

static const char *ws_peer_cn(const transport *t)
{
    return t->inner->ops->peer_cn ? t->inner->ops->peer_cn(t->inner) : NULL;
}

/* transport_ops.client_address: X-Forwarded-For, believed only from a trusted proxy, once the upgrade is
 * read; otherwise whatever the transport underneath says (nothing, for tcp and tls). */
static int ws_client_address(const transport *t, const char **addr, uint16_t *port)
{
    const ws_conn *c = (const ws_conn *)t;
    if (!ws_peer_is_trusted_proxy(c, c->peer))
        return 0;
    if (c->state != WS_STATE_OPEN && c->state != WS_STATE_RESPONSE)
        return -1;
    if (strcmp(c->client, c->peer) == 0)
        return 0;
    *addr = c->client;
    *port = 0;
    return 1;
}

static const transport_ops ws_ops = {
    .name = "ws",
    .handshake = ws_handshake,
    .read = ws_read,
    .writev = ws_writev,
    .pending = ws_pending,
    .shutdown = ws_shutdown,
    .destroy = ws_destroy,
    .peer_subject = ws_peer_subject,
    .peer_cn = ws_peer_cn,
    .client_address = ws_client_address,
};

transport *transport_ws_new(transport *inner, const ws_transport_settings *s, const char *peer)
{
    ws_conn *c = calloc(1, sizeof *c);
    size_t cap = (s->max_header ? s->max_header : HTTP_DEFAULT_MAX_SIZE) + 1;
    if (c) {
        c->req = malloc(cap);
        c->rbuf = malloc(WS_READ_BUF > cap ? WS_READ_BUF : cap);
    }
    if (!c || !c->req || !c->rbuf) {
        if (c) {
            free(c->req);
            free(c->rbuf);
            free(c);
        }
        inner->ops->destroy(inner);
        return NULL;
    }
    c->base.ops = &ws_ops;
    c->base.fd = inner->fd;
    c->base.inner = inner;
    c->s = s;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "?");
    snprintf(c->client, sizeof c->client, "%s", c->peer);
    http_parser_init(&c->hp, s->max_header, 0);
    ws_limits lim = {.max_frame = s->max_frame ? s->max_frame : WS_DEFAULT_MAX_FRAME,
                     .max_message = s->max_message, .require_mask = true, .allow_text = false};
    ws_decoder_init(&c->dec, &lim);
    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    int ms = s->handshake_timeout_ms > 0 ? s->handshake_timeout_ms : 10000;
    c->deadline.tv_sec += ms / 1000;
    c->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (c->deadline.tv_nsec >= 1000000000L) {
        c->deadline.tv_sec++;
        c->deadline.tv_nsec -= 1000000000L;
    }
    return &c->base;
}

bool transport_is_ws(const transport *t)
{
    return t && t->ops == &ws_ops;
}

const char *transport_ws_client_address(const transport *t)
{
    return transport_is_ws(t) ? ((const ws_conn *)t)->client : NULL;
}

const char *transport_ws_subprotocol(const transport *t)
{
    return transport_is_ws(t) ? ((const ws_conn *)t)->subprotocol : NULL;
}
