/* audit_report.c - see audit_report.h. */
#include "tools/audit_report.h"

#include <assert.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

static const char *const severity_names[] = {"info", "low", "medium", "high", "critical"};
static const unsigned severity_weight[] = {0, 2, 6, 15, 25};

const char *audit_severity_name(enum audit_severity sev)
{
    assert(sev >= AUDIT_INFO && sev <= AUDIT_CRITICAL);
    return severity_names[sev];
}

int audit_severity_parse(const char *name, enum audit_severity *out)
{
    for (int i = AUDIT_INFO; i <= AUDIT_CRITICAL; i++)
        if (name && !strcmp(name, severity_names[i])) {
            *out = (enum audit_severity)i;
            return 0;
        }
    return -1;
}

void audit_add(struct audit_report *r, const char *id, enum audit_severity sev, const char *title,
               const char *fix, const char *evidence_fmt, ...)
{
    struct audit_finding *f;
    va_list ap;

    assert(sev >= AUDIT_INFO && sev <= AUDIT_CRITICAL);
    r->penalty += severity_weight[sev];
    if (r->n >= AUDIT_MAX_FINDINGS) {
        r->dropped++;
        return;
    }
    f = &r->findings[r->n++];
    snprintf(f->id, sizeof f->id, "%s", id);
    f->severity = sev;
    snprintf(f->title, sizeof f->title, "%s", title);
    snprintf(f->fix, sizeof f->fix, "%s", fix);
    va_start(ap, evidence_fmt);
    vsnprintf(f->evidence, sizeof f->evidence, evidence_fmt, ap);
    va_end(ap);
}

int audit_index(const struct audit_report *r)
{
    return r->penalty >= 100 ? 0 : 100 - (int)r->penalty;
}

bool audit_has_at_least(const struct audit_report *r, enum audit_severity threshold)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->findings[i].severity >= threshold)
            return true;
    return false;
}

/* Counts findings of severity `sev`. */
static size_t count_of(const struct audit_report *r, enum audit_severity sev)
{
    size_t n = 0;

    for (size_t i = 0; i < r->n; i++)
        n += r->findings[i].severity == sev;
    return n;
}

void audit_render_text(const struct audit_report *r, const char *config_path, FILE *out)
{
    fprintf(out, "rampart audit of %s: %zu checks, %zu findings\n\n", config_path, r->checks, r->n + r->dropped);
    for (int sev = AUDIT_CRITICAL; sev >= AUDIT_INFO; sev--)
        for (size_t i = 0; i < r->n; i++) {
            const struct audit_finding *f = &r->findings[i];

            if ((int)f->severity != sev)
                continue;
            fprintf(out, "[%s] %s %s\n", audit_severity_name(f->severity), f->id, f->title);
            fprintf(out, "    evidence: %s\n", f->evidence);
            fprintf(out, "    fix:      %s\n\n", f->fix);
        }
    if (r->dropped)
        fprintf(out, "(%zu more findings not listed)\n", r->dropped);
    fprintf(out, "critical %zu, high %zu, medium %zu, low %zu, info %zu\n", count_of(r, AUDIT_CRITICAL),
            count_of(r, AUDIT_HIGH), count_of(r, AUDIT_MEDIUM), count_of(r, AUDIT_LOW), count_of(r, AUDIT_INFO));
    fprintf(out, "hardening index: %d/100\n", audit_index(r));
}

/* The findings as a JSON array, or NULL on allocation failure. */
static json_t *findings_json(const struct audit_report *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < r->n; i++) {
        const struct audit_finding *f = &r->findings[i];
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", f->id, "severity",
                              audit_severity_name(f->severity), "title", f->title, "evidence", f->evidence,
                              "fix", f->fix);

        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int audit_render_json(const struct audit_report *r, const char *config_path, FILE *out)
{
    json_t *findings = findings_json(r);
    json_t *doc;
    int rc;

    if (!findings)
        return -1;
    doc = json_pack("{s:s, s:i, s:I, s:I, s:o, s:{s:I, s:I, s:I, s:I, s:I}}", "config", config_path,
                    "hardening_index", audit_index(r), "checks", (json_int_t)r->checks, "not_listed",
                    (json_int_t)r->dropped, "findings", findings, "counts", "critical",
                    (json_int_t)count_of(r, AUDIT_CRITICAL), "high", (json_int_t)count_of(r, AUDIT_HIGH),
                    "medium", (json_int_t)count_of(r, AUDIT_MEDIUM), "low", (json_int_t)count_of(r, AUDIT_LOW),
                    "info", (json_int_t)count_of(r, AUDIT_INFO));
    if (!doc)
        return -1;
    rc = json_dumpf(doc, out, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    fputc('\n', out);
    json_decref(doc);
    return rc == 0 ? 0 : -1;
}
