/* secure.c - a listener's TLS / WebSocket / PROXY runtime and transport factory; see secure.h. */
#include "net/secure.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/log.h"
#include "net/proxy_transport.h"

#define SECURE_MAX_LIST 16

struct secure_listener {
    char name[96];
    tls_context *tls;
    bool websocket;
    ws_transport_settings ws; /* points into the copies below */
    char *ws_path;
    char *origins[SECURE_MAX_LIST];
    ws_cidr ws_proxies[SECURE_MAX_LIST];
    ws_cidr proxy_from[SECURE_MAX_LIST];
    size_t proxy_from_count;
};

/* Deep-copies the WebSocket settings (transports borrow them for the listener's lifetime). */
static bool secure_copy_ws(secure_listener *s, const ws_transport_settings *ws, char *err, size_t errlen)
{
    if (ws->origin_count > SECURE_MAX_LIST || ws->trusted_proxy_count > SECURE_MAX_LIST) {
        snprintf(err, errlen, "listener %s: at most %d websocket_origin and websocket_trusted_proxy lines",
                 s->name, SECURE_MAX_LIST);
        return false;
    }
    s->ws = *ws;
    s->ws.name = s->name;
    s->ws_path = ws->path ? strdup(ws->path) : NULL;
    s->ws.path = s->ws_path;
    for (size_t i = 0; i < ws->origin_count; i++)
        if (!(s->origins[i] = strdup(ws->origins[i])))
            goto oom;
    s->ws.origins = (const char *const *)s->origins;
    if (ws->trusted_proxy_count)
        memcpy(s->ws_proxies, ws->trusted_proxies, ws->trusted_proxy_count * sizeof *s->ws_proxies);
    s->ws.trusted_proxies = s->ws_proxies;
    if (ws->path && !s->ws_path)
        goto oom;
    s->websocket = true;
    return true;
oom:
    snprintf(err, errlen, "out of memory");
    return false;
}

secure_listener *secure_listener_new(const tls_settings *tls, const ws_transport_settings *ws,
                                     const ws_cidr *proxy_from, size_t proxy_from_count, const char *name,
                                     char *err, size_t errlen)
{
    secure_listener *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(s->name, sizeof s->name, "%s", name ? name : "listener");
    if (proxy_from_count > SECURE_MAX_LIST) {
        snprintf(err, errlen, "listener %s: at most %d proxy_protocol_from lines", s->name, SECURE_MAX_LIST);
        goto fail;
    }
    if (proxy_from_count)
        memcpy(s->proxy_from, proxy_from, proxy_from_count * sizeof *s->proxy_from);
    s->proxy_from_count = proxy_from_count;
    if (ws && !secure_copy_ws(s, ws, err, errlen))
        goto fail;
    if (tls) {
        tls_settings t = *tls;
        t.name = s->name;
        t.websocket = ws != NULL;
        if (!(s->tls = tls_context_new(&t, err, errlen)))
            goto fail;
    }
    return s;
fail:
    secure_listener_free(s);
    return NULL;
}

void secure_listener_free(secure_listener *s)
{
    if (!s)
        return;
    tls_context_free(s->tls);
    free(s->ws_path);
    for (size_t i = 0; i < SECURE_MAX_LIST; i++)
        free(s->origins[i]);
    free(s);
}

/* Builds tcp or tls, then ws on top when asked; client is the address for logs and policy. */
static transport *secure_inner(void *ctx, int fd, const char *client)
{
    secure_listener *s = ctx;
    transport *t = s->tls ? transport_tls_new(s->tls, fd, client) : transport_tcp_new(fd);
    if (t && s->websocket)
        t = transport_ws_new(t, &s->ws, client);
    return t;
}

/* The socket peer as "ADDR:PORT" (for logs) and ADDR alone (for policy). */
static void secure_peer_text(int fd, char *addr, size_t addr_cap, char *full, size_t full_cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    unsigned port = 0;
    snprintf(addr, addr_cap, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, (socklen_t)addr_cap);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr, (socklen_t)addr_cap);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    snprintf(full, full_cap, strchr(addr, ':') ? "[%s]:%u" : "%s:%u", addr, port);
}

transport *secure_make_transport(void *ctx, int fd)
{
    secure_listener *s = ctx;
    char addr[INET6_ADDRSTRLEN], full[INET6_ADDRSTRLEN + 10];
    secure_peer_text(fd, addr, sizeof addr, full, sizeof full);
    if (s->proxy_from_count)
        return transport_proxy_new(fd, addr, s->proxy_from, s->proxy_from_count, secure_inner, s);
    if (s->tls) {
        transport *t = transport_tls_new(s->tls, fd, full);
        if (t && s->websocket)
            t = transport_ws_new(t, &s->ws, addr);
        return t;
    }
    return secure_inner(s, fd, addr);
}

int secure_listener_reload(secure_listener *s, const tls_settings *tls)
{
    char err[512];
    if (!s || !s->tls)
        return 0;
    return tls_context_reconfigure(s->tls, tls, err, sizeof err);
}

bool secure_transport_still_valid(transport *t)
{
    return !transport_is_tls(t) || transport_tls_recheck(t);
}

const char *secure_client_address(const transport *t)
{
    const char *proxied = transport_proxy_client_address(t);
    if (proxied)
        t = t->inner;
    const char *forwarded = t ? transport_ws_client_address(t) : NULL;
    return forwarded ? forwarded : proxied;
}

const tls_context *secure_listener_tls(const secure_listener *s)
{
    return s ? s->tls : NULL;
}
