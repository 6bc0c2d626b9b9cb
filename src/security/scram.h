/*
 * scram.h - the server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) for MQTT 5 enhanced authentication
 * (Authentication Method "SCRAM-SHA-256"). Pure: messages in, messages out, no I/O.
 *
 *   CONNECT  auth data = client-first   "n,,n=USER,r=CNONCE"      -> scram_server_first()
 *   AUTH 0x18 auth data = server-first  "r=CNONCE SNONCE,s=SALT,i=ITER"
 *   AUTH 0x18 auth data = client-final  "c=biws,r=NONCE,p=PROOF"  -> scram_server_final()
 *   CONNACK 0 auth data = server-final  "v=SERVERSIGNATURE"
 * The password file stores StoredKey and ServerKey ($scram-sha-256$ entries), never the password. Unknown
 * users (and users without a SCRAM entry) get a salt derived from a per-process secret and the username, so
 * repeated probes see a stable, plausible salt, and fail at the final step exactly like a wrong password.
 * Channel binding is not supported ("n,," and "y,," accepted; "p=" refused). Passwords are not SASLprep'd.
 */
#ifndef RAMPART_SECURITY_SCRAM_H
#define RAMPART_SECURITY_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "security/passwd.h"

#define SCRAM_METHOD "SCRAM-SHA-256"
#define SCRAM_MSG_MAX 1024

typedef struct scram_server scram_server;

enum { SCRAM_OK = 0, SCRAM_FAIL = 1, SCRAM_MALFORMED = -1 };

/* secret: 32 random bytes of the process, used for the salts of unknown users. NULL on allocation failure. */
scram_server *scram_server_new(const uint8_t secret[32]);
/* Wipes and frees. */
void scram_server_free(scram_server *s);

/* Test hook: use this server nonce instead of a random one (printable, no ','). */
void scram_server_set_nonce(scram_server *s, const char *nonce);

/*
 * Handles client-first. db may be NULL (no password file: every user is unknown). On SCRAM_OK writes
 * server-first to out[0..cap) and its length to *outlen. SCRAM_MALFORMED: bad message (answer 0x8C/0x87).
 */
int scram_server_first(scram_server *s, const uint8_t *msg, size_t len, const passwd_db *db, uint8_t *out,
                       size_t cap, size_t *outlen);
/* The username from client-first (decoded), NUL-terminated; "" before scram_server_first succeeded. */
const char *scram_server_username(const scram_server *s);

/*
 * Handles client-final. SCRAM_OK: the proof is right, out holds server-final. SCRAM_FAIL: wrong proof,
 * unknown user or no SCRAM entry (answer 0x86). SCRAM_MALFORMED: bad message or nonce mismatch.
 */
int scram_server_final(scram_server *s, const uint8_t *msg, size_t len, uint8_t *out, size_t cap, size_t *outlen);

#endif
