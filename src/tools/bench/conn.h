/*
 * conn.h - one client connection of the load generator (conn.c), as the worker loop (worker.c) drives it.
 * Everything here runs on the connection's worker thread.
 */
#ifndef RAMPART_TOOLS_BENCH_CONN_H
#define RAMPART_TOOLS_BENCH_CONN_H

#include <openssl/ssl.h>

#include "codec/mqtt.h"
#include "tools/bench/bench.h"
#include "tools/bench/wsclient.h"

enum conn_role { ROLE_PUB, ROLE_SUB, ROLE_STORM, ROLE_IDLE };
enum conn_state { CS_FREE, CS_TCP_CONNECTING, CS_TLS_HANDSHAKE, CS_WS_UPGRADE, CS_WAIT_CONNACK, CS_WAIT_SUBACK, CS_READY, CS_CLOSING, CS_DEAD };

#define CONN_READ_BUDGET 8        /* reads per readiness event before yielding to other connections */
#define CONN_MAX_BUFFER (8u << 20) /* a connection's read or write buffer never grows beyond this */
#define CONN_BATCH 64              /* messages a publisher encodes before it writes them out */
#define CONN_STALL_NS 200000000ull /* a full window without deliveries this long is written off */

typedef struct bench_conn {
    bench_worker *w;
    int fd;
    SSL *ssl;     /* --tls: the client side of the TLS session over fd */
    bench_ws *ws; /* --ws: WebSocket framing over TCP or TLS */
    uint8_t role, state;
    bool blocked;   /* the last write hit EAGAIN: wait for EPOLLOUT */
    bool resumable; /* on the worker's resume list */
    bool done;      /* publisher: reached its count */
    uint32_t index; /* publisher index, subscriber index or storm slot */
    uint8_t *rbuf, *wbuf;
    size_t rlen, rcap, woff, wlen, wcap;
    uint64_t t_start; /* TCP connect started */
    struct bench_conn *resume_next;
    /* publisher */
    char topic[160];
    uint16_t topic_len;
    uint64_t seq;           /* next sequence number = messages sent */
    uint64_t t0;            /* rate mode: when message 0 is due */
    double interval_ns;     /* rate mode: ns between two messages; 0 = window only */
    uint32_t inflight;      /* QoS 1/2: awaiting PUBACK / PUBCOMP */
    uint32_t receive_max;   /* MQTT 5: the broker's Receive Maximum (CONNACK), else 65535 */
    uint16_t next_id;
    uint64_t *ids;          /* QoS 1/2: bitmap of packet ids awaiting PUBACK or PUBREC */
    uint64_t *rel;          /* QoS 2: bitmap of packet ids awaiting PUBCOMP */
    uint64_t written_off;   /* QoS 0: messages given up on after a stall */
    uint64_t stall_mark, stall_since;
} bench_conn;

/* Allocates a connection of the given role (nothing connects yet). Returns NULL when out of memory. */
bench_conn *bench_conn_new(bench_worker *w, uint8_t role, uint32_t index);
/* Closes (if open) and frees c. NULL is allowed. */
void bench_conn_free(bench_conn *c);
/* Opens the TCP connection, registers it with the worker's epoll and queues CONNECT. Returns 0, or -1 after
 * counting the failure. */
int bench_conn_start(bench_conn *c);
/* Handles a readiness event (epoll flags) for c: connect completion, TLS handshake, reads, writes. */
void bench_conn_on_event(bench_conn *c, uint32_t events);
/* Publisher: publishes what window, rate and count allow, then writes. Returns 1 when it could continue at
 * once; *next_due is the rate schedule's next deadline (0 when not rate limited). */
int bench_conn_pump(bench_conn *c, uint64_t *next_due);
/* Writes out the write buffer as far as the socket takes. Returns 0, or -1 after the connection failed. */
int bench_conn_flush(bench_conn *c);
/* Encodes p at the end of the write buffer. Returns 0, or -1 after the connection failed. */
int bench_conn_queue(bench_conn *c, const mqtt_packet *p);

#endif
