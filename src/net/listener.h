/*
 * listener.h - listening sockets: binds an address and port (every address it resolves to, IPv4 and IPv6),
 * accepts non-blocking, close-on-exec connections with TCP_NODELAY set, and hands each to a callback. Knows
 * nothing of MQTT. A listener's transport factory wraps each accepted socket (plain TCP by default; TLS and
 * WebSocket listeners install their own factory).
 */
#ifndef RAMPART_NET_LISTENER_H
#define RAMPART_NET_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "net/loop.h"
#include "net/transport.h"

typedef struct net_listener net_listener;

/* Called for every accepted connection; the callee owns fd from then on (it must close it). */
typedef void (*listener_accept_fn)(void *ctx, net_listener *l, int fd, const struct sockaddr_storage *peer,
                                   socklen_t peer_len);
/* Wraps an accepted socket in a transport; NULL on failure (the caller then closes fd). */
typedef transport *(*listener_transport_fn)(void *ctx, int fd);

typedef struct listener_options {
    const char *address;        /* NULL or "": every interface */
    uint16_t port;              /* 0: any free port */
    const char *bind_interface; /* SO_BINDTODEVICE, or NULL */
    int family;                 /* AF_UNSPEC (both), AF_INET or AF_INET6 */
    bool tcp_nodelay;           /* set TCP_NODELAY on accepted connections */
} listener_options;

/*
 * Binds every address opt->address resolves to (restricted to opt->family) on opt->port and starts accepting
 * on `loop`. On failure returns NULL and writes a reason to err[0..errlen).
 */
net_listener *listener_open(net_loop *loop, const listener_options *opt, listener_accept_fn fn, void *ctx,
                            char *err, size_t errlen);
/* Stops accepting and closes every socket. NULL is allowed. */
void listener_close(net_listener *l);
/* Replaces the transport factory (default: transport_tcp_new). */
void listener_set_transport(net_listener *l, listener_transport_fn fn, void *ctx);
/* Wraps fd with the listener's transport factory. */
transport *listener_make_transport(net_listener *l, int fd);
/* The port actually bound (useful after port 0). */
uint16_t listener_port(const net_listener *l);
/* Opaque per-listener data for the owner (e.g. the listener's configuration). */
void listener_set_user(net_listener *l, void *user);
void *listener_user(const net_listener *l);
/* Re-enables accepting after a pause caused by running out of file descriptors; call about once a second. */
void listener_tick(net_listener *l);

#endif
