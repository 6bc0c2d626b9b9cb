/*
 * proxy.h - the pure PROXY protocol header parser (HAProxy's proxy-protocol.txt, versions 1 and 2), for
 * listeners behind a load balancer. Only the caller decides whether a peer may send one (a configured list
 * of proxy addresses); this module only parses.
 *
 * No I/O, no globals, no allocation. The parser is stateless and examines at most PROXY_MAX_SIZE bytes, so
 * re-calling it as bytes arrive costs a bounded amount of work. Returns PROXY_OK (header complete: out->size
 * bytes belong to it, the rest is the client's stream), PROXY_NEED_MORE, or PROXY_ERROR (*err says why; the
 * connection must be closed).
 */
#ifndef RAMPART_CODEC_PROXY_H
#define RAMPART_CODEC_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum { PROXY_OK = 0, PROXY_NEED_MORE = 1, PROXY_ERROR = -1 };

#define PROXY_V1_MAX 107   /* whole v1 line including CRLF */
#define PROXY_MAX_SIZE 1024 /* v2: 16-byte fixed part plus addresses and TLVs; longer headers are refused */

typedef struct proxy_header {
    size_t size;   /* bytes of the header */
    uint8_t version; /* 1 or 2 */
    bool local;    /* v1 UNKNOWN or v2 LOCAL/UNSPEC: keep the connection's own addresses */
    struct sockaddr_storage src, dst; /* valid when !local: AF_INET or AF_INET6 with port */
} proxy_header;

int proxy_header_parse(const uint8_t *buf, size_t len, proxy_header *out, const char **err);

#endif
