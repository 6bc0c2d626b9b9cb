/*
 * proxy_transport.h - PROXY protocol (v1 and v2) in front of any transport, for listeners behind a load
 * balancer. A connection from one of the configured proxy addresses must start with a PROXY header; the
 * header is consumed byte-exactly (so TLS or WebSocket bytes after it are untouched), the client address it
 * carries is recorded, and only then is the real transport (tcp, tls, ws) created over the socket. A
 * connection from any other address gets no PROXY parsing at all: it is a direct client.
 */
#ifndef RAMPART_NET_PROXY_TRANSPORT_H
#define RAMPART_NET_PROXY_TRANSPORT_H

#include <stddef.h>

#include "net/transport.h"
#include "net/ws.h"

/* Creates the real transport once the client address is known; NULL on failure. */
typedef transport *(*proxy_inner_fn)(void *ctx, int fd, const char *client_address);

/*
 * A transport for the accepted socket fd whose peer address (no port) is `peer`. `allowed` lists the proxy
 * addresses (borrowed; it must outlive the transport). Returns NULL on allocation failure.
 */
transport *transport_proxy_new(int fd, const char *peer, const ws_cidr *allowed, size_t allowed_count,
                               proxy_inner_fn make_inner, void *ctx);

/* The client address from the PROXY header (or the peer when there was none), or NULL if t is no PROXY
 * transport or its header has not been read yet. */
const char *transport_proxy_client_address(const transport *t);

#endif
