/* broker_acl.c - see broker_acl.h. */
#include "broker/broker_acl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "net/transport.h"
#include "security/acl.h"
#include "security/auditlog.h"

struct broker_acl {
    const rampart_config *cfg;
    acl **files;        /* distinct ACLs, one per distinct acl_file path */
    size_t nfiles;
    acl **by_listener;  /* cfg->listener_count entries, NULL = no ACL on that listener */
    acl *offline;       /* the ACL every listener shares, or NULL when they differ (then offline = refused) */
    bool shared;        /* every listener has the same ACL (possibly none) */
    auditlog *audit;    /* borrowed, may be NULL */
};

/* The ACL loaded from path, loading it if new. NULL with err on failure. */
static acl *broker_acl_file(broker_acl *g, const char *path, char *err, size_t errlen)
{
    for (size_t i = 0; i < g->nfiles; i++)
        if (!strcmp(acl_path(g->files[i]), path))
            return g->files[i];
    acl *a = acl_load(path, err, errlen);
    if (!a)
        return NULL;
    g->files[g->nfiles++] = a;
    log_info("acl: %s: %zu rules", path, acl_rule_count(a));
    return a;
}

broker_acl *broker_acl_new(const rampart_config *cfg, char *err, size_t errlen)
{
    broker_acl *g = calloc(1, sizeof(*g));
    size_t n = cfg->listener_count;
    if (!g || !(g->files = calloc(n + 1, sizeof(acl *))) || !(g->by_listener = calloc(n + 1, sizeof(acl *)))) {
        snprintf(err, errlen, "acl: out of memory");
        broker_acl_free(g);
        return NULL;
    }
    g->cfg = cfg;
    g->shared = true;
    for (size_t i = 0; i < n; i++) {
        const char *path = cfg->listeners[i].acl_file;
        if (path && !(g->by_listener[i] = broker_acl_file(g, path, err, errlen))) {
            broker_acl_free(g);
            return NULL;
        }
        if (i > 0 && g->by_listener[i] != g->by_listener[0])
            g->shared = false;
    }
    return g;
}

void broker_acl_free(broker_acl *g)
{
    if (!g)
        return;
    for (size_t i = 0; g->files && i < g->nfiles; i++)
        acl_free(g->files[i]);
    free(g->files);
    free(g->by_listener);
    free(g);
}

bool broker_acl_active(const broker_acl *g)
{
    return g && g->nfiles > 0;
}

/* The ACL for a client; *known false when it cannot be told (offline, listeners differ). */
static const acl *broker_acl_for(const broker_acl *g, const broker_client *client, bool *known)
{
    *known = true;
    const struct config_listener *cl = client->listener_user;
    if (cl && cl >= g->cfg->listeners && cl < g->cfg->listeners + g->cfg->listener_count)
        return g->by_listener[cl - g->cfg->listeners];
    if (g->shared)
        return g->cfg->listener_count ? g->by_listener[0] : NULL;
    *known = false;
    return NULL;
}

static enum acl_access broker_acl_access(enum broker_access access)
{
    switch (access) {
    case BROKER_ACCESS_SUBSCRIBE: return ACL_SUBSCRIBE;
    case BROKER_ACCESS_PUBLISH: return ACL_WRITE;
    default: return ACL_READ;
    }
}

/* Copies at most cap - 1 bytes of (s, len), cut at a UTF-8 character boundary. */
static void copy_utf8(char *dst, size_t cap, const char *s, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;
    if (n < len)
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

/* One audit event for a refused SUBSCRIBE or PUBLISH. */
static void broker_acl_audit_denial(broker_acl *g, const broker_client *client, const transport *t,
                                    enum broker_access access, const char *topic, size_t len)
{
    if (!auditlog_enabled(g->audit))
        return;
    char name[512];
    copy_utf8(name, sizeof(name), topic, len);
    const struct config_listener *cl = client->listener_user;
    bool ours = cl && cl >= g->cfg->listeners && cl < g->cfg->listeners + g->cfg->listener_count;
    auditlog_event e = {
        .type = "acl_denied",
        .listener = ours ? cl->tls.name : NULL,
        .address = client->address,
        .port = client->port,
        .client_id = client->client_id,
        .username = client->username,
        .cert_subject = t && t->ops && t->ops->peer_subject ? t->ops->peer_subject(t) : NULL,
        .outcome = "denied",
        .reason = access == BROKER_ACCESS_SUBSCRIBE ? "subscribe" : "publish",
        .topic = name,
    };
    auditlog_emit(g->audit, &e, auditlog_now_ms());
}

static bool broker_acl_authorize(void *ctx, const broker_client *client, enum broker_access access,
                                 const char *topic, size_t len, uint8_t qos, bool retain)
{
    broker_acl *g = ctx;
    bool known;
    const acl *a = broker_acl_for(g, client, &known);
    if (!known)
        return false;
    if (!a)
        return true; /* no acl_file on this listener */
    const transport *t = client->transport;
    acl_client who = {client->username, client->client_id, NULL, client->listener_port};
    if (t && t->ops && t->ops->peer_cn)
        who.cert_identity = t->ops->peer_cn(t);
    acl_result r = acl_check(a, &who, broker_acl_access(access), topic, len, qos, retain);
    bool allowed = r.allowed && (access != BROKER_ACCESS_SUBSCRIBE || qos <= r.max_qos);
    if (!allowed && access != BROKER_ACCESS_READ)
        broker_acl_audit_denial(g, client, t, access, topic, len);
    if (!allowed && access != BROKER_ACCESS_READ)
        log_info("acl: denied %s '%.*s' to client '%s' (user '%s', %s)",
                 access == BROKER_ACCESS_SUBSCRIBE ? "subscribe" : "publish", (int)(len > 256 ? 256 : len), topic,
                 client->client_id ? client->client_id : "", client->username ? client->username : "",
                 client->address ? client->address : "offline");
    return allowed;
}

void broker_acl_set_audit(broker_acl *g, auditlog *log)
{
    g->audit = log;
}

void broker_acl_install(broker_acl *g, broker *b)
{
    broker_set_authorizer(b, broker_acl_authorize, g);
}

void broker_acl_reload(broker_acl *g, broker *b)
{
    char err[512];
    for (size_t i = 0; i < g->nfiles; i++) {
        acl *old = g->files[i];
        if (acl_reload(&g->files[i], err, sizeof(err)) < 0) {
            log_error("acl: reload failed, the previous rules stay in service: %s", err);
            auditlog_event e = {.type = "acl_reloaded", .outcome = "failure", .reason = err};
            auditlog_emit(g->audit, &e, auditlog_now_ms());
            continue;
        }
        auditlog_event ok = {.type = "acl_reloaded", .outcome = "success", .reason = acl_path(g->files[i])};
        auditlog_emit(g->audit, &ok, auditlog_now_ms());
        for (size_t l = 0; l < g->cfg->listener_count; l++)
            if (g->by_listener[l] == old)
                g->by_listener[l] = g->files[i];
        log_notice("acl: %s reloaded: %zu rules", acl_path(g->files[i]), acl_rule_count(g->files[i]));
    }
    size_t removed = broker_recheck_subscriptions(b);
    if (removed)
        log_notice("acl: %zu subscription%s no longer allowed, removed", removed, removed == 1 ? "" : "s");
}
