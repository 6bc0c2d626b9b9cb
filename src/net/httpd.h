/*
 * httpd.h - a tiny HTTP/1.1 endpoint on the broker's own event loop, serving one resource (the metrics text)
 * with GET. It knows nothing of MQTT or of what it serves: the owner supplies the transport (plain TCP or
 * TLS), the credential check and the body.
 *
 * It must never block or harm the broker: every socket is non-blocking; one request per connection
 * (`Connection: close`); the request head is bounded (max_request bytes, then 431); each connection has a
 * deadline from accept (timeout_ms, enforced by httpd_tick) after which it is closed whatever it is doing;
 * at most max_connections at once (further connections are closed at accept and counted as a limit hit).
 * Answers: 200 with the body, 401 with `WWW-Authenticate: Basic` when the check refuses, 404 for any other
 * path, 405 for any other method, 400/431/505 for bad requests (codec/http.h), 503 when the check is busy,
 * 500 when the body cannot be made.
 *
 * Credentials may be checked asynchronously (password hashing runs on worker threads): authorize returns
 * HTTPD_PENDING and the owner later calls httpd_auth_done() with the token; the connection reads nothing
 * meanwhile. Event-loop thread only.
 */
#ifndef RAMPART_NET_HTTPD_H
#define RAMPART_NET_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/loop.h"
#include "net/transport.h"

typedef struct httpd httpd;

enum httpd_verdict { HTTPD_ALLOW = 0, HTTPD_DENY = 1, HTTPD_PENDING = 2, HTTPD_BUSY = 3 };

typedef struct httpd_options {
    const char *address;      /* bind address (every address it resolves to); NULL: every interface */
    uint16_t port;            /* 0: any free port */
    const char *path;         /* the one resource served, e.g. "/metrics" (a query string is ignored) */
    uint32_t max_connections; /* 0: 16 */
    size_t max_request;       /* request head bytes; 0: 4096 */
    uint32_t timeout_ms;      /* per connection from accept; 0: 10000 */
} httpd_options;

typedef struct httpd_handler {
    void *ctx;
    /* Wraps an accepted socket (peer "ADDR:PORT" for log lines); NULL function: plain TCP. NULL result:
     * the connection is closed. */
    transport *(*make_transport)(void *ctx, int fd, const char *peer);
    /* Checks the Authorization header value auth[0..len) (len 0: absent) of request `token`: HTTPD_ALLOW,
     * HTTPD_DENY, HTTPD_BUSY, or HTTPD_PENDING (answer later with httpd_auth_done). NULL: no check. */
    enum httpd_verdict (*authorize)(void *ctx, uint64_t token, const char *auth, size_t len);
    /* Makes the body: *body (malloc'd, the endpoint frees it) and *len. False: answer 500. */
    bool (*render)(void *ctx, char **body, size_t *len);
    const char *content_type; /* of the body */
    const char *realm;        /* for WWW-Authenticate */
} httpd_handler;

/* Binds and starts serving on loop. NULL with err on failure (address, port in use). handler is copied. */
httpd *httpd_open(net_loop *loop, const httpd_options *o, const httpd_handler *handler, char *err, size_t errlen);
/* Closes every connection and the listening sockets. NULL is allowed. */
void httpd_close(httpd *h);
/* The port bound. */
uint16_t httpd_port(const httpd *h);
/* Answers the pending request `token` (ALLOW, DENY or BUSY); unknown tokens (the client left) are ignored. */
void httpd_auth_done(httpd *h, uint64_t token, enum httpd_verdict verdict);
/* Closes connections past their deadline; call about once a second. */
void httpd_tick(httpd *h, uint64_t now_ms);
/* Connections open now (tests). */
uint32_t httpd_connections(const httpd *h);

#endif
