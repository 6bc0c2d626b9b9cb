/*
 * limiter.h - login-attempt limiting. Failed logins are counted per source address, per network (/24, /64)
 * and per username in sliding windows (two fixed windows, the older one weighted by how much of it still
 * overlaps the sliding window). Each scope has two thresholds:
 *   backoff_after  from this many failures on, attempts must be spaced: the next attempt is allowed only
 *                  base * 2^(failures - backoff_after) ms (capped at backoff_max_ms) after the last failure;
 *                  an attempt that comes earlier is refused WITHOUT any password work (so opening parallel
 *                  connections does not help an attacker);
 *   lockout_after  at this many failures the scope is locked out for lockout_s, doubled for each further
 *                  lockout of the same key (at most a day; retry_after_ms says how long): for an address or a network
 *                  limiter_record_failure() says so and the caller adds a ban (persisted, visible, removable);
 *                  for a username the limiter itself refuses it until the lockout ends.
 * A username's backoff and lockout do not apply to an address from which that username authenticated
 * successfully within trusted_s: an attack on a username does not lock its owner out.
 * A success does not reset any failure counter (an attacker holding one account cannot launder guesses).
 * Not thread-safe: the event loop owns the limiter. Memory is bounded by max_entries per table (LRU).
 */
#ifndef RAMPART_SECURITY_LIMITER_H
#define RAMPART_SECURITY_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#include "security/addr.h"

typedef struct limiter_scope_config {
    uint32_t backoff_after; /* 0 = no backoff in this scope */
    uint32_t lockout_after; /* 0 = no lockout in this scope */
} limiter_scope_config;

typedef struct limiter_config {
    uint32_t window_s;
    limiter_scope_config address, network, username;
    uint32_t backoff_base_ms, backoff_max_ms;
    uint32_t lockout_s;
    uint32_t trusted_s;
    uint32_t max_entries;
} limiter_config;

/* Defaults: window 3600 s (longer than the backoff needs to reach lockout: 20 spaced failures); address 5/20, network 50/200, username 10/40 (backoff after / lockout at);
 * backoff 1 s doubling up to 60 s; lockout 900 s; trusted pairs remembered 30 days; 65536 entries a table. */
limiter_config limiter_config_default(void);

enum limiter_verdict { LIMITER_ALLOW = 0, LIMITER_BACKOFF, LIMITER_LOCKOUT };
enum limiter_scope { LIMITER_SCOPE_NONE = 0, LIMITER_SCOPE_ADDRESS, LIMITER_SCOPE_NETWORK, LIMITER_SCOPE_USERNAME };

typedef struct limiter_decision {
    enum limiter_verdict verdict;
    enum limiter_scope scope; /* which scope decided (NONE when allowed) */
    uint64_t retry_after_ms;  /* for BACKOFF and a username LOCKOUT: how long until an attempt may come */
    uint32_t failures;        /* the deciding scope's failure count in the window */
    uint32_t locked_scopes;   /* limiter_record_failure: bit (1 << scope) for every scope that reached lockout */
} limiter_decision;

typedef struct limiter limiter;

limiter *limiter_new(const limiter_config *cfg);
void limiter_free(limiter *l);

/* May an attempt for username u[0..ulen) from addr go on to password work at now_ms? */
limiter_decision limiter_check(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen, uint64_t now_ms);
/* Records a failed attempt. Returns LIMITER_LOCKOUT with the scope (ADDRESS or NETWORK: the caller should
 * ban; USERNAME: the limiter locks it) when this failure reached a lockout threshold, else ALLOW/BACKOFF
 * with the most severe resulting state. A scope that reached lockout starts counting afresh. */
limiter_decision limiter_record_failure(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen,
                                        uint64_t now_ms);
/* Records a successful login: remembers (username, address) as trusted. */
void limiter_record_success(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen, uint64_t now_ms);

const char *limiter_scope_name(enum limiter_scope scope);

#endif
