/*
 * hardening.h - what the hardening tools (`rampart audit`, `rampart firewall`, `rampart check`'s file checks)
 * and the sandbox need to know about a deployment, flattened from the configuration: listeners with their
 * resolved security settings, the files the broker reads and writes, the account, the sandbox switches and
 * the cluster node name. Filled by hardening_load() (hardening.c, the only file here that knows the configuration
 * module). Strings are owned by the view.
 */
#ifndef RAMPART_SECURITY_HARDENING_H
#define RAMPART_SECURITY_HARDENING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "security/sandbox.h"

#define HARDENING_MAX_LISTENERS 64
#define HARDENING_MAX_SOURCES 16
#define HARDENING_MAX_FILES 64

struct hardening_listener {
    uint16_t port;
    char *bind;          /* NULL = all addresses */
    bool tls;            /* certfile/keyfile set */
    bool websockets;     /* protocol websockets */
    bool metrics;        /* an HTTP metrics/health endpoint, not MQTT */
    bool metrics_auth;   /* ... that requires credentials */
    bool allow_anonymous;
    bool require_certificate;
    bool password_auth;  /* a password file applies to this listener */
    bool ws_origin_check; /* WebSocket Origin allowlist configured */
    char *certfile, *keyfile, *cafile, *capath, *crlfile;
    char *tls_version;   /* minimum TLS version as configured ("tlsv1.2"), NULL = default (1.2) */
    char *ciphers;       /* TLS 1.2 cipher list as configured, NULL = default */
    char *sources[HARDENING_MAX_SOURCES]; /* allowed source networks for the firewall; none = anywhere */
    size_t n_sources;
};

struct hardening_view {
    char *config_path;
    struct hardening_listener listeners[HARDENING_MAX_LISTENERS];
    size_t n_listeners;
    char *user;            /* NULL = default account */
    bool landlock, seccomp;
    char *password_file, *acl_file;
    int64_t password_max_age; /* seconds, 0 = none */
    char *cluster_node_name;  /* NULL = no clustering */
    char *pid_file;
    /* Files read after start-up (configuration, certificates, keys, CRLs, password and ACL files, extra
     * paths) and paths written (persistence, logs, ban file, extra paths). */
    char *read_paths[HARDENING_MAX_FILES];
    size_t n_read_paths;
    char *write_paths[HARDENING_MAX_FILES];
    size_t n_write_paths;
};

struct rampart_config;

/* Flattens a loaded configuration into *v (free with hardening_free). Returns 0 or -1 with err set. */
int hardening_from_config(const struct rampart_config *cfg, struct hardening_view *v, char *err, size_t errlen);

/* Reads the configuration at path into *v (free with hardening_free). Returns 0, or -1 with the
 * configuration's "file:line: what is wrong" in err. */
int hardening_load(const char *path, struct hardening_view *v, char *err, size_t errlen);
void hardening_free(struct hardening_view *v);

/* Fills a sandbox policy from the view (borrowing its strings): account, switches, read and write paths,
 * every listener port. Returns 0, or -1 with err set when a table is full. */
int hardening_policy(const struct hardening_view *v, struct sandbox_policy *p, char *err, size_t errlen);

/* The broker's one call after start-up (listeners bound, keys read): writes pid_file if configured, derives
 * the sandbox policy from the configuration and enters it (security/sandbox.h). Returns 0, or -1 with err set: the broker must exit. */
int hardening_enter(const struct rampart_config *cfg, char *err, size_t errlen);

#endif
