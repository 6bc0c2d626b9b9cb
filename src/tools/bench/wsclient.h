/*
 * wsclient.h - the client side of MQTT over WebSocket (RFC 6455) for the load generator: the HTTP upgrade
 * request and the check of the server's answer, masked binary frames out, and the server's frames decoded
 * with Rampart's WebSocket codec (src/codec/ws.h). No I/O: the connection (conn.c) moves the bytes.
 */
#ifndef RAMPART_TOOLS_BENCH_WSCLIENT_H
#define RAMPART_TOOLS_BENCH_WSCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/ws.h"

#define BENCH_WS_MAX_RESPONSE 8192 /* the upgrade response's header must end within this many bytes */

typedef struct bench_ws {
    ws_decoder dec;
    char key[32];   /* Sec-WebSocket-Key we sent (base64 of 16 random bytes) */
    bool open;      /* the upgrade succeeded: MQTT bytes now travel in frames */
    uint8_t *out;   /* bytes to write (the request, then frames), out[off..len) still pending */
    size_t off, len, cap;
    uint32_t rng;   /* mask generator state */
} bench_ws;

/* A new client state, or NULL when out of memory. */
bench_ws *bench_ws_new(void);
void bench_ws_free(bench_ws *ws);
/* Queues the upgrade request for host:port and path (subprotocol "mqtt"). Returns 0 or -1 (memory). */
int bench_ws_request(bench_ws *ws, const char *host, uint16_t port, const char *path);
/* Examines the server's answer in buf[0..len): 0 while the header is incomplete, its length once it is
 * complete and valid (101, websocket upgrade, matching Sec-WebSocket-Accept), -1 with *why otherwise. */
long bench_ws_response(bench_ws *ws, const uint8_t *buf, size_t len, const char **why);
/* Appends data as one masked frame with this opcode to the output. Returns 0 or -1 (memory). */
int bench_ws_frame(bench_ws *ws, uint8_t opcode, const uint8_t *data, size_t len);
/* Decodes the n received bytes at buf in place: the application data ends up compacted at buf[0..result).
 * Pings are answered (a pong is queued). Returns the data length, or -1 with *why set (protocol error), or
 * -1 with *closed set when the server sent a close frame. */
ssize_t bench_ws_ingest(bench_ws *ws, uint8_t *buf, size_t n, bool *closed, const char **why);

#endif
