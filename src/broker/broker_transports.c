/* broker_transports.c - see broker_transports.h. */
#include "broker/broker_transports.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/secure.h"

struct broker_transports {
    const rampart_config *cfg;
    secure_listener **by_listener; /* parallel to cfg->listeners; NULL for plain TCP listeners */
};

void broker_transports_capabilities(broker_capabilities *caps)
{
    caps->tls = true;
    caps->websockets = true;
    caps->proxy_protocol = true;
}

/* Builds the secure_listener of one configured listener, or leaves it NULL when plain TCP is enough. */
static int broker_transports_one(broker_transports *t, size_t i, char *err, size_t errlen)
{
    const struct config_listener *cl = &t->cfg->listeners[i];
    bool tls = cl->tls.certfile || cl->tls.keyfile;
    bool ws = cl->protocol == CONFIG_PROTOCOL_WEBSOCKETS;
    char name[96], why[400];
    if (!tls && !ws && cl->proxy_protocol_from_count == 0)
        return 0;
    snprintf(name, sizeof name, "%s:%u", cl->bind_address ? cl->bind_address : "*", cl->port);
    t->by_listener[i] = secure_listener_new(tls ? &cl->tls : NULL, ws ? &cl->ws : NULL, cl->proxy_protocol_from,
                                            cl->proxy_protocol_from_count, name, why, sizeof why);
    if (t->by_listener[i])
        return 0;
    if (cl->file)
        snprintf(err, errlen, "%s:%d: listener %u: %s", cl->file, cl->line, cl->port, why);
    else
        snprintf(err, errlen, "listener %u: %s", cl->port, why);
    return -1;
}

broker_transports *broker_transports_new(const rampart_config *cfg, char *err, size_t errlen)
{
    broker_transports *t = calloc(1, sizeof *t);
    if (t)
        t->by_listener = calloc(cfg->listener_count ? cfg->listener_count : 1, sizeof *t->by_listener);
    if (!t || !t->by_listener) {
        snprintf(err, errlen, "out of memory");
        free(t);
        return NULL;
    }
    t->cfg = cfg;
    for (size_t i = 0; i < cfg->listener_count; i++)
        if (broker_transports_one(t, i, err, errlen) < 0) {
            broker_transports_free(t);
            return NULL;
        }
    return t;
}

/* The OCSP workers answered: finish the handshakes that waited for them. */
static void broker_transports_ocsp_done(void *ctx)
{
    tls_ocsp_drain();
    broker_resume_waiting(ctx);
}

int broker_transports_attach(broker_transports *t, broker *b)
{
    (void)t;
    int fd = tls_ocsp_fd();
    if (fd >= 0 && broker_watch_fd(b, fd, broker_transports_ocsp_done, b) < 0) {
        log_error("cannot watch the OCSP workers");
        return -1;
    }
    return 0;
}

void broker_transports_hook(void *ctx, net_listener *l, const broker_listener_settings *ls)
{
    broker_transports *t = ctx;
    for (size_t i = 0; i < t->cfg->listener_count; i++)
        if (ls->user == &t->cfg->listeners[i] && t->by_listener[i])
            listener_set_transport(l, secure_make_transport, t->by_listener[i]);
}

/* broker_close_if predicate: keep connections whose certificate still verifies. */
static bool broker_transports_keep(void *ctx, transport *tr)
{
    (void)ctx;
    return secure_transport_still_valid(tr);
}

/* The listener of `fresh` that is running listener `old` (same port, address and protocol), or NULL. */
static const struct config_listener *broker_transports_match(const struct config_listener *old,
                                                             const rampart_config *fresh)
{
    for (size_t i = 0; fresh && i < fresh->listener_count; i++) {
        const struct config_listener *l = &fresh->listeners[i];
        bool same_address = (!l->bind_address && !old->bind_address) ||
                            (l->bind_address && old->bind_address && !strcmp(l->bind_address, old->bind_address));
        if (l->port == old->port && same_address && l->protocol == old->protocol)
            return l;
    }
    return NULL;
}

void broker_transports_reload(broker_transports *t, broker *b, const rampart_config *fresh)
{
    bool any = false;
    for (size_t i = 0; i < t->cfg->listener_count; i++) {
        if (!t->by_listener[i])
            continue;
        const struct config_listener *old = &t->cfg->listeners[i];
        const struct config_listener *now = broker_transports_match(old, fresh);
        if (fresh && (!now || !now->tls.certfile) && old->tls.certfile)
            log_warning("tls: listener %u: %s in the new configuration; listeners change only with a restart, "
                        "its TLS files are reloaded under the running settings",
                        old->port, now ? "no longer TLS" : "absent");
        secure_listener_reload(t->by_listener[i], now && now->tls.certfile ? &now->tls : NULL);
        any = true;
    }
    if (any) {
        int n = broker_close_if(b, broker_transports_keep, t, "client certificate no longer valid");
        if (n)
            log_notice("tls: %d connection(s) closed after the reload", n);
    }
}

void broker_transports_each_certificate(const broker_transports *t,
                                        void (*fn)(void *ctx, const char *listener, int64_t seconds), void *ctx)
{
    char name[96];
    for (size_t i = 0; t && i < t->cfg->listener_count; i++) {
        const struct config_listener *cl = &t->cfg->listeners[i];
        int64_t seconds;
        if (tls_context_expiry_seconds(secure_listener_tls(t->by_listener[i]), &seconds) < 0)
            continue;
        const char *a = cl->bind_address ? cl->bind_address : "*";
        snprintf(name, sizeof name, strchr(a, ':') ? "[%s]:%u" : "%s:%u", a, cl->port); /* [::1]:8883 */
        fn(ctx, name, seconds);
    }
}

void broker_transports_free(broker_transports *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cfg->listener_count; i++)
        secure_listener_free(t->by_listener[i]);
    free(t->by_listener);
    free(t);
}
