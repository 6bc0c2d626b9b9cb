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

struct secure_listener {
    secure_options o;
    char name[96];
    tls_context *tls;
    ws_transport_settings ws;
    const char *origins[SECURE_MAX_LIST];
};

secure_listener *secure_listener_new(secure_options *o, const char *name, char *err, size_t errlen)
{
    secure_listener *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        secure_options_clear(o);
        return NULL;
    }
    s->o = *o;
    memset(o, 0, sizeof *o);
    snprintf(s->name, sizeof s->name, "%s", name ? name : "listener");
    if (s->o.tls_two_factor)
        s->o.tls.require_certificate = true;
    bool tls_only = s->o.tls.cafile || s->o.tls.capath || s->o.tls.crlfile_count || s->o.tls.require_certificate ||
                    s->o.tls.ocsp_response_file || s->o.tls.ocsp_check_clients;
    if (tls_only && !secure_options_tls(&s->o)) {
        snprintf(err, errlen, "TLS options on listener %s need certfile and keyfile", s->name);
        goto fail;
    }
    if (secure_options_tls(&s->o)) {
        s->o.tls.name = s->name;
        s->o.tls.websocket = s->o.websocket;
        if (!(s->tls = tls_context_new(&s->o.tls, err, errlen)))
            goto fail;
    }
    for (size_t i = 0; i < s->o.ws_origin_count; i++)
        s->origins[i] = s->o.ws_origins[i];
    s->ws = (ws_transport_settings){
        .path = s->o.ws_path, .origins = s->origins, .origin_count = s->o.ws_origin_count,
        .trusted_proxies = s->o.ws_proxies, .trusted_proxy_count = s->o.ws_proxy_count,
        .max_frame = s->o.ws_max_frame, .max_message = s->o.ws_max_message,
        .handshake_timeout_ms = s->o.ws_handshake_timeout * 1000, .name = s->name};
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
    s->o.tls.name = NULL;
    secure_options_clear(&s->o);
    free(s);
}

/* Builds tcp or tls, then ws on top when asked; client is the address for logs and policy. */
static transport *secure_inner(void *ctx, int fd, const char *client)
{
    secure_listener *s = ctx;
    transport *t = s->tls ? transport_tls_new(s->tls, fd, client) : transport_tcp_new(fd);
    if (t && s->o.websocket)
        t = transport_ws_new(t, &s->ws, client);
    return t;
}

/* The socket peer's address without port ("?" if unknown). */
static void secure_peer_text(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    snprintf(out, cap, "?");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)cap);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)cap);
}

transport *secure_make_transport(void *ctx, int fd)
{
    secure_listener *s = ctx;
    char peer[INET6_ADDRSTRLEN + 8];
    secure_peer_text(fd, peer, sizeof peer);
    if (s->o.proxy_protocol)
        return transport_proxy_new(fd, peer, s->o.proxy_from, s->o.proxy_from_count, secure_inner, s);
    return secure_inner(s, fd, peer);
}

int secure_listener_reload(secure_listener *s)
{
    char err[512];
    if (!s || !s->tls)
        return 0;
    return tls_context_reload(s->tls, err, sizeof err);
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
    const char *forwarded = transport_ws_client_address(t);
    return forwarded ? forwarded : proxied;
}

const char *secure_cert_username(const secure_listener *s, const transport *t, const char **must_match)
{
    *must_match = NULL;
    if (!s || !s->tls)
        return NULL;
    if (s->o.tls_two_factor) /* peer_cn delegates through ws and proxy layers down to tls */
        *must_match = t->ops->peer_cn ? t->ops->peer_cn(t) : NULL;
    return transport_tls_username(t);
}
