/*
 * auth_options.h - the configuration options of authentication, login limiting and connection limits, parsed
 * into an auth_config and a connlimit_config. The configuration module routes these names here, so their
 * ranges and defaults live next to the code that uses them (docs/security.md lists them).
 *
 *   password_file PATH            password_max_age DAYS            password_expiry_warning DAYS
 *   ban_file PATH                 auth_workers N                   auth_queue N
 *   login_window SECONDS          login_lockout_time SECONDS       login_trusted_days DAYS
 *   login_backoff_address N       login_lockout_address N          (0 disables; likewise _network, _username)
 *   login_backoff_base_ms MS      login_backoff_max_ms MS
 *   connect_timeout SECONDS       max_connections_per_address N    max_unauthenticated N
 *   max_unauthenticated_per_address N   connection_rate_per_address N   connection_rate_per_listener N
 *   connection_limits_loopback true|false
 */
#ifndef RAMPART_SECURITY_AUTH_OPTIONS_H
#define RAMPART_SECURITY_AUTH_OPTIONS_H

#include <stddef.h>

#include "security/auth.h"
#include "security/connlimit.h"

typedef struct auth_settings {
    auth_config auth;      /* its password_file and ban_file point at the strings below */
    connlimit_config conn;
    char *password_file, *ban_file; /* owned */
} auth_settings;

/* Defaults (auth_config_default, connlimit_config_default). */
void auth_settings_init(auth_settings *s);
void auth_settings_clear(auth_settings *s);

/* True if name is one of the options above. */
int auth_settings_knows(const char *name);

/*
 * Sets option name to value. Returns 1 when applied, 0 when name is not an authentication option, -1 when
 * value is invalid (err gets "what is wrong"; the caller adds file:line).
 */
int auth_settings_set(auth_settings *s, const char *name, const char *value, char *err, size_t errlen);

#endif
