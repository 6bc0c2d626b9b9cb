/*
 * auth.h - authentication as the broker sees it: one object that owns the password file, the ban list, the
 * login limiter and the verification worker pool, and answers each CONNECT with an MQTT 5 reason code.
 *
 * Flow for one CONNECT (all calls on the event loop thread):
 *   auth_begin()  checks, in order and before any password work: the ban list (0x8A Banned), anonymous
 *                 access (0x87 Not authorized when the listener does not allow it), the login limiter
 *                 (backoff: 0x9F Connection rate exceeded; username lockout: 0x8A), then queues the
 *                 password verification (queue full: 0x89 Server busy). It returns AUTH_DONE with the
 *                 reason code, or AUTH_PENDING.
 *   auth_fd()     becomes readable when verifications finished; the loop then calls auth_take_result()
 *                 until it returns false, and answers each connection by its cookie (a result whose
 *                 connection has gone is simply dropped by the caller).
 * Unknown users are verified against a dummy hash of the same scheme and cost as the file's most common one:
 * same work, same answer (0x86). An expired password is refused with 0x86 too, so a correct-but-expired
 * guess is indistinguishable from a wrong one; the log says "expired".
 * Every decision is logged on one line: `auth: EVENT address=.. username=".." client_id=".." ...`.
 * 3.1.1 clients get mqtt_connack_code_v311() of the reason (the caller maps it).
 */
#ifndef RAMPART_SECURITY_AUTH_H
#define RAMPART_SECURITY_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "security/addr.h"
#include "security/limiter.h"
#include "security/passwd.h"

typedef struct auth_config {
    const char *password_file;          /* NULL: no password file (then only anonymous clients, if allowed) */
    const char *ban_file;               /* NULL: bans kept in memory only */
    const struct ban_keyring *ban_keys; /* NULL: the ban file is text; else sealed under key[0] (copied) */
    limiter_config limiter;
    unsigned workers;                   /* verification threads; default 2 */
    unsigned queue_max;                 /* verifications waiting at most; default 64 */
    int64_t password_max_age;           /* seconds; 0 = no global maximum age */
    int64_t password_warn_before;       /* seconds before expiry to warn; default 14 days */
} auth_config;

/* Defaults as documented above. */
auth_config auth_config_default(void);

typedef struct auth auth;

/* Loads the password file and ban file, starts the workers, logs weak-scheme and expiring users.
 * Returns 0 or -1 with err ("file:line: what" for a bad file). The strings in cfg are copied. */
int auth_new(const auth_config *cfg, auth **out, char *err, size_t errlen);
void auth_free(auth *a);

/* SIGHUP: re-reads the password file and the ban file. A file that fails to parse keeps the old contents in
 * service and returns -1 with err; the caller logs it. */
int auth_reload(auth *a, char *err, size_t errlen);

/* Once a second or so: expires bans (logged), picks up ban-file changes made by `rampart ban`. */
void auth_tick(auth *a);

int auth_fd(const auth *a);

typedef struct auth_attempt {
    const sec_addr *addr;
    const char *listener;  /* for the log, e.g. "0.0.0.0:1883" */
    bool allow_anonymous;  /* this listener's setting */
    bool has_username, has_password;
    const uint8_t *username, *password, *client_id;
    size_t username_len, password_len, client_id_len;
} auth_attempt;

enum { AUTH_DONE = 0, AUTH_PENDING = 1 };

/* Starts authenticating attempt for the connection `cookie`. AUTH_DONE: *reason is the answer (0x00 accept).
 * AUTH_PENDING: the answer comes from auth_take_result(). The password is copied; the caller wipes its own. */
int auth_begin(auth *a, const auth_attempt *attempt, uint64_t cookie, uint8_t *reason);

/* The next finished verification: its cookie and reason code (0x00 accepted). False when none is waiting. */
bool auth_take_result(auth *a, uint64_t *cookie, uint8_t *reason);

/*
 * For authentication methods that run on the loop (SCRAM): auth_check() does the checks that come before any
 * work (bans, anonymous, limiter) and returns 0 or the refusal reason; auth_record() records the outcome
 * (limiter, counters, the log line with `method`, password expiry on success) and returns the final reason
 * (0 or 0x86). Unknown users and users without a SCRAM entry count as failures.
 */
uint8_t auth_check(auth *a, const auth_attempt *attempt);
uint8_t auth_record(auth *a, const auth_attempt *attempt, bool success, const char *method);
/*
 * A login by client certificate (use_identity_as_username / use_subject_as_username): attempt->username is
 * the certificate's identity, no password is involved. Only the ban list applies (address, network,
 * username, client identifier); the decision is logged with method=certificate. Returns 0 or 0x8A.
 */
uint8_t auth_certificate(auth *a, const auth_attempt *attempt);
/* The password file in service (NULL when none); valid until the next auth_reload(). */
const passwd_db *auth_db(const auth *a);

/* Adds a ban (and persists it when a ban file is configured). Used by the limiter's lockouts. */
int auth_ban_add(auth *a, int kind, const char *value, int64_t duration_s, const char *reason);
/*
 * Live key rotation of a sealed ban file (persistence key rotation on SIGHUP): derives the ban key from the new
 * master key, re-reads the file under the new or the running key, and rewrites it under the new key; the
 * running key stays readable as the old one. Nothing to do (0) when the ban file is not sealed or the key is
 * the running one. Returns 0, or -1 with err (then the running key stays in use).
 */
int auth_ban_rekey(auth *a, const uint8_t master[32], char *err, size_t errlen);

/* Counters for tests and $SYS. */
typedef struct auth_stats {
    uint64_t evaluated;     /* verifications actually run */
    uint64_t accepted, refused;
    uint64_t busy;          /* refused because the queue was full */
} auth_stats;
auth_stats auth_get_stats(const auth *a);

/* Writes s[0..len) for a log line: printable ASCII kept, '"' '\\' and other bytes as \xHH, at most 128
 * input bytes (then "..."). Returns out. */
char *auth_log_escape(const uint8_t *s, size_t len, char *out, size_t cap);

#endif
