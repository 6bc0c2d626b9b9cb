/* hardening.c - see hardening.h. */
#include "security/hardening.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/secevent.h"
#include "config/config.h"

/* Frees the strings of one listener. */
static void listener_free(struct hardening_listener *l)
{
    free(l->bind);
    free(l->certfile);
    free(l->keyfile);
    free(l->cafile);
    free(l->capath);
    free(l->crlfile);
    free(l->tls_version);
    free(l->ciphers);
    for (size_t i = 0; i < l->n_sources; i++)
        free(l->sources[i]);
}

void hardening_free(struct hardening_view *v)
{
    for (size_t i = 0; i < v->n_listeners; i++)
        listener_free(&v->listeners[i]);
    for (size_t i = 0; i < v->n_read_paths; i++)
        free(v->read_paths[i]);
    for (size_t i = 0; i < v->n_write_paths; i++)
        free(v->write_paths[i]);
    free(v->config_path);
    free(v->user);
    free(v->password_file);
    free(v->acl_file);
    free(v->cluster_node_name);
    free(v->pid_file);
    memset(v, 0, sizeof *v);
}

int hardening_policy(const struct hardening_view *v, struct sandbox_policy *p, char *err, size_t errlen)
{
    sandbox_policy_init(p);
    p->user_mode = v->user ? SANDBOX_USER_NAMED : SANDBOX_USER_DEFAULT;
    p->user = v->user;
    p->landlock = v->landlock;
    p->seccomp = v->seccomp;
    for (size_t i = 0; i < v->n_read_paths; i++)
        if (sandbox_policy_add_read(p, v->read_paths[i]) != 0)
            goto full;
    for (size_t i = 0; i < v->n_write_paths; i++)
        if (sandbox_policy_add_write(p, v->write_paths[i]) != 0)
            goto full;
    for (size_t i = 0; i < v->n_listeners; i++)
        if (sandbox_policy_add_port(p, v->listeners[i].port) != 0)
            goto full;
    return 0;
full:
    snprintf(err, errlen, "sandbox: too many paths or ports (at most %d and %d)", SANDBOX_MAX_PATHS,
             SANDBOX_MAX_PORTS);
    return -1;
}

/* strdup that tolerates NULL. Sets *oom on allocation failure. */
static char *dup_or_null(const char *s, bool *oom)
{
    char *d;

    if (!s)
        return NULL;
    d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* Appends a copy of path to table (skipping duplicates). Sets *oom on failure or a full table. */
static void add_path(char **table, size_t *n, const char *path, bool *oom)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(table[i], path))
            return;
    if (*n >= HARDENING_MAX_FILES) {
        *oom = true;
        return;
    }
    table[*n] = strdup(path);
    if (!table[*n])
        *oom = true;
    else
        (*n)++;
}

/* Adds the directory holding `file` (after resolving symbolic links, so a renewed certificate behind a
 * symlink stays readable) to table: a reload re-reads files, editors and renewals replace them. */
static void add_dir_of(char **table, size_t *n, const char *file, bool *oom)
{
    char real[PATH_MAX], *dir;

    if (!file)
        return;
    if (!realpath(file, real))
        snprintf(real, sizeof real, "%s", file);
    dir = dirname(real);
    add_path(table, n, dir, oom);
}

/* The files a TLS listener reads (certificates, key, CAs, CRLs, OCSP response, passphrase file). */
static void add_tls_paths(struct hardening_view *v, const tls_settings *t, bool *oom)
{
    const char *files[] = {t->certfile, t->keyfile, t->cafile, t->ocsp_response_file, t->keyfile_passphrase_file};

    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        add_dir_of(v->read_paths, &v->n_read_paths, files[i], oom);
    for (size_t i = 0; i < t->crlfile_count; i++)
        add_dir_of(v->read_paths, &v->n_read_paths, t->crlfiles[i], oom);
    if (t->capath)
        add_path(v->read_paths, &v->n_read_paths, t->capath, oom);
    if (t->keyfile_passphrase_credential && getenv("CREDENTIALS_DIRECTORY"))
        add_path(v->read_paths, &v->n_read_paths, getenv("CREDENTIALS_DIRECTORY"), oom);
}

/* Fills view listener `hl` from configuration listener `l`. */
static void listener_from_config(struct hardening_view *v, struct hardening_listener *hl,
                                 const rampart_config *cfg, const struct config_listener *l, bool *oom)
{
    hl->port = l->port;
    hl->bind = dup_or_null(l->bind_address, oom);
    hl->tls = l->tls.certfile != NULL;
    hl->websockets = l->protocol == CONFIG_PROTOCOL_WEBSOCKETS;
    hl->allow_anonymous = l->allow_anonymous;
    hl->require_certificate = l->tls.require_certificate;
    hl->password_auth = l->password_file || cfg->auth.password_file;
    hl->ws_origin_check = l->ws.origin_count > 0;
    hl->certfile = dup_or_null(l->tls.certfile, oom);
    hl->keyfile = dup_or_null(l->tls.keyfile, oom);
    hl->cafile = dup_or_null(l->tls.cafile, oom);
    hl->capath = dup_or_null(l->tls.capath, oom);
    hl->crlfile = dup_or_null(l->tls.crlfile_count ? l->tls.crlfiles[0] : NULL, oom);
    hl->tls_version = dup_or_null(l->tls.tls_version, oom);
    hl->ciphers = dup_or_null(l->tls.ciphers, oom);
    add_tls_paths(v, &l->tls, oom);
    for (size_t i = 0; i < l->firewall_allow_from_count && i < HARDENING_MAX_SOURCES; i++)
        hl->sources[hl->n_sources++] = dup_or_null(l->firewall_allow_from[i], oom);
    add_dir_of(v->read_paths, &v->n_read_paths, l->password_file, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, l->acl_file, oom);
}

/* The metrics endpoint (metrics_listener) as a listener of the view: loopback unless an address is given;
 * its password file and certificate are re-read on SIGHUP. */
static void metrics_from_config(struct hardening_view *v, struct hardening_listener *hl, const rampart_config *cfg,
                                bool *oom)
{
    hl->port = cfg->metrics_port;
    hl->bind = dup_or_null(cfg->metrics_address ? cfg->metrics_address : "127.0.0.1", oom);
    hl->metrics = true;
    hl->metrics_auth = cfg->metrics_password_file != NULL;
    hl->tls = cfg->metrics_certfile != NULL;
    hl->certfile = dup_or_null(cfg->metrics_certfile, oom);
    hl->keyfile = dup_or_null(cfg->metrics_keyfile, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, cfg->metrics_certfile, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, cfg->metrics_keyfile, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, cfg->metrics_password_file, oom);
}

/* Process-wide parts: account, switches, credentials files, logs, extra paths. */
static void globals_from_config(struct hardening_view *v, const rampart_config *cfg, bool *oom)
{
    const sandbox_settings *s = &cfg->sandbox;

    v->config_path = dup_or_null(cfg->config_file ? cfg->config_file : "(built-in)", oom);
    v->user = dup_or_null(s->user, oom);
    v->landlock = s->landlock;
    v->seccomp = s->seccomp;
    v->password_file = dup_or_null(cfg->auth.password_file, oom);
    v->acl_file = dup_or_null(cfg->acl_file, oom);
    v->password_max_age = cfg->auth.auth.password_max_age;
    v->pid_file = dup_or_null(cfg->pid_file, oom);
    v->cluster_node_name = dup_or_null(s->cluster_node_name, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, cfg->config_file, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, cfg->auth.password_file, oom);
    add_dir_of(v->read_paths, &v->n_read_paths, cfg->acl_file, oom);
    /* The persistent store (LMDB data and lock files) lives in its directory. */
    if (cfg->persist.enabled) {
        char store_path[4096];
        if (config_persistence_path(cfg, store_path, sizeof store_path) == 0)
            add_dir_of(v->write_paths, &v->n_write_paths, store_path, oom);
        /* The key is read again on SIGHUP (live rotation). */
        add_dir_of(v->read_paths, &v->n_read_paths, cfg->persist.key_file, oom);
    }
    /* The ban file is replaced atomically (write a temporary file, rename): its directory is written. */
    add_dir_of(v->write_paths, &v->n_write_paths, cfg->auth.ban_file, oom);
    /* Log and audit-log files are reopened on reload (log rotation renames them away): their directories are
     * written. Keep them in a directory of their own (/var/log/rampart, systemd's LogsDirectory=). */
    if ((cfg->log_dest & CONFIG_LOG_DEST_FILE) && cfg->log_file)
        add_dir_of(v->write_paths, &v->n_write_paths, cfg->log_file, oom);
    for (size_t i = 0; i < cfg->audit_file_count; i++)
        add_dir_of(v->write_paths, &v->n_write_paths, cfg->audit_files[i], oom);
    for (size_t i = 0; i < cfg->audit_file_count; i++)
        add_dir_of(v->write_paths, &v->n_write_paths, cfg->audit_files[i], oom); /* reopened on SIGHUP */
    for (size_t i = 0; i < s->n_allow_read; i++)
        add_path(v->read_paths, &v->n_read_paths, s->allow_read[i], oom);
    for (size_t i = 0; i < s->n_allow_write; i++)
        add_path(v->write_paths, &v->n_write_paths, s->allow_write[i], oom);
}

int hardening_from_config(const rampart_config *cfg, struct hardening_view *v, char *err, size_t errlen)
{
    bool oom = false;

    memset(v, 0, sizeof *v);
    globals_from_config(v, cfg, &oom);
    for (size_t i = 0; i < cfg->listener_count && i < HARDENING_MAX_LISTENERS; i++) {
        listener_from_config(v, &v->listeners[i], cfg, &cfg->listeners[i], &oom);
        v->n_listeners++;
    }
    if (cfg->metrics_port && v->n_listeners < HARDENING_MAX_LISTENERS)
        metrics_from_config(v, &v->listeners[v->n_listeners++], cfg, &oom);
    if (oom || cfg->listener_count + (cfg->metrics_port ? 1 : 0) > HARDENING_MAX_LISTENERS) {
        snprintf(err, errlen, "hardening: out of memory or too many files and listeners");
        hardening_free(v);
        return -1;
    }
    return 0;
}

int hardening_load(const char *path, struct hardening_view *v, char *err, size_t errlen)
{
    rampart_config cfg;
    config_errors errs;
    int rc = -1;

    config_errors_init(&errs);
    memset(v, 0, sizeof *v);
    if (config_load(&cfg, path, &errs) != 0) {
        size_t used = 0;

        err[0] = '\0';
        for (size_t i = 0; i < errs.count && used + 1 < errlen; i++)
            used += (size_t)snprintf(err + used, errlen - used, "%s%s", i ? "\n" : "", errs.messages[i]);
        if (!errs.count)
            snprintf(err, errlen, "%s: invalid configuration", path);
        goto out;
    }
    rc = hardening_from_config(&cfg, v, err, errlen);
out:
    config_free(&cfg);
    config_errors_free(&errs);
    return rc;
}

/* Writes this process's id to path (pid_file), replacing its content; refuses to follow a symbolic link.
 * Written before the privileges are dropped; it is not removed at exit (the account may not write its
 * directory), so readers check that the process named is alive (`rampart audit` does). Returns 0 or -1. */
static int write_pid_file(const char *path, char *err, size_t errlen)
{
    char buf[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    int len = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());

    if (fd < 0 || write(fd, buf, (size_t)len) != len) {
        snprintf(err, errlen, "pid_file %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return close(fd);
}

/* The `privilege_change` security event (base/secevent.h) for entering the sandbox: from which uid/gid to
 * which, and what is in force; state NULL = entering failed (reason why; the broker exits). */
static void hardening_audit_privileges(const struct sandbox_state *state, uid_t from_uid, gid_t from_gid,
                                       const char *why)
{
    secevent e = {.type = "privilege_change", .reason = why};
    e.outcome = !state ? "failure" : state->dropped ? "dropped" : "unchanged";
    secevent_add_number(&e, "from_uid", (int64_t)from_uid);
    secevent_add_number(&e, "from_gid", (int64_t)from_gid);
    if (state) {
        secevent_add_number(&e, "to_uid", (int64_t)state->uid);
        secevent_add_number(&e, "to_gid", (int64_t)state->gid);
        secevent_add_text(&e, "no_new_privs", state->no_new_privs ? "on" : "off");
        secevent_add_text(&e, "landlock", state->landlock ? (state->landlock_net ? "files+ports" : "files") : "off");
        secevent_add_text(&e, "seccomp", state->seccomp ? "on" : "off");
    }
    secevent_emit(&e);
}

int hardening_enter(const struct rampart_config *cfg, char *err, size_t errlen)
{
    static struct hardening_view view;
    struct sandbox_policy policy;
    int rc = -1;

    if (cfg->pid_file && write_pid_file(cfg->pid_file, err, errlen) != 0)
        return -1;
    if (hardening_from_config(cfg, &view, err, errlen) != 0)
        return -1;
    if (view.cluster_node_name)
        log_notice("cluster_node_name %s: this build does not cluster; the name only informs `rampart firewall` "
                   "and `rampart audit`",
                   view.cluster_node_name);
    uid_t from_uid = geteuid();
    gid_t from_gid = getegid();
    struct sandbox_state state;
    memset(&state, 0, sizeof state);
    if (hardening_policy(&view, &policy, err, errlen) == 0) {
        rc = sandbox_enter(&policy, &state, err, errlen);
        hardening_audit_privileges(rc == 0 ? &state : NULL, from_uid, from_gid, rc == 0 ? NULL : err);
    }
    hardening_free(&view);
    return rc;
}
