/* auth_options.c - see auth_options.h. */
#include "security/auth_options.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum opt_kind { OPT_PATH, OPT_U32, OPT_DAYS, OPT_BOOL };

typedef struct opt_def {
    const char *name;
    enum opt_kind kind;
    uint32_t min, max;
    size_t offset; /* into auth_settings */
} opt_def;

#define AUTH_OFF(f) offsetof(auth_settings, auth.f)
#define CONN_OFF(f) offsetof(auth_settings, conn.f)

static const opt_def opts[] = {
    {"auth_queue", OPT_U32, 1, 100000, AUTH_OFF(queue_max)},
    {"auth_workers", OPT_U32, 1, 64, AUTH_OFF(workers)},
    {"ban_file", OPT_PATH, 0, 0, offsetof(auth_settings, ban_file)},
    {"connect_timeout", OPT_U32, 1, 3600, CONN_OFF(connect_timeout_s)},
    {"connection_limits_loopback", OPT_BOOL, 0, 1, CONN_OFF(include_loopback)},
    {"connection_rate_per_address", OPT_U32, 0, 1000000, CONN_OFF(rate_per_address)},
    {"connection_rate_per_listener", OPT_U32, 0, 1000000, CONN_OFF(rate_per_listener)},
    {"login_backoff_address", OPT_U32, 0, 1000000, AUTH_OFF(limiter.address.backoff_after)},
    {"login_backoff_base_ms", OPT_U32, 1, 3600000, AUTH_OFF(limiter.backoff_base_ms)},
    {"login_backoff_max_ms", OPT_U32, 1, 86400000, AUTH_OFF(limiter.backoff_max_ms)},
    {"login_backoff_network", OPT_U32, 0, 1000000, AUTH_OFF(limiter.network.backoff_after)},
    {"login_backoff_username", OPT_U32, 0, 1000000, AUTH_OFF(limiter.username.backoff_after)},
    {"login_lockout_address", OPT_U32, 0, 1000000, AUTH_OFF(limiter.address.lockout_after)},
    {"login_lockout_network", OPT_U32, 0, 1000000, AUTH_OFF(limiter.network.lockout_after)},
    {"login_lockout_time", OPT_U32, 1, 31536000, AUTH_OFF(limiter.lockout_s)},
    {"login_lockout_username", OPT_U32, 0, 1000000, AUTH_OFF(limiter.username.lockout_after)},
    {"login_trusted_days", OPT_U32, 0, 3650, AUTH_OFF(limiter.trusted_s)},
    {"login_window", OPT_U32, 1, 86400, AUTH_OFF(limiter.window_s)},
    {"max_connections_per_address", OPT_U32, 0, 10000000, CONN_OFF(max_per_address)},
    {"max_unauthenticated", OPT_U32, 0, 10000000, CONN_OFF(max_unauthenticated)},
    {"max_unauthenticated_per_address", OPT_U32, 0, 10000000, CONN_OFF(max_unauthenticated_per_address)},
    {"password_expiry_warning", OPT_DAYS, 0, 3650, AUTH_OFF(password_warn_before)},
    {"password_file", OPT_PATH, 0, 0, offsetof(auth_settings, password_file)},
    {"password_max_age", OPT_DAYS, 0, 36500, AUTH_OFF(password_max_age)},
};

void auth_settings_init(auth_settings *s)
{
    memset(s, 0, sizeof *s);
    s->auth = auth_config_default();
    s->conn = connlimit_config_default();
}

void auth_settings_clear(auth_settings *s)
{
    free(s->password_file);
    free(s->ban_file);
    memset(s, 0, sizeof *s);
}

static const opt_def *find(const char *name)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(opts[i].name, name))
            return &opts[i];
    return NULL;
}

int auth_settings_knows(const char *name)
{
    return find(name) != NULL;
}

int auth_settings_set(auth_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
    const opt_def *d = find(name);
    char *end;
    unsigned long long v;
    char **path;

    if (!d)
        return 0;
    if (d->kind == OPT_PATH) {
        if (!*value) {
            snprintf(err, errlen, "%s needs a file name", name);
            return -1;
        }
        path = (char **)((char *)s + d->offset);
        free(*path);
        *path = strdup(value);
        if (!*path) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->auth.password_file = s->password_file;
        s->auth.ban_file = s->ban_file;
        return 1;
    }
    if (d->kind == OPT_BOOL) {
        if (strcmp(value, "true") && strcmp(value, "false")) {
            snprintf(err, errlen, "%s must be true or false, not '%s'", name, value);
            return -1;
        }
        *(bool *)((char *)s + d->offset) = !strcmp(value, "true");
        return 1;
    }
    errno = 0;
    v = strtoull(value, &end, 10);
    if (!*value || *end || errno || value[0] == '-' || v < d->min || v > d->max) {
        snprintf(err, errlen, "%s must be a whole number from %u to %u, not '%s'", name, d->min, d->max, value);
        return -1;
    }
    if (!strcmp(name, "login_trusted_days"))
        *(uint32_t *)((char *)s + d->offset) = (uint32_t)v * 86400u;
    else if (d->kind == OPT_DAYS)
        *(int64_t *)((char *)s + d->offset) = (int64_t)v * 86400;
    else
        *(uint32_t *)((char *)s + d->offset) = (uint32_t)v;
    return 1;
}
