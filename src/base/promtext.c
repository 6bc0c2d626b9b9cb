/* promtext.c - see promtext.h. */
#include "base/promtext.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void promtext_init(promtext *p, size_t max)
{
    memset(p, 0, sizeof *p);
    p->max = max;
}

void promtext_free(promtext *p)
{
    free(p->buf);
    memset(p, 0, sizeof *p);
}

bool promtext_name_valid(const char *name)
{
    if (!name || !*name || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (const char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == ':'))
            return false;
    return true;
}

/* Makes room for n more bytes plus the NUL; false (and failed) past max or out of memory. */
static bool promtext_reserve(promtext *p, size_t n)
{
    if (p->failed)
        return false;
    if (n > p->max || p->len > p->max - n) {
        p->failed = true;
        return false;
    }
    if (p->len + n + 1 <= p->cap)
        return true;
    size_t cap = p->cap ? p->cap : 4096;
    while (cap < p->len + n + 1)
        cap *= 2;
    char *b = realloc(p->buf, cap);
    if (!b) {
        p->failed = true;
        return false;
    }
    p->buf = b;
    p->cap = cap;
    return true;
}

static void promtext_put(promtext *p, const char *s, size_t n)
{
    if (!promtext_reserve(p, n))
        return;
    memcpy(p->buf + p->len, s, n);
    p->len += n;
    p->buf[p->len] = '\0';
}

static void promtext_puts(promtext *p, const char *s)
{
    promtext_put(p, s, strlen(s));
}

/* Writes s escaping backslash, newline and (for label values) double quote. */
static void promtext_escaped(promtext *p, const char *s, bool quote)
{
    for (const char *c = s; *c; c++) {
        if (*c == '\\')
            promtext_put(p, "\\\\", 2);
        else if (*c == '\n')
            promtext_put(p, "\\n", 2);
        else if (*c == '"' && quote)
            promtext_put(p, "\\\"", 2);
        else
            promtext_put(p, c, 1);
    }
}

void promtext_family(promtext *p, const char *name, const char *type, const char *help)
{
    assert(promtext_name_valid(name));
    assert(!strcmp(type, "counter") || !strcmp(type, "gauge"));
    promtext_puts(p, "# HELP ");
    promtext_puts(p, name);
    promtext_puts(p, " ");
    promtext_escaped(p, help, false);
    promtext_puts(p, "\n# TYPE ");
    promtext_puts(p, name);
    promtext_puts(p, " ");
    promtext_puts(p, type);
    promtext_puts(p, "\n");
}

/* Writes `name{label="value"} ` (the space included). */
static void promtext_head(promtext *p, const char *name, const char *label, const char *value)
{
    assert(promtext_name_valid(name));
    promtext_puts(p, name);
    if (label) {
        assert(promtext_name_valid(label) && value);
        promtext_puts(p, "{");
        promtext_puts(p, label);
        promtext_puts(p, "=\"");
        promtext_escaped(p, value, true);
        promtext_puts(p, "\"}");
    }
    promtext_puts(p, " ");
}

void promtext_u64(promtext *p, const char *name, const char *label, const char *value, uint64_t v)
{
    char num[32];
    promtext_head(p, name, label, value);
    snprintf(num, sizeof num, "%" PRIu64 "\n", v);
    promtext_puts(p, num);
}

void promtext_i64(promtext *p, const char *name, const char *label, const char *value, int64_t v)
{
    char num[32];
    promtext_head(p, name, label, value);
    snprintf(num, sizeof num, "%" PRId64 "\n", v);
    promtext_puts(p, num);
}
