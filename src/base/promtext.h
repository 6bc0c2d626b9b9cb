/*
 * promtext.h - a writer of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/): `# HELP` and `# TYPE` lines, then samples
 * `name{label="value"} number`. It knows nothing of the broker: callers hand it names, labels and values.
 *
 * Escaping: HELP text escapes backslash and newline; label values escape backslash, double quote and newline.
 * Metric and label names are the caller's own constants: they are asserted to match
 * [a-zA-Z_:][a-zA-Z0-9_:]* (writing code asserts). Output grows up to `max` bytes; past it, or when memory
 * runs out, the writer is marked failed and writes nothing more (the caller answers 500).
 */
#ifndef RAMPART_BASE_PROMTEXT_H
#define RAMPART_BASE_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROMTEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct promtext {
    char *buf; /* NUL-terminated text so far, owned (NULL until the first write) */
    size_t len, cap, max;
    bool failed;
} promtext;

/* An empty writer that may grow to max bytes. */
void promtext_init(promtext *p, size_t max);
/* Frees the text. */
void promtext_free(promtext *p);
/* Writes the HELP and TYPE lines of a family; type is "counter" or "gauge". */
void promtext_family(promtext *p, const char *name, const char *type, const char *help);
/* Writes one sample `name{label="value"} v` (no braces when label is NULL). */
void promtext_u64(promtext *p, const char *name, const char *label, const char *value, uint64_t v);
void promtext_i64(promtext *p, const char *name, const char *label, const char *value, int64_t v);
/* Checks a metric or label name (exported for tests). */
bool promtext_name_valid(const char *name);

#endif
