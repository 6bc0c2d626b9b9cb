/* auditlog.c - see auditlog.h. */
#include "security/auditlog.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

typedef struct auditlog_slot {
    char type[32];
    char address[64];
    int64_t window;       /* the second this slot counts */
    uint32_t count;       /* events in that second */
    uint64_t suppressed;  /* not written since the last report */
    bool used;
} auditlog_slot;

struct auditlog {
    char *paths[AUDITLOG_MAX_FILES];
    int fds[AUDITLOG_MAX_FILES];
    size_t nfiles;
    bool syslog_on, stdout_on;
    uint32_t rate;
    auditlog_slot slots[AUDITLOG_SLOTS];
    uint64_t written, suppressed;
};

auditlog *auditlog_new(uint32_t rate)
{
    auditlog *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->rate = rate ? rate : 1;
    return a;
}

void auditlog_free(auditlog *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->nfiles; i++) {
        close(a->fds[i]);
        free(a->paths[i]);
    }
    free(a);
}

static int auditlog_open(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

int auditlog_add_file(auditlog *a, const char *path, char *err, size_t errlen)
{
    if (a->nfiles >= AUDITLOG_MAX_FILES) {
        snprintf(err, errlen, "audit_dest: at most %d files", AUDITLOG_MAX_FILES);
        return -1;
    }
    int fd = auditlog_open(path);
    if (fd < 0) {
        snprintf(err, errlen, "audit_dest file %s: %s", path, strerror(errno));
        return -1;
    }
    char *copy = strdup(path);
    if (!copy) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->paths[a->nfiles] = copy;
    a->fds[a->nfiles++] = fd;
    return 0;
}

void auditlog_add_syslog(auditlog *a)
{
    a->syslog_on = true;
}

void auditlog_add_stdout(auditlog *a)
{
    a->stdout_on = true;
}

bool auditlog_enabled(const auditlog *a)
{
    return a && (a->nfiles || a->syslog_on || a->stdout_on);
}

int64_t auditlog_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sets key to a string value when present. */
static void json_put(json_t *o, const char *key, const char *value)
{
    if (value)
        json_object_set_new(o, key, json_string(value));
}

/* Writes the JSON text of o (one line) to every destination. */
static void auditlog_write(auditlog *a, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    if (!text)
        return;
    size_t len = strlen(text);
    text[len] = '\n';
    for (size_t i = 0; i < a->nfiles; i++)
        if (write(a->fds[i], text, len + 1) < 0)
            continue; /* a full disk must not stop the broker; nothing better to do here */
    if (a->stdout_on) {
        fwrite(text, 1, len + 1, stdout);
        fflush(stdout);
    }
    text[len] = '\0';
    if (a->syslog_on)
        syslog(LOG_AUTHPRIV | LOG_NOTICE, "%s", text);
    free(text);
    a->written++;
}

static json_t *auditlog_base(const char *type, int64_t now_ms)
{
    char when[40];
    time_t s = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof(when) - n, ".%03dZ", (int)(now_ms % 1000));
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_put(o, "time", when);
    json_put(o, "event", type);
    return o;
}

/* Reports and clears a slot's suppressed count. */
static void auditlog_report_suppressed(auditlog *a, auditlog_slot *s, int64_t now_ms)
{
    if (!s->suppressed)
        return;
    json_t *o = auditlog_base("audit_suppressed", now_ms);
    if (o) {
        json_put(o, "suppressed_event", s->type);
        json_put(o, "address", s->address[0] ? s->address : NULL);
        json_object_set_new(o, "count", json_integer((json_int_t)s->suppressed));
        auditlog_write(a, o);
        json_decref(o);
    }
    s->suppressed = 0;
}

/* True when the event may be written now (per type and source, `rate` per second). */
static bool auditlog_admit(auditlog *a, const auditlog_event *e, int64_t now_ms)
{
    char key[128];
    int n = snprintf(key, sizeof(key), "%s|%s", e->type, e->address ? e->address : "");
    uint32_t h = 2166136261u;
    for (int i = 0; i < n && i < (int)sizeof(key); i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    auditlog_slot *s = &a->slots[h % AUDITLOG_SLOTS];
    const char *addr = e->address ? e->address : "";
    int64_t window = now_ms / 1000;
    bool same = s->used && !strncmp(s->type, e->type, sizeof(s->type) - 1) &&
                !strncmp(s->address, addr, sizeof(s->address) - 1);
    if (!same || s->window != window) {
        auditlog_report_suppressed(a, s, now_ms);
        if (!same) {
            snprintf(s->type, sizeof(s->type), "%s", e->type);
            snprintf(s->address, sizeof(s->address), "%s", addr);
            s->used = true;
        }
        s->window = window;
        s->count = 0;
    }
    if (s->count >= a->rate) {
        s->suppressed++;
        a->suppressed++;
        return false;
    }
    s->count++;
    return true;
}

void auditlog_emit(auditlog *a, const auditlog_event *e, int64_t now_ms)
{
    if (!auditlog_enabled(a) || !e || !e->type || !auditlog_admit(a, e, now_ms))
        return;
    json_t *o = auditlog_base(e->type, now_ms);
    if (!o)
        return;
    json_put(o, "listener", e->listener);
    json_put(o, "address", e->address);
    if (e->port)
        json_object_set_new(o, "port", json_integer(e->port));
    json_put(o, "client_id", e->client_id);
    json_put(o, "username", e->username);
    json_put(o, "cert_subject", e->cert_subject);
    json_put(o, "outcome", e->outcome);
    json_put(o, "reason", e->reason);
    json_put(o, "topic", e->topic);
    for (size_t i = 0; i < SECEVENT_MAX_EXTRA && e->extra[i].key; i++) {
        const secevent_field *f = &e->extra[i];
        if (f->is_number)
            json_object_set_new(o, f->key, json_integer((json_int_t)f->number));
        else
            json_put(o, f->key, f->text);
    }
    auditlog_write(a, o);
    json_decref(o);
}

void auditlog_sink(void *ctx, const secevent *e)
{
    auditlog_emit(ctx, e, auditlog_now_ms());
}

int auditlog_reopen(auditlog *a, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < a->nfiles; i++) {
        int fd = auditlog_open(a->paths[i]);
        if (fd < 0) {
            snprintf(err, errlen, "audit_dest file %s: %s (still writing to the old file)", a->paths[i],
                     strerror(errno));
            rc = -1;
            continue;
        }
        close(a->fds[i]);
        a->fds[i] = fd;
    }
    return rc;
}

uint64_t auditlog_written(const auditlog *a)
{
    return a->written;
}

uint64_t auditlog_suppressed(const auditlog *a)
{
    return a->suppressed;
}
