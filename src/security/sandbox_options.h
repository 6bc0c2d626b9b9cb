/*
 * sandbox_options.h - the configuration options of process hardening, parsed into sandbox_settings. The
 * configuration module routes these names here (as it does for auth_options.h); docs/hardening.md lists them.
 *
 *   user NAME                    account to run as after start-up (default: `rampart` if it exists, else
 *                                `nobody`); `user root` keeps root and is warned about (and flagged by audit)
 *   sandbox_landlock true|false  Landlock file and port restrictions (default true)
 *   sandbox_seccomp true|false   seccomp system-call allowlist (default true)
 *   sandbox_allow_read PATH      an extra file or directory readable after start-up (repeatable)
 *   sandbox_allow_write PATH     an extra file or directory writable after start-up (repeatable)
 *   cluster_node_name NAME@HOST  this node's cluster name; `rampart firewall` and `rampart audit` derive the
 *                                cluster ports from it (discovery 4370+N, RPC 5370+N, N = the number ending
 *                                NAME). This build does not cluster; the broker logs that it only informs them.
 */
#ifndef RAMPART_SECURITY_SANDBOX_OPTIONS_H
#define RAMPART_SECURITY_SANDBOX_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#define SANDBOX_OPTIONS_MAX_EXTRA 16

typedef struct sandbox_settings {
    char *user;            /* owned; NULL = the default account */
    bool landlock, seccomp;
    char *allow_read[SANDBOX_OPTIONS_MAX_EXTRA]; /* owned */
    size_t n_allow_read;
    char *allow_write[SANDBOX_OPTIONS_MAX_EXTRA]; /* owned */
    size_t n_allow_write;
    char *cluster_node_name; /* owned; NULL = no clustering */
} sandbox_settings;

/* Defaults: default user, Landlock and seccomp on, no extra paths. */
void sandbox_settings_init(sandbox_settings *s);
void sandbox_settings_clear(sandbox_settings *s);

/* True if name is one of the options above. */
int sandbox_settings_knows(const char *name);

/* Sets option name to value. Returns 1 when applied, 0 when name is not a hardening option, -1 when value
 * is invalid (err gets "what is wrong"; the caller adds file:line). */
int sandbox_settings_set(sandbox_settings *s, const char *name, const char *value, char *err, size_t errlen);

#endif
