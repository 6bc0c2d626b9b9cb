/* connlimit.c - see connlimit.h. */
#include "security/connlimit.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "security/lru.h"

#define LISTENERS_MAX 256
#define LOG_PER_SECOND 20

typedef struct bucket {
    uint64_t last_ms;
    uint64_t tokens_milli; /* tokens * 1000 */
} bucket;

typedef struct addr_state {
    bucket rate;
    uint32_t open, unauth;
} addr_state;

struct connlimit {
    connlimit_config cfg;
    lru_table *addrs;
    bucket listeners[LISTENERS_MAX];
    uint32_t unauth;
    uint64_t log_second;
    uint32_t log_count, log_suppressed;
};

connlimit_config connlimit_config_default(void)
{
    connlimit_config c = {
        .rate_per_address = 20,
        .burst_per_address = 40,
        .rate_per_listener = 1000,
        .burst_per_listener = 2000,
        .max_per_address = 256,
        .max_unauthenticated = 1024,
        .max_unauthenticated_per_address = 32,
        .connect_timeout_s = 10,
        .max_entries = 65536,
    };
    return c;
}

connlimit *connlimit_new(const connlimit_config *cfg)
{
    connlimit *c = calloc(1, sizeof *c);

    if (!c)
        return NULL;
    c->cfg = *cfg;
    c->addrs = lru_new(cfg->max_entries ? cfg->max_entries : 65536, sizeof(addr_state));
    if (!c->addrs) {
        free(c);
        return NULL;
    }
    return c;
}

void connlimit_free(connlimit *c)
{
    if (!c)
        return;
    lru_free(c->addrs);
    free(c);
}

const connlimit_config *connlimit_get_config(const connlimit *c)
{
    return &c->cfg;
}

/* Refills b at rate/s up to burst and takes one token if there is one. A fresh bucket starts full. */
static bool bucket_take(bucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
    uint64_t cap = (uint64_t)(burst ? burst : rate) * 1000;

    if (rate == 0)
        return true;
    if (b->last_ms == 0) {
        b->tokens_milli = cap;
    } else if (now_ms > b->last_ms) {
        b->tokens_milli += (now_ms - b->last_ms) * rate;
        if (b->tokens_milli > cap)
            b->tokens_milli = cap;
    }
    b->last_ms = now_ms ? now_ms : 1;
    if (b->tokens_milli < 1000)
        return false;
    b->tokens_milli -= 1000;
    return true;
}

static bool addr_is_loopback(const sec_addr *a)
{
    static const uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};

    return (a->family == 4 && a->bytes[0] == 127) || (a->family == 6 && !memcmp(a->bytes, v6_loopback, 16));
}

enum connlimit_verdict connlimit_accept(connlimit *c, unsigned listener, const sec_addr *addr, uint64_t now_ms)
{
    bool created, exempt = !c->cfg.include_loopback && addr_is_loopback(addr);
    addr_state *s;

    if (!bucket_take(&c->listeners[listener % LISTENERS_MAX], c->cfg.rate_per_listener, c->cfg.burst_per_listener,
                     now_ms))
        return CONNLIMIT_RATE_LISTENER;
    if (c->cfg.max_unauthenticated && c->unauth >= c->cfg.max_unauthenticated)
        return CONNLIMIT_MAX_UNAUTHENTICATED;
    s = lru_put(c->addrs, addr->text, strlen(addr->text), &created);
    if (!s)
        return CONNLIMIT_MAX_UNAUTHENTICATED;
    if (!exempt && !bucket_take(&s->rate, c->cfg.rate_per_address, c->cfg.burst_per_address, now_ms))
        return CONNLIMIT_RATE_ADDRESS;
    if (c->cfg.max_per_address && s->open >= c->cfg.max_per_address)
        return CONNLIMIT_MAX_ADDRESS;
    if (!exempt && c->cfg.max_unauthenticated_per_address && s->unauth >= c->cfg.max_unauthenticated_per_address)
        return CONNLIMIT_MAX_UNAUTHENTICATED_ADDRESS;
    s->open++;
    s->unauth++;
    c->unauth++;
    return CONNLIMIT_OK;
}

void connlimit_authenticated(connlimit *c, const sec_addr *addr)
{
    addr_state *s = lru_get(c->addrs, addr->text, strlen(addr->text));

    if (c->unauth)
        c->unauth--;
    if (s && s->unauth)
        s->unauth--;
}

void connlimit_closed(connlimit *c, const sec_addr *addr, bool authenticated)
{
    addr_state *s = lru_get(c->addrs, addr->text, strlen(addr->text));

    if (!authenticated && c->unauth)
        c->unauth--;
    if (s) { /* an evicted entry simply starts from zero again */
        if (s->open)
            s->open--;
        if (!authenticated && s->unauth)
            s->unauth--;
    }
}

uint32_t connlimit_unauthenticated(const connlimit *c)
{
    return c->unauth;
}

const char *connlimit_verdict_name(enum connlimit_verdict v)
{
    switch (v) {
    case CONNLIMIT_OK: return "ok";
    case CONNLIMIT_RATE_LISTENER: return "listener_connection_rate";
    case CONNLIMIT_RATE_ADDRESS: return "address_connection_rate";
    case CONNLIMIT_MAX_ADDRESS: return "max_connections_per_address";
    case CONNLIMIT_MAX_UNAUTHENTICATED: return "max_unauthenticated";
    case CONNLIMIT_MAX_UNAUTHENTICATED_ADDRESS: return "max_unauthenticated_per_address";
    }
    return "?";
}

void connlimit_log_refusal(connlimit *c, enum connlimit_verdict v, const sec_addr *addr, const char *listener,
                           uint64_t now_ms)
{
    uint64_t second = now_ms / 1000;

    if (second != c->log_second) {
        if (c->log_suppressed)
            log_notice("limit: suppressed=%u refusals in the previous second", c->log_suppressed);
        c->log_second = second;
        c->log_count = 0;
        c->log_suppressed = 0;
    }
    if (c->log_count >= LOG_PER_SECOND) {
        c->log_suppressed++;
        return;
    }
    c->log_count++;
    log_notice("limit: refused reason=%s address=%s username=\"\" client_id=\"\" listener=%s",
               connlimit_verdict_name(v), addr->text, listener ? listener : "-");
}
