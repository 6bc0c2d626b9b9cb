/*
 * broker_acl.h - the ACL module (security/acl.h) as the broker's authorize hook, loaded from the
 * configuration's acl_file (per listener with per_listener_settings true), and its SIGHUP reload.
 *
 * A listener without acl_file allows everything (mosquitto's meaning); with one, everything not granted is
 * refused. For an offline session (no connection, so no listener), the ACL used is the one every listener
 * shares; when listeners have different ACLs an offline session is refused (fail closed).
 */
#ifndef RAMPART_BROKER_ACL_H
#define RAMPART_BROKER_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/broker.h"
#include "config/config.h"

typedef struct broker_acl broker_acl;

/* Loads every distinct acl_file of cfg's listeners. cfg must outlive the result. Returns NULL with err
 * ("file:line: what is wrong") when a file does not load. */
broker_acl *broker_acl_new(const rampart_config *cfg, char *err, size_t errlen);
void broker_acl_free(broker_acl *g);
/* True when at least one listener has an ACL. */
bool broker_acl_active(const broker_acl *g);

/* Sends ACL denials (subscribe, publish) and reload outcomes to the audit log (may be NULL; borrowed). */
struct auditlog;
void broker_acl_set_audit(broker_acl *g, struct auditlog *log);

/* Installs g as b's authorization hook (broker_set_authorizer); authentication hooks are left alone. */
void broker_acl_install(broker_acl *g, broker *b);

/* SIGHUP: re-reads every ACL file (a file that fails to parse keeps its old rules; logged with file:line),
 * then removes at once the live subscriptions the new rules no longer allow. */
void broker_acl_reload(broker_acl *g, broker *b);

/* Removes every subscription of every session that the security hook no longer allows; returns how many
 * (src/broker/recheck.c). */
size_t broker_recheck_subscriptions(broker *b);

#endif
