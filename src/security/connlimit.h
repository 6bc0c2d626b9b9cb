/*
 * connlimit.h - limits on connections before they authenticate, so a flood or a slowloris cannot starve
 * clients that are already connected:
 *   - a token bucket of new connections per listener and per source address (rate per second, burst);
 *   - a cap on open connections per address;
 *   - a cap on connections that have not yet authenticated, globally and per address;
 *   - the CONNECT deadline (seconds from accept to a CONNECT that authenticated), enforced by the broker.
 * The broker calls connlimit_accept() right after accept() and closes the socket when it is refused (no
 * MQTT answer is possible before CONNECT), connlimit_authenticated() when CONNECT succeeded and
 * connlimit_closed() when the connection ends. Not thread-safe (event loop only); memory bounded (LRU).
 */
#ifndef RAMPART_SECURITY_CONNLIMIT_H
#define RAMPART_SECURITY_CONNLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "security/addr.h"

typedef struct connlimit_config {
    uint32_t rate_per_address, burst_per_address;   /* new connections per second; 0 = unlimited */
    uint32_t rate_per_listener, burst_per_listener; /* new connections per second; 0 = unlimited */
    uint32_t max_per_address;                       /* open connections; 0 = unlimited */
    uint32_t max_unauthenticated;                   /* globally; 0 = unlimited */
    uint32_t max_unauthenticated_per_address;       /* 0 = unlimited */
    uint32_t connect_timeout_s;                     /* CONNECT deadline */
    uint32_t max_entries;                           /* addresses tracked */
    bool include_loopback; /* false: loopback addresses skip the per-address rate and unauthenticated caps */
} connlimit_config;

/* Defaults: 20/s burst 40 per address, 1000/s burst 2000 per listener, 256 open per address, 1024
 * unauthenticated in all and 32 per address, CONNECT within 10 s, 65536 addresses tracked. Loopback
 * addresses (127.0.0.0/8, ::1) skip the per-address rate and unauthenticated caps unless include_loopback
 * is set (local clients and tests); the listener rate and the global cap apply to them. */
connlimit_config connlimit_config_default(void);

enum connlimit_verdict {
    CONNLIMIT_OK = 0,
    CONNLIMIT_RATE_LISTENER,
    CONNLIMIT_RATE_ADDRESS,
    CONNLIMIT_MAX_ADDRESS,
    CONNLIMIT_MAX_UNAUTHENTICATED,
    CONNLIMIT_MAX_UNAUTHENTICATED_ADDRESS,
};

typedef struct connlimit connlimit;

connlimit *connlimit_new(const connlimit_config *cfg);
void connlimit_free(connlimit *c);
const connlimit_config *connlimit_get_config(const connlimit *c);

/* A new connection from addr on listener (an index the broker chooses, 0..255). CONNLIMIT_OK counts it as
 * open and unauthenticated; any other verdict counts nothing and the caller closes the socket. */
enum connlimit_verdict connlimit_accept(connlimit *c, unsigned listener, const sec_addr *addr, uint64_t now_ms);
/* The connection from addr authenticated (call once). */
void connlimit_authenticated(connlimit *c, const sec_addr *addr);
/* The connection from addr closed; authenticated says whether connlimit_authenticated() was called. */
void connlimit_closed(connlimit *c, const sec_addr *addr, bool authenticated);

uint32_t connlimit_unauthenticated(const connlimit *c);
const char *connlimit_verdict_name(enum connlimit_verdict v);

/* Logs a refusal on one line, at most 20 lines a second; the rest are counted and reported as suppressed. */
void connlimit_log_refusal(connlimit *c, enum connlimit_verdict v, const sec_addr *addr, const char *listener,
                           uint64_t now_ms);

#endif
