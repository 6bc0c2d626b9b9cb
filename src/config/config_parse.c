/*
 * config_parse.c - reading mosquitto.conf files into a rampart_config.
 *
 * One table (directives[] below) describes every option Rampart knows: its value type and range, where it is
 * stored, its scope, whether SIGHUP may change it, which issue/module implements it, and whether it is
 * supported yet. The parser is a loop over lines that looks the option up in the table; there is no
 * per-option code except for the few options whose syntax is special (listener, include_dir, log_dest, ...).
 */
#include <ctype.h>
#include <dirent.h>
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/mqtt.h"
#include "config/config.h"
#include "config/config_internal.h"

#define NO_OFFSET ((size_t)-1)
#define DIRECTIVE_SLOTS 192 /* >= the number of directives (checked at compile time below) */
#define MAX_PACKET_PROTOCOL 268435460u /* 1 + 4 + 268435455 */

enum value_type {
    V_BOOL,     /* true | false into a bool */
    V_U8,       /* integer in [min, max] into the field of that width */
    V_U16,
    V_U32,
    V_I32,
    V_U64,
    V_SIZE32,   /* bytes, optional k/M/G suffix (1024-based), into uint32_t */
    V_SIZE64,   /* same into uint64_t */
    V_STRING,   /* the rest of the line, into a char * (duplicate = error) */
    V_SPECIAL,  /* parsed by the directive's handler */
    V_AUTH,     /* routed to auth_settings_set() */
    V_SANDBOX,  /* routed to sandbox_settings_set() */
    V_REFUSED,  /* recognised, never valid here (e.g. bridges): supported = false */
};

struct parse_state;
struct directive;
typedef int (*directive_fn)(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                            size_t msglen);

struct directive {
    struct config_directive_info info;
    enum value_type type;
    long long min, max;
    size_t global_offset;   /* into rampart_config, or NO_OFFSET */
    size_t listener_offset; /* into struct config_listener, or NO_OFFSET */
    directive_fn fn;        /* V_SPECIAL */
    bool repeatable;        /* may appear more than once in one scope */
};

#define G(f) offsetof(rampart_config, f)
#define L(f) offsetof(struct config_listener, f)
#define GLOBAL CONFIG_SCOPE_GLOBAL
#define LISTENER CONFIG_SCOPE_LISTENER
#define SECURITY CONFIG_SCOPE_SECURITY

/* Parser state for one config_load: the files being read, the current listener, where options were set. */
struct parse_state {
    rampart_config *cfg;
    config_errors *errs;
    const char *file; /* current file name (for messages) */
    int line;
    int depth;        /* include_dir nesting */
    long current;     /* index of the current listener in cfg->listeners, -1 = the default listener */
    struct config_listener deflt; /* mosquitto's default listener (port / bind_address / early options) */
    bool deflt_used;
    bool deflt_port_set;
    bool security_seen;       /* a security option was set (per_listener_settings must come first) */
    bool allow_anonymous_set; /* allow_anonymous appeared in the global scope */
    bool per_listener_settings_set;
    int deflt_line;           /* first line that touched the default listener */
    const char *deflt_file;
    /* where each directive was set, per scope slot: [0] global / default listener, [1 + i] listener i */
    int set_line[1 + CONFIG_MAX_LISTENERS][DIRECTIVE_SLOTS];
    const char *set_file[1 + CONFIG_MAX_LISTENERS][DIRECTIVE_SLOTS];
    char *names[64];          /* file names read so far (messages point at them) */
    size_t name_count;
};

static int h_listener(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_port(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_bind_address(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_include_dir(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_per_listener_settings(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_log_dest(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_log_type(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_socket_domain(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_password_file(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_max_inflight(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_max_packet_size(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_max_queued_messages(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_expiration(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_max_connections(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_crlfile(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_audit_dest(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_upgrade_outgoing_qos(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_firewall_allow_from(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_tls_version(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_protocol(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_ws_origin(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_ws_proxy(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_proxy_from(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_ws_timeout(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_persistence_durability(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_persistence_engine(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_metrics_listener(struct parse_state *, const struct directive *, char *, char *, size_t);
static int h_response_topic_prefix(struct parse_state *, const struct directive *, char *, char *, size_t);

#define I3 "issue 3 src/broker"
#define I4 "issue 4 src/net (TLS/WebSocket)"
#define I5 "issue 5 src/security (authentication)"
#define I6 "issue 6 src/security (ACL, audit)"
#define I8 "issue 8 src/security (hardening)"
#define I9 "issue 9 src/persist"
#define CFG "src/config"
#define NONE "not planned"

/* Shorthands: D(name, scope, reloadable, owner, supported, default, type, min, max, goff, loff, fn, rep) */
#define D(n, sc, rl, ow, su, df, ty, mi, ma, go, lo, fn, rp)                                                  \
    {{n, sc, rl, su, ow, df}, ty, mi, ma, go, lo, fn, rp}
#define REFUSE(n, sc, ow, df) D(n, sc, false, ow, false, df, V_REFUSED, 0, 0, NO_OFFSET, NO_OFFSET, NULL, true)
#define TLS_STR(n, f, df) D(n, LISTENER, true, I4, true, df, V_STRING, 0, 0, NO_OFFSET, L(tls.f), NULL, false)
#define TLS_BOOL(n, f, df) D(n, LISTENER, true, I4, true, df, V_BOOL, 0, 0, NO_OFFSET, L(tls.f), NULL, false)
#define TLS_INT(n, f, mi, ma, df) D(n, LISTENER, true, I4, true, df, V_I32, mi, ma, NO_OFFSET, L(tls.f), NULL, false)
#define SPECIAL(n, rl, df, fn, rep) D(n, LISTENER, rl, I4, true, df, V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET, fn, rep)

/* Sorted by name (checked by the unit tests; lookup is a binary search). */
static const struct directive directives[] = {
    D("acl_file", SECURITY, true, I6 " + src/broker/broker_acl.c", true, "none", V_STRING, 0, 0, G(acl_file),
      L(acl_file), NULL, false),
    D("address", GLOBAL, false, NONE, false, "-", V_REFUSED, 0, 0, NO_OFFSET, NO_OFFSET, NULL, true),
    D("addresses", GLOBAL, false, NONE, false, "-", V_REFUSED, 0, 0, NO_OFFSET, NO_OFFSET, NULL, true),
    D("allow_anonymous", SECURITY, true, I5, true, "false (true on the built-in loopback listener)", V_BOOL, 0,
      0, G(allow_anonymous), L(allow_anonymous), NULL, false),
    REFUSE("allow_duplicate_messages", GLOBAL, NONE, "-"),
    D("allow_zero_length_clientid", SECURITY, true, I3, true, "true", V_BOOL, 0, 0, G(allow_zero_length_clientid),
      L(allow_zero_length_clientid), NULL, false),
    D("audit_dest", GLOBAL, true, I6, true, "none", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET, h_audit_dest, true),
    D("audit_rate", GLOBAL, true, I6, true, "20", V_U32, 1, 100000, G(audit_rate), NO_OFFSET, NULL, false),
    REFUSE("auth_plugin", SECURITY, NONE, "-"),
    REFUSE("auth_plugin_deny_special_chars", SECURITY, NONE, "-"),
    D("auth_queue", GLOBAL, false, I5, true, "64", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("auth_workers", GLOBAL, false, I5, true, "2", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    REFUSE("auto_id_prefix", SECURITY, I3, "auto-"),
    D("autosave_interval", GLOBAL, false, I9, true, "not set (see docs/persistence.md)", V_U32, 0, 31536000,
      G(persist.autosave_interval), NO_OFFSET, NULL, false),
    D("autosave_on_changes", GLOBAL, false, I9, true, "false (see docs/persistence.md)", V_BOOL, 0, 0,
      G(persist.autosave_on_changes), NO_OFFSET, NULL, false),
    D("ban_file", GLOBAL, true, I5, true, "none", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("bind_address", LISTENER, false, I3, true, "127.0.0.1 (built-in listener)", V_SPECIAL, 0, 0, NO_OFFSET,
      NO_OFFSET, h_bind_address, false),
    D("bind_interface", LISTENER, false, I3, true, "none", V_STRING, 0, 0, NO_OFFSET, L(bind_interface), NULL,
      false),
    TLS_STR("cafile", cafile, "none"),
    TLS_STR("capath", capath, "none"),
    TLS_STR("certfile", certfile, "none (plain TCP)"),
    REFUSE("check_retain_source", GLOBAL, I6, "-"),
    TLS_STR("ciphers", ciphers, "ECDHE with AEAD only"),
    TLS_STR("ciphers_tls1.3", ciphers_tls13, "OpenSSL's TLS 1.3 suites"),
    REFUSE("cleansession", GLOBAL, NONE, "-"),
    REFUSE("clientid_prefixes", GLOBAL, NONE, "-"),
    D("cluster_node_name", GLOBAL, false, I8, true, "none", V_SANDBOX, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("connect_timeout", GLOBAL, false, I5, true, "10", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    REFUSE("connection", GLOBAL, NONE, "-"),
    D("connection_limits_loopback", GLOBAL, false, I5, true, "false", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    REFUSE("connection_messages", GLOBAL, I3, "true"),
    D("connection_rate_per_address", GLOBAL, false, I5, true, "20", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    D("connection_rate_per_listener", GLOBAL, false, I5, true, "1000", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    TLS_BOOL("crl_allow_expired", crl_allow_expired, "false"),
    SPECIAL("crlfile", true, "none", h_crlfile, true),
    REFUSE("dhparamfile", LISTENER, NONE, "-"),
    D("firewall_allow_from", LISTENER, false, I8, true, "anywhere", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET,
      h_firewall_allow_from, true),
    REFUSE("http_dir", LISTENER, NONE, "-"),
    REFUSE("idle_timeout", GLOBAL, NONE, "-"),
    D("include_dir", GLOBAL, false, CFG, true, "none", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET, h_include_dir,
      true),
    REFUSE("keepalive_interval", GLOBAL, NONE, "-"),
    TLS_STR("keyfile", keyfile, "none"),
    TLS_STR("keyfile_passphrase_credential", keyfile_passphrase_credential, "none"),
    TLS_STR("keyfile_passphrase_env", keyfile_passphrase_env, "none"),
    TLS_STR("keyfile_passphrase_file", keyfile_passphrase_file, "none"),
    D("listener", LISTENER, false, CFG, true, "127.0.0.1:1883 when no listener is defined", V_SPECIAL, 0, 0,
      NO_OFFSET, NO_OFFSET, h_listener, true),
    REFUSE("local_cleansession", GLOBAL, NONE, "-"),
    REFUSE("local_clientid", GLOBAL, NONE, "-"),
    REFUSE("local_password", GLOBAL, NONE, "-"),
    REFUSE("local_username", GLOBAL, NONE, "-"),
    D("log_dest", GLOBAL, true, I3, true, "stderr", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET, h_log_dest, true),
    REFUSE("log_facility", GLOBAL, I3, "-"),
    REFUSE("log_timestamp", GLOBAL, I3, "true"),
    REFUSE("log_timestamp_format", GLOBAL, I3, "ISO 8601"),
    D("log_type", GLOBAL, true, I3, true, "error warning notice information", V_SPECIAL, 0, 0, NO_OFFSET,
      NO_OFFSET, h_log_type, true),
    D("login_backoff_address", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_backoff_base_ms", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_backoff_max_ms", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_backoff_network", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_backoff_username", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_lockout_address", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_lockout_network", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_lockout_time", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET,
      NULL, false),
    D("login_lockout_username", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET,
      NO_OFFSET, NULL, false),
    D("login_trusted_days", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET,
      NULL, false),
    D("login_window", GLOBAL, true, I5, true, "see docs/security.md", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    D("max_connections", LISTENER, false, I3, true, "-1 (no per-listener limit)", V_SPECIAL, -1, INT32_MAX,
      NO_OFFSET, L(max_connections), h_max_connections, false),
    D("max_connections_global", GLOBAL, true, I3, true, "0 (auto: the open-file limit minus 64)", V_U32, 0,
      10000000, G(max_connections_global), NO_OFFSET, NULL, false),
    D("max_connections_per_address", GLOBAL, false, I5, true, "256", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    REFUSE("max_inflight_bytes", GLOBAL, I3, "-"),
    D("max_inflight_messages", GLOBAL, true, I3, true, "20", V_SPECIAL, 0, 65535, G(max_inflight_messages),
      NO_OFFSET, h_max_inflight, false),
    D("max_keepalive", GLOBAL, true, I3, true, "65535", V_U16, 10, 65535, G(max_keepalive), NO_OFFSET, NULL,
      false),
    D("max_packet_size", GLOBAL, true, I3, true, "16M", V_SPECIAL, 0, MAX_PACKET_PROTOCOL, G(max_packet_size),
      NO_OFFSET, h_max_packet_size, false),
    D("max_packet_size_unauthenticated", GLOBAL, true, I3, true, "64k", V_SIZE32, 64, MAX_PACKET_PROTOCOL,
      G(max_packet_size_unauthenticated), NO_OFFSET, NULL, false),
    D("max_qos", LISTENER, true, I3, true, "2", V_U8, 0, 2, NO_OFFSET, L(max_qos), NULL, false),
    D("max_queued_bytes", GLOBAL, true, I3, true, "8M", V_SIZE64, 0, (long long)1 << 40, G(max_queued_bytes),
      NO_OFFSET, NULL, false),
    D("max_queued_messages", GLOBAL, true, I3, true, "1000", V_SPECIAL, 1, 1000000000, G(max_queued_messages),
      NO_OFFSET, h_max_queued_messages, false),
    D("max_sessions", GLOBAL, true, I3, true, "100000", V_U32, 1, 100000000, G(max_sessions), NO_OFFSET, NULL,
      false),
    D("max_subscriptions_per_client", GLOBAL, true, I3, true, "1000", V_U32, 1, 10000000,
      G(max_subscriptions_per_client), NO_OFFSET, NULL, false),
    D("max_topic_alias", LISTENER, false, I3, true, "10", V_U16, 0, 65535, NO_OFFSET, L(max_topic_alias), NULL,
      false),
    D("max_topic_levels", GLOBAL, true, I3, true, "32", V_U32, 1, 65535, G(max_topic_levels), NO_OFFSET, NULL,
      false),
    D("max_unauthenticated", GLOBAL, false, I5, true, "1024", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("max_unauthenticated_per_address", GLOBAL, false, I5, true, "32", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    D("memory_limit", GLOBAL, true, I3, true, "1G", V_SIZE64, 0, (long long)1 << 50, G(memory_limit), NO_OFFSET,
      NULL, false),
    D("message_size_limit", GLOBAL, true, I3, true, "0 (max_packet_size applies)", V_SIZE32, 0, 268435455,
      G(message_size_limit), NO_OFFSET, NULL, false),
    D("metrics_certfile", GLOBAL, false, I6 " metrics", true, "none (plain HTTP)", V_STRING, 0, 0,
      G(metrics_certfile), NO_OFFSET, NULL, false),
    D("metrics_keyfile", GLOBAL, false, I6 " metrics", true, "none", V_STRING, 0, 0, G(metrics_keyfile), NO_OFFSET,
      NULL, false),
    D("metrics_listener", GLOBAL, false, I6 " metrics", true, "none (no metrics endpoint)", V_SPECIAL, 0, 0,
      NO_OFFSET, NO_OFFSET, h_metrics_listener, false),
    D("metrics_password_file", GLOBAL, false, I6 " metrics", true, "none (no authentication)", V_STRING, 0, 0,
      G(metrics_password_file), NO_OFFSET, NULL, false),
    D("mount_point", LISTENER, false, I3, true, "none", V_STRING, 0, 0, NO_OFFSET, L(mount_point), NULL, false),
    REFUSE("notification_topic", GLOBAL, NONE, "-"),
    REFUSE("notifications", GLOBAL, NONE, "-"),
    REFUSE("notifications_local_only", GLOBAL, NONE, "-"),
    TLS_BOOL("ocsp_allow_unreachable", ocsp_allow_unreachable, "false"),
    TLS_INT("ocsp_cache_time", ocsp_cache_seconds, 1, 86400, "300"),
    TLS_BOOL("ocsp_check_clients", ocsp_check_clients, "false"),
    TLS_STR("ocsp_responder", ocsp_responder, "the certificate's AIA URL"),
    TLS_STR("ocsp_response_file", ocsp_response_file, "none"),
    TLS_INT("ocsp_timeout", ocsp_timeout_seconds, 1, 60, "3"),
    D("password_expiry_warning", GLOBAL, true, I5, true, "14", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("password_file", SECURITY, true, I5, true, "none", V_SPECIAL, 0, 0, NO_OFFSET, L(password_file),
      h_password_file, false),
    D("password_max_age", GLOBAL, true, I5, true, "0 (none)", V_AUTH, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("per_listener_settings", GLOBAL, false, CFG, true, "false", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET,
      h_per_listener_settings, false),
    D("persistence", GLOBAL, false, I9, true, "false", V_BOOL, 0, 0, G(persist.enabled), NO_OFFSET, NULL, false),
    D("persistence_durability", GLOBAL, false, I9, true, "sync", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET,
      h_persistence_durability, false),
    D("persistence_engine", GLOBAL, false, I9, true, "lmdb", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET,
      h_persistence_engine, false),
    D("persistence_file", GLOBAL, false, I9, true, "rampart.db (lmdb), rampart.sqlite (sqlite)", V_STRING, 0, 0, G(persist.file), NO_OFFSET, NULL, false),
    D("persistence_key_credential", GLOBAL, true, I9, true, "none", V_STRING, 0, 0, G(persist.key_credential), NO_OFFSET, NULL, false),
    D("persistence_key_env", GLOBAL, false, I9, true, "none", V_STRING, 0, 0, G(persist.key_env), NO_OFFSET, NULL, false),
    D("persistence_key_file", GLOBAL, true, I9, true, "none", V_STRING, 0, 0, G(persist.key_file), NO_OFFSET, NULL, false),
    D("persistence_key_old_credential", GLOBAL, false, I9, true, "none", V_STRING, 0, 0, G(persist.key_old_credential), NO_OFFSET, NULL, false),
    D("persistence_key_old_env", GLOBAL, false, I9, true, "none", V_STRING, 0, 0, G(persist.key_old_env), NO_OFFSET, NULL, false),
    D("persistence_key_old_file", GLOBAL, false, I9, true, "none", V_STRING, 0, 0, G(persist.key_old_file), NO_OFFSET, NULL, false),
    D("persistence_location", GLOBAL, false, I9, true, "the current directory", V_STRING, 0, 0, G(persist.location), NO_OFFSET, NULL, false),
    D("persistence_max_size", GLOBAL, false, I9, true, "1G", V_SIZE64, 1 << 20, (long long)1 << 40,
      G(persist.max_size), NO_OFFSET, NULL, false),
    D("persistence_sync_interval", GLOBAL, false, I9, true, "1000 (relaxed mode only)", V_U32, 1, 60000,
      G(persist.sync_interval_ms), NO_OFFSET, NULL, false),
    D("persistent_client_expiration", GLOBAL, true, I3, true, "never", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET,
      h_expiration, false),
    D("pid_file", GLOBAL, false, I3, true, "none", V_STRING, 0, 0, G(pid_file), NO_OFFSET, NULL, false),
    REFUSE("plugin", SECURITY, NONE, "-"),
    REFUSE("plugin_opt_", SECURITY, NONE, "-"),
    D("port", LISTENER, false, I3, true, "1883", V_SPECIAL, 1, 65535, NO_OFFSET, NO_OFFSET, h_port, false),
    SPECIAL("protocol", false, "mqtt", h_protocol, false),
        SPECIAL("proxy_protocol_from", false, "none (PROXY protocol off)", h_proxy_from, true),
    REFUSE("psk_file", SECURITY, NONE, "-"),
    REFUSE("psk_hint", LISTENER, NONE, "-"),
    D("queue_qos0_messages", GLOBAL, true, I3, true, "false", V_BOOL, 0, 0, G(queue_qos0_messages), NO_OFFSET,
      NULL, false),
    REFUSE("remote_clientid", GLOBAL, NONE, "-"),
    REFUSE("remote_password", GLOBAL, NONE, "-"),
    REFUSE("remote_username", GLOBAL, NONE, "-"),
    TLS_BOOL("require_certificate", require_certificate, "false"),
    D("response_topic_prefix", GLOBAL, true, I3, true, "none (no Response Information)", V_SPECIAL, 1, 1024,
      G(response_topic_prefix), NO_OFFSET, h_response_topic_prefix, false),
    REFUSE("restart_timeout", GLOBAL, NONE, "-"),
    D("retain_available", GLOBAL, true, I3, true, "true", V_BOOL, 0, 0, G(retain_available), NO_OFFSET, NULL,
      false),
    REFUSE("round_robin", GLOBAL, NONE, "-"),
    D("sandbox_allow_read", GLOBAL, false, I8, true, "none", V_SANDBOX, 0, 0, NO_OFFSET, NO_OFFSET, NULL, true),
    D("sandbox_allow_write", GLOBAL, false, I8, true, "none", V_SANDBOX, 0, 0, NO_OFFSET, NO_OFFSET, NULL, true),
    D("sandbox_landlock", GLOBAL, false, I8, true, "true", V_SANDBOX, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("sandbox_seccomp", GLOBAL, false, I8, true, "true", V_SANDBOX, 0, 0, NO_OFFSET, NO_OFFSET, NULL, false),
    D("set_tcp_nodelay", GLOBAL, false, I3, true, "true", V_BOOL, 0, 0, G(set_tcp_nodelay), NO_OFFSET, NULL,
      false),
    D("socket_domain", LISTENER, false, I3, true, "both", V_SPECIAL, 0, 0, NO_OFFSET, NO_OFFSET, h_socket_domain,
      false),
    REFUSE("start_type", GLOBAL, NONE, "-"),
    D("sys_interval", GLOBAL, true, I3, true, "10", V_U32, 0, 86400, G(sys_interval), NO_OFFSET, NULL, false),
    REFUSE("threshold", GLOBAL, NONE, "-"),
    REFUSE("tls_engine", LISTENER, NONE, "-"),
    REFUSE("tls_engine_kpass_sha1", LISTENER, NONE, "-"),
    REFUSE("tls_keyform", LISTENER, NONE, "-"),
    TLS_INT("tls_ticket_key_lifetime", ticket_key_lifetime, 60, 7 * 86400, "3600"),
    TLS_BOOL("tls_two_factor", two_factor, "false"),
    TLS_INT("tls_verify_depth", verify_depth, 1, 16, "4"),
    SPECIAL("tls_version", true, "tlsv1.2 (1.2 and 1.3)", h_tls_version, false),
    REFUSE("topic", GLOBAL, NONE, "-"),
    REFUSE("try_private", GLOBAL, NONE, "-"),
    D("upgrade_outgoing_qos", GLOBAL, true, I3, true, "false", V_SPECIAL, 0, 0, G(upgrade_outgoing_qos),
      NO_OFFSET, h_upgrade_outgoing_qos, false),
    TLS_BOOL("use_identity_as_username", use_identity_as_username, "false"),
    TLS_BOOL("use_subject_as_username", use_subject_as_username, "false"),
    D("use_username_as_clientid", LISTENER, false, I3, true, "false", V_BOOL, 0, 0, NO_OFFSET,
      L(use_username_as_clientid), NULL, false),
    D("user", GLOBAL, false, I8, true, "rampart, else nobody", V_SANDBOX, 0, 0, NO_OFFSET, NO_OFFSET, NULL,
      false),
    D("websocket_handshake_timeout", LISTENER, false, I4, true, "10", V_SPECIAL, 1, 300, NO_OFFSET, NO_OFFSET,
      h_ws_timeout, false),
    D("websocket_max_frame_size", LISTENER, false, I4, true, "16M", V_SIZE64, 126, 268435460, NO_OFFSET,
      L(ws.max_frame), NULL, false),
    D("websocket_max_message_size", LISTENER, false, I4, true, "0 (the MQTT packet limit)", V_SIZE64, 0,
      (long long)1 << 40, NO_OFFSET, L(ws.max_message), NULL, false),
    SPECIAL("websocket_origin", false, "any", h_ws_origin, true),
    D("websocket_path", LISTENER, false, I4, true, "/mqtt", V_STRING, 0, 0, NO_OFFSET, L(ws.path), NULL,
      false),
    SPECIAL("websocket_trusted_proxy", false, "none", h_ws_proxy, true),
    REFUSE("websockets_headers_size", LISTENER, I4, "8192"),
    REFUSE("websockets_log_level", GLOBAL, NONE, "-"),
};

#define DIRECTIVE_COUNT (sizeof(directives) / sizeof(directives[0]))
_Static_assert(DIRECTIVE_COUNT <= DIRECTIVE_SLOTS, "raise DIRECTIVE_SLOTS");

/* ---- table access -------------------------------------------------------------------------------- */

static const struct directive *directive_lookup(const char *name)
{
    size_t lo = 0, hi = DIRECTIVE_COUNT;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, directives[mid].info.name);
        if (c == 0)
            return &directives[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    /* mosquitto's families of options: auth_opt_*, plugin_opt_*, bridge_* */
    if (!strncmp(name, "plugin_opt_", 11) || !strncmp(name, "auth_opt_", 9))
        return directive_lookup("plugin_opt_");
    if (!strncmp(name, "bridge_", 7))
        return directive_lookup("connection");
    return NULL;
}

size_t config_directive_count(void)
{
    return DIRECTIVE_COUNT;
}

const struct config_directive_info *config_directive_at(size_t i)
{
    return i < DIRECTIVE_COUNT ? &directives[i].info : NULL;
}

const struct config_directive_info *config_directive_find(const char *name)
{
    const struct directive *d = directive_lookup(name);
    return d ? &d->info : NULL;
}

/* ---- errors -------------------------------------------------------------------------------------- */

/* Appends "file:line: message" (line 0: "file: message") to the error list. */
static void parse_error(struct parse_state *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void parse_error(struct parse_state *ps, const char *fmt, ...)
{
    char body[600], full[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    if (ps->line > 0)
        snprintf(full, sizeof(full), "%s:%d: %s", ps->file, ps->line, body);
    else
        snprintf(full, sizeof(full), "%s: %s", ps->file, body);
    config_errors *e = ps->errs;
    if (e->count >= CONFIG_MAX_ERRORS) {
        e->dropped++;
        return;
    }
    e->messages[e->count] = strdup(full);
    if (e->messages[e->count])
        e->count++;
    else
        e->dropped++;
}

/* ---- value parsing --------------------------------------------------------------------------------- */

/* Parses a decimal integer (optionally negative) filling the whole string. Returns 0 or -1. */
static int parse_integer(const char *s, long long *out)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* Parses bytes with an optional k, M or G suffix (1024-based; also kB/MB/GB). Returns 0 or -1. */
static int parse_size(const char *s, long long *out)
{
    char num[32];
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9')
        n++;
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    long long v;
    if (parse_integer(num, &v) < 0)
        return -1;
    const char *suf = s + n;
    int shift = 0;
    if (!*suf)
        shift = 0;
    else if (!strcmp(suf, "k") || !strcmp(suf, "K") || !strcmp(suf, "kB") || !strcmp(suf, "KB"))
        shift = 10;
    else if (!strcmp(suf, "M") || !strcmp(suf, "MB"))
        shift = 20;
    else if (!strcmp(suf, "G") || !strcmp(suf, "GB"))
        shift = 30;
    else
        return -1;
    if (v > (LLONG_MAX >> shift))
        return -1;
    *out = v << shift;
    return 0;
}

static int parse_bool_value(const char *s, bool *out)
{
    if (!strcmp(s, "true")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "false")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* ---- where values go ------------------------------------------------------------------------------- */

/* The listener options apply to: the current listener, or mosquitto's default listener before any. */
static struct config_listener *parse_current_listener(struct parse_state *ps)
{
    if (ps->current < 0) {
        if (!ps->deflt_used) {
            ps->deflt_used = true;
            ps->deflt_line = ps->line;
            ps->deflt_file = ps->file;
        }
        return &ps->deflt;
    }
    return &ps->cfg->listeners[ps->current];
}

/* True when a SECURITY-scope option goes to the current listener rather than the globals. */
static bool parse_security_per_listener(const struct parse_state *ps)
{
    return ps->cfg->per_listener_settings;
}

/* The struct a directive's value is stored in, or NULL (then the handler decides). */
static void *parse_target(struct parse_state *ps, const struct directive *d, size_t *offset)
{
    bool listener = d->info.scope == CONFIG_SCOPE_LISTENER ||
                    (d->info.scope == CONFIG_SCOPE_SECURITY && parse_security_per_listener(ps));
    if (listener && d->listener_offset != NO_OFFSET) {
        *offset = d->listener_offset;
        return parse_current_listener(ps);
    }
    if (!listener && d->global_offset != NO_OFFSET) {
        *offset = d->global_offset;
        return ps->cfg;
    }
    return NULL;
}

/* The scope slot used for duplicate detection: 0 = global / default listener, 1 + i = listener i. */
static size_t parse_scope_slot(const struct parse_state *ps, const struct directive *d)
{
    bool listener = d->info.scope == CONFIG_SCOPE_LISTENER ||
                    (d->info.scope == CONFIG_SCOPE_SECURITY && parse_security_per_listener(ps));
    return listener && ps->current >= 0 ? 1 + (size_t)ps->current : 0;
}

/* Stores a parsed integer into the field of d's type. The range was checked by the caller. */
static void parse_store_integer(void *base, size_t offset, enum value_type type, long long v)
{
    char *p = (char *)base + offset;
    switch (type) {
    case V_U8: *(uint8_t *)p = (uint8_t)v; break;
    case V_U16: *(uint16_t *)p = (uint16_t)v; break;
    case V_U32:
    case V_SIZE32: *(uint32_t *)p = (uint32_t)v; break;
    case V_I32: *(int32_t *)p = (int32_t)v; break;
    case V_U64:
    case V_SIZE64: *(uint64_t *)p = (uint64_t)v; break;
    default: break;
    }
}

/* Parses value per d's generic type and stores it. Returns 0 or -1 with msg. */
static int parse_generic(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    size_t offset = 0;
    void *base = parse_target(ps, d, &offset);
    if (!base) {
        snprintf(msg, len, "cannot be used here");
        return -1;
    }
    if (d->type == V_BOOL) {
        if (parse_bool_value(value, (bool *)((char *)base + offset)) < 0) {
            snprintf(msg, len, "'%s' is not a boolean: use true or false", value);
            return -1;
        }
        return 0;
    }
    if (d->type == V_STRING) {
        char **field = (char **)((char *)base + offset);
        free(*field);
        *field = strdup(value);
        if (!*field) {
            snprintf(msg, len, "out of memory");
            return -1;
        }
        return 0;
    }
    long long v;
    bool size = d->type == V_SIZE32 || d->type == V_SIZE64;
    if ((size ? parse_size(value, &v) : parse_integer(value, &v)) < 0) {
        snprintf(msg, len, "'%s' is not %s", value, size ? "a size (bytes, optionally with k, M or G)" : "an integer");
        return -1;
    }
    if (v < d->min || v > d->max) {
        snprintf(msg, len, "%lld is out of range %lld..%lld", v, d->min, d->max);
        return -1;
    }
    parse_store_integer(base, offset, d->type, v);
    return 0;
}

/* ---- special handlers ------------------------------------------------------------------------------- */

/* Splits the next blank-separated word off *s (modifies the string). NULL when none is left. */
static char *parse_word(char **s)
{
    char *p = *s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return NULL;
    char *w = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    if (*p)
        *p++ = '\0';
    *s = p;
    return w;
}

/* Parses a port 1..65535. Returns it, or -1 with msg. */
static long parse_port(const char *s, char *msg, size_t len)
{
    long long v;
    if (parse_integer(s, &v) < 0 || v < 0 || v > 65535) {
        snprintf(msg, len, "'%s' is not a port number (1..65535)", s);
        return -1;
    }
    if (v == 0) {
        snprintf(msg, len, "port 0 (unix sockets) is not supported by Rampart");
        return -1;
    }
    return (long)v;
}

static int parse_set_string(char **field, const char *value, char *msg, size_t len)
{
    char *copy = strdup(value);
    if (!copy) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    free(*field);
    *field = copy;
    return 0;
}

static int h_listener(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    char *rest = value;
    char *port_s = parse_word(&rest), *addr = parse_word(&rest), *extra = parse_word(&rest);
    if (!port_s || extra) {
        snprintf(msg, len, "expected `listener PORT [ADDRESS]`");
        return -1;
    }
    long port = parse_port(port_s, msg, len);
    if (port < 0)
        return -1;
    rampart_config *cfg = ps->cfg;
    struct config_listener *l = config_add_listener(cfg, (uint16_t)port);
    if (!l) {
        snprintf(msg, len, "too many listeners (at most %d)", CONFIG_MAX_LISTENERS);
        return -1;
    }
    ps->current = (long)cfg->listener_count - 1;
    cfg->listeners_from_file = true;
    if (parse_set_string(&l->file, ps->file, msg, len) < 0)
        return -1;
    l->line = ps->line;
    if (addr && parse_set_string(&l->bind_address, addr, msg, len) < 0)
        return -1;
    return 0;
}

static int h_port(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    long port = parse_port(value, msg, len);
    if (port < 0)
        return -1;
    if (ps->current >= 0) {
        snprintf(msg, len, "`port` sets mosquitto's default listener and must come before the first `listener` "
                           "line; use `listener %ld` instead", port);
        return -1;
    }
    parse_current_listener(ps)->port = (uint16_t)port;
    ps->deflt_port_set = true;
    return 0;
}

static int h_bind_address(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    if (ps->current >= 0) {
        snprintf(msg, len, "`bind_address` sets mosquitto's default listener and must come before the first "
                           "`listener` line; give the address on the listener line instead");
        return -1;
    }
    return parse_set_string(&parse_current_listener(ps)->bind_address, value, msg, len);
}

static int h_per_listener_settings(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                   size_t len)
{
    bool v;
    if (parse_bool_value(value, &v) < 0) {
        snprintf(msg, len, "'%s' is not a boolean: use true or false", value);
        return -1;
    }
    if (ps->security_seen && v != ps->cfg->per_listener_settings) {
        snprintf(msg, len, "must come before any authentication or access control option (password_file, "
                           "acl_file, allow_anonymous, allow_zero_length_clientid)");
        return -1;
    }
    ps->cfg->per_listener_settings = v;
    return 0;
}

static int h_log_dest(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    rampart_config *cfg = ps->cfg;
    char *rest = value;
    char *kind = parse_word(&rest);
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (!strcmp(kind, "file")) {
        if (!*rest) {
            snprintf(msg, len, "`log_dest file` needs a path");
            return -1;
        }
        if (cfg->log_file && strcmp(cfg->log_file, rest)) {
            snprintf(msg, len, "only one `log_dest file` is supported");
            return -1;
        }
        cfg->log_dest |= CONFIG_LOG_DEST_FILE;
        return parse_set_string(&cfg->log_file, rest, msg, len);
    }
    if (*rest) {
        snprintf(msg, len, "unexpected '%s' after '%s'", rest, kind);
        return -1;
    }
    if (!strcmp(kind, "stderr"))
        cfg->log_dest |= CONFIG_LOG_DEST_STDERR;
    else if (!strcmp(kind, "syslog"))
        cfg->log_dest |= CONFIG_LOG_DEST_SYSLOG;
    else if (!strcmp(kind, "none"))
        cfg->log_dest = 0;
    else if (!strcmp(kind, "stdout") || !strcmp(kind, "topic") || !strcmp(kind, "dlt")) {
        snprintf(msg, len, "`log_dest %s` is not supported by Rampart (use stderr, syslog or file)", kind);
        return -1;
    } else {
        snprintf(msg, len, "unknown destination '%s' (stderr, syslog, file PATH, none)", kind);
        return -1;
    }
    return 0;
}

static int h_log_type(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } types[] = {
        {"debug", CONFIG_LOG_TYPE_DEBUG},         {"error", CONFIG_LOG_TYPE_ERROR},
        {"warning", CONFIG_LOG_TYPE_WARNING},     {"notice", CONFIG_LOG_TYPE_NOTICE},
        {"information", CONFIG_LOG_TYPE_INFORMATION}, {"subscribe", CONFIG_LOG_TYPE_SUBSCRIBE},
        {"unsubscribe", CONFIG_LOG_TYPE_UNSUBSCRIBE}, {"websockets", CONFIG_LOG_TYPE_WEBSOCKETS},
        {"all", CONFIG_LOG_TYPE_ALL},
    };
    /* mosquitto: the first log_type replaces the default set, later ones add to it */
    if (!ps->cfg->log_type_set) {
        ps->cfg->log_type = 0;
        ps->cfg->log_type_set = true;
    }
    if (!strcmp(value, "none")) {
        ps->cfg->log_type = 0;
        return 0;
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (!strcmp(value, types[i].name)) {
            ps->cfg->log_type |= types[i].bits;
            return 0;
        }
    }
    snprintf(msg, len, "unknown log type '%s' (debug, error, warning, notice, information, subscribe, "
                       "unsubscribe, websockets, all, none)", value);
    return -1;
}


static int h_socket_domain(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    if (!strcmp(value, "ipv4"))
        l->socket_domain = CONFIG_DOMAIN_IPV4;
    else if (!strcmp(value, "ipv6"))
        l->socket_domain = CONFIG_DOMAIN_IPV6;
    else {
        snprintf(msg, len, "'%s' is not a socket domain: use ipv4 or ipv6", value);
        return -1;
    }
    return 0;
}

static int h_password_file(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    if (parse_security_per_listener(ps))
        return parse_set_string(&parse_current_listener(ps)->password_file, value, msg, len);
    int rc = auth_settings_set(&ps->cfg->auth, "password_file", value, msg, len);
    return rc == 1 ? 0 : -1;
}

static int h_max_inflight(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    long long v;
    if (parse_integer(value, &v) < 0 || v < 0 || v > 65535) {
        snprintf(msg, len, "'%s' is not a count 0..65535", value);
        return -1;
    }
    ps->cfg->max_inflight_messages = v == 0 ? 65535 : (uint16_t)v; /* mosquitto's 0: no limit */
    return 0;
}

static int h_max_packet_size(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                             size_t len)
{
    long long v;
    if (parse_size(value, &v) < 0) {
        snprintf(msg, len, "'%s' is not a size (bytes, optionally with k, M or G)", value);
        return -1;
    }
    if (v != 0 && (v < 20 || v > MAX_PACKET_PROTOCOL)) {
        snprintf(msg, len, "%lld is out of range 20..%u (or 0 for the protocol maximum)", v, MAX_PACKET_PROTOCOL);
        return -1;
    }
    ps->cfg->max_packet_size = v == 0 ? MAX_PACKET_PROTOCOL : (uint32_t)v;
    return 0;
}

static int h_max_queued_messages(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                 size_t len)
{
    long long v;
    if (parse_integer(value, &v) < 0 || v < 0 || v > d->max) {
        snprintf(msg, len, "'%s' is not a count 1..%lld", value, d->max);
        return -1;
    }
    if (v == 0) {
        snprintf(msg, len, "0 (unlimited) is not allowed: Rampart bounds every queue; give a number");
        return -1;
    }
    ps->cfg->max_queued_messages = (uint32_t)v;
    return 0;
}

static int h_expiration(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    size_t n = strlen(value);
    static const struct {
        char unit;
        int64_t seconds;
    } units[] = {{'h', 3600}, {'d', 86400}, {'w', 7 * 86400}, {'m', 30 * 86400}, {'y', 365 * 86400}};
    if (n >= 2 && n < 12) {
        char num[16];
        memcpy(num, value, n - 1);
        num[n - 1] = '\0';
        long long v;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (value[n - 1] == units[i].unit && num[0] != '-' && parse_integer(num, &v) == 0 && v > 0 &&
                v <= 100000) {
                ps->cfg->persistent_client_expiration = (int64_t)v * units[i].seconds;
                return 0;
            }
        }
    }
    snprintf(msg, len, "'%s' is not a duration: a positive number followed by h, d, w, m or y (e.g. 14d)", value);
    return -1;
}








static int h_max_connections(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                             size_t len)
{
    long long v;
    if (parse_integer(value, &v) < 0 || v < -1 || v > INT32_MAX || v == 0) {
        snprintf(msg, len, "'%s' is not a count: a positive number, or -1 for no per-listener limit", value);
        return -1;
    }
    parse_current_listener(ps)->max_connections = (int32_t)v;
    return 0;
}

static int h_protocol(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    if (!strcmp(value, "mqtt"))
        l->protocol = CONFIG_PROTOCOL_MQTT;
    else if (!strcmp(value, "websockets"))
        l->protocol = CONFIG_PROTOCOL_WEBSOCKETS;
    else {
        snprintf(msg, len, "'%s' is not a protocol: use mqtt or websockets", value);
        return -1;
    }
    return 0;
}

static int h_crlfile(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    if (l->tls.crlfile_count >= TLS_MAX_CRL_FILES) {
        snprintf(msg, len, "too many crlfile lines on this listener (at most %d)", TLS_MAX_CRL_FILES);
        return -1;
    }
    char *copy = strdup(value);
    if (!copy) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    l->tls.crlfiles[l->tls.crlfile_count++] = copy;
    return 0;
}

/* firewall_allow_from ADDR[/BITS]: an IPv4 or IPv6 network, appended to the current listener's list. */
static int h_firewall_allow_from(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                 size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    char host[INET6_ADDRSTRLEN];
    unsigned char addr[16];
    const char *slash = strchr(value, '/');
    size_t hlen = slash ? (size_t)(slash - value) : strlen(value);
    long long bits = -1;
    int family = 0;

    if (hlen < sizeof host) {
        memcpy(host, value, hlen);
        host[hlen] = '\0';
        family = inet_pton(AF_INET, host, addr) == 1 ? 4 : inet_pton(AF_INET6, host, addr) == 1 ? 6 : 0;
    }
    if (!family || (slash && (parse_integer(slash + 1, &bits) < 0 || bits < 0 || bits > (family == 4 ? 32 : 128)))) {
        snprintf(msg, len, "'%s' is not a network: ADDRESS or ADDRESS/BITS (IPv4 or IPv6)", value);
        return -1;
    }
    if (l->firewall_allow_from_count >= CONFIG_MAX_FIREWALL_SOURCES) {
        snprintf(msg, len, "too many firewall_allow_from lines on this listener (at most %d)",
                 CONFIG_MAX_FIREWALL_SOURCES);
        return -1;
    }
    l->firewall_allow_from[l->firewall_allow_from_count] = strdup(value);
    if (!l->firewall_allow_from[l->firewall_allow_from_count]) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    l->firewall_allow_from_count++;
    return 0;
}

static int h_tls_version(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    if (strcmp(value, "tlsv1.2") && strcmp(value, "tlsv1.3")) {
        snprintf(msg, len, "'%s' is not allowed: use tlsv1.2 (TLS 1.2 and 1.3) or tlsv1.3 (1.3 only)", value);
        return -1;
    }
    struct config_listener *l = parse_current_listener(ps);
    return parse_set_string((char **)&l->tls.tls_version, value, msg, len);
}

static int h_ws_origin(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    if (l->ws.origin_count >= CONFIG_MAX_ORIGINS) {
        snprintf(msg, len, "too many websocket_origin lines on this listener (at most %d)", CONFIG_MAX_ORIGINS);
        return -1;
    }
    if (!l->ws.origins && !(l->ws.origins = calloc(CONFIG_MAX_ORIGINS, sizeof(char *)))) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    char *copy = strdup(value);
    if (!copy) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    ((char **)l->ws.origins)[l->ws.origin_count++] = copy;
    return 0;
}

/* Parses ADDR[/BITS] into a ws_cidr. Returns 0 or -1 with msg. */
static int parse_cidr(const char *value, ws_cidr *out, char *msg, size_t len)
{
    if (sec_cidr_parse(value, &out->base, &out->bits) != 0) {
        snprintf(msg, len, "'%s' is not an address or network (ADDR or ADDR/BITS)", value);
        return -1;
    }
    return 0;
}

static int h_ws_proxy(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    if (l->ws.trusted_proxy_count >= CONFIG_MAX_PROXIES) {
        snprintf(msg, len, "too many websocket_trusted_proxy lines on this listener (at most %d)",
                 CONFIG_MAX_PROXIES);
        return -1;
    }
    if (!l->ws.trusted_proxies && !(l->ws.trusted_proxies = calloc(CONFIG_MAX_PROXIES, sizeof(ws_cidr)))) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    if (parse_cidr(value, (ws_cidr *)&l->ws.trusted_proxies[l->ws.trusted_proxy_count], msg, len) < 0)
        return -1;
    l->ws.trusted_proxy_count++;
    return 0;
}

static int h_proxy_from(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    struct config_listener *l = parse_current_listener(ps);
    if (l->proxy_protocol_from_count >= CONFIG_MAX_PROXIES) {
        snprintf(msg, len, "too many proxy_protocol_from lines on this listener (at most %d)", CONFIG_MAX_PROXIES);
        return -1;
    }
    if (parse_cidr(value, &l->proxy_protocol_from[l->proxy_protocol_from_count], msg, len) < 0)
        return -1;
    l->proxy_protocol_from_count++;
    return 0;
}

static int h_ws_timeout(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    long long v;
    if (parse_integer(value, &v) < 0 || v < d->min || v > d->max) {
        snprintf(msg, len, "'%s' is not a number of seconds %lld..%lld", value, d->min, d->max);
        return -1;
    }
    parse_current_listener(ps)->ws.handshake_timeout_ms = (int)(v * 1000);
    return 0;
}

/* response_topic_prefix TOPIC: a topic prefix (UTF-8, no wildcard, 1..1024 bytes) for Response Information. */
static int h_response_topic_prefix(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                   size_t len)
{
    size_t n = strlen(value);
    if (n < (size_t)d->min || n > (size_t)d->max || strpbrk(value, "+#") ||
        !mqtt_utf8_valid((const uint8_t *)value, n)) {
        snprintf(msg, len, "'%s' is not a topic prefix of 1..1024 bytes without '+' or '#'", value);
        return -1;
    }
    char *copy = strdup(value);
    if (!copy) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    free(ps->cfg->response_topic_prefix);
    ps->cfg->response_topic_prefix = copy;
    return 0;
}

static int h_audit_dest(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    rampart_config *cfg = ps->cfg;
    char *rest = value;
    char *kind = parse_word(&rest);
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (!strcmp(kind, "file")) {
        if (!*rest || rest[0] != '/') {
            snprintf(msg, len, "`audit_dest file` needs an absolute path");
            return -1;
        }
        if (cfg->audit_file_count >= CONFIG_MAX_AUDIT_FILES) {
            snprintf(msg, len, "at most %d audit files", CONFIG_MAX_AUDIT_FILES);
            return -1;
        }
        char *copy = strdup(rest);
        if (!copy) {
            snprintf(msg, len, "out of memory");
            return -1;
        }
        cfg->audit_files[cfg->audit_file_count++] = copy;
        return 0;
    }
    if (*rest) {
        snprintf(msg, len, "unexpected '%s' after '%s'", rest, kind);
        return -1;
    }
    if (!strcmp(kind, "syslog"))
        cfg->audit_syslog = true;
    else if (!strcmp(kind, "stdout"))
        cfg->audit_stdout = true;
    else {
        snprintf(msg, len, "unknown destination '%s' (file PATH, syslog, stdout)", kind);
        return -1;
    }
    return 0;
}

/* metrics_listener PORT [ADDRESS]: the Prometheus endpoint (docs/metrics.md); loopback when no address. */
static int h_metrics_listener(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                              size_t len)
{
    rampart_config *cfg = ps->cfg;
    char *rest = value;
    char *port_s = parse_word(&rest), *addr = parse_word(&rest), *extra = parse_word(&rest);
    (void)d;
    if (!port_s || extra) {
        snprintf(msg, len, "expected `metrics_listener PORT [ADDRESS]`");
        return -1;
    }
    long port = parse_port(port_s, msg, len);
    if (port < 0)
        return -1;
    if ((addr && !(cfg->metrics_address = strdup(addr))) || !(cfg->metrics_file = strdup(ps->file))) {
        snprintf(msg, len, "out of memory");
        return -1;
    }
    cfg->metrics_port = (uint16_t)port;
    cfg->metrics_line = ps->line;
    return 0;
}

/* upgrade_outgoing_qos: `false` (mosquitto's default) is accepted; the broker does not implement `true` yet. */
static int h_upgrade_outgoing_qos(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                  size_t len)
{
    bool v;
    if (parse_bool_value(value, &v) < 0) {
        snprintf(msg, len, "'%s' is not a boolean: use true or false", value);
        return -1;
    }
    if (v) {
        snprintf(msg, len, "`true` is not supported yet (%s)", d->info.owner);
        return -1;
    }
    ps->cfg->upgrade_outgoing_qos = false;
    return 0;
}

/* persistence_durability sync|relaxed */
static int h_persistence_durability(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                    size_t len)
{
    (void)d;
    if (strcmp(value, "sync") == 0 || strcmp(value, "relaxed") == 0) {
        ps->cfg->persist.relaxed = value[0] == 'r';
        return 0;
    }
    snprintf(msg, len, "'%s' is not a durability: use sync (every acknowledgement waits for a group-committed "
                       "fsync) or relaxed (synced every persistence_sync_interval ms)", value);
    return -1;
}

/* persistence_engine lmdb|sqlite: the storage engine behind the store (docs/persistence.md, "The engine"). */
static int h_persistence_engine(struct parse_state *ps, const struct directive *d, char *value, char *msg,
                                size_t len)
{
    (void)d;
    if (strcmp(value, "lmdb") == 0 || strcmp(value, "sqlite") == 0) {
        ps->cfg->persist.engine = value[0] == 'l' ? "lmdb" : "sqlite";
        return 0;
    }
    snprintf(msg, len, "'%s' is not a storage engine: use lmdb (the default) or sqlite", value);
    return -1;
}

/* ---- files and lines ------------------------------------------------------------------------------- */

static int parse_file(struct parse_state *ps, const char *path);

/* Keeps a copy of name for the rest of the load (errors and duplicate reports point at it). */
static const char *parse_remember_name(struct parse_state *ps, const char *name)
{
    if (ps->name_count >= sizeof(ps->names) / sizeof(ps->names[0]))
        return NULL;
    char *copy = strdup(name);
    if (copy)
        ps->names[ps->name_count++] = copy;
    return copy;
}

static int name_compare(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* True if name ends in ".conf" and has something before it. */
static bool include_name_wanted(const char *name)
{
    size_t n = strlen(name);
    return n > 5 && !strcmp(name + n - 5, ".conf") && name[0] != '.';
}

/* Collects DIR's *.conf names, sorted. Returns the count, or -1 with msg. *out is owned by the caller. */
static long include_list(const char *dir, char ***out, char *msg, size_t len)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(msg, len, "cannot open directory '%s': %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t count = 0;
    long result = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!include_name_wanted(e->d_name))
            continue;
        if (count >= 32) {
            snprintf(msg, len, "more than 32 .conf files in '%s'", dir);
            goto done;
        }
        char **grown = realloc(names, (count + 1) * sizeof(*names));
        if (!grown || !(grown[count] = strdup(e->d_name))) {
            names = grown ? grown : names;
            snprintf(msg, len, "out of memory");
            goto done;
        }
        names = grown;
        count++;
    }
    if (count > 1)
        qsort(names, count, sizeof(*names), name_compare);
    result = (long)count;
done:
    closedir(d);
    if (result < 0) {
        for (size_t i = 0; i < count; i++)
            free(names[i]);
        free(names);
        names = NULL;
    }
    *out = names;
    return result;
}

static int h_include_dir(struct parse_state *ps, const struct directive *d, char *value, char *msg, size_t len)
{
    if (ps->depth >= CONFIG_MAX_INCLUDE_DEPTH) {
        snprintf(msg, len, "include_dir nested more than %d deep", CONFIG_MAX_INCLUDE_DEPTH);
        return -1;
    }
    char **names;
    long count = include_list(value, &names, msg, len);
    if (count < 0)
        return -1;
    const char *saved_file = ps->file;
    int saved_line = ps->line;
    for (long i = 0; i < count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", value, names[i]);
        ps->depth++;
        parse_file(ps, path);
        ps->depth--;
        ps->file = saved_file;
        ps->line = saved_line;
        free(names[i]);
    }
    free(names);
    return 0;
}

/* Reports a recognised option that Rampart refuses. */
static void parse_refuse(struct parse_state *ps, const char *name, const struct directive *d)
{
    if (!strcmp(d->info.owner, NONE)) {
        bool bridge = !strcmp(d->info.name, "connection") || !strcmp(d->info.name, "address") ||
                      !strcmp(d->info.name, "addresses") || !strcmp(d->info.name, "topic") ||
                      strstr(d->info.name, "remote_") || strstr(d->info.name, "local_") ||
                      strstr(d->info.name, "notification") || !strcmp(d->info.name, "try_private") ||
                      !strcmp(d->info.name, "round_robin") || !strcmp(d->info.name, "start_type") ||
                      !strcmp(d->info.name, "threshold") || !strcmp(d->info.name, "restart_timeout") ||
                      !strcmp(d->info.name, "cleansession") || !strcmp(d->info.name, "idle_timeout") ||
                      !strcmp(d->info.name, "keepalive_interval");
        bool plugin = strstr(d->info.name, "plugin") || strstr(name, "auth_opt_");
        parse_error(ps, "option '%s' is not supported by Rampart%s", name,
                    bridge ? " (bridges are not supported)" : plugin ? " (plugins are not loaded)" : "");
        return;
    }
    parse_error(ps, "option '%s' is not supported yet (%s)", name, d->info.owner);
}

/* Routes an option to a module's own parser (auth_options, sandbox_options). */
static int parse_route(struct parse_state *ps, const char *name, char *value, bool sandbox, char *msg, size_t len)
{
    int rc = sandbox ? sandbox_settings_set(&ps->cfg->sandbox, name, value, msg, len)
                     : auth_settings_set(&ps->cfg->auth, name, value, msg, len);
    if (rc == 0)
        snprintf(msg, len, "not recognised by its module");
    return rc == 1 ? 0 : -1;
}

/* True when a directive of this type takes exactly one word. */
static bool type_is_single_word(enum value_type t)
{
    return t == V_BOOL || t == V_U8 || t == V_U16 || t == V_U32 || t == V_I32 || t == V_U64 || t == V_SIZE32 ||
           t == V_SIZE64;
}

/* Reports d being set a second time in the current scope. Returns 0 (first time) or -1. */
static int parse_check_duplicate(struct parse_state *ps, const struct directive *d)
{
    size_t idx = (size_t)(d - directives), slot = parse_scope_slot(ps, d);
    if (!d->repeatable && ps->set_line[slot][idx]) {
        parse_error(ps, "%s: already set at %s:%d", d->info.name, ps->set_file[slot][idx],
                    ps->set_line[slot][idx]);
        return -1;
    }
    return 0;
}

/* Records where d was set (after its value was accepted). */
static void parse_note_set(struct parse_state *ps, const struct directive *d)
{
    size_t idx = (size_t)(d - directives), slot = parse_scope_slot(ps, d);
    ps->set_line[slot][idx] = ps->line;
    ps->set_file[slot][idx] = ps->file;
}

/* Reports a bad value: "name: msg", unless the module's message already starts with the name. */
static void parse_report(struct parse_state *ps, const char *name, const char *msg)
{
    size_t n = strlen(name);
    if (!strncmp(msg, name, n) && (msg[n] == ' ' || msg[n] == ':'))
        parse_error(ps, "%s", msg);
    else
        parse_error(ps, "%s: %s", name, msg);
}

/* Handles one line (NUL-terminated, no newline). */
static void parse_line(struct parse_state *ps, char *line)
{
    char msg[512];
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p || *p == '#')
        return;
    char *name = parse_word(&p);
    while (*p == ' ' || *p == '\t')
        p++;
    char *value = p;
    const struct directive *d = directive_lookup(name);
    if (!d) {
        if (auth_settings_knows(name) || sandbox_settings_knows(name)) {
            if (!*value)
                parse_error(ps, "%s: needs a value", name);
            else if (parse_route(ps, name, value, sandbox_settings_knows(name), msg, sizeof(msg)) < 0)
                parse_report(ps, name, msg);
            return;
        }
        parse_error(ps, "unknown option '%s'", name);
        return;
    }
    if (!d->info.supported) {
        parse_refuse(ps, name, d);
        return;
    }
    if (!*value) {
        parse_error(ps, "%s: needs a value", name);
        return;
    }
    if (type_is_single_word(d->type) && strpbrk(value, " \t")) {
        parse_error(ps, "%s: one value expected, got '%s'", name, value);
        return;
    }
    if (d->info.scope == CONFIG_SCOPE_SECURITY) {
        ps->security_seen = true;
        if (!strcmp(name, "allow_anonymous"))
            ps->allow_anonymous_set = true;
    }
    if (parse_check_duplicate(ps, d) < 0)
        return;
    int rc;
    switch (d->type) {
    case V_SPECIAL: rc = d->fn(ps, d, value, msg, sizeof(msg)); break;
    case V_AUTH: rc = parse_route(ps, name, value, false, msg, sizeof(msg)); break;
    case V_SANDBOX: rc = parse_route(ps, name, value, true, msg, sizeof(msg)); break;
    default: rc = parse_generic(ps, d, value, msg, sizeof(msg)); break;
    }
    if (rc < 0)
        parse_report(ps, name, msg);
    else if (d->type != V_SPECIAL || d->fn != h_listener)
        parse_note_set(ps, d);
}

/* Parses len bytes of text as the file `name`. */
static void parse_text(struct parse_state *ps, const char *name, const char *text, size_t len)
{
    const char *remembered = parse_remember_name(ps, name);
    ps->file = remembered ? remembered : "(config)";
    ps->line = 0;
    char buf[CONFIG_MAX_LINE + 1];
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        ps->line++;
        if (n > CONFIG_MAX_LINE) {
            parse_error(ps, "line longer than %d bytes", CONFIG_MAX_LINE);
        } else if (memchr(text + pos, '\0', n)) {
            parse_error(ps, "line contains a NUL byte");
        } else {
            memcpy(buf, text + pos, n);
            buf[n] = '\0';
            parse_line(ps, buf);
        }
        pos += n + (nl ? 1 : 0);
    }
}

/* Reads the file at path and parses it. Errors (unreadable, too large) are reported against the file. */
static int parse_file(struct parse_state *ps, const char *path)
{
    FILE *f = fopen(path, "rb");
    int saved_line = ps->line;
    const char *saved_file = ps->file;
    char *text = NULL;
    int rc = -1;
    if (!f) {
        parse_error(ps, "cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        parse_error(ps, "'%s' is not a regular file", path);
        goto done;
    }
    if ((unsigned long long)st.st_size > CONFIG_MAX_FILE_SIZE) {
        parse_error(ps, "'%s' is larger than %u bytes", path, CONFIG_MAX_FILE_SIZE);
        goto done;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        parse_error(ps, "out of memory reading '%s'", path);
        goto done;
    }
    size_t got = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        parse_error(ps, "cannot read '%s'", path);
        goto done;
    }
    parse_text(ps, path, text, got);
    rc = 0;
done:
    free(text);
    fclose(f);
    ps->file = saved_file;
    ps->line = saved_line;
    return rc;
}

/* ---- after the last line ---------------------------------------------------------------------------- */

/* Reports at a listener's own line. */
static void listener_error(struct parse_state *ps, const struct config_listener *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void listener_error(struct parse_state *ps, const struct config_listener *l, const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    ps->file = l->file ? l->file : ps->cfg->config_file ? ps->cfg->config_file : "(config)";
    ps->line = l->line;
    parse_error(ps, "listener %u%s%s: %s", l->port, l->bind_address ? " " : "",
                l->bind_address ? l->bind_address : "", body);
}

/* Turns mosquitto's default listener (port / bind_address / listener options before the first listener)
 * into a real one, or reports options that would apply to no listener. */
static void finalize_default_listener(struct parse_state *ps)
{
    rampart_config *cfg = ps->cfg;
    if (!ps->deflt_used)
        return;
    bool explicit_listener = cfg->listener_count > 0;
    if (!ps->deflt_port_set && !ps->deflt.bind_address && explicit_listener) {
        ps->file = ps->deflt_file;
        ps->line = ps->deflt_line;
        parse_error(ps, "this listener option comes before the first `listener` line, so it would configure "
                        "mosquitto's default listener, which does not exist without `port`: move it after a "
                        "`listener` line");
        return;
    }
    struct config_listener *l = config_add_listener(cfg, 0);
    if (!l) {
        parse_error(ps, "too many listeners (at most %d)", CONFIG_MAX_LISTENERS);
        return;
    }
    struct config_listener *dl = &ps->deflt;
    *l = *dl;
    memset(dl, 0, sizeof(*dl));
    if (!l->port)
        l->port = CONFIG_DEFAULT_PORT;
    if (!ps->deflt_port_set && !l->bind_address) {
        /* only listener options, no port or address: mosquitto 2's local-only default listener */
        l->bind_address = strdup("127.0.0.1");
        l->is_builtin_default = true;
    }
    free(l->file);
    l->file = strdup(ps->deflt_file);
    l->line = ps->deflt_line;
}

/* Copies the global security settings into each listener (per_listener_settings false). */
static void finalize_security(struct parse_state *ps)
{
    rampart_config *cfg = ps->cfg;
    for (size_t i = 0; i < cfg->listener_count; i++) {
        struct config_listener *l = &cfg->listeners[i];
        bool builtin_anonymous = l->is_builtin_default && !ps->allow_anonymous_set;
        if (!cfg->per_listener_settings) {
            l->allow_anonymous = cfg->allow_anonymous;
            l->allow_zero_length_clientid = cfg->allow_zero_length_clientid;
            free(l->acl_file);
            l->acl_file = cfg->acl_file ? strdup(cfg->acl_file) : NULL;
            free(l->password_file);
            l->password_file = cfg->auth.password_file ? strdup(cfg->auth.password_file) : NULL;
        }
        if (builtin_anonymous)
            l->allow_anonymous = true;
    }
    /* one password file for the whole broker (the auth module loads one) */
    const struct config_listener *first = NULL;
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const struct config_listener *l = &cfg->listeners[i];
        if (!l->password_file)
            continue;
        if (!first) {
            first = l;
        } else if (strcmp(first->password_file, l->password_file)) {
            listener_error(ps, l, "a password_file different from the one of listener %u is not supported yet "
                                  "(one password file serves every listener)", first->port);
        }
    }
    if (cfg->per_listener_settings && first && !cfg->auth.password_file) {
        char msg[256];
        if (auth_settings_set(&cfg->auth, "password_file", first->password_file, msg, sizeof(msg)) != 1)
            listener_error(ps, first, "password_file: %s", msg);
    }
}

/* Fills tls.name / ws.name ("ADDR:PORT"), tls.websocket, and checks the TLS and WebSocket settings of one
 * listener (tls_context_new checks the files themselves; this gives file:line for inconsistent options). */
static void finalize_listener_transport(struct parse_state *ps, struct config_listener *l)
{
    char name[300];
    snprintf(name, sizeof(name), "%s:%u", l->bind_address ? l->bind_address : "*", l->port);
    free((char *)l->tls.name);
    free((char *)l->ws.name);
    l->tls.name = strdup(name);
    l->ws.name = strdup(name);
    l->tls.websocket = l->protocol == CONFIG_PROTOCOL_WEBSOCKETS;
    const tls_settings *t = &l->tls;
    bool tls_options = t->cafile || t->capath || t->crlfile_count || t->require_certificate ||
                       t->use_identity_as_username || t->use_subject_as_username || t->tls_version ||
                       t->ciphers || t->ciphers_tls13 || t->ocsp_response_file || t->ocsp_check_clients ||
                       t->ocsp_responder || t->keyfile_passphrase_file || t->keyfile_passphrase_env ||
                       t->keyfile_passphrase_credential || t->two_factor;
    if (!t->certfile && (tls_options || t->keyfile))
        listener_error(ps, l, "TLS options are set but certfile is not: add certfile and keyfile");
    if (t->certfile && !t->keyfile)
        listener_error(ps, l, "certfile without keyfile");
    if ((t->require_certificate || t->two_factor) && !t->cafile && !t->capath)
        listener_error(ps, l, "%s needs cafile or capath to verify client certificates",
                       t->two_factor ? "tls_two_factor" : "require_certificate");
    if (t->use_identity_as_username && t->use_subject_as_username)
        listener_error(ps, l, "use_identity_as_username and use_subject_as_username are exclusive");
    if ((t->use_identity_as_username || t->use_subject_as_username) && !t->cafile && !t->capath)
        listener_error(ps, l, "%s needs cafile or capath to verify client certificates",
                       t->use_identity_as_username ? "use_identity_as_username" : "use_subject_as_username");
    if (t->two_factor && (t->use_identity_as_username || t->use_subject_as_username))
        listener_error(ps, l, "tls_two_factor needs a password: it excludes use_identity_as_username and "
                              "use_subject_as_username");
    if (t->two_factor && !ps->cfg->auth.password_file)
        listener_error(ps, l, "tls_two_factor needs a password_file (the second factor)");
    const ws_transport_settings *w = &l->ws;
    bool ws_options = w->path || w->origin_count || w->trusted_proxy_count || w->max_frame || w->max_message ||
                      w->handshake_timeout_ms || w->max_header;
    if (ws_options && l->protocol != CONFIG_PROTOCOL_WEBSOCKETS)
        listener_error(ps, l, "WebSocket options on a listener whose protocol is not websockets");
    if (w->path && w->path[0] != '/')
        listener_error(ps, l, "websocket_path must start with '/'");
}

/* Reports two listeners that would bind the same port and address. */
static void finalize_duplicates(struct parse_state *ps)
{
    rampart_config *cfg = ps->cfg;
    for (size_t j = 1; j < cfg->listener_count; j++) {
        const struct config_listener *b = &cfg->listeners[j];
        for (size_t i = 0; i < j; i++) {
            const struct config_listener *a = &cfg->listeners[i];
            if (a->port != b->port)
                continue;
            bool same = !a->bind_address || !b->bind_address || !strcmp(a->bind_address, b->bind_address);
            if (same) {
                listener_error(ps, b, "duplicates the listener at %s:%d (same port%s)",
                               a->file ? a->file : "(default)", a->line,
                               a->bind_address && b->bind_address ? " and address" : ", all addresses");
                break;
            }
        }
    }
}

/* Persistence is encrypted: `persistence true` without a key source is refused (fail closed), at its line. */
static void finalize_persistence(struct parse_state *ps)
{
    const struct config_persistence *p = &ps->cfg->persist;
    const struct directive *d = directive_lookup("persistence");
    size_t idx = (size_t)(d - directives);
    int keys = !!p->key_file + !!p->key_env + !!p->key_credential;
    int old = !!p->key_old_file + !!p->key_old_env + !!p->key_old_credential;
    if (!p->enabled)
        return;
    ps->file = ps->set_file[0][idx];
    ps->line = ps->set_line[0][idx];
    if (keys == 0)
        parse_error(ps, "persistence true needs a key: persistence_key_file, persistence_key_env or "
                        "persistence_key_credential (the store is encrypted; see docs/persistence.md)");
    else if (keys > 1)
        parse_error(ps, "persistence: give exactly one of persistence_key_file, persistence_key_env and "
                        "persistence_key_credential");
    if (old > 1)
        parse_error(ps, "persistence: give at most one of persistence_key_old_file, persistence_key_old_env and "
                        "persistence_key_old_credential");
}

static void finalize(struct parse_state *ps)
{
    rampart_config *cfg = ps->cfg;
    finalize_persistence(ps);
    finalize_default_listener(ps);
    if (cfg->listener_count == 0 && !config_add_builtin_listener(cfg, CONFIG_DEFAULT_PORT))
        parse_error(ps, "out of memory");
    finalize_security(ps);
    for (size_t i = 0; i < cfg->listener_count; i++)
        finalize_listener_transport(ps, &cfg->listeners[i]);
    finalize_duplicates(ps);
    if (cfg->max_packet_size_unauthenticated > cfg->max_packet_size)
        cfg->max_packet_size_unauthenticated = cfg->max_packet_size;
}

/* ---- entry points ------------------------------------------------------------------------------------ */

/* Prepares cfg and a parse state; NULL when out of memory (then an error is recorded). */
static struct parse_state *load_begin(rampart_config *cfg, const char *name, config_errors *errs)
{
    config_defaults(cfg);
    for (size_t i = 0; i < cfg->listener_count; i++)
        config_listener_clear(&cfg->listeners[i]);
    cfg->listener_count = 0;
    cfg->config_file = strdup(name);
    struct parse_state *ps = calloc(1, sizeof(*ps));
    if (!ps || !cfg->config_file) {
        free(ps);
        char msg[300];
        snprintf(msg, sizeof(msg), "%s: out of memory", name);
        errs->messages[errs->count] = errs->count < CONFIG_MAX_ERRORS ? strdup(msg) : NULL;
        if (errs->count < CONFIG_MAX_ERRORS && errs->messages[errs->count])
            errs->count++;
        else
            errs->dropped++;
        return NULL;
    }
    ps->cfg = cfg;
    ps->errs = errs;
    ps->current = -1;
    ps->file = cfg->config_file;
    config_listener_init(&ps->deflt, 0);
    return ps;
}

/* Finishes the load; returns 0 when no error was added since `before`. */
static int load_end(struct parse_state *ps, size_t before)
{
    finalize(ps);
    int rc = ps->errs->count + ps->errs->dropped > before ? -1 : 0;
    config_listener_clear(&ps->deflt);
    for (size_t i = 0; i < ps->name_count; i++)
        free(ps->names[i]);
    free(ps);
    return rc;
}

int config_load_buffer(rampart_config *cfg, const char *name, const char *text, size_t len, config_errors *errs)
{
    size_t before = errs->count + errs->dropped;
    struct parse_state *ps = load_begin(cfg, name, errs);
    if (!ps)
        return -1;
    parse_text(ps, name, text, len);
    return load_end(ps, before);
}

int config_load(rampart_config *cfg, const char *path, config_errors *errs)
{
    size_t before = errs->count + errs->dropped;
    struct parse_state *ps = load_begin(cfg, path, errs);
    if (!ps)
        return -1;
    parse_file(ps, path);
    return load_end(ps, before);
}
