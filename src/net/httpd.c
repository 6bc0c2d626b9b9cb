/* httpd.c - see httpd.h. */
#include "net/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/log.h"
#include "codec/http.h"
#include "net/listener.h"

#define HTTPD_DEFAULT_MAX_CONNECTIONS 16
#define HTTPD_DEFAULT_MAX_REQUEST 4096
#define HTTPD_DEFAULT_TIMEOUT_MS 10000
#define HTTPD_MAX_HEADERS 32
#define HTTPD_HEAD_MAX 1024

enum httpd_state { HC_HANDSHAKE, HC_READ, HC_AUTH, HC_WRITE, HC_LINGER };

typedef struct httpd_conn {
    httpd *h;
    loop_watch watch;
    transport *t;
    int fd;
    uint64_t token;
    uint64_t deadline_ms;
    enum httpd_state state;
    http_parser parser;
    uint8_t *in;
    size_t in_len;
    char *out; /* head + body being written */
    size_t out_len, out_sent;
    char peer[64];
    struct httpd_conn *prev, *next;
} httpd_conn;

struct httpd {
    net_loop *loop;
    net_listener *listener;
    httpd_options o;
    char *path;
    httpd_handler hd;
    httpd_conn *head;
    uint32_t nconns;
    uint64_t next_token;
};

/* Removes c from the loop and the list and frees it with its transport and socket. */
static void httpd_conn_free(httpd_conn *c)
{
    httpd *h = c->h;
    loop_watch_remove(h->loop, &c->watch);
    if (c->t)
        c->t->ops->destroy(c->t);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    free(c->in);
    free(c->out);
    free(c);
}

/* Asks the loop for what the transport waits on (reading by default). */
static void httpd_conn_watch(httpd_conn *c)
{
    uint32_t ev = LOOP_READ;
    if (c->state == HC_AUTH)
        ev = 0;
    else if (c->t->want_write || (c->state == HC_WRITE && !c->t->want_read))
        ev = LOOP_WRITE;
    loop_watch_set(c->h->loop, &c->watch, ev);
}

/* After the whole answer went out: close our side, then wait (until the deadline) for the client to close
 * so that unread bytes cannot turn our close into a reset that destroys the answer. */
static void httpd_conn_finish(httpd_conn *c)
{
    c->t->ops->shutdown(c->t, 0);
    shutdown(c->fd, SHUT_WR);
    c->state = HC_LINGER;
    httpd_conn_watch(c);
}

/* Writes what is left of the answer. Returns false when c was freed. */
static bool httpd_conn_write(httpd_conn *c)
{
    while (c->out_sent < c->out_len) {
        struct iovec iov = {c->out + c->out_sent, c->out_len - c->out_sent};
        ssize_t n = c->t->ops->writev(c->t, &iov, 1);
        if (n < 0 && errno == EAGAIN) {
            httpd_conn_watch(c);
            return true;
        }
        if (n <= 0) {
            httpd_conn_free(c);
            return false;
        }
        c->out_sent += (size_t)n;
    }
    httpd_conn_finish(c);
    return true;
}

/* Queues the answer (status, extra headers, body taken over: may be NULL) and starts writing it. */
static bool httpd_conn_answer(httpd_conn *c, int status, const char *extra, char *body, size_t body_len)
{
    char head[HTTPD_HEAD_MAX];
    size_t n = http_response_head_write(head, sizeof head, status, extra,
                                        status == 200 ? c->h->hd.content_type : NULL, body_len);
    free(c->in);
    c->in = NULL;
    c->out = malloc(n + body_len);
    if (n == 0 || !c->out) {
        free(body);
        httpd_conn_free(c);
        return false;
    }
    memcpy(c->out, head, n);
    if (body_len)
        memcpy(c->out + n, body, body_len);
    free(body);
    c->out_len = n + body_len;
    c->state = HC_WRITE;
    if (status != 200)
        log_info("metrics: %s answered %d", c->peer, status);
    return httpd_conn_write(c);
}

/* Answers a request that passed the credential check (or needs none). */
static bool httpd_conn_serve(httpd_conn *c)
{
    char *body = NULL;
    size_t len = 0;
    if (!c->h->hd.render(c->h->hd.ctx, &body, &len))
        return httpd_conn_answer(c, 500, NULL, NULL, 0);
    return httpd_conn_answer(c, 200, NULL, body, len);
}

/* Answers according to the credential check's verdict. */
static bool httpd_conn_verdict(httpd_conn *c, enum httpd_verdict v)
{
    char extra[160];
    switch (v) {
    case HTTPD_ALLOW:
        return httpd_conn_serve(c);
    case HTTPD_BUSY:
        return httpd_conn_answer(c, 503, "Retry-After: 1\r\n", NULL, 0);
    case HTTPD_PENDING:
        c->state = HC_AUTH;
        httpd_conn_watch(c);
        return true;
    case HTTPD_DENY:
    default:
        snprintf(extra, sizeof extra, "WWW-Authenticate: Basic realm=\"%s\", charset=\"UTF-8\"\r\n",
                 c->h->hd.realm ? c->h->hd.realm : "rampart");
        return httpd_conn_answer(c, 401, extra, NULL, 0);
    }
}

/* Judges a complete, well-formed request head. */
static bool httpd_conn_request(httpd_conn *c, const http_upgrade_request *r)
{
    httpd *h = c->h;
    size_t path_len = r->target.len;
    const char *q = memchr(r->target.data, '?', r->target.len);
    if (q)
        path_len = (size_t)(q - r->target.data);
    if (r->method.len != 3 || memcmp(r->method.data, "GET", 3) != 0)
        return httpd_conn_answer(c, 405, "Allow: GET\r\n", NULL, 0);
    if (path_len != strlen(h->path) || memcmp(r->target.data, h->path, path_len) != 0)
        return httpd_conn_answer(c, 404, NULL, NULL, 0);
    if (r->has_body)
        return httpd_conn_answer(c, 400, NULL, NULL, 0);
    if (!h->hd.authorize)
        return httpd_conn_serve(c);
    return httpd_conn_verdict(c, h->hd.authorize(h->hd.ctx, c->token, r->authorization.data, r->authorization.len));
}

/* Reads the request head until it is complete, bad, or the socket has nothing more. */
static bool httpd_conn_read(httpd_conn *c)
{
    for (;;) {
        size_t room = c->h->o.max_request - c->in_len;
        if (room == 0)
            return httpd_conn_answer(c, 431, NULL, NULL, 0);
        ssize_t n = c->t->ops->read(c->t, c->in + c->in_len, room);
        if (n < 0 && errno == EAGAIN) {
            httpd_conn_watch(c);
            return true;
        }
        if (n <= 0) {
            httpd_conn_free(c);
            return false;
        }
        c->in_len += (size_t)n;
        http_upgrade_request r;
        int rc = http_request_parse(&c->parser, c->in, c->in_len, &r);
        if (rc == HTTP_ERROR)
            return httpd_conn_answer(c, r.status, NULL, NULL, 0);
        if (rc == HTTP_OK)
            return httpd_conn_request(c, &r);
    }
}

/* Reads and discards until the client closes (after our answer). */
static void httpd_conn_linger(httpd_conn *c)
{
    uint8_t scratch[512];
    for (;;) {
        ssize_t n = c->t->ops->read(c->t, scratch, sizeof scratch);
        if (n < 0 && errno == EAGAIN) {
            httpd_conn_watch(c);
            return;
        }
        if (n <= 0) {
            httpd_conn_free(c);
            return;
        }
    }
}

static void httpd_conn_on_event(void *ctx, uint32_t events)
{
    httpd_conn *c = ctx;
    if (events & LOOP_ERROR) {
        httpd_conn_free(c);
        return;
    }
    if (c->state == HC_HANDSHAKE) {
        int r = c->t->ops->handshake(c->t);
        if (r < 0) {
            httpd_conn_free(c);
            return;
        }
        if (r == 0) {
            httpd_conn_watch(c);
            return;
        }
        c->state = HC_READ;
    }
    if (c->state == HC_READ)
        httpd_conn_read(c);
    else if (c->state == HC_WRITE)
        httpd_conn_write(c);
    else if (c->state == HC_LINGER)
        httpd_conn_linger(c);
}

/* "ADDR:PORT" of a peer, for log lines. */
static void httpd_peer_string(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, a, sizeof a);
        port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof a);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, cap, "%s:%u", a, port);
}

static void httpd_on_accept(void *ctx, net_listener *l, int fd, const struct sockaddr_storage *peer,
                            socklen_t peer_len)
{
    httpd *h = ctx;
    httpd_conn *c = NULL;
    (void)l;
    (void)peer_len;
    if (h->nconns >= h->o.max_connections) {
        counters_inc(COUNTER_LIMIT_METRICS_CONNECTIONS);
        goto refuse;
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->in = malloc(h->o.max_request)))
        goto refuse;
    c->h = h;
    c->fd = fd;
    httpd_peer_string(peer, c->peer, sizeof c->peer);
    c->t = h->hd.make_transport ? h->hd.make_transport(h->hd.ctx, fd, c->peer) : transport_tcp_new(fd);
    if (!c->t || loop_watch_add(h->loop, &c->watch, fd, LOOP_READ, httpd_conn_on_event, c) < 0) {
        if (c->t)
            c->t->ops->destroy(c->t);
        goto refuse;
    }
    c->token = ++h->next_token;
    c->deadline_ms = loop_now_ms() + h->o.timeout_ms;
    http_parser_init(&c->parser, h->o.max_request, HTTPD_MAX_HEADERS);
    c->next = h->head;
    if (h->head)
        h->head->prev = c;
    h->head = c;
    h->nconns++;
    return;
refuse:
    if (c)
        free(c->in);
    free(c);
    close(fd);
}

httpd *httpd_open(net_loop *loop, const httpd_options *o, const httpd_handler *handler, char *err, size_t errlen)
{
    httpd *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(o->path ? o->path : "/"))) {
        snprintf(err, errlen, "out of memory");
        free(h);
        return NULL;
    }
    h->loop = loop;
    h->o = *o;
    h->o.path = h->path;
    h->o.address = NULL; /* used only to bind, below */
    if (!h->o.max_connections)
        h->o.max_connections = HTTPD_DEFAULT_MAX_CONNECTIONS;
    if (!h->o.max_request)
        h->o.max_request = HTTPD_DEFAULT_MAX_REQUEST;
    if (!h->o.timeout_ms)
        h->o.timeout_ms = HTTPD_DEFAULT_TIMEOUT_MS;
    h->hd = *handler;
    listener_options lo = {.address = o->address, .port = o->port, .family = 0, .tcp_nodelay = true};
    h->listener = listener_open(loop, &lo, httpd_on_accept, h, err, errlen);
    if (!h->listener) {
        free(h->path);
        free(h);
        return NULL;
    }
    return h;
}

void httpd_close(httpd *h)
{
    if (!h)
        return;
    while (h->head)
        httpd_conn_free(h->head);
    listener_close(h->listener);
    free(h->path);
    free(h);
}

uint16_t httpd_port(const httpd *h)
{
    return listener_port(h->listener);
}

void httpd_auth_done(httpd *h, uint64_t token, enum httpd_verdict verdict)
{
    for (httpd_conn *c = h->head; c; c = c->next)
        if (c->token == token && c->state == HC_AUTH) {
            httpd_conn_verdict(c, verdict == HTTPD_PENDING ? HTTPD_DENY : verdict);
            return;
        }
}

void httpd_tick(httpd *h, uint64_t now_ms)
{
    httpd_conn *next;
    for (httpd_conn *c = h->head; c; c = next) {
        next = c->next;
        if (now_ms >= c->deadline_ms) {
            if (c->state != HC_LINGER)
                log_info("metrics: %s timed out", c->peer);
            httpd_conn_free(c);
        }
    }
    listener_tick(h->listener);
}

uint32_t httpd_connections(const httpd *h)
{
    return h->nconns;
}
