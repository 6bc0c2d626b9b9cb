/*
 * auditlog.h - the security audit log: one JSON object per line (jansson), for an operator, a SIEM or
 * fail2ban. Not the operator's log (base/log.h). Destinations (configuration: `audit_dest file PATH | syslog |
 * stdout`, repeatable): files are opened in append mode and reopened on SIGHUP (logrotate); syslog uses the
 * AUTHPRIV facility; stdout is line-buffered.
 *
 * Each line: {"time":"2026-01-01T00:00:00.000Z","event":TYPE,"listener":..,"address":..,"port":..,
 * "client_id":..,"username":..,"cert_subject":..,"outcome":..,"reason":..,"topic":..} then the event's extra fields; absent
 * fields are left out. Never pass a secret in any field.
 *
 * Flood control: at most `rate` events per second per (event type, source address); the others are counted,
 * and the count is reported in an "audit_suppressed" event when that source's next window opens (or when its
 * slot is reused). Memory is a fixed table: an attacker cannot grow it.
 */
#ifndef RAMPART_SECURITY_AUDITLOG_H
#define RAMPART_SECURITY_AUDITLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/secevent.h"

#define AUDITLOG_MAX_FILES 4
#define AUDITLOG_SLOTS 1024

typedef struct auditlog auditlog;

/* An event: the fields of base/secevent.h (type required; absent strings NULL; extra fields after the
 * standard ones). */
typedef secevent auditlog_event;

/* An audit log without destinations (events are dropped until one is added); rate = events per second per
 * type and source (>= 1). NULL when out of memory. */
auditlog *auditlog_new(uint32_t rate);
void auditlog_free(auditlog *a);
/* Adds a destination. Returns 0, or -1 with err (file cannot be opened). */
int auditlog_add_file(auditlog *a, const char *path, char *err, size_t errlen);
void auditlog_add_syslog(auditlog *a);
void auditlog_add_stdout(auditlog *a);
/* True when at least one destination is set. */
bool auditlog_enabled(const auditlog *a);

/* Writes one event (subject to the rate limit) at time now_ms (milliseconds since the epoch). */
void auditlog_emit(auditlog *a, const auditlog_event *e, int64_t now_ms);
/* The current time in milliseconds since the epoch. */
int64_t auditlog_now_ms(void);

/* A secevent sink (base/secevent.h) writing to the audit log ctx at the current time:
 * secevent_set_sink(auditlog_sink, a). */
void auditlog_sink(void *ctx, const secevent *e);

/* SIGHUP: reopens the files (a file that cannot be reopened keeps the old descriptor; -1 and err). */
int auditlog_reopen(auditlog *a, char *err, size_t errlen);

/* Events written and suppressed so far (metrics, tests). */
uint64_t auditlog_written(const auditlog *a);
uint64_t auditlog_suppressed(const auditlog *a);

#endif
