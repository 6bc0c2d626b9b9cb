/* proxy_transport.c - PROXY protocol in front of a transport; see proxy_transport.h for the contract. */
#include "net/proxy_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "codec/proxy.h"

typedef struct proxy_conn {
    transport base;
    char peer[SEC_ADDR_TEXT_MAX];
    char client[SEC_ADDR_TEXT_MAX];
    uint16_t client_port; /* from the header; 0 when none */
    bool from_proxy;
    bool header_done;
    uint8_t buf[PROXY_MAX_SIZE];
    size_t have;
    proxy_inner_fn make_inner;
    void *ctx;
} proxy_conn;

static const transport_ops proxy_ops;

/* How many header bytes to hold before parsing again: never more than the header itself, so nothing that
 * follows it is consumed. v2 announces its length; v1 is read up to its LF one byte at a time. */
static size_t proxy_bytes_wanted(const proxy_conn *c)
{
    static const uint8_t sig[8] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51};
    if (c->have < 8)
        return 8;
    if (memcmp(c->buf, sig, 8) != 0)
        return c->have + 1;
    if (c->have < 16)
        return 16;
    return 16 + (((size_t)c->buf[14] << 8) | c->buf[15]);
}

/* Records the client address from a parsed header. */
static void proxy_take_address(proxy_conn *c, const proxy_header *h)
{
    if (h->local)
        return;
    if (h->src.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)&h->src)->sin_addr, c->client, sizeof c->client);
        c->client_port = ntohs(((const struct sockaddr_in *)&h->src)->sin_port);
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)&h->src)->sin6_addr, c->client, sizeof c->client);
        c->client_port = ntohs(((const struct sockaddr_in6 *)&h->src)->sin6_port);
    }
}

/* Reads the header. Returns 1 done, 0 EAGAIN, -1 failed. */
static int proxy_read_header(proxy_conn *c)
{
    for (;;) {
        proxy_header h;
        const char *why = NULL;
        int r = c->have ? proxy_header_parse(c->buf, c->have, &h, &why) : PROXY_NEED_MORE;
        if (r == PROXY_OK) {
            proxy_take_address(c, &h);
            return 1;
        }
        size_t want = proxy_bytes_wanted(c);
        if (r == PROXY_ERROR || want > sizeof c->buf) {
            log_warning("proxy: bad PROXY header from %s: %s", c->peer, why ? why : "header too long");
            errno = EPROTO;
            return -1;
        }
        ssize_t n = recv(c->base.fd, c->buf + c->have, want - c->have, 0);
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        if (n < 0) {
            c->base.want_read = errno == EAGAIN || errno == EWOULDBLOCK;
            if (c->base.want_read)
                errno = EAGAIN;
            return c->base.want_read ? 0 : -1;
        }
        c->have += (size_t)n;
    }
}

static void proxy_copy_wants(proxy_conn *c)
{
    c->base.want_read = c->base.inner->want_read;
    c->base.want_write = c->base.inner->want_write;
    c->base.waiting = c->base.inner->waiting;
}

static int proxy_handshake(transport *t)
{
    proxy_conn *c = (proxy_conn *)t;
    t->want_read = t->want_write = t->waiting = false;
    if (!c->header_done) {
        int r = c->from_proxy ? proxy_read_header(c) : 1;
        if (r != 1)
            return r;
        c->header_done = true;
        t->inner = c->make_inner(c->ctx, t->fd, c->client);
        if (!t->inner) {
            errno = ENOMEM;
            return -1;
        }
    }
    int r = t->inner->ops->handshake ? t->inner->ops->handshake(t->inner) : 1;
    proxy_copy_wants(c);
    return r;
}

static ssize_t proxy_read(transport *t, void *buf, size_t len)
{
    if (!t->inner) {
        errno = ENOTCONN;
        return -1;
    }
    ssize_t n = t->inner->ops->read(t->inner, buf, len);
    proxy_copy_wants((proxy_conn *)t);
    return n;
}

static ssize_t proxy_writev(transport *t, const struct iovec *iov, int iovcnt)
{
    if (!t->inner) {
        errno = ENOTCONN;
        return -1;
    }
    ssize_t n = t->inner->ops->writev(t->inner, iov, iovcnt);
    proxy_copy_wants((proxy_conn *)t);
    return n;
}

static bool proxy_pending(const transport *t)
{
    return t->inner && t->inner->ops->pending(t->inner);
}

static void proxy_shutdown(transport *t, int code)
{
    if (t->inner)
        t->inner->ops->shutdown(t->inner, code);
}

static void proxy_destroy(transport *t)
{
    if (!t)
        return;
    if (t->inner)
        t->inner->ops->destroy(t->inner);
    free(t);
}

static const char *proxy_peer_subject(const transport *t)
{
    return t->inner && t->inner->ops->peer_subject ? t->inner->ops->peer_subject(t->inner) : NULL;
}

static const char *proxy_peer_cn(const transport *t)
{
    return t->inner && t->inner->ops->peer_cn ? t->inner->ops->peer_cn(t->inner) : NULL;
}

/* transport_ops.client_address: the address of the PROXY header (unless a trusted X-Forwarded-For inside
 * says more), not known before the header is read; a direct client defers to the transport inside. */
static int proxy_client_address(const transport *t, const char **addr, uint16_t *port)
{
    const proxy_conn *c = (const proxy_conn *)t;
    int inner =
        t->inner && t->inner->ops->client_address ? t->inner->ops->client_address(t->inner, addr, port) : 0;
    if (!c->from_proxy || inner != 0)
        return inner;
    if (!c->header_done)
        return -1;
    if (strcmp(c->client, c->peer) == 0)
        return 0;
    *addr = c->client;
    *port = c->client_port;
    return 1;
}

static const transport_ops proxy_ops = {
    .name = "proxy",
    .handshake = proxy_handshake,
    .read = proxy_read,
    .writev = proxy_writev,
    .pending = proxy_pending,
    .shutdown = proxy_shutdown,
    .destroy = proxy_destroy,
    .peer_subject = proxy_peer_subject,
    .peer_cn = proxy_peer_cn,
    .client_address = proxy_client_address,
};

transport *transport_proxy_new(int fd, const char *peer, const ws_cidr *allowed, size_t allowed_count,
                               proxy_inner_fn make_inner, void *ctx)
{
    proxy_conn *c = calloc(1, sizeof *c);
    sec_addr a;
    if (!c)
        return NULL;
    c->base.ops = &proxy_ops;
    c->base.fd = fd;
    c->make_inner = make_inner;
    c->ctx = ctx;
    snprintf(c->peer, sizeof c->peer, "%s", peer ? peer : "?");
    snprintf(c->client, sizeof c->client, "%s", c->peer);
    if (peer && sec_addr_parse(peer, &a) == 0)
        for (size_t i = 0; i < allowed_count && !c->from_proxy; i++)
            c->from_proxy = sec_addr_in_cidr(&a, &allowed[i].base, allowed[i].bits);
    if (!c->from_proxy) { /* a direct client: the real transport at once, so it can say who the client is */
        c->header_done = true;
        c->base.inner = make_inner(ctx, fd, c->client);
        if (!c->base.inner) {
            free(c);
            return NULL;
        }
    }
    return &c->base;
}

const char *transport_proxy_client_address(const transport *t)
{
    if (!t || t->ops != &proxy_ops || !((const proxy_conn *)t)->header_done)
        return NULL;
    return ((const proxy_conn *)t)->client;
}
