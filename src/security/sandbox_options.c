/* sandbox_options.c - see sandbox_options.h. */
#include "security/sandbox_options.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const option_names[] = {"user", "sandbox_landlock", "sandbox_seccomp", "sandbox_allow_read",
                                           "sandbox_allow_write", "cluster_node_name"};

void sandbox_settings_init(sandbox_settings *s)
{
    memset(s, 0, sizeof *s);
    s->landlock = true;
    s->seccomp = true;
}

void sandbox_settings_clear(sandbox_settings *s)
{
    free(s->user);
    free(s->cluster_node_name);
    for (size_t i = 0; i < s->n_allow_read; i++)
        free(s->allow_read[i]);
    for (size_t i = 0; i < s->n_allow_write; i++)
        free(s->allow_write[i]);
    sandbox_settings_init(s);
}

int sandbox_settings_knows(const char *name)
{
    for (size_t i = 0; i < sizeof option_names / sizeof option_names[0]; i++)
        if (!strcmp(option_names[i], name))
            return 1;
    return 0;
}

/* Parses "true"/"false". Returns 0 or -1 with err set. */
static int parse_bool(const char *value, bool *out, char *err, size_t errlen)
{
    if (!strcmp(value, "true") || !strcmp(value, "false")) {
        *out = value[0] == 't';
        return 0;
    }
    snprintf(err, errlen, "expected true or false, got '%s'", value);
    return -1;
}

/* Appends a copy of an absolute path to table. Returns 1 or -1 with err set. */
static int add_path(char **table, size_t *n, const char *value, char *err, size_t errlen)
{
    if (value[0] != '/') {
        snprintf(err, errlen, "expected an absolute path, got '%s'", value);
        return -1;
    }
    if (*n >= SANDBOX_OPTIONS_MAX_EXTRA) {
        snprintf(err, errlen, "at most %d such paths", SANDBOX_OPTIONS_MAX_EXTRA);
        return -1;
    }
    table[*n] = strdup(value);
    if (!table[*n]) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    (*n)++;
    return 1;
}

/* Account names: what useradd accepts on Debian (letters, digits, '_', '-', '.', a trailing '$'). */
static int set_user(sandbox_settings *s, const char *value, char *err, size_t errlen)
{
    size_t len = strlen(value);
    char *copy;

    if (len == 0 || len > 32 || value[0] == '-' || strspn(value, "abcdefghijklmnopqrstuvwxyz"
                                                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.$") != len) {
        snprintf(err, errlen, "'%s' is not an account name", value);
        return -1;
    }
    copy = strdup(value);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(s->user);
    s->user = copy;
    return 1;
}

/* NAME@HOST, NAME ending in at most 5 digits with 5370 + N <= 65535 (the rule of tools/fwrules.h). */
static int set_cluster_node_name(sandbox_settings *s, const char *value, char *err, size_t errlen)
{
    const char *at = strchr(value, '@'), *p;
    long n = 0;
    char *copy;

    if (!at || at == value || !at[1] || strchr(at + 1, '@') || strpbrk(value, " \t")) {
        snprintf(err, errlen, "'%s' is not a node name of the form NAME@HOST", value);
        return -1;
    }
    for (p = at; p > value && p[-1] >= '0' && p[-1] <= '9'; p--)
        ;
    if (at - p > 5 || (n = (at - p) ? strtol(p, NULL, 10) : 0) > 65535 - 5370) {
        snprintf(err, errlen, "'%s': the number ending the node name must be at most %d", value, 65535 - 5370);
        return -1;
    }
    copy = strdup(value);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    free(s->cluster_node_name);
    s->cluster_node_name = copy;
    return 1;
}

int sandbox_settings_set(sandbox_settings *s, const char *name, const char *value, char *err, size_t errlen)
{
    if (!strcmp(name, "user"))
        return set_user(s, value, err, errlen);
    if (!strcmp(name, "sandbox_landlock"))
        return parse_bool(value, &s->landlock, err, errlen) == 0 ? 1 : -1;
    if (!strcmp(name, "sandbox_seccomp"))
        return parse_bool(value, &s->seccomp, err, errlen) == 0 ? 1 : -1;
    if (!strcmp(name, "sandbox_allow_read"))
        return add_path(s->allow_read, &s->n_allow_read, value, err, errlen);
    if (!strcmp(name, "sandbox_allow_write"))
        return add_path(s->allow_write, &s->n_allow_write, value, err, errlen);
    if (!strcmp(name, "cluster_node_name"))
        return set_cluster_node_name(s, value, err, errlen);
    return 0;
}
