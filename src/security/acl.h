/*
 * acl.h - authorization from a mosquitto-style acl_file (docs/acl.md), default deny.
 *
 * mosquitto syntax and meaning:
 *   # comment
 *   topic [read|write|readwrite|deny] TOPIC     rules before any `user` line: clients without a username
 *   user NAME                                   the rules that follow apply to clients with username NAME
 *   pattern [read|write|readwrite|deny] TOPIC   every client; a level "%u" is its username, "%c" its client id
 * Extensions (same style):
 *   identity NAME                               the rules that follow apply to clients whose TLS certificate
 *                                               identity (CN, or the subject with use_subject_as_username) is NAME
 *   topic ACCESS [OPTION...] TOPIC              ACCESS may also be `subscribe` (may subscribe, but receives
 *                                               only what read rules allow); OPTIONs, after an explicit ACCESS:
 *                                               maxqos=0|1|2, retain=deny, listener=PORT
 *
 * Meaning: a client may do X on topic T when some rule that applies to it grants X on a filter matching T
 * and no rule that applies to it denies T ("deny" rules win, whatever their order). Nothing else is allowed.
 * Writing to $SYS/... is never allowed. `+` and `#` at the first level do not match `$` topics (MQTT).
 * SUBSCRIBE to a filter is allowed when a rule granting read or subscribe covers the whole filter (every topic
 * it can match) and no deny rule covers it; delivery then checks each message with READ, so a partly denied
 * subscription receives only what it may read.
 *
 * Cost: rules are kept in tries keyed by topic level (literal levels in sorted arrays searched by bisection),
 * one per block (anonymous, each user, each identity, patterns); users and identities are found by
 * bisection. A check costs O(levels x wildcard branching x log(rules)), not O(rules).
 */
#ifndef RAMPART_SECURITY_ACL_H
#define RAMPART_SECURITY_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACL_MAX_FILE_SIZE (16u << 20)
#define ACL_MAX_LINE 4096
#define ACL_MAX_RULES 1000000

typedef struct acl acl;

enum acl_access {
    ACL_READ = 1,      /* receive a message published on the topic */
    ACL_WRITE = 2,     /* publish on the topic */
    ACL_SUBSCRIBE = 4, /* subscribe with a filter (the argument is a topic filter) */
};

/* Who is asking. Strings are NUL-terminated; NULL when absent. */
typedef struct acl_client {
    const char *username;
    const char *client_id;
    const char *cert_identity; /* TLS client certificate identity, NULL without one */
    uint16_t listener_port;
} acl_client;

/* The answer: allowed, and for an allowed SUBSCRIBE the highest QoS the rules grant (2 when no maxqos). */
typedef struct acl_result {
    bool allowed;
    uint8_t max_qos;
    uint32_t rules_examined; /* rules at the trie nodes the check visited (the cost; tests and metrics) */
} acl_result;

/*
 * Parses the ACL file at path. Returns the rules, or NULL with err set to "file:line: what is wrong" (or
 * "file: ..." for an unreadable file). The first error stops the load.
 */
acl *acl_load(const char *path, char *err, size_t errlen);
/* As acl_load, from len bytes of text (not NUL-terminated) named `name` in messages. */
acl *acl_load_buffer(const char *name, const char *text, size_t len, char *err, size_t errlen);
void acl_free(acl *a);

/*
 * SIGHUP: re-reads the file *current was loaded from. On success *current is replaced (the old rules freed)
 * and 0 is returned; on a parse error the old rules stay in service, err says "file:line: ..." and -1 is
 * returned.
 */
int acl_reload(acl **current, char *err, size_t errlen);
/* The file the rules came from ("(buffer name)" for acl_load_buffer). */
const char *acl_path(const acl *a);
size_t acl_rule_count(const acl *a);

/*
 * Checks `access` on topic (a topic name for READ/WRITE, a filter for SUBSCRIBE) of len bytes. qos is the
 * QoS of the PUBLISH (WRITE) or the one requested (SUBSCRIBE); retain the PUBLISH's retain flag (WRITE). For
 * READ, qos and retain are ignored. Pure: no logging, no allocation.
 */
acl_result acl_check(const acl *a, const acl_client *client, enum acl_access access, const char *topic,
                     size_t len, uint8_t qos, bool retain);

#endif
