/* audit_checks.c - see audit_checks.h. */
#include "tools/audit_checks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ui.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "security/passwd.h"

#define DAY (24 * 3600)

/* ---- OpenSSL ----------------------------------------------------------------------------------------- */

/* End of upstream support per release series (openssl-library.org/policies/releasestrat), reviewed on
 * AUDIT_OPENSSL_REVIEWED. A series not listed is newer than this table and gets no finding. */
static const struct {
    unsigned minor;
    const char *eol; /* YYYY-MM-DD */
    time_t eol_time;
} openssl_series[] = {
    {0, "2026-09-07", 1788739200}, {1, "2025-03-14", 1741910400}, {2, "2025-11-23", 1763856000},
    {3, "2026-04-09", 1775692800}, {4, "2026-10-22", 1792627200}, {5, "2030-04-08", 1901836800},
};

void audit_check_openssl(struct audit_report *r, unsigned long version, const char *text, time_t now)
{
    unsigned major = (unsigned)(version >> 28), minor = (unsigned)((version >> 20) & 0xff);

    r->checks += 2;
    if (version < AUDIT_OPENSSL_MIN_NUMBER)
        audit_add(r, "OSSL-001", AUDIT_HIGH, "linked OpenSSL is older than the minimum",
                  "upgrade the OpenSSL library (Debian: apt-get install --only-upgrade libssl3)",
                  "linked %s; minimum %s (reviewed %s)", text, AUDIT_OPENSSL_MIN_TEXT, AUDIT_OPENSSL_REVIEWED);
    if (major != 3)
        return;
    for (size_t i = 0; i < sizeof openssl_series / sizeof openssl_series[0]; i++)
        if (openssl_series[i].minor == minor && now > openssl_series[i].eol_time)
            audit_add(r, "OSSL-002", AUDIT_LOW, "OpenSSL release series is past upstream end of life",
                      "make sure the distribution still backports security fixes (Debian 12 does for 3.0), "
                      "or move to a supported series",
                      "linked %s; series 3.%u upstream support ended %s", text, minor, openssl_series[i].eol);
}

/* ---- listening sockets --------------------------------------------------------------------------------- */

/* Decodes the hex address of a /proc/net/tcp* line (host-order 32-bit words) into text. */
static int decode_proc_addr(const char *hex, bool v6, char *out, size_t outlen)
{
    uint32_t words[4];
    size_t nwords = v6 ? 4 : 1;

    if (strlen(hex) != nwords * 8)
        return -1;
    for (size_t i = 0; i < nwords; i++) {
        char w[9];
        char *end;

        memcpy(w, hex + i * 8, 8);
        w[8] = '\0';
        words[i] = (uint32_t)strtoul(w, &end, 16);
        if (*end)
            return -1;
    }
    return inet_ntop(v6 ? AF_INET6 : AF_INET, words, out, (socklen_t)outlen) ? 0 : -1;
}

size_t audit_parse_proc_net_tcp(const char *text, bool v6, struct audit_socket *out, size_t *n, size_t max)
{
    size_t added = 0;

    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        char local[64], state[8];
        unsigned port;

        if (sscanf(line, " %*u: %63[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %7s", local, &port, state) != 3)
            continue;
        if (strcmp(state, "0A") || port > 65535 || *n >= max)
            continue;
        if (decode_proc_addr(local, v6, out[*n].addr, sizeof out[*n].addr) != 0)
            continue;
        out[*n].family = v6 ? 6 : 4;
        out[*n].port = (uint16_t)port;
        (*n)++;
        added++;
    }
    return added;
}

/* True for 127.0.0.0/8, ::1 and ::ffff:127.x. */
static bool is_loopback(const char *addr)
{
    return !strncmp(addr, "127.", 4) || !strcmp(addr, "::1") || !strncmp(addr, "::ffff:127.", 11);
}

void audit_check_sockets(struct audit_report *r, const struct audit_socket *socks, size_t n_socks,
                         const uint16_t *accounted, size_t n_accounted)
{
    r->checks++;
    for (size_t i = 0; i < n_socks; i++) {
        bool known = false;

        for (size_t j = 0; j < n_accounted && !known; j++)
            known = socks[i].port == accounted[j];
        if (known)
            continue;
        audit_add(r, "NET-001", is_loopback(socks[i].addr) ? AUDIT_LOW : AUDIT_MEDIUM,
                  "a listening TCP socket on this host is not one of the broker's listeners",
                  "stop the service behind it if unused, or firewall it (`rampart firewall`)",
                  "%s%s%s:%u is listening (IPv%d)", socks[i].family == 6 ? "[" : "", socks[i].addr,
                  socks[i].family == 6 ? "]" : "", (unsigned)socks[i].port, socks[i].family);
    }
}

/* ---- files --------------------------------------------------------------------------------------------- */

void audit_check_secret_file(struct audit_report *r, const char *path, const char *what, uid_t owner_uid)
{
    struct stat st;

    r->checks++;
    if (stat(path, &st) != 0) {
        audit_add(r, "FIL-004", AUDIT_HIGH, "a configured file is missing", "fix the path in the configuration",
                  "%s %s: %s", what, path, strerror(errno));
        return;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH))
        audit_add(r, "FIL-001", AUDIT_HIGH, "secret file readable or writable by every local user",
                  "chmod o-rwx on the file", "%s %s has mode %04o", what, path, (unsigned)(st.st_mode & 07777));
    else if (st.st_mode & (S_IRGRP | S_IWGRP))
        audit_add(r, "FIL-002", AUDIT_LOW, "secret file readable by its group",
                  "chmod 0600 (or 0640 with a group holding only the broker's account)", "%s %s has mode %04o",
                  what, path, (unsigned)(st.st_mode & 07777));
    if (st.st_uid != owner_uid && st.st_uid != 0)
        audit_add(r, "FIL-003", AUDIT_MEDIUM, "secret file owned by another account",
                  "chown it to the broker's account (or root)", "%s %s is owned by uid %u, the broker runs as uid %u",
                  what, path, (unsigned)st.st_uid, (unsigned)owner_uid);
}

/* True when account uid/gid (plus uid's supplementary groups) is in group `g`. */
static bool in_group(uid_t uid, gid_t gid, gid_t g)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    gid_t groups[256];
    int ngroups = 256;

    if (gid == g)
        return true;
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || !res)
        return false;
    if (getgrouplist(pw.pw_name, gid, groups, &ngroups) < 0)
        return false;
    for (int i = 0; i < ngroups; i++)
        if (groups[i] == g)
            return true;
    return false;
}

/* Whether uid/gid has permission `bit` (owner-class bit, e.g. S_IRUSR) on st. Root has all. */
static bool may(const struct stat *st, uid_t uid, gid_t gid, mode_t user_bit)
{
    if (uid == 0)
        return true;
    if (st->st_uid == uid)
        return (st->st_mode & user_bit) != 0;
    if (in_group(uid, gid, st->st_gid))
        return (st->st_mode & (user_bit >> 3)) != 0;
    return (st->st_mode & (user_bit >> 6)) != 0;
}

int audit_readable_by(const char *path, uid_t uid, gid_t gid, char *why, size_t whylen)
{
    char real[PATH_MAX], dir[PATH_MAX];
    struct stat st;

    if (!realpath(path, real) || stat(real, &st) != 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!may(&st, uid, gid, S_IRUSR)) {
        snprintf(why, whylen, "%s (mode %04o, owner %u:%u) is not readable by uid %u", path,
                 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)uid);
        return 0;
    }
    snprintf(dir, sizeof dir, "%s", real);
    for (char *d = dirname(dir); strcmp(d, "/") != 0; d = dirname(d)) {
        if (stat(d, &st) != 0 || !may(&st, uid, gid, S_IXUSR)) {
            snprintf(why, whylen, "%s: directory %s cannot be entered by uid %u", path, d, (unsigned)uid);
            return 0;
        }
    }
    return 1;
}

/* ---- certificates -------------------------------------------------------------------------------------- */

/* Reads the first certificate of a PEM file, or NULL. */
static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "re");
    X509 *x;

    if (!f)
        return NULL;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    return x;
}

/* Password callback that supplies none: an encrypted key then fails to load instead of prompting. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

int audit_cert_matches_key(const char *certfile, const char *keyfile, char *why, size_t whylen)
{
    X509 *x = read_cert(certfile);
    EVP_PKEY *key = NULL;
    FILE *f = NULL;
    int rc = -1;

    if (!x) {
        snprintf(why, whylen, "%s: not a readable PEM certificate", certfile);
        goto out;
    }
    f = fopen(keyfile, "re");
    if (f)
        key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
    if (!key) {
        snprintf(why, whylen, "%s: not a readable unencrypted PEM private key", keyfile);
        goto out;
    }
    rc = X509_check_private_key(x, key) == 1;
    if (!rc)
        snprintf(why, whylen, "%s does not match the certificate %s", keyfile, certfile);
out:
    ERR_clear_error();
    if (f)
        fclose(f);
    EVP_PKEY_free(key);
    X509_free(x);
    return rc;
}

/* CRT-001. */
static void check_expiry(struct audit_report *r, const char *certfile, X509 *x, time_t now)
{
    time_t soon = now + 30 * DAY;
    const ASN1_TIME *na = X509_get0_notAfter(x);

    if (X509_cmp_time(na, &now) < 0)
        audit_add(r, "CRT-001", AUDIT_CRITICAL, "certificate has expired", "renew the certificate",
                  "%s expired", certfile);
    else if (X509_cmp_time(na, &soon) < 0)
        audit_add(r, "CRT-001", AUDIT_HIGH, "certificate expires within 30 days", "renew the certificate",
                  "%s expires in less than 30 days", certfile);
}

/* CRT-002 and CRT-003. */
static void check_strength(struct audit_report *r, const char *certfile, X509 *x)
{
    EVP_PKEY *pk = X509_get0_pubkey(x);
    int bits = pk ? EVP_PKEY_get_bits(pk) : 0, md = NID_undef, pknid = NID_undef;
    bool rsa = pk && (EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "RSA-PSS"));
    bool ec = pk && EVP_PKEY_is_a(pk, "EC");

    if ((rsa && bits < 2048) || (ec && bits < 256) || (pk && EVP_PKEY_is_a(pk, "DSA")))
        audit_add(r, "CRT-002", AUDIT_HIGH, "certificate has a weak key",
                  "issue a new certificate with RSA >= 3072, P-256 or Ed25519", "%s: %s key of %d bits",
                  certfile, pk ? EVP_PKEY_get0_type_name(pk) : "unknown", bits);
    if (OBJ_find_sigid_algs(X509_get_signature_nid(x), &md, &pknid) && (md == NID_md5 || md == NID_sha1))
        audit_add(r, "CRT-003", AUDIT_HIGH, "certificate has a weak signature",
                  "reissue it signed with SHA-256 or better", "%s is signed with %s", certfile, OBJ_nid2sn(md));
}

/* CRT-004: chain verification with the configured CA. */
static void check_chain(struct audit_report *r, const char *certfile, X509 *x, const char *cafile,
                        const char *capath)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = 0, err = 0;

    if (!store || !ctx)
        goto out;
    /* The configured CA (often the client CA as well) and the system store (public server certificates). */
    ok = X509_STORE_set_default_paths(store);
    if (ok && (cafile || capath))
        ok = X509_STORE_load_locations(store, cafile, capath);
    if (ok && X509_STORE_CTX_init(ctx, store, x, NULL) == 1) {
        ok = X509_verify_cert(ctx) == 1;
        err = X509_STORE_CTX_get_error(ctx);
    } else {
        ok = 0;
        err = X509_V_ERR_UNSPECIFIED;
    }
    if (!ok)
        audit_add(r, "CRT-004", AUDIT_HIGH, "certificate chain does not verify",
                  "install the full chain in certfile and the issuing CA in cafile",
                  "%s against %s: %s", certfile, cafile ? cafile : capath ? capath : "the system store",
                  X509_verify_cert_error_string(err));
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
}

void audit_check_certificate(struct audit_report *r, const char *certfile, const char *keyfile,
                             const char *cafile, const char *capath, time_t now)
{
    X509 *x = read_cert(certfile);
    char why[512];
    int m;

    r->checks += 5;
    if (!x) {
        audit_add(r, "CRT-006", AUDIT_HIGH, "certificate cannot be read", "fix certfile",
                  "%s is not a readable PEM certificate", certfile);
        ERR_clear_error();
        return;
    }
    check_expiry(r, certfile, x, now);
    check_strength(r, certfile, x);
    check_chain(r, certfile, x, cafile, capath);
    X509_free(x);
    if (!keyfile)
        return;
    m = audit_cert_matches_key(certfile, keyfile, why, sizeof why);
    if (m == 0)
        audit_add(r, "CRT-005", AUDIT_HIGH, "certificate and private key do not match",
                  "configure the key that belongs to the certificate", "%s", why);
    else if (m < 0)
        audit_add(r, "CRT-005", AUDIT_INFO, "private key could not be checked against the certificate",
                  "run the audit where the key is readable; encrypted keys are not opened by the audit", "%s",
                  why);
}

void audit_check_crl(struct audit_report *r, const char *crlfile, bool need_crl, const char *listener,
                     time_t now)
{
    X509_CRL *crl = NULL;
    FILE *f;

    r->checks++;
    if (!crlfile) {
        if (need_crl)
            audit_add(r, "CRT-007", AUDIT_MEDIUM, "client certificates required but no CRL configured",
                      "set crlfile so revoked client certificates are refused", "listener %s", listener);
        return;
    }
    f = fopen(crlfile, "re");
    if (f) {
        crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
        fclose(f);
    }
    if (!crl)
        audit_add(r, "CRT-008", AUDIT_HIGH, "CRL cannot be read", "fix crlfile", "%s (listener %s)", crlfile,
                  listener);
    else if (!X509_CRL_get0_nextUpdate(crl) || X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &now) < 0)
        audit_add(r, "CRT-008", AUDIT_HIGH, "CRL is stale (past its next update) or has no next update",
                  "fetch a fresh CRL from the CA and reload the broker (SIGHUP)", "%s (listener %s)", crlfile,
                  listener);
    ERR_clear_error();
    X509_CRL_free(crl);
}

/* ---- credentials --------------------------------------------------------------------------------------- */

/* Adds CRD-001..003 for one entry. */
static void check_password_entry(struct audit_report *r, const char *path, const passwd_entry *e,
                                 int64_t global_max_age, time_t now)
{
    int64_t max_age = e->max_age ? e->max_age : global_max_age;

    if (passwd_scheme_is_weak(e->hash.scheme))
        audit_add(r, "CRD-001", AUDIT_HIGH, "password stored with a weak hash scheme",
                  "reset it with `rampart passwd` (argon2id)", "%s:%u: user '%s' uses %s", path, e->line,
                  e->username, passwd_scheme_name(e->hash.scheme));
    if (max_age > 0 && e->set_time > 0 && e->set_time + max_age < (int64_t)now)
        audit_add(r, "CRD-002", AUDIT_MEDIUM, "password has expired", "set a new password with `rampart passwd`",
                  "%s:%u: user '%s' password older than %lld s", path, e->line, e->username, (long long)max_age);
    else if (max_age <= 0)
        audit_add(r, "CRD-003", AUDIT_LOW, "password never expires",
                  "set a maximum password age (per user max_age, or the global option)",
                  "%s:%u: user '%s' has no maximum age", path, e->line, e->username);
}

void audit_check_password_file(struct audit_report *r, const char *path, int64_t global_max_age, time_t now)
{
    passwd_db *db = NULL;
    char err[512];

    r->checks += 3;
    if (passwd_db_load(path, &db, err, sizeof err) != 0) {
        audit_add(r, "CRD-004", AUDIT_HIGH, "password file cannot be read", "fix the file (rampart check)", "%s",
                  err);
        return;
    }
    for (size_t i = 0; i < passwd_db_count(db); i++)
        check_password_entry(r, path, passwd_db_at(db, i), global_max_age, now);
    passwd_db_free(db);
}

void audit_check_acl_file(struct audit_report *r, const char *path)
{
    FILE *f = fopen(path, "re");
    char line[4096];
    unsigned n = 0;

    r->checks++;
    if (!f) {
        audit_add(r, "ACL-003", AUDIT_HIGH, "ACL file cannot be read", "fix acl_file", "%s: %s", path,
                  strerror(errno));
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char kw[16], a[256], b[256];
        int k;

        n++;
        k = sscanf(line, " %15s %255s %255s", kw, a, b);
        if (k < 2 || (strcmp(kw, "topic") && strcmp(kw, "pattern")))
            continue;
        /* `topic [read|write|readwrite|subscribe] FILTER`; deny lines grant nothing. */
        if ((k == 2 && !strcmp(a, "#")) || (k == 3 && strcmp(a, "deny") && !strcmp(b, "#")))
            audit_add(r, "ACL-002", AUDIT_MEDIUM, "ACL grants the whole topic tree `#`",
                      "grant only the topics each client needs (e.g. `pattern readwrite devices/%u/#`)",
                      "%s:%u: %s %s%s%s", path, n, kw, a, k == 3 ? " " : "", k == 3 ? b : "");
    }
    fclose(f);
}
