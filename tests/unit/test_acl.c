/* test_acl.c - the ACL module: mosquitto syntax and meaning, extensions, default deny, $SYS, errors with
 * file:line, reload keeping the old rules, and cost independent of the number of rules. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/acl.h"
#include "test.h"

static acl *load(const char *text)
{
    char err[512];
    acl *a = acl_load_buffer("t.acl", text, strlen(text), err, sizeof(err));
    if (!a)
        fprintf(stderr, "    load failed: %s\n", err);
    return a;
}

static bool can(const acl *a, const char *user, const char *cid, enum acl_access acc, const char *topic)
{
    acl_client c = {user, cid, NULL, 1883};
    return acl_check(a, &c, acc, topic, strlen(topic), 0, false).allowed;
}

/* Expects the load to fail with exactly `want`. */
static void expect_error(const char *text, const char *want)
{
    char err[512] = "";
    acl *a = acl_load_buffer("t.acl", text, strlen(text), err, sizeof(err));
    CHECK(a == NULL);
    acl_free(a);
    if (strcmp(err, want)) {
        fprintf(stderr, "    got:  %s\n    want: %s\n", err, want);
        CHECK(0);
    }
}

static const char *mosquitto_example = "# This affects access control for clients with no username.\n"
                                       "topic read $SYS/#\n"
                                       "\n"
                                       "# This only affects clients with username \"roger\".\n"
                                       "user roger\n"
                                       "topic foo/bar\n"
                                       "\n"
                                       "# This affects all clients.\n"
                                       "pattern write $SYS/broker/connection/%c/state\n";

TEST(mosquitto_example_file)
{
    acl *a = load(mosquitto_example);
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK_EQ(acl_rule_count(a), 3);
    CHECK(can(a, NULL, "x", ACL_READ, "$SYS/broker/uptime"));
    CHECK(can(a, NULL, "x", ACL_SUBSCRIBE, "$SYS/#"));
    CHECK(!can(a, NULL, "x", ACL_WRITE, "$SYS/broker/uptime"));
    CHECK(!can(a, "roger", "x", ACL_READ, "$SYS/broker/uptime")); /* anonymous rules are not roger's */
    CHECK(can(a, "roger", "x", ACL_READ, "foo/bar"));
    CHECK(can(a, "roger", "x", ACL_WRITE, "foo/bar"));
    CHECK(!can(a, "roger", "x", ACL_WRITE, "foo/baz"));
    CHECK(!can(a, NULL, "x", ACL_READ, "foo/bar"));
    /* $SYS writes are never allowed, even when a pattern grants them */
    CHECK(!can(a, "roger", "br1", ACL_WRITE, "$SYS/broker/connection/br1/state"));
    acl_free(a);
}

TEST(default_deny_and_access_words)
{
    acl *a = load("user u\n"
                  "topic read r/#\n"
                  "topic write w/+\n"
                  "topic readwrite rw\n"
                  "topic both\n"
                  "topic subscribe s/#\n");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK(can(a, "u", "c", ACL_READ, "r/x/y"));
    CHECK(!can(a, "u", "c", ACL_WRITE, "r/x"));
    CHECK(can(a, "u", "c", ACL_WRITE, "w/1"));
    CHECK(!can(a, "u", "c", ACL_WRITE, "w/1/2"));
    CHECK(!can(a, "u", "c", ACL_READ, "w/1"));
    CHECK(can(a, "u", "c", ACL_READ, "rw") && can(a, "u", "c", ACL_WRITE, "rw"));
    CHECK(can(a, "u", "c", ACL_READ, "both") && can(a, "u", "c", ACL_WRITE, "both"));
    CHECK(can(a, "u", "c", ACL_SUBSCRIBE, "s/#"));
    CHECK(!can(a, "u", "c", ACL_READ, "s/x")); /* subscribe alone receives nothing */
    CHECK(!can(a, "u", "c", ACL_READ, "other"));
    CHECK(!can(a, "v", "c", ACL_READ, "r/x")); /* another user: nothing */
    CHECK(!can(a, NULL, "c", ACL_READ, "r/x"));
    acl_free(a);
}

TEST(deny_wins_whatever_the_order)
{
    acl *a = load("topic deny pub/secret\ntopic read pub/#\ntopic read pub/x\ntopic deny pub/x\n");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK(can(a, NULL, "c", ACL_READ, "pub/a"));
    CHECK(!can(a, NULL, "c", ACL_READ, "pub/secret"));
    CHECK(!can(a, NULL, "c", ACL_READ, "pub/x"));
    CHECK(can(a, NULL, "c", ACL_SUBSCRIBE, "pub/#")); /* partly denied: delivery filters */
    CHECK(!can(a, NULL, "c", ACL_SUBSCRIBE, "pub/secret"));
    acl_free(a);
}

TEST(subscribe_needs_a_covering_rule)
{
    acl *a = load("topic read a/#\ntopic read b/+/c\ntopic read #\nuser u\ntopic read x/+\n");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK(can(a, NULL, "c", ACL_SUBSCRIBE, "a/#"));
    CHECK(can(a, NULL, "c", ACL_SUBSCRIBE, "a/+/x"));
    CHECK(can(a, NULL, "c", ACL_SUBSCRIBE, "a"));
    CHECK(can(a, NULL, "c", ACL_SUBSCRIBE, "#"));
    CHECK(can(a, NULL, "c", ACL_SUBSCRIBE, "$share/g/a/#"));
    CHECK(!can(a, NULL, "c", ACL_SUBSCRIBE, "$SYS/#")); /* '#' does not reach $ topics */
    CHECK(!can(a, NULL, "c", ACL_READ, "$SYS/x"));
    CHECK(can(a, "u", "c", ACL_SUBSCRIBE, "x/+"));
    CHECK(can(a, "u", "c", ACL_SUBSCRIBE, "x/1"));
    CHECK(!can(a, "u", "c", ACL_SUBSCRIBE, "x/#"));
    CHECK(!can(a, "u", "c", ACL_SUBSCRIBE, "+/1"));
    CHECK(!can(a, "u", "c", ACL_SUBSCRIBE, "x/1/2"));
    acl_free(a);
}

TEST(patterns_substitute_username_and_client_id)
{
    acl *a = load("pattern readwrite users/%u/#\npattern read clients/%c\ntopic read nothing\n");
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK(can(a, "alice", "c1", ACL_WRITE, "users/alice/x"));
    CHECK(can(a, "alice", "c1", ACL_SUBSCRIBE, "users/alice/#"));
    CHECK(!can(a, "alice", "c1", ACL_WRITE, "users/bob/x"));
    CHECK(!can(a, "alice", "c1", ACL_SUBSCRIBE, "users/+/x"));
    CHECK(can(a, "alice", "c1", ACL_READ, "clients/c1"));
    CHECK(!can(a, "alice", "c1", ACL_READ, "clients/c2"));
    CHECK(!can(a, NULL, "c1", ACL_WRITE, "users//x"));  /* no username: %u matches nothing */
    CHECK(!can(a, "a/b", "c1", ACL_WRITE, "users/a/b/x")); /* names with '/' are not substituted */
    CHECK(!can(a, "+", "c1", ACL_WRITE, "users/+/x"));
    acl_free(a);
}

TEST(extensions_maxqos_retain_listener_identity)
{
    acl *a = load("user u\n"
                  "topic write maxqos=1 retain=deny telemetry/#\n"
                  "topic read maxqos=0 events/#\n"
                  "topic readwrite listener=8883 secure/#\n"
                  "identity device-7\n"
                  "topic write devices/7/#\n");
    CHECK(a != NULL);
    if (!a)
        return;
    acl_client c = {"u", "c", NULL, 1883};
    const char *t = "telemetry/1";
    CHECK(acl_check(a, &c, ACL_WRITE, t, strlen(t), 1, false).allowed);
    CHECK(!acl_check(a, &c, ACL_WRITE, t, strlen(t), 2, false).allowed);
    CHECK(!acl_check(a, &c, ACL_WRITE, t, strlen(t), 0, true).allowed);
    acl_result r = acl_check(a, &c, ACL_SUBSCRIBE, "events/#", 8, 2, false);
    CHECK(r.allowed);
    CHECK_EQ(r.max_qos, 0);
    CHECK(!acl_check(a, &c, ACL_READ, "secure/x", 8, 0, false).allowed);
    c.listener_port = 8883;
    CHECK(acl_check(a, &c, ACL_READ, "secure/x", 8, 0, false).allowed);
    CHECK(!acl_check(a, &c, ACL_WRITE, "devices/7/x", 11, 0, false).allowed);
    c.cert_identity = "device-7";
    CHECK(acl_check(a, &c, ACL_WRITE, "devices/7/x", 11, 0, false).allowed);
    acl_free(a);
}

TEST(topics_with_spaces_need_an_access_word)
{
    acl *a = load("topic read a topic with spaces\n");
    CHECK(a != NULL);
    CHECK(a && can(a, NULL, "c", ACL_READ, "a topic with spaces"));
    acl_free(a);
    expect_error("topic a topic\n", "t.acl:1: 'a' is not read, write, readwrite, subscribe or deny (a topic "
                                    "containing spaces needs an access word first)");
}

TEST(errors_name_file_and_line)
{
    expect_error("# ok\ntopic read a/#\nfrobnicate x\n", "t.acl:3: unknown keyword 'frobnicate' (topic, pattern, "
                                                          "user, identity)");
    expect_error("topic read a/#/b\n", "t.acl:1: 'a/#/b' is not a valid topic filter");
    expect_error("topic read\n", "t.acl:1: topic needs a topic");
    expect_error("user\n", "t.acl:1: user needs a name");
    expect_error("topic\n", "t.acl:1: topic needs a topic");
    expect_error("topic write maxqos=3 a\n", "t.acl:1: maxqos must be 0, 1 or 2, not '3'");
    expect_error("topic read retain=deny a\n", "t.acl:1: retain= applies to write and readwrite rules only");
    expect_error("topic deny maxqos=1 a\n", "t.acl:1: rule options do not apply to deny rules");
    expect_error("topic read colour=red a\n", "t.acl:1: unknown rule option 'colour=red' (maxqos=, retain=, "
                                              "listener=)");
    expect_error("topic read listener=0 a\n", "t.acl:1: listener must be a port 1..65535, not '0'");
    expect_error("pattern read a/x%u\n", "t.acl:1: 'a/x%u': %u and %c must each be a whole topic level");
    expect_error("topic read $share/g/a\n", "t.acl:1: '$share/g/a': ACL rules name topics, not shared "
                                             "subscriptions");
    char nul[] = "topic read a\0b\n";
    char err[256];
    CHECK(acl_load_buffer("t.acl", nul, sizeof(nul) - 1, err, sizeof(err)) == NULL);
    CHECK_STR(err, "t.acl:1: line contains a NUL byte");
}

TEST(reload_keeps_old_rules_on_error)
{
    char path[] = "/tmp/rampart-acl-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    const char *v1 = "topic read a\n";
    CHECK_EQ(write(fd, v1, strlen(v1)), (long long)strlen(v1));
    close(fd);
    char err[512];
    acl *a = acl_load(path, err, sizeof(err));
    CHECK(a != NULL);
    if (!a)
        return;
    CHECK(can(a, NULL, "c", ACL_READ, "a"));
    FILE *f = fopen(path, "w");
    fputs("topic read b\nbogus\n", f);
    fclose(f);
    CHECK_EQ(acl_reload(&a, err, sizeof(err)), -1);
    char want[300];
    snprintf(want, sizeof(want), "%s:2: unknown keyword 'bogus' (topic, pattern, user, identity)", path);
    CHECK_STR(err, want);
    CHECK(can(a, NULL, "c", ACL_READ, "a")); /* old rules in service */
    f = fopen(path, "w");
    fputs("topic read b\n", f);
    fclose(f);
    CHECK_EQ(acl_reload(&a, err, sizeof(err)), 0);
    CHECK(!can(a, NULL, "c", ACL_READ, "a"));
    CHECK(can(a, NULL, "c", ACL_READ, "b"));
    acl_free(a);
    unlink(path);
    CHECK(acl_load("/nonexistent/acl", err, sizeof(err)) == NULL);
    CHECK_STR(err, "/nonexistent/acl: cannot open: No such file or directory");
}

/* The rules a check examines with `users` user blocks of 10 literal rules each plus a pattern. */
static uint32_t rules_examined(int users)
{
    size_t cap = (size_t)users * 10 * 40 + 100;
    char *text = malloc(cap);
    size_t len = 0;
    for (int u = 0; u < users; u++) {
        len += (size_t)snprintf(text + len, cap - len, "user user%d\n", u);
        for (int r = 0; r < 10; r++)
            len += (size_t)snprintf(text + len, cap - len, "topic readwrite site/%d/dev/%d/#\n", u, r);
    }
    len += (size_t)snprintf(text + len, cap - len, "pattern read clients/%%c/#\ntopic read #\n");
    char err[256];
    acl *a = acl_load_buffer("big.acl", text, len, err, sizeof(err));
    free(text);
    if (!a)
        return 0;
    acl_client c = {"user7", "c", NULL, 1883};
    acl_result r = acl_check(a, &c, ACL_WRITE, "site/7/dev/3/temp", 17, 0, false);
    CHECK(r.allowed);
    CHECK_EQ(acl_rule_count(a), (size_t)users * 10 + 2);
    acl_free(a);
    return r.rules_examined;
}

TEST(cost_does_not_grow_with_rule_count)
{
    uint32_t small = rules_examined(10), big = rules_examined(2000);
    CHECK(small > 0);
    CHECK_EQ(small, big); /* the same few trie nodes, whatever the file's size */
    CHECK(big <= 2);
}

TEST_MAIN()
