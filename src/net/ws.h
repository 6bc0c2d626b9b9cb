/*
 * ws.h (net) - the WebSocket transport: MQTT over RFC 6455 on top of another transport (plain TCP for "ws",
 * the TLS transport for "wss", so certificates, CRLs, OCSP and mTLS apply exactly as on a TLS listener).
 *
 * The handshake reads one HTTP/1.1 upgrade request (bounded size, deadline), checks the path, the Origin
 * allowlist and the MQTT subprotocol ("mqtt" or "mqttv3.1"), answers 101 or an HTTP error, and takes the
 * client address from X-Forwarded-For only when the peer is a configured proxy. Afterwards read() yields
 * the payload of the client's binary frames as one byte stream (fragmentation, ping/pong and close are
 * handled inside; masking is required; frame and message limits apply) and writev() sends binary frames.
 */
#ifndef RAMPART_NET_WS_H
#define RAMPART_NET_WS_H

#include <stddef.h>
#include <stdint.h>

#include "net/transport.h"
#include "security/addr.h"

typedef struct ws_cidr {
    sec_addr base;
    unsigned bits;
} ws_cidr;

/* A listener's WebSocket settings; borrowed by every transport of the listener, which must outlive them. */
typedef struct ws_transport_settings {
    const char *path;                  /* exact request path (query ignored); NULL = "/mqtt" */
    const char *const *origins;        /* Origin allowlist (exact, case-insensitive); none = any */
    size_t origin_count;
    const ws_cidr *trusted_proxies;    /* peers whose X-Forwarded-For is believed */
    size_t trusted_proxy_count;
    uint64_t max_frame;                /* payload bytes per frame; 0 = 16 MiB */
    uint64_t max_message;              /* payload bytes per (fragmented) message; 0 = no limit */
    int handshake_timeout_ms;          /* from creation to 101 sent; 0 = 10 s */
    size_t max_header;                 /* request head bytes; 0 = 8192 */
    const char *name;                  /* listener name for log lines */
} ws_transport_settings;

/*
 * A WebSocket transport over `inner`, which it owns from now on (destroyed with it, even on failure).
 * `peer` is the socket peer's address without port (e.g. "192.0.2.1"), used for the proxy check and logs.
 * Returns NULL on allocation failure.
 */
transport *transport_ws_new(transport *inner, const ws_transport_settings *s, const char *peer);

/* True if t is a WebSocket transport. */
bool transport_is_ws(const transport *t);

/* The client's address after the handshake: from X-Forwarded-For when the peer is a trusted proxy,
 * otherwise the socket peer. */
const char *transport_ws_client_address(const transport *t);

/* The subprotocol agreed in the handshake ("mqtt" or "mqttv3.1"), or NULL before it. */
const char *transport_ws_subprotocol(const transport *t);

#endif
