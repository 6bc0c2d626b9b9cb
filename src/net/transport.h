/*
 * transport.h - one interface for every byte stream the broker speaks MQTT over: plain TCP, TLS, WebSocket
 * over either. The event loop and the broker see only this table; OpenSSL and RFC 6455 live behind it
 * (src/net/tls.c, src/net/ws.c), so there is no #ifdef TLS anywhere above.
 *
 * Conventions (all functions non-blocking):
 *   read/writev return the number of bytes moved (> 0), 0 on orderly end of stream (read only), or -1 with
 *   errno set: EAGAIN when the operation must wait for the socket to become readable/writable (check
 *   want_read/want_write: TLS may need to write in order to read and the reverse), anything else is fatal.
 *   A transport may hold decoded bytes internally (TLS records, WebSocket frames): `pending` says so, and the
 *   loop must call read again without waiting for the socket.
 */
#ifndef RAMPART_NET_TRANSPORT_H
#define RAMPART_NET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct transport transport;

typedef struct transport_ops {
    const char *name; /* "tcp", "tls", "ws", "wss" */
    /* Drives the handshake (TLS, WebSocket upgrade). Returns 1 done, 0 in progress (EAGAIN), -1 failed. */
    int (*handshake)(transport *t);
    ssize_t (*read)(transport *t, void *buf, size_t len);
    ssize_t (*writev)(transport *t, const struct iovec *iov, int iovcnt);
    bool (*pending)(const transport *t);
    /* Starts an orderly shutdown (TLS close_notify, WebSocket close frame with `code`). Never blocks. */
    void (*shutdown)(transport *t, int code);
    /* Frees the transport and everything under it, including the inner transport; does not close fd. */
    void (*destroy)(transport *t);
    /* Peer certificate subject / identity (CN), or NULL. Strings are owned by the transport. */
    const char *(*peer_subject)(const transport *t);
    const char *(*peer_cn)(const transport *t);
    /* The client's address as a trusted proxy reports it: 1 with *addr set (owned by the transport; a PROXY
     * protocol header, or X-Forwarded-For from a trusted proxy) and *port (the PROXY header's source port;
     * 0 when unknown, as with X-Forwarded-For), 0 when the socket peer is the client, -1 while that cannot be
     * known yet (a trusted proxy is connected and the handshake has not finished). The broker applies
     * per-address limits and bans to this address. NULL: always 0. */
    int (*client_address)(const transport *t, const char **addr, uint16_t *port);
} transport_ops;

struct transport {
    const transport_ops *ops;
    int fd;
    bool want_read;  /* after EAGAIN: wait for readability */
    bool want_write; /* after EAGAIN: wait for writability */
    bool waiting;    /* after a handshake's EAGAIN: waiting for something other than the socket (an OCSP
                        answer); the owner watches neither direction and calls handshake again when told */
    transport *inner; /* the transport this one runs over (ws over tls), or NULL */
};

/* A plain TCP transport over a connected non-blocking socket. Returns NULL on allocation failure. */
transport *transport_tcp_new(int fd);

#endif
