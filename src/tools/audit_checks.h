/*
 * audit_checks.h - the checks of `rampart audit` that do not need the configuration module: each takes
 * plain inputs (paths, texts, numbers), adds findings to a report, and counts itself in r->checks. The
 * configuration-driven walk is in audit.c. Finding identifiers are listed in docs/audit.md.
 */
#ifndef RAMPART_TOOLS_AUDIT_CHECKS_H
#define RAMPART_TOOLS_AUDIT_CHECKS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "tools/audit_report.h"

/* The oldest OpenSSL release Rampart accepts without a finding, and when that was last decided. */
#define AUDIT_OPENSSL_MIN_NUMBER 0x30000100UL /* 3.0.16 */
#define AUDIT_OPENSSL_MIN_TEXT "3.0.16"
#define AUDIT_OPENSSL_REVIEWED "2026-11-29"

/* OSSL-001: linked version below the minimum; OSSL-002: its release series is past upstream end of life
 * (distributions may still backport fixes: low). `version` is OpenSSL_version_num()'s format. */
void audit_check_openssl(struct audit_report *r, unsigned long version, const char *text, time_t now);

/* A TCP socket in LISTEN state read from /proc/net/tcp or tcp6. */
struct audit_socket {
    int family; /* 4 or 6 */
    char addr[48];
    uint16_t port;
};

/* Parses the text of /proc/net/tcp (v6 false) or /proc/net/tcp6 (v6 true) and appends the listening
 * sockets to out[*n..max). Malformed lines are skipped. Returns the number appended. */
size_t audit_parse_proc_net_tcp(const char *text, bool v6, struct audit_socket *out, size_t *n, size_t max);

/* NET-001: every listening socket whose port is not in accounted[0..n_accounted) (low when bound to
 * loopback only, medium otherwise). */
void audit_check_sockets(struct audit_report *r, const struct audit_socket *socks, size_t n_socks,
                         const uint16_t *accounted, size_t n_accounted);

/* FIL-001 (readable or writable by others), FIL-002 (group-readable, low), FIL-003 (not owned by the
 * broker's account `owner_uid`, or root), FIL-004 (missing). `what` names the file's role. */
void audit_check_secret_file(struct audit_report *r, const char *path, const char *what, uid_t owner_uid);

/* CRT-001 expired (critical) or expiring within 30 days (high), CRT-002 weak key, CRT-003 weak signature,
 * CRT-004 chain does not verify against cafile/capath (either may be NULL: then the system store),
 * CRT-005 certificate and key do not match (keyfile NULL: skipped; an encrypted key: info),
 * CRT-006 unreadable certificate. */
void audit_check_certificate(struct audit_report *r, const char *certfile, const char *keyfile,
                             const char *cafile, const char *capath, time_t now);

/* CRT-007 CRL missing where client certificates are required (need_crl), CRT-008 CRL stale (past
 * nextUpdate) or unreadable. */
void audit_check_crl(struct audit_report *r, const char *crlfile, bool need_crl, const char *listener,
                     time_t now);

/* CRD-001 weak hash schemes ($6$, $7$), CRD-002 expired passwords, CRD-003 passwords that never expire
 * (neither a per-user max_age nor `global_max_age`), CRD-004 unreadable or invalid file. */
void audit_check_password_file(struct audit_report *r, const char *path, int64_t global_max_age, time_t now);

/* ACL-002: an ACL file granting `#` (a topic or pattern line whose filter is `#`) to anyone; ACL-003
 * unreadable file. */
void audit_check_acl_file(struct audit_report *r, const char *path);

/* Shared with `rampart check`: can account uid (primary group gid, plus its supplementary groups) read
 * `path`, judged from the mode bits and owners of the file and every directory above it? Returns 1 yes,
 * 0 no (why says which), -1 the path does not exist (why says so). */
int audit_readable_by(const char *path, uid_t uid, gid_t gid, char *why, size_t whylen);

/* Shared with `rampart check`: does the private key in keyfile match the certificate in certfile?
 * Returns 1 yes, 0 no, -1 unreadable (why says what; an encrypted key without its passphrase counts). */
int audit_cert_matches_key(const char *certfile, const char *keyfile, char *why, size_t whylen);

#endif
