/* limiter.c - see limiter.h. */
#include "security/limiter.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "security/lru.h"

typedef struct counter {
    uint64_t window_start_ms; /* start of the current fixed window */
    uint32_t cur, prev;       /* failures in the current and previous fixed windows */
    uint64_t last_failure_ms;
    uint64_t locked_until_ms; /* usernames only */
    uint32_t lockouts;        /* lockouts so far: each one lasts twice as long as the one before */
} counter;

struct limiter {
    limiter_config cfg;
    lru_table *address, *network, *username, *trusted;
};

limiter_config limiter_config_default(void)
{
    limiter_config c = {
        .window_s = 3600,
        .address = {5, 20},
        .network = {50, 200},
        .username = {10, 40},
        .backoff_base_ms = 1000,
        .backoff_max_ms = 60000,
        .lockout_s = 900,
        .trusted_s = 30 * 86400,
        .max_entries = 65536,
    };
    return c;
}

const char *limiter_scope_name(enum limiter_scope scope)
{
    switch (scope) {
    case LIMITER_SCOPE_ADDRESS: return "address";
    case LIMITER_SCOPE_NETWORK: return "network";
    case LIMITER_SCOPE_USERNAME: return "username";
    default: return "none";
    }
}

limiter *limiter_new(const limiter_config *cfg)
{
    limiter *l = calloc(1, sizeof *l);

    if (!l)
        return NULL;
    l->cfg = *cfg;
    if (l->cfg.window_s == 0)
        l->cfg.window_s = 1;
    l->address = lru_new(cfg->max_entries, sizeof(counter));
    l->network = lru_new(cfg->max_entries, sizeof(counter));
    l->username = lru_new(cfg->max_entries, sizeof(counter));
    l->trusted = lru_new(cfg->max_entries, sizeof(uint64_t));
    if (!l->address || !l->network || !l->username || !l->trusted) {
        limiter_free(l);
        return NULL;
    }
    return l;
}

void limiter_free(limiter *l)
{
    if (!l)
        return;
    lru_free(l->address);
    lru_free(l->network);
    lru_free(l->username);
    lru_free(l->trusted);
    free(l);
}

/* Rolls c's fixed windows forward to now. */
static void counter_roll(const limiter *l, counter *c, uint64_t now_ms)
{
    uint64_t w = (uint64_t)l->cfg.window_s * 1000;

    if (now_ms < c->window_start_ms + w)
        return;
    if (now_ms < c->window_start_ms + 2 * w) {
        c->prev = c->cur;
        c->window_start_ms += w;
    } else {
        c->prev = 0;
        c->window_start_ms = now_ms - (now_ms % w);
    }
    c->cur = 0;
}

/* The sliding-window estimate of failures at now. */
static uint32_t counter_failures(const limiter *l, counter *c, uint64_t now_ms)
{
    uint64_t w = (uint64_t)l->cfg.window_s * 1000, into;

    counter_roll(l, c, now_ms);
    into = now_ms - c->window_start_ms;
    return c->cur + (uint32_t)(((uint64_t)c->prev * (w - into)) / w);
}

static uint64_t backoff_ms(const limiter *l, uint32_t failures, uint32_t after)
{
    uint32_t steps = failures - after;
    uint64_t d = l->cfg.backoff_base_ms;

    while (steps-- > 0 && d < l->cfg.backoff_max_ms)
        d *= 2;
    return d < l->cfg.backoff_max_ms ? d : l->cfg.backoff_max_ms;
}

/* Length of lockout number n (0-based): lockout_s doubled n times, at most a day (or lockout_s if longer). */
static uint64_t lockout_ms(const limiter *l, uint32_t n)
{
    uint64_t d = (uint64_t)l->cfg.lockout_s * 1000, cap = 86400000;

    if (cap < d)
        cap = d;
    while (n-- > 0 && d < cap)
        d *= 2;
    return d < cap ? d : cap;
}

/* The verdict of one scope's counter at now (no side effects beyond rolling windows). */
static limiter_decision scope_check(const limiter *l, counter *c, const limiter_scope_config *sc,
                                    enum limiter_scope scope, uint64_t now_ms)
{
    limiter_decision d = {LIMITER_ALLOW, LIMITER_SCOPE_NONE, 0, 0, 0};
    uint32_t f;

    if (!c)
        return d;
    if (c->locked_until_ms > now_ms) {
        d.verdict = LIMITER_LOCKOUT;
        d.scope = scope;
        d.retry_after_ms = c->locked_until_ms - now_ms;
        return d;
    }
    f = counter_failures(l, c, now_ms);
    if (sc->backoff_after && f >= sc->backoff_after) {
        uint64_t next = c->last_failure_ms + backoff_ms(l, f, sc->backoff_after);
        if (now_ms < next) {
            d.verdict = LIMITER_BACKOFF;
            d.scope = scope;
            d.retry_after_ms = next - now_ms;
            d.failures = f;
        }
    }
    return d;
}

/* Builds the trusted-pair key "username\0address". Returns its length. */
static size_t trusted_key(const sec_addr *addr, const uint8_t *u, size_t ulen, uint8_t *out, size_t cap)
{
    size_t alen = strlen(addr->text);
    size_t ul = ulen + alen + 1 <= cap ? ulen : cap - alen - 1;

    memcpy(out, u, ul);
    out[ul] = 0;
    memcpy(out + ul + 1, addr->text, alen);
    return ul + 1 + alen;
}

static bool pair_trusted(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen, uint64_t now_ms)
{
    uint8_t key[512];
    size_t kl = trusted_key(addr, u, ulen, key, sizeof key);
    uint64_t *when = lru_get(l->trusted, key, kl);

    return when && *when + (uint64_t)l->cfg.trusted_s * 1000 > now_ms;
}

static int severity(const limiter_decision *d)
{
    return (int)d->verdict;
}

limiter_decision limiter_check(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen, uint64_t now_ms)
{
    limiter_decision best = {LIMITER_ALLOW, LIMITER_SCOPE_NONE, 0, 0, 0}, d;

    d = scope_check(l, lru_get(l->address, addr->text, strlen(addr->text)), &l->cfg.address,
                    LIMITER_SCOPE_ADDRESS, now_ms);
    if (severity(&d) > severity(&best))
        best = d;
    d = scope_check(l, lru_get(l->network, addr->network, strlen(addr->network)), &l->cfg.network,
                    LIMITER_SCOPE_NETWORK, now_ms);
    if (severity(&d) > severity(&best))
        best = d;
    d = scope_check(l, lru_get(l->username, u, ulen), &l->cfg.username, LIMITER_SCOPE_USERNAME, now_ms);
    if (severity(&d) > severity(&best) && !pair_trusted(l, addr, u, ulen, now_ms))
        best = d;
    return best;
}

/* Counts one failure in c; returns the resulting decision for this scope (LOCKOUT when the threshold was
 * reached: the counter then starts afresh). */
static limiter_decision scope_fail(limiter *l, counter *c, const limiter_scope_config *sc, enum limiter_scope scope,
                                   uint64_t now_ms)
{
    limiter_decision d = {LIMITER_ALLOW, LIMITER_SCOPE_NONE, 0, 0, 0};
    uint32_t f;

    if (!c)
        return d;
    counter_roll(l, c, now_ms);
    if (c->window_start_ms == 0)
        c->window_start_ms = now_ms - (now_ms % ((uint64_t)l->cfg.window_s * 1000));
    c->cur++;
    c->last_failure_ms = now_ms;
    f = counter_failures(l, c, now_ms);
    if (sc->lockout_after && f >= sc->lockout_after) {
        d.verdict = LIMITER_LOCKOUT;
        d.scope = scope;
        d.failures = f;
        d.retry_after_ms = lockout_ms(l, c->lockouts++);
        c->cur = c->prev = 0;
        if (scope == LIMITER_SCOPE_USERNAME)
            c->locked_until_ms = now_ms + d.retry_after_ms;
        return d;
    }
    if (sc->backoff_after && f >= sc->backoff_after) {
        d.verdict = LIMITER_BACKOFF;
        d.scope = scope;
        d.failures = f;
        d.retry_after_ms = backoff_ms(l, f, sc->backoff_after);
    }
    return d;
}

static counter *table_counter(lru_table *t, const void *key, size_t klen)
{
    bool created;
    return lru_put(t, key, klen, &created);
}

limiter_decision limiter_record_failure(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen,
                                        uint64_t now_ms)
{
    limiter_decision best = {LIMITER_ALLOW, LIMITER_SCOPE_NONE, 0, 0, 0}, d[3];
    uint32_t locked = 0;

    d[0] = scope_fail(l, table_counter(l->address, addr->text, strlen(addr->text)), &l->cfg.address,
                      LIMITER_SCOPE_ADDRESS, now_ms);
    d[1] = scope_fail(l, table_counter(l->network, addr->network, strlen(addr->network)), &l->cfg.network,
                      LIMITER_SCOPE_NETWORK, now_ms);
    d[2] = scope_fail(l, table_counter(l->username, u, ulen), &l->cfg.username, LIMITER_SCOPE_USERNAME, now_ms);
    for (int i = 0; i < 3; i++) {
        if (severity(&d[i]) > severity(&best))
            best = d[i];
        if (d[i].verdict == LIMITER_LOCKOUT)
            locked |= 1u << d[i].scope;
    }
    best.locked_scopes = locked;
    return best;
}

void limiter_record_success(limiter *l, const sec_addr *addr, const uint8_t *u, size_t ulen, uint64_t now_ms)
{
    uint8_t key[512];
    size_t kl = trusted_key(addr, u, ulen, key, sizeof key);
    bool created;
    uint64_t *when = lru_put(l->trusted, key, kl, &created);

    if (when)
        *when = now_ms;
}
