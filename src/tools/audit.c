/*
 * audit.c - `rampart audit -c FILE [--json] [--fail-on SEVERITY]`: a hardening audit of a deployment (its
 * configuration, the files it names, the OpenSSL it links, the running broker when `pid_file` names one, and
 * the host's listening sockets). Findings and identifiers: docs/audit.md. Exit status: 0, or 1 when
 * --fail-on is given and a finding reaches that severity, 2 on usage or configuration errors.
 */
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "security/sandbox.h"
#include "tools/audit_checks.h"
#include "tools/audit_report.h"
#include "tools/commands.h"
#include "security/hardening.h"
#include "tools/fwrules.h"

#define AUDIT_MAX_SOCKETS 1024
#define AUDIT_PROC_MAX (4u * 1024 * 1024)

struct audit_args {
    const char *config;
    bool json;
    bool fail_on_set;
    enum audit_severity fail_on;
};

static void audit_usage(FILE *out)
{
    fprintf(out, "usage: rampart audit -c FILE [--json] [--fail-on info|low|medium|high|critical]\n");
}

/* Returns 0, or 2 after printing usage. */
static int parse_args(int argc, char **argv, struct audit_args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") && i + 1 < argc) {
            a->config = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            a->json = true;
        } else if (!strcmp(argv[i], "--fail-on") && i + 1 < argc) {
            if (audit_severity_parse(argv[++i], &a->fail_on) != 0) {
                fprintf(stderr, "rampart audit: unknown severity '%s'\n", argv[i]);
                return 2;
            }
            a->fail_on_set = true;
        } else {
            audit_usage(stderr);
            return 2;
        }
    }
    if (!a->config) {
        audit_usage(stderr);
        return 2;
    }
    return 0;
}

/* Name used in evidence for listener l. */
static const char *listener_name(const struct hardening_listener *l, char *buf, size_t len)
{
    snprintf(buf, len, "%s%s%s:%u", l->bind && strchr(l->bind, ':') ? "[" : "", l->bind ? l->bind : "*",
             l->bind && strchr(l->bind, ':') ? "]" : "", (unsigned)l->port);
    return buf;
}

/* LSN-003: a minimum TLS version below 1.2, or a cipher list admitting suites without forward secrecy or
 * without AEAD (weaker than the defaults). */
static void check_tls_params(struct audit_report *r, const struct hardening_listener *l, const char *name)
{
    SSL_CTX *ctx;
    STACK_OF(SSL_CIPHER) *ciphers;
    int weak = 0;
    const char *example = NULL;

    r->checks += 2;
    if (l->tls_version && (!strcmp(l->tls_version, "tlsv1") || !strcmp(l->tls_version, "tlsv1.1")))
        audit_add(r, "LSN-003", AUDIT_HIGH, "TLS versions older than 1.2 allowed",
                  "remove tls_version (the default is TLS 1.2 and 1.3)", "listener %s: tls_version %s", name,
                  l->tls_version);
    if (!l->ciphers)
        return;
    ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_set_cipher_list(ctx, l->ciphers) != 1) {
        audit_add(r, "LSN-003", AUDIT_MEDIUM, "TLS cipher list not understood by OpenSSL",
                  "remove ciphers to use the defaults", "listener %s: ciphers %s", name, l->ciphers);
        SSL_CTX_free(ctx);
        return;
    }
    ciphers = SSL_CTX_get_ciphers(ctx);
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); i++) {
        const SSL_CIPHER *c = sk_SSL_CIPHER_value(ciphers, i);
        int kx = SSL_CIPHER_get_kx_nid(c);
        bool fs = kx == NID_kx_ecdhe || kx == NID_kx_dhe || kx == NID_kx_any;

        if (SSL_CIPHER_get_protocol_id(c) >> 8 == 0x13)
            continue; /* TLS 1.3 suites: all AEAD with forward secrecy */
        if (!fs || !SSL_CIPHER_is_aead(c)) {
            weak++;
            example = example ? example : SSL_CIPHER_get_name(c);
        }
    }
    if (weak)
        audit_add(r, "LSN-003", AUDIT_MEDIUM, "TLS cipher list weaker than the defaults",
                  "remove ciphers (defaults: forward-secret AEAD suites only)",
                  "listener %s: %d suites without forward secrecy or AEAD, e.g. %s", name, weak, example);
    SSL_CTX_free(ctx);
}

/* LSN-001..006 for one listener. */
static void check_listener(struct audit_report *r, const struct hardening_listener *l)
{
    char name[96];
    bool exposed = !fw_address_is_loopback(l->bind);

    listener_name(l, name, sizeof name);
    r->checks += 5;
    if (l->metrics) {
        if (exposed && !l->metrics_auth)
            audit_add(r, "LSN-006", AUDIT_MEDIUM, "metrics exposed without authentication",
                      "bind metrics_listener to loopback or set metrics_password_file (and TLS)",
                      "metrics listener %s has neither metrics_password_file nor TLS", name);
        else if (exposed && !l->tls)
            audit_add(r, "LSN-006", AUDIT_LOW, "metrics password sent in clear text",
                      "set metrics_certfile and metrics_keyfile, or bind metrics_listener to loopback",
                      "metrics listener %s uses basic authentication without TLS", name);
        return;
    }
    if (exposed && !l->tls)
        audit_add(r, "LSN-001", AUDIT_HIGH, "plaintext listener on a non-loopback address",
                  "configure certfile/keyfile on it, or bind it to 127.0.0.1", "listener %s%s has no TLS", name,
                  l->websockets ? " (websockets)" : "");
    if (exposed && l->allow_anonymous)
        audit_add(r, "LSN-002", AUDIT_HIGH, "anonymous clients accepted on a non-loopback address",
                  "set allow_anonymous false and use passwords or client certificates",
                  "listener %s allows anonymous clients", name);
    else if (exposed && !l->require_certificate && !l->password_auth)
        audit_add(r, "LSN-004", AUDIT_MEDIUM, "listener requires neither client certificates nor passwords",
                  "set password_file or require_certificate true", "listener %s", name);
    if (l->websockets && !l->ws_origin_check)
        audit_add(r, "LSN-005", exposed ? AUDIT_MEDIUM : AUDIT_LOW, "WebSocket listener without Origin checks",
                  "list the allowed web origins (cross-site WebSocket hijacking)", "listener %s", name);
    if (l->tls)
        check_tls_params(r, l, name);
}

/* Certificates, CRLs and secret files of one TLS listener. */
static void check_listener_files(struct audit_report *r, const struct hardening_view *v,
                                 const struct hardening_listener *l, uid_t owner, time_t now)
{
    const char *cafile = l->cafile, *capath = l->capath;
    char name[96];

    if (!l->tls)
        return;
    listener_name(l, name, sizeof name);
    /* A listener without a CA of its own (e.g. a browser-facing one) is verified against the CAs the rest of
     * the deployment trusts, then the system store. */
    for (size_t i = 0; i < v->n_listeners && !cafile && !capath; i++)
        cafile = v->listeners[i].cafile, capath = v->listeners[i].capath;
    audit_check_certificate(r, l->certfile, l->keyfile, cafile, capath, now);
    audit_check_crl(r, l->crlfile, l->require_certificate, name, now);
    if (l->keyfile)
        audit_check_secret_file(r, l->keyfile, "key file", owner);
}

/* Reads a whole small file (/proc) into a NUL-terminated buffer the caller frees, or NULL. */
static char *read_small_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;

    if (!f)
        return NULL;
    do {
        char *nb;

        if (len + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 16384;
            nb = cap <= AUDIT_PROC_MAX ? realloc(buf, cap) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + len, 1, 4096, f);
        len += got;
    } while (got > 0);
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* NET-001 from /proc/net/tcp and tcp6. */
static void check_ports(struct audit_report *r, const struct hardening_view *v)
{
    static struct audit_socket socks[AUDIT_MAX_SOCKETS];
    uint16_t accounted[HARDENING_MAX_LISTENERS + 2];
    size_t n_acc = 0, n = 0;

    for (size_t i = 0; i < v->n_listeners; i++)
        accounted[n_acc++] = v->listeners[i].port;
    if (v->cluster_node_name && fw_cluster_ports(v->cluster_node_name, &accounted[n_acc], &accounted[n_acc + 1]) == 0)
        n_acc += 2;
    /* Line by line: on a busy host the tables hold many thousands of connections, listeners are few. */
    for (int v6 = 0; v6 <= 1; v6++) {
        FILE *f = fopen(v6 ? "/proc/net/tcp6" : "/proc/net/tcp", "re");
        char line[512];

        while (f && fgets(line, sizeof line, f))
            audit_parse_proc_net_tcp(line, v6, socks, &n, AUDIT_MAX_SOCKETS);
        if (f)
            fclose(f);
    }
    audit_check_sockets(r, socks, n, accounted, n_acc);
}

/* Value of "Key:" in a /proc/PID/status text, or NULL. */
static const char *status_field(const char *text, const char *key, char *out, size_t len)
{
    const char *p = strstr(text, key);

    if (!p || sscanf(p + strlen(key), " %63[^\n]", out) != 1 || len < 64)
        return NULL;
    return out;
}

/* PRC-001/003/004/006 on the running broker named by pid_file. Returns true when it was found. */
static bool check_live_process(struct audit_report *r, const struct hardening_view *v)
{
    char path[64], val[64], *status, *limits;
    FILE *f = v->pid_file ? fopen(v->pid_file, "re") : NULL;
    int pid = 0;

    if (!f)
        return false;
    if (fscanf(f, "%d", &pid) != 1 || pid <= 0)
        pid = 0;
    fclose(f);
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    status = pid ? read_small_file(path) : NULL;
    if (!status || strncmp(status, "rampart", 7) != 0)
        pid = 0; /* a stale pid file: the process is gone or another program has the number */
    free(status);
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    status = pid ? read_small_file(path) : NULL;
    snprintf(path, sizeof path, "/proc/%d/limits", pid);
    limits = pid ? read_small_file(path) : NULL;
    if (status) {
        r->checks += 3;
        if (status_field(status, "Uid:", val, sizeof val) && atoi(val) == 0)
            audit_add(r, "PRC-001", AUDIT_HIGH, "the broker is running as root", "set user to an unprivileged account",
                      "pid %d (from %s): Uid %s", pid, v->pid_file, val);
        if (status_field(status, "NoNewPrivs:", val, sizeof val) && strcmp(val, "1"))
            audit_add(r, "PRC-006", AUDIT_MEDIUM, "the broker can gain privileges (no_new_privs off)",
                      "run a Rampart build with the sandbox", "pid %d: NoNewPrivs %s", pid, val);
        if (status_field(status, "Seccomp:", val, sizeof val) && strcmp(val, "2"))
            audit_add(r, "PRC-003", AUDIT_MEDIUM, "the running broker has no seccomp filter",
                      "remove sandbox_seccomp false and restart", "pid %d: Seccomp %s", pid, val);
    }
    if (limits && strstr(limits, "Max core file size")) {
        const char *p = strstr(limits, "Max core file size") + strlen("Max core file size");

        r->checks++;
        if (sscanf(p, " %63s", val) == 1 && strcmp(val, "0"))
            audit_add(r, "PRC-004", AUDIT_MEDIUM, "core dumps enabled for the broker (keys would be written out)",
                      "restart the broker (it disables them) or set LimitCORE=0", "pid %d: core size limit %s", pid,
                      val);
    }
    free(status);
    free(limits);
    return status != NULL;
}

/* PRC-001..005 from the configuration, and the live process when there is one. */
static void check_process(struct audit_report *r, const struct hardening_view *v)
{
    r->checks += 4;
    if (v->user && !strcmp(v->user, "root"))
        audit_add(r, "PRC-001", AUDIT_HIGH, "configured to keep running as root",
                  "remove `user root` (default: the rampart account, else nobody)", "%s: user root", v->config_path);
    if (!v->landlock)
        audit_add(r, "PRC-002", AUDIT_MEDIUM, "Landlock sandbox switched off", "remove sandbox_landlock false",
                  "%s: sandbox_landlock false", v->config_path);
    else if (sandbox_landlock_abi() == 0)
        audit_add(r, "PRC-005", AUDIT_MEDIUM, "this kernel does not provide Landlock",
                  "run a kernel with Landlock enabled (lsm=landlock,...)", "landlock_create_ruleset: no ABI");
    if (!v->seccomp)
        audit_add(r, "PRC-003", AUDIT_MEDIUM, "seccomp sandbox switched off", "remove sandbox_seccomp false",
                  "%s: sandbox_seccomp false", v->config_path);
    if (!check_live_process(r, v))
        audit_add(r, "PRC-000", AUDIT_INFO, "no running broker found; process checks used the configuration only",
                  "set pid_file so the audit can inspect the running broker",
                  v->pid_file ? "pid_file %s names no running process" : "no pid_file configured",
                  v->pid_file ? v->pid_file : "");
}

/* Credentials: password file, ACL. */
static void check_credentials(struct audit_report *r, const struct hardening_view *v, uid_t owner, time_t now)
{
    r->checks++;
    if (v->password_file) {
        audit_check_secret_file(r, v->password_file, "password file", owner);
        audit_check_password_file(r, v->password_file, v->password_max_age, now);
    }
    if (v->acl_file) {
        audit_check_secret_file(r, v->acl_file, "ACL file", owner);
        audit_check_acl_file(r, v->acl_file);
    } else {
        audit_add(r, "ACL-001", AUDIT_MEDIUM, "no ACL: every client may publish and subscribe to every topic",
                  "set acl_file (default deny: what is not granted is refused)", "%s: no acl_file", v->config_path);
    }
}

/* Runs every check over the view. */
static void audit_run(struct audit_report *r, const struct hardening_view *v)
{
    struct sandbox_policy p;
    char name[64], err[256];
    uid_t owner = 0;
    gid_t gid;
    time_t now = time(NULL);

    sandbox_policy_init(&p);
    p.user_mode = v->user ? SANDBOX_USER_NAMED : SANDBOX_USER_DEFAULT;
    p.user = v->user;
    r->checks++;
    if (sandbox_resolve_user(&p, &owner, &gid, name, sizeof name, err, sizeof err) != 0) {
        audit_add(r, "PRC-007", AUDIT_HIGH, "the account the broker should run as does not exist",
                  "create it (useradd --system --no-create-home rampart) or fix `user`", "%s: %s", v->config_path,
                  err);
        owner = 0;
    }
    audit_check_openssl(r, OpenSSL_version_num(), OpenSSL_version(OPENSSL_VERSION), now);
    for (size_t i = 0; i < v->n_listeners; i++) {
        check_listener(r, &v->listeners[i]);
        check_listener_files(r, v, &v->listeners[i], owner, now);
    }
    check_credentials(r, v, owner, now);
    check_process(r, v);
    check_ports(r, v);
}

int rampart_audit_main(int argc, char **argv)
{
    static struct hardening_view view;
    static struct audit_report report;
    struct audit_args args;
    char err[1024];
    int rc = parse_args(argc, argv, &args);

    if (rc != 0)
        return rc;
    if (hardening_load(args.config, &view, err, sizeof err) != 0) {
        fprintf(stderr, "rampart audit: %s\n", err);
        return 2;
    }
    memset(&report, 0, sizeof report);
    audit_run(&report, &view);
    if (args.json)
        rc = audit_render_json(&report, args.config, stdout) == 0 ? 0 : 2;
    else
        audit_render_text(&report, args.config, stdout);
    if (rc == 0 && args.fail_on_set && audit_has_at_least(&report, args.fail_on))
        rc = 1;
    hardening_free(&view);
    return rc;
}
