/*
 * config.h - Rampart's configuration: mosquitto 2.x `mosquitto.conf` syntax and meaning, parsed into one
 * rampart_config that the broker reads. docs/configuration.md documents every option.
 *
 * Syntax: one `option value...` per line; `#` at the start of a line (after blanks) is a comment; blank lines
 * are ignored. `listener PORT [ADDRESS]` starts a listener block: the options that follow and that apply to a
 * listener (always: bind_interface, protocol, max_connections, max_qos, max_topic_alias, mount_point, TLS,
 * WebSocket; with `per_listener_settings true` also allow_anonymous, password_file, acl_file, ...) apply to
 * it. Listener options before the first `listener` line configure mosquitto's deprecated "default listener"
 * (`port`, `bind_address`). `include_dir DIR` reads the files DIR/NAME.conf in sorted order at that point.
 *
 * Fail closed: an unknown option, an option mosquitto has but Rampart does not (yet) implement, a value out
 * of range, a duplicate listener: each is an error "file:line: what is wrong". config_load() collects ALL
 * errors (up to CONFIG_MAX_ERRORS) rather than stopping at the first, and a configuration with errors must
 * never be used.
 *
 * The directive table (name, type, range, default, scope, reloadable, owning issue/module, supported) is in
 * config.c; when a module starts implementing an option it flips that option's `supported` flag there.
 *
 * Ownership: every string and array reachable from a rampart_config is owned by it and freed by
 * config_free(). The tls/ws/auth/sandbox sub-structures use the types of the modules that consume them
 * (net/tls.h, net/ws.h, security/auth_options.h, security/sandbox_options.h), so the broker passes them on
 * as they are; their `const char *` members point at strings owned by the configuration. The auth and
 * sandbox options are parsed by those modules' own *_set functions (this module routes the values and adds
 * file:line to their messages).
 */
#ifndef RAMPART_CONFIG_CONFIG_H
#define RAMPART_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/tls.h"
#include "net/ws.h"
#include "security/auth_options.h"
#include "security/sandbox_options.h"

#define CONFIG_MAX_ERRORS 64         /* further errors are counted, not stored */
#define CONFIG_MAX_LISTENERS 64
#define CONFIG_MAX_INCLUDE_DEPTH 4   /* include_dir inside included files */
#define CONFIG_MAX_LINE 4096         /* longer lines are an error */
#define CONFIG_MAX_FILE_SIZE (4u << 20)
#define CONFIG_MAX_PROXIES 16        /* websocket_trusted_proxy, proxy_protocol_from per listener */
#define CONFIG_MAX_ORIGINS 16        /* websocket_origin per listener */
#define CONFIG_MAX_FIREWALL_SOURCES 16 /* firewall_allow_from per listener */
#define CONFIG_MAX_AUDIT_FILES 4
#define CONFIG_DEFAULT_PORT 1883

/* The errors of one load, each "file:line: message" (or "file: message" when no line applies). */
typedef struct config_errors {
    char *messages[CONFIG_MAX_ERRORS]; /* owned */
    size_t count;                      /* stored messages */
    size_t dropped;                    /* errors beyond CONFIG_MAX_ERRORS */
} config_errors;

void config_errors_init(config_errors *e);
void config_errors_free(config_errors *e);
/* Writes every message, one per line, then "N more errors" if any were dropped. */
void config_errors_print(const config_errors *e, void *stdio_file);

enum config_protocol { CONFIG_PROTOCOL_MQTT = 0, CONFIG_PROTOCOL_WEBSOCKETS = 1 };
enum config_socket_domain { CONFIG_DOMAIN_ANY = 0, CONFIG_DOMAIN_IPV4 = 4, CONFIG_DOMAIN_IPV6 = 6 };

/* log_dest flags (repeatable option; `none` clears). */
enum {
    CONFIG_LOG_DEST_STDERR = 1u << 0,
    CONFIG_LOG_DEST_SYSLOG = 1u << 1,
    CONFIG_LOG_DEST_FILE = 1u << 2,
};
/* log_type flags (repeatable option; `none` clears, `all` sets all). */
enum {
    CONFIG_LOG_TYPE_ERROR = 1u << 0,
    CONFIG_LOG_TYPE_WARNING = 1u << 1,
    CONFIG_LOG_TYPE_NOTICE = 1u << 2,
    CONFIG_LOG_TYPE_INFORMATION = 1u << 3,
    CONFIG_LOG_TYPE_DEBUG = 1u << 4,
    CONFIG_LOG_TYPE_SUBSCRIBE = 1u << 5,
    CONFIG_LOG_TYPE_UNSUBSCRIBE = 1u << 6,
    CONFIG_LOG_TYPE_WEBSOCKETS = 1u << 7,
    CONFIG_LOG_TYPE_ALL = 0xffu,
};

/* One `listener PORT [ADDRESS]` block (or the default listener). */
struct config_listener {
    /* --- identity --- */
    uint16_t port;                       /* listener PORT (1..65535); port 0 / unix sockets are refused */
    char *bind_address;                  /* listener's ADDRESS; NULL = all addresses */
    char *bind_interface;                /* bind_interface DEVICE (SO_BINDTODEVICE); NULL = none */
    enum config_socket_domain socket_domain; /* socket_domain ipv4|ipv6; default ANY */
    enum config_protocol protocol;       /* protocol mqtt|websockets; default mqtt */
    char *file;                          /* where the listener line was (for messages); owned */
    int line;
    bool is_builtin_default;             /* the built-in 127.0.0.1:1883 listener of config_defaults() */

    /* --- security (per listener when per_listener_settings is true, else copied from the globals) --- */
    bool allow_anonymous;                /* default false; true only on the built-in default listener */
    bool allow_zero_length_clientid;     /* default true (mosquitto) */
    char *password_file;                 /* NULL = this listener does not check passwords. The file itself is
                                            loaded once, by the auth module (rampart_config.auth): every
                                            listener that has one names the same file (checked at load) */
    char *acl_file;                      /* NULL = no ACL (everything allowed to authenticated clients) */

    /* --- limits (always per listener) --- */
    int32_t max_connections;             /* max_connections N; -1 = no per-listener limit (default) */
    uint8_t max_qos;                     /* max_qos 0..2; default 2 */
    uint16_t max_topic_alias;            /* max_topic_alias 0..65535; default 10 */
    char *mount_point;                   /* mount_point PREFIX; NULL = none */
    bool use_username_as_clientid;       /* default false */

    /* --- TLS (issue 4, net/tls.h): TLS is on when tls.certfile != NULL. tls.name = "ADDR:PORT";
     *     tls.websocket follows protocol; tls.two_factor is tls_two_factor --- */
    tls_settings tls;                    /* strings owned by the configuration */

    /* --- WebSocket (issue 4, net/ws.h), used when protocol == CONFIG_PROTOCOL_WEBSOCKETS --- */
    ws_transport_settings ws;            /* path, origins, trusted proxies, sizes, name; owned */
    ws_cidr proxy_protocol_from[CONFIG_MAX_PROXIES]; /* proxy_protocol_from ADDR[/BITS] (PROXY v1/v2) */
    size_t proxy_protocol_from_count;    /* 0 = PROXY protocol off on this listener */

    /* --- hardening (issue 8, docs/hardening.md): firewall_allow_from NETWORK, repeatable: the source networks
     *     `rampart firewall` admits to this listener (none = anywhere); the broker itself does not filter --- */
    char *firewall_allow_from[CONFIG_MAX_FIREWALL_SOURCES]; /* "ADDR" or "ADDR/BITS", validated; owned */
    size_t firewall_allow_from_count;
};

typedef struct rampart_config {
    char *config_file;                   /* the file given to config_load(), or NULL for the built-in config */

    /* --- listeners --- */
    struct config_listener *listeners;   /* owned array */
    size_t listener_count;               /* >= 1 after a successful load */
    bool per_listener_settings;          /* default false */
    bool listeners_from_file;            /* the file defined listeners (then -p is refused) */
    unsigned cmdline_ports;              /* -p options applied so far */

    /* --- global security defaults (copied into each listener unless per_listener_settings) --- */
    bool allow_anonymous;                /* default false (the built-in default listener alone allows) */
    bool allow_zero_length_clientid;     /* default true */
    char *acl_file;                      /* NULL = none */

    /* --- protocol and session limits (issue 3, src/broker) --- */
    uint32_t max_packet_size;            /* bytes, both directions; default 16 MiB; max 268435460 */
    uint32_t max_packet_size_unauthenticated; /* CONNECT and anything before auth completes; default 64 KiB */
    uint32_t message_size_limit;         /* payload bytes; 0 = only max_packet_size applies (default) */
    uint16_t max_inflight_messages;      /* outgoing QoS 1/2 window per client and our Receive Maximum;
                                            default 20; mosquitto's 0 (= unlimited) maps to 65535 */
    uint32_t max_queued_messages;        /* per offline/slow client; default 1000; >= 1 (always bounded) */
    uint64_t max_queued_bytes;           /* per client; default 8 MiB; 0 = count limit only */
    bool queue_qos0_messages;            /* queue QoS 0 for offline persistent clients; default false */
    uint16_t max_keepalive;              /* seconds, 10..65535; default 65535 (Server Keep Alive if lower) */
    bool retain_available;               /* default true */
    bool upgrade_outgoing_qos;           /* default false */
    bool set_tcp_nodelay;                /* default true (mosquitto: false) */
    uint32_t max_subscriptions_per_client; /* default 1000 */
    uint32_t max_sessions;               /* sessions in all, connected and offline; default 100000 */
    uint32_t max_topic_levels;           /* levels in a topic name or filter; default 32 */
    uint64_t memory_limit;               /* global memory ceiling, bytes; default 1 GiB; 0 = none */
    uint32_t max_connections_global;     /* open connections in all; 0 = auto (RLIMIT_NOFILE - 64), default */
    char *response_topic_prefix;         /* Response Information base; NULL = none sent (default) */
    int64_t persistent_client_expiration; /* seconds; 0 = never (default) */
    uint32_t sys_interval;               /* seconds between $SYS updates; 0 = off; default 10 */

    /* --- persistence (issue 9, src/persist + src/broker/persist.c; docs/persistence.md) --- */
    struct config_persistence {
        bool enabled;                    /* persistence true|false; default false */
        const char *engine;              /* persistence_engine: "lmdb" (default, also NULL) or "sqlite"; static */
        char *file;                      /* persistence_file NAME; default rampart.db (lmdb), rampart.sqlite */
        char *location;                  /* persistence_location DIR; default: the current directory */
        char *key_file, *key_env, *key_credential;             /* the master key (exactly one) */
        char *key_old_file, *key_old_env, *key_old_credential; /* the previous key during a rotation */
        bool relaxed;                    /* persistence_durability relaxed (default sync) */
        uint32_t sync_interval_ms;       /* relaxed mode: the bound on unsynced time; 0 = not set (1000) */
        uint64_t max_size;               /* persistence_max_size: the store's cap (LMDB map); default 1 GiB */
        uint32_t autosave_interval;      /* mosquitto's; UINT32_MAX = not set */
        bool autosave_on_changes;        /* mosquitto's; default false */
    } persist;

    /* --- process --- */
    char *pid_file;                      /* NULL = none */
    uint32_t log_dest;                   /* CONFIG_LOG_DEST_*; default STDERR */
    char *log_file;                      /* log_dest file PATH */
    uint32_t log_type;                   /* CONFIG_LOG_TYPE_*; default ERROR|WARNING|NOTICE|INFORMATION */
    bool log_type_set;                   /* a log_type line replaced the default set */

    /* --- security audit log (issue 6, security/auditlog.h) --- */
    char *audit_files[CONFIG_MAX_AUDIT_FILES]; /* audit_dest file PATH (repeatable) */
    size_t audit_file_count;
    bool audit_syslog;                   /* audit_dest syslog */
    bool audit_stdout;                   /* audit_dest stdout */
    uint32_t audit_rate;                 /* audit_rate N: events per second per type and source; default 20 */

    /* --- Prometheus metrics endpoint (issue 6, src/broker/broker_metrics.c, docs/metrics.md) --- */
    uint16_t metrics_port;               /* metrics_listener PORT [ADDRESS]; 0 = no metrics endpoint */
    char *metrics_address;               /* its ADDRESS; NULL = 127.0.0.1 */
    char *metrics_file;                  /* where metrics_listener was set (for messages); owned */
    int metrics_line;
    char *metrics_password_file;         /* basic auth users (password_file format); NULL = no auth */
    char *metrics_certfile;              /* TLS on the metrics endpoint: both or neither */
    char *metrics_keyfile;

    /* --- modules with their own option parsers (routed by the table) --- */
    auth_settings auth;                  /* password_file (global), ban_file, login limiting, connect_timeout,
                                            max_connections_per_address, ... (security/auth_options.h) */
    sandbox_settings sandbox;            /* user, sandbox_* (security/sandbox_options.h) */
} rampart_config;

/* The store file of the persistence settings: persistence_location (or the current directory) joined with
 * persistence_file (or the engine's own name: rampart.db for lmdb, rampart.sqlite for sqlite). Returns 0, or
 * -1 if it does not fit in len. */
int config_persistence_path(const rampart_config *cfg, char *buf, size_t len);
/* The same for the given engine ("lmdb", "sqlite"; NULL = lmdb) instead of the configured one. */
int config_persistence_path_for(const rampart_config *cfg, const char *engine, char *buf, size_t len);

/*
 * Fills cfg with the built-in safe configuration: one listener 127.0.0.1:1883 (is_builtin_default, the only
 * listener ever to allow anonymous clients by default) and every default above. cfg needs no prior init;
 * release with config_free().
 */
void config_defaults(rampart_config *cfg);

/*
 * Loads the configuration file at path into cfg (which must not be initialised: config_load calls
 * config_defaults first). Every error found is appended to errs as "file:line: message". Returns 0 when the
 * file is valid, -1 otherwise; in both cases cfg holds allocated memory that config_free() releases, but after
 * -1 it must not be used. A file that defines no listener gets the built-in default listener.
 */
int config_load(rampart_config *cfg, const char *path, config_errors *errs);

/* As config_load, but parses len bytes of text (not NUL-terminated) named `name` in messages. include_dir
 * in the buffer is honoured. For tests and the fuzz target. */
int config_load_buffer(rampart_config *cfg, const char *name, const char *text, size_t len,
                       config_errors *errs);

/*
 * Applies one `-p PORT` of the broker's command line (mosquitto 2.x meaning: loopback-only listeners). The
 * first call replaces the port of the built-in 127.0.0.1 listener; each later call adds another 127.0.0.1
 * listener (mosquitto allows -p up to 10 times). When the configuration file defined listeners, mosquitto
 * silently ignores -p; Rampart refuses instead: returns -1 and err says so. Also -1 for a port outside
 * 1..65535 or a port given twice. Returns 0 on success.
 */
int config_set_port(rampart_config *cfg, long port, char *err, size_t errlen);

/* Releases everything cfg owns; cfg may then be reused with config_defaults/config_load. */
void config_free(rampart_config *cfg);

/* The directive table, for documentation checks and for reload (which options may change on SIGHUP). */
enum config_scope {
    CONFIG_SCOPE_GLOBAL,   /* applies to the whole broker wherever it appears */
    CONFIG_SCOPE_LISTENER, /* always applies to the current listener (or the default listener) */
    CONFIG_SCOPE_SECURITY, /* per listener when per_listener_settings is true, else global */
};
struct config_directive_info {
    const char *name;
    enum config_scope scope;
    bool reloadable;
    bool supported;        /* false: recognised but refused ("not supported yet" / "not supported") */
    const char *owner;     /* the issue/module implementing it, e.g. "issue 3 src/broker" */
    const char *default_text; /* Rampart's default, for docs */
};
size_t config_directive_count(void);
/* Entry i (0 <= i < config_directive_count()), or NULL past the end. */
const struct config_directive_info *config_directive_at(size_t i);
/* The entry named name, or NULL when Rampart does not know it at all. */
const struct config_directive_info *config_directive_find(const char *name);

/* The `rampart check -c FILE` subcommand (src/config/check.c). */
int config_check_main(int argc, char **argv);

#endif
