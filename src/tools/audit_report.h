/*
 * audit_report.h - the findings of `rampart audit`: each with an identifier, a severity, evidence and the
 * fix; a hardening index 0-100; rendering as text for people or JSON (jansson) for tools; the exit-status
 * rule behind `--fail-on SEVERITY`. Pure: no configuration, no file access.
 */
#ifndef RAMPART_TOOLS_AUDIT_REPORT_H
#define RAMPART_TOOLS_AUDIT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum audit_severity { AUDIT_INFO = 0, AUDIT_LOW, AUDIT_MEDIUM, AUDIT_HIGH, AUDIT_CRITICAL };

#define AUDIT_MAX_FINDINGS 256
#define AUDIT_TEXT_MAX 512

struct audit_finding {
    char id[16];                  /* e.g. "LSN-001": stable, documented in docs/audit.md */
    enum audit_severity severity;
    char title[128];
    char evidence[AUDIT_TEXT_MAX]; /* what was seen, with file names and values (never secrets) */
    char fix[AUDIT_TEXT_MAX];     /* what to change */
};

struct audit_report {
    struct audit_finding findings[AUDIT_MAX_FINDINGS];
    size_t n;
    size_t dropped;   /* findings past AUDIT_MAX_FINDINGS (counted in the index, not listed) */
    size_t checks;    /* number of checks run (for the summary) */
    unsigned penalty; /* sum of the severity weights of every finding, dropped ones included */
};

/* Adds a finding; evidence is printf-formatted. Titles and fixes are static text from the checks. */
void audit_add(struct audit_report *r, const char *id, enum audit_severity sev, const char *title,
               const char *fix, const char *evidence_fmt, ...) __attribute__((format(printf, 6, 7)));

/* 100 minus the severity weights (critical 25, high 15, medium 6, low 2, info 0), never below 0. */
int audit_index(const struct audit_report *r);

/* "info", "low", "medium", "high", "critical". */
const char *audit_severity_name(enum audit_severity sev);
/* Parses a severity name. Returns 0 or -1. */
int audit_severity_parse(const char *name, enum audit_severity *out);

/* True when some finding has severity >= threshold. */
bool audit_has_at_least(const struct audit_report *r, enum audit_severity threshold);

/* Human output: findings by descending severity, then the index. */
void audit_render_text(const struct audit_report *r, const char *config_path, FILE *out);
/* JSON object {"config":..., "hardening_index":N, "checks":N, "findings":[{id,severity,title,evidence,fix}],
 * "counts":{"critical":N,...}}. Returns 0 or -1 (allocation). */
int audit_render_json(const struct audit_report *r, const char *config_path, FILE *out);

#endif
