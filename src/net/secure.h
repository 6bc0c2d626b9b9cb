/*
 * secure.h - what a listener needs beyond plain TCP: TLS, WebSocket, PROXY protocol. Built from the
 * configuration's per-listener settings (config_listener.tls, .ws, .proxy_protocol_from: the types of
 * net/tls.h and net/ws.h), it provides the listener's transport factory, the SIGHUP reload, the check of
 * established connections after a reload, and the client address as proxies report it.
 */
#ifndef RAMPART_NET_SECURE_H
#define RAMPART_NET_SECURE_H

#include <stdbool.h>
#include <stddef.h>

#include "net/tls.h"
#include "net/transport.h"
#include "net/ws.h"

typedef struct secure_listener secure_listener;

/*
 * Builds a listener's runtime: a TLS context when tls is non-NULL (tls_context_new: certificate, key, CA,
 * CRL problems fail here), WebSocket when ws is non-NULL, PROXY protocol accepted from proxy_from[0..n) when
 * n > 0. Everything is copied. `name` ("127.0.0.1:8883") is used in log lines. Returns NULL with err set.
 */
secure_listener *secure_listener_new(const tls_settings *tls, const ws_transport_settings *ws,
                                     const ws_cidr *proxy_from, size_t proxy_from_count, const char *name,
                                     char *err, size_t errlen);
void secure_listener_free(secure_listener *s);

/* The listener's TLS context (certificate expiry for the metrics), or NULL when it has no TLS. */
const tls_context *secure_listener_tls(const secure_listener *s);

/* The listener's transport factory (listener_transport_fn): ctx is the secure_listener. */
transport *secure_make_transport(void *ctx, int fd);

/* SIGHUP: reloads certificates, keys, CRLs, OCSP response, under the listener's new TLS settings `tls` (NULL:
 * the running ones; see tls_context_reconfigure). 0 done (or nothing to do), -1 failed (old kept, logged). */
int secure_listener_reload(secure_listener *s, const tls_settings *tls);

/* After a reload: false if the connection's client certificate no longer verifies (disconnect it). */
bool secure_transport_still_valid(transport *t);

/* The client's address as the outermost authority says (PROXY header, then trusted X-Forwarded-For), or
 * NULL when neither applies (then the socket peer is the client). */
const char *secure_client_address(const transport *t);

#endif
