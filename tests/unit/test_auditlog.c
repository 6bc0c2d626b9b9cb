/* test_auditlog.c - the security audit log: JSON lines (parsed back with jansson), escaping, flood control with
 * suppressed counts, reopen for logrotate. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/auditlog.h"
#include "test.h"

/* Reads every line of path as a JSON object into out (at most max); returns the count, -1 on a bad line. */
static int read_events(const char *path, json_t **out, int max)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f) && n < max) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        if (!o || !json_is_object(o)) {
            fclose(f);
            return -1;
        }
        out[n++] = o;
    }
    fclose(f);
    return n;
}

static void free_events(json_t **ev, int n)
{
    for (int i = 0; i < n; i++)
        json_decref(ev[i]);
}

static const char *field(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

TEST(events_are_json_lines_with_escaping)
{
    char path[] = "/tmp/rampart-audit-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char err[256];
    auditlog *a = auditlog_new(20);
    CHECK(!auditlog_enabled(a));
    CHECK_EQ(auditlog_add_file(a, path, err, sizeof(err)), 0);
    CHECK(auditlog_enabled(a));
    auditlog_event e = {.type = "acl_denied", .listener = "127.0.0.1:1883", .address = "192.0.2.1", .port = 4242,
                        .client_id = "c\"1\nx", .username = "h\xc3\xa9l\xc3\xa8ne", .outcome = "denied",
                        .reason = "publish", .topic = "a/b"};
    auditlog_emit(a, &e, 1767225600123LL);
    auditlog_event minimal = {.type = "acl_reloaded", .outcome = "success"};
    auditlog_emit(a, &minimal, 1767225600500LL);
    CHECK_EQ(auditlog_written(a), 2);
    auditlog_free(a);
    json_t *ev[4];
    int n = read_events(path, ev, 4);
    CHECK_EQ(n, 2);
    if (n == 2) {
        CHECK_STR(field(ev[0], "time"), "2026-01-01T00:00:00.123Z");
        CHECK_STR(field(ev[0], "event"), "acl_denied");
        CHECK_STR(field(ev[0], "listener"), "127.0.0.1:1883");
        CHECK_STR(field(ev[0], "address"), "192.0.2.1");
        CHECK_EQ(json_integer_value(json_object_get(ev[0], "port")), 4242);
        CHECK_STR(field(ev[0], "client_id"), "c\"1\nx");
        CHECK_STR(field(ev[0], "username"), "h\xc3\xa9l\xc3\xa8ne");
        CHECK_STR(field(ev[0], "topic"), "a/b");
        CHECK(json_object_get(ev[1], "address") == NULL); /* absent fields are left out */
        CHECK_STR(field(ev[1], "outcome"), "success");
    }
    free_events(ev, n > 0 ? n : 0);
    unlink(path);
}

TEST(flood_control_counts_and_reports_suppressed)
{
    char path[] = "/tmp/rampart-audit-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char err[256];
    auditlog *a = auditlog_new(5);
    CHECK_EQ(auditlog_add_file(a, path, err, sizeof(err)), 0);
    auditlog_event e = {.type = "auth_failure", .address = "198.51.100.9", .outcome = "failure"};
    auditlog_event other = {.type = "auth_failure", .address = "198.51.100.10", .outcome = "failure"};
    int64_t t = 1767225600000LL;
    for (int i = 0; i < 50; i++)
        auditlog_emit(a, &e, t + i);   /* one second window: 5 written, 45 suppressed */
    auditlog_emit(a, &other, t + 60); /* another source is not affected */
    CHECK_EQ(auditlog_suppressed(a), 45);
    auditlog_emit(a, &e, t + 1000);   /* next window: the count is reported first */
    auditlog_free(a);
    json_t *ev[16];
    int n = read_events(path, ev, 16);
    CHECK_EQ(n, 8);
    if (n == 8) {
        CHECK_STR(field(ev[5], "address"), "198.51.100.10");
        CHECK_STR(field(ev[6], "event"), "audit_suppressed");
        CHECK_STR(field(ev[6], "suppressed_event"), "auth_failure");
        CHECK_STR(field(ev[6], "address"), "198.51.100.9");
        CHECK_EQ(json_integer_value(json_object_get(ev[6], "count")), 45);
        CHECK_STR(field(ev[7], "event"), "auth_failure");
    }
    free_events(ev, n > 0 ? n : 0);
    unlink(path);
}

TEST(reopen_follows_logrotate)
{
    char path[] = "/tmp/rampart-audit-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char rotated[64], err[256];
    snprintf(rotated, sizeof(rotated), "%s.1", path);
    auditlog *a = auditlog_new(20);
    CHECK_EQ(auditlog_add_file(a, path, err, sizeof(err)), 0);
    auditlog_event e = {.type = "one"};
    auditlog_emit(a, &e, 1000);
    CHECK_EQ(rename(path, rotated), 0);
    CHECK_EQ(auditlog_reopen(a, err, sizeof(err)), 0);
    auditlog_event e2 = {.type = "two"};
    auditlog_emit(a, &e2, 2000);
    auditlog_free(a);
    json_t *ev[4];
    CHECK_EQ(read_events(rotated, ev, 4), 1);
    CHECK_STR(field(ev[0], "event"), "one");
    json_decref(ev[0]);
    CHECK_EQ(read_events(path, ev, 4), 1);
    CHECK_STR(field(ev[0], "event"), "two");
    json_decref(ev[0]);
    unlink(path);
    unlink(rotated);
    a = auditlog_new(1);
    CHECK_EQ(auditlog_add_file(a, "/nonexistent-dir/audit.log", err, sizeof(err)), -1);
    CHECK_STR(err, "audit_dest file /nonexistent-dir/audit.log: No such file or directory");
    auditlog_free(a);
}

TEST(extra_fields_and_the_secevent_sink)
{
    char path[] = "/tmp/rampart-audit-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    char err[256];
    auditlog *a = auditlog_new(20);
    CHECK_EQ(auditlog_add_file(a, path, err, sizeof(err)), 0);
    secevent e = {.type = "privilege_change", .outcome = "dropped"};
    secevent_add_number(&e, "from_uid", 0);
    secevent_add_number(&e, "to_uid", 65534);
    secevent_add_text(&e, "seccomp", "on");
    secevent_set_sink(auditlog_sink, a);
    secevent_emit(&e);
    secevent_set_sink(NULL, NULL);
    secevent_emit(&e); /* no sink: not written */
    CHECK_EQ(auditlog_written(a), 1);
    auditlog_free(a);
    json_t *ev[2];
    int n = read_events(path, ev, 2);
    CHECK_EQ(n, 1);
    if (n == 1) {
        CHECK_STR(field(ev[0], "event"), "privilege_change");
        CHECK(json_is_integer(json_object_get(ev[0], "from_uid")));
        CHECK_EQ(json_integer_value(json_object_get(ev[0], "from_uid")), 0);
        CHECK_EQ(json_integer_value(json_object_get(ev[0], "to_uid")), 65534);
        CHECK_STR(field(ev[0], "seccomp"), "on");
    }
    free_events(ev, n > 0 ? n : 0);
    unlink(path);
}

TEST_MAIN()
