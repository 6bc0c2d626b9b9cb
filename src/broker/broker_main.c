/*
 * broker_main.c - `rampart [-c FILE] [-p PORT] [-v]`: mosquitto's flags. Without -c the broker runs on the
 * built-in configuration: 127.0.0.1 port 1883 (or -p) only, anonymous clients allowed there.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "broker/broker.h"
#include "base/notify.h"
#include "base/secevent.h"
#include "broker/broker_acl.h"
#include "broker/broker_config.h"
#include "broker/broker_gate.h"
#include "broker/broker_metrics.h"
#include "broker/broker_transports.h"
#include "broker/persist.h"
#include "persist/store.h"
#include "config/config.h"
#include "security/auditlog.h"
#include "security/hardening.h"
#include "tools/ban_config.h"
#include "tools/commands.h"

#define BROKER_MAIN_MAX_PORTS 10

typedef struct broker_main_args {
    const char *config;
    long ports[BROKER_MAIN_MAX_PORTS];
    int nports;
    bool verbose;
} broker_main_args;

static void broker_main_usage(void)
{
    fprintf(stderr, "usage: rampart [-c FILE] [-p PORT] [-v]\n");
}

/* Parses the command line. Returns 0, or the exit status to stop with. */
static int broker_main_parse(int argc, char **argv, broker_main_args *a)
{
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "c:p:vd")) != -1) {
        char *end;
        switch (opt) {
        case 'c':
            a->config = optarg;
            break;
        case 'p':
            if (a->nports == BROKER_MAIN_MAX_PORTS) {
                fprintf(stderr, "rampart: -p may be given at most %d times\n", BROKER_MAIN_MAX_PORTS);
                return 2;
            }
            a->ports[a->nports] = strtol(optarg, &end, 10);
            if (!*optarg || *end) {
                fprintf(stderr, "rampart: invalid port '%s'\n", optarg);
                return 2;
            }
            a->nports++;
            break;
        case 'v':
            a->verbose = true;
            break;
        case 'd':
            fprintf(stderr, "rampart: -d (daemonize) is not supported: run under a service manager\n");
            return 2;
        default:
            broker_main_usage();
            return 2;
        }
    }
    if (optind < argc) {
        broker_main_usage();
        return 2;
    }
    return 0;
}

/* Loads the configuration (file or built-in) and applies -p. Returns 0 or 1 (errors printed). */
static int broker_main_config(const broker_main_args *a, rampart_config *cfg)
{
    char err[512];
    if (a->config) {
        config_errors errs;
        config_errors_init(&errs);
        int rc = config_load(cfg, a->config, &errs);
        if (rc != 0) {
            config_errors_print(&errs, stderr);
            config_errors_free(&errs);
            return 1;
        }
        config_errors_free(&errs);
    } else {
        config_defaults(cfg);
    }
    for (int i = 0; i < a->nports; i++)
        if (config_set_port(cfg, a->ports[i], err, sizeof err) < 0) {
            fprintf(stderr, "rampart: -p %ld: %s\n", a->ports[i], err);
            return 1;
        }
    return 0;
}

typedef struct broker_main_reload {
    const broker_main_args *args;
    broker_capabilities caps;
    broker_transports *tls; /* TLS listeners: their settings, certificates, keys and CRLs are reloaded too */
    sec_gate *gate;         /* its sealed ban file follows a persistence key rotation */
} broker_main_reload;

/* The persistence master keys, loaded once at start (a key from the environment is removed once read) for
 * the store and the ban file; wiped with broker_main_keys_wipe. */
typedef struct broker_main_keys {
    uint8_t key[RECORD_MASTER_KEY_LEN], old[RECORD_MASTER_KEY_LEN];
    int has_old;
    ban_keyring bans; /* the ban file's keys, derived from key and old */
} broker_main_keys;

/* The `config_reloaded` security event: outcome "success" or "failure" (the first error as the reason). */
static void broker_main_audit_reload(const char *file, const char *error)
{
    secevent e = {.type = "config_reloaded", .outcome = error ? "failure" : "success", .reason = error};
    secevent_add_text(&e, "file", file);
    secevent_emit(&e);
}

/* SIGHUP with persistence: a key different from the running one (persistence_key_file or _credential) is
 * rotated to at once, every record rewritten under it (docs/persistence.md, key rotation). */
static void broker_main_reload_persist(const rampart_config *cfg, broker *b, sec_gate *gate)
{
    const struct config_persistence *pc = &cfg->persist;
    uint8_t key[RECORD_MASTER_KEY_LEN];
    char err[512] = "";
    if (!pc->enabled)
        return;
    int rc = store_key_load(pc->key_file, pc->key_env, pc->key_credential, "persistence_key", key, err, sizeof err);
    if (rc == 1 && persist_rekey(b, key, err, sizeof err) < 0)
        rc = -1;
    if (rc == 1 && sec_gate_ban_rekey(gate, key, err, sizeof err) < 0)
        log_error("reload: ban file: %s; it stays under the running key", err);
    if (rc < 0)
        log_error("reload: persistence key: %s; the running key stays in use", err);
    OPENSSL_cleanse(key, sizeof key);
}

/* SIGHUP: re-reads the configuration file; a file with errors keeps the running configuration. */
static void broker_main_on_reload(void *ctx, broker *b)
{
    broker_main_reload *r = ctx;
    rampart_config cfg;
    broker_settings ns;
    config_errors errs;
    const rampart_config *fresh = NULL;
    char err[512];
    if (!r->args->config) {
        log_notice("reload: no configuration file, nothing to reload");
        broker_transports_reload(r->tls, b, NULL);
        broker_main_audit_reload(NULL, NULL);
        return;
    }
    config_errors_init(&errs);
    memset(&ns, 0, sizeof ns);
    if (config_load(&cfg, r->args->config, &errs) != 0) {
        for (size_t i = 0; i < errs.count; i++)
            log_error("reload: %s", errs.messages[i]);
        log_error("reload: configuration has errors, keeping the running one");
        broker_main_audit_reload(r->args->config, errs.count ? errs.messages[0] : "configuration has errors");
        goto out;
    }
    if (broker_settings_from_config(&cfg, &r->caps, &ns, err, sizeof err) < 0) {
        log_error("reload: %s; keeping the running configuration", err);
        broker_main_audit_reload(r->args->config, err);
        goto out;
    }
    if (broker_config_logging(&cfg, err, sizeof err) < 0)
        log_error("reload: %s", err);
    if (r->args->verbose)
        log_set_level(LOG_LEVEL_DEBUG);
    broker_reload_settings(b, &ns);
    broker_main_reload_persist(&cfg, b, r->gate);
    fresh = &cfg;
    broker_main_audit_reload(r->args->config, NULL);
out:
    broker_transports_reload(r->tls, b, fresh); /* a file with errors: TLS files under the running settings */
    broker_settings_clear(&ns);
    config_errors_free(&errs);
    config_free(&cfg);
}

/* SIGHUP: re-reads the ACL files (of the configuration loaded at start-up) and drops the live subscriptions
 * they no longer allow. */
static void broker_main_on_reload_acl(void *ctx, broker *b)
{
    broker_acl_reload(ctx, b);
}

/* The security audit log of the configuration (audit_dest, audit_rate); without destinations it drops
 * everything. NULL with err when a file cannot be opened. */
static auditlog *broker_main_audit(const rampart_config *cfg, char *err, size_t errlen)
{
    auditlog *a = auditlog_new(cfg->audit_rate);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->audit_file_count; i++)
        if (auditlog_add_file(a, cfg->audit_files[i], err, errlen) < 0) {
            auditlog_free(a);
            return NULL;
        }
    if (cfg->audit_syslog)
        auditlog_add_syslog(a);
    if (cfg->audit_stdout)
        auditlog_add_stdout(a);
    return a;
}

/* SIGHUP: reopens the audit files (logrotate). */
static void broker_main_on_reload_audit(void *ctx, broker *b)
{
    char err[512];
    (void)b;
    if (auditlog_reopen(ctx, err, sizeof err) < 0)
        log_error("audit: %s", err);
}

/* Starts the connection-security gate from the configuration: one password file for the whole broker; the ban
 * file of ban_config_path(), sealed under the ban keys of k when persistence is on (k not NULL). */
static int broker_main_gate(const rampart_config *cfg, const broker_main_keys *k, sec_gate **gate, char *err,
                            size_t errlen)
{
    auth_settings s = cfg->auth; /* a shallow copy: sec_gate_new copies what it keeps */
    char ban_path[4096];

    for (size_t i = 0; i < cfg->listener_count; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        if (l->password_file && (!cfg->auth.password_file || strcmp(l->password_file, cfg->auth.password_file))) {
            snprintf(err, errlen, "%s:%d: a password_file per listener is not supported; use one global password_file",
                     l->file ? l->file : "config", l->line);
            return -1;
        }
    }
    s.auth.ban_file = ban_config_path(cfg, ban_path, sizeof ban_path);
    if (!s.auth.ban_file && cfg->persist.enabled) {
        snprintf(err, errlen, "persistence_location: path too long for the ban file");
        return -1;
    }
    s.auth.ban_keys = k ? &k->bans : NULL;
    return sec_gate_new(&s, gate, err, errlen);
}

/* Says what mosquitto's snapshot options mean here (never silently ignored). */
static void broker_main_persist_notes(const struct config_persistence *p)
{
    if (p->autosave_interval != UINT32_MAX && !p->relaxed)
        log_notice("persistence: autosave_interval %u has no effect: every acknowledged message is committed "
                   "(persistence_durability sync; docs/persistence.md)", p->autosave_interval);
    else if (p->autosave_interval != UINT32_MAX)
        log_notice("persistence: autosave_interval %u: relaxed mode syncs every %u ms", p->autosave_interval,
                   p->sync_interval_ms ? p->sync_interval_ms : (p->autosave_interval ? p->autosave_interval * 1000u : 1000u));
    if (p->autosave_on_changes)
        log_notice("persistence: autosave_on_changes has no effect: every change is committed at the end of the "
                   "event-loop iteration that made it");
}

/*
 * With the engine's own file name (no persistence_file), refuses to start an empty store while the other
 * engine's store lies in the same directory: switching persistence_engine would otherwise silently drop
 * every stored session and message. Returns 0 or -1 with err.
 */
static int broker_main_persist_other_engine(const rampart_config *cfg, const char *path, char *err, size_t errlen)
{
    const char *engine = cfg->persist.engine ? cfg->persist.engine : "lmdb";
    const char *other = strcmp(engine, "lmdb") == 0 ? "sqlite" : "lmdb";
    char other_path[4096];
    struct stat st;
    if (cfg->persist.file || stat(path, &st) == 0 ||
        config_persistence_path_for(cfg, other, other_path, sizeof other_path) < 0 || stat(other_path, &st) != 0)
        return 0;
    snprintf(err, errlen, "%.150s is a store of the %s engine, but persistence_engine is %s (whose store is "
             "%.150s): set persistence_engine %s to use it, or move it away to start the %s store empty",
             other_path, other, engine, path, other, engine);
    return -1;
}

/* Loads the persistence keys when `persistence true` (file, environment or credential) and derives the ban
 * file's keys. Returns 1 (loaded), 0 (persistence off) or -1 with err. */
static int broker_main_keys_load(const rampart_config *cfg, broker_main_keys *k, char *err, size_t errlen)
{
    const struct config_persistence *pc = &cfg->persist;
    if (!pc->enabled)
        return 0;
    if (store_key_load(pc->key_file, pc->key_env, pc->key_credential, "persistence_key", k->key, err, errlen) != 1) {
        if (!err[0])
            snprintf(err, errlen, "persistence true needs a key (persistence_key_file, _env or _credential)");
        return -1;
    }
    k->has_old = store_key_load(pc->key_old_file, pc->key_old_env, pc->key_old_credential, "persistence_key_old",
                                k->old, err, errlen);
    if (k->has_old < 0)
        return -1;
    if (ban_keyring_init(&k->bans, k->key, k->has_old ? k->old : NULL) < 0) {
        snprintf(err, errlen, "cannot derive the ban file key");
        return -1;
    }
    return 1;
}

static void broker_main_keys_wipe(broker_main_keys *k)
{
    OPENSSL_cleanse(k, sizeof *k);
}

/*
 * Opens the encrypted store when `persistence true` under the keys of k (loaded by broker_main_keys_load) and
 * restores its state into b. Returns 0 (also when persistence is off) or -1 with err.
 */
static int broker_main_persist(const rampart_config *cfg, const broker_main_keys *k, broker *b, char *err,
                               size_t errlen)
{
    const struct config_persistence *pc = &cfg->persist;
    char path[4096];
    if (!pc->enabled) {
        if (pc->key_file || pc->key_env || pc->key_credential || pc->location || pc->file)
            log_warning("persistence is false: the persistence_* options have no effect");
        return 0;
    }
    broker_main_persist_notes(pc);
    if (config_persistence_path(cfg, path, sizeof path) < 0) {
        snprintf(err, errlen, "persistence_location: path too long");
        return -1;
    }
    if (broker_main_persist_other_engine(cfg, path, err, errlen) < 0)
        return -1;
    uint64_t interval = pc->sync_interval_ms;
    if (!interval && pc->autosave_interval != UINT32_MAX && pc->autosave_interval)
        interval = (uint64_t)pc->autosave_interval * 1000u > 60000u ? 60000u : (uint64_t)pc->autosave_interval * 1000u;
    persist_options o = {.path = path, .engine = pc->engine, .max_size = pc->max_size, .relaxed = pc->relaxed,
                         .sync_interval_ms = (uint32_t)interval, .key = k->key,
                         .old_key = k->has_old ? k->old : NULL};
    return persist_open(b, &o, err, errlen);
}

int rampart_broker_main(int argc, char **argv)
{
    sec_gate *gate = NULL;
    broker_gate *bgate = NULL;
    broker_main_args args = {0};
    rampart_config cfg;
    broker_settings set;
    broker *b = NULL;
    broker_acl *acl = NULL;
    auditlog *audit = NULL;
    broker_transports *tr = NULL;
    broker_metrics *metrics = NULL;
    broker_main_keys keys;
    int has_keys = 0;
    char err[512];
    int rc = broker_main_parse(argc, argv, &args);
    if (rc)
        return rc;
    rc = 1;
    memset(&set, 0, sizeof set);
    memset(&keys, 0, sizeof keys);
    if (broker_main_config(&args, &cfg) != 0)
        goto out;
    if (broker_config_logging(&cfg, err, sizeof err) < 0) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    if (args.verbose)
        log_set_level(LOG_LEVEL_DEBUG);
    broker_main_reload reload = {.args = &args};
    audit = broker_main_audit(&cfg, err, sizeof err);
    if (!audit) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    acl = broker_acl_new(&cfg, err, sizeof err);
    if (!acl) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    broker_acl_set_audit(acl, audit);
    if (auditlog_enabled(audit))
        secevent_set_sink(auditlog_sink, audit);
    reload.caps.acl = true;
    reload.caps.password_auth = true;
    broker_transports_capabilities(&reload.caps);
    if (!(tr = broker_transports_new(&cfg, err, sizeof err))) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    reload.tls = tr;
    if (broker_settings_from_config(&cfg, &reload.caps, &set, err, sizeof err) < 0) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    err[0] = '\0';
    if ((has_keys = broker_main_keys_load(&cfg, &keys, err, sizeof err)) < 0) {
        log_error("persistence: %s", err);
        goto out;
    }
    if (broker_main_gate(&cfg, has_keys ? &keys : NULL, &gate, err, sizeof err) < 0) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    if (broker_metrics_new(&cfg, &metrics, err, sizeof err) < 0) {
        fprintf(stderr, "rampart: %s\n", err);
        goto out;
    }
    b = broker_new(&set);
    if (!b || !(bgate = broker_gate_install(b, gate)))
        goto out;
    broker_gate_set_audit(bgate, audit);
    if (broker_acl_active(acl))
        broker_acl_install(acl, b);
    broker_set_listener_hook(b, broker_transports_hook, tr);
    err[0] = '\0';
    if (broker_main_persist(&cfg, &keys, b, err, sizeof err) < 0) {
        log_error("persistence: %s", err);
        goto out;
    }
    broker_main_keys_wipe(&keys);
    reload.gate = gate;
    if (broker_transports_attach(tr, b) < 0)
        goto out;
    if (broker_listen(b) < 0)
        goto out;
    if (metrics && broker_metrics_install(metrics, b, tr) < 0)
        goto out;
    broker_add_reload_hook(b, broker_main_on_reload, &reload);
    if (broker_acl_active(acl))
        broker_add_reload_hook(b, broker_main_on_reload_acl, acl);
    if (auditlog_enabled(audit))
        broker_add_reload_hook(b, broker_main_on_reload_audit, audit);
    if (hardening_enter(&cfg, err, sizeof err) < 0) {
        log_error("sandbox: %s", err);
        goto out;
    }
    log_notice("rampart %s running", RAMPART_VERSION);
    notify_ready();
    rc = broker_run(b);
    log_notice("rampart stopped");
out:
    broker_main_keys_wipe(&keys);
    broker_settings_clear(&set);
    broker_metrics_free(metrics);
    broker_free(b);
    broker_acl_free(acl);
    secevent_set_sink(NULL, NULL);
    auditlog_free(audit);
    broker_gate_free(bgate);
    sec_gate_free(gate);
    broker_transports_free(tr);
    config_free(&cfg);
    return rc;
}
