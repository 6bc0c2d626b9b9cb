/* Unit tests for src/security/ban.c: matching, expiry, the file format and the locked update. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/ban.h"
#include "test.h"

#define U(s) (const uint8_t *)(s), strlen(s)

TEST(match_each_kind_and_expiry)
{
    ban_list *b = ban_list_new();
    const char *why;
    sec_addr a, c;

    CHECK_EQ(ban_list_add(b, BAN_ADDRESS, U("192.0.2.1"), 0, 100, "op", &why), 0);
    CHECK_EQ(ban_list_add(b, BAN_NETWORK, U("2001:db8::/64"), 200, 100, "limiter", &why), 0);
    CHECK_EQ(ban_list_add(b, BAN_USERNAME, U("mallory"), 0, 100, "", &why), 0);
    CHECK_EQ(ban_list_add(b, BAN_CLIENTID, U("bad client"), 0, 100, "", &why), 0);
    CHECK_EQ(ban_list_add(b, BAN_ADDRESS, U("not-an-ip"), 0, 100, "", &why), -1);
    CHECK_EQ(ban_list_add(b, BAN_NETWORK, U("10.0.0.0/40"), 0, 100, "", &why), -1);
    sec_addr_parse("192.0.2.1", &a);
    CHECK(ban_list_match(b, &a, NULL, 0, NULL, 0, 150) != NULL);
    sec_addr_parse("2001:db8::77", &c);
    CHECK(ban_list_match(b, &c, NULL, 0, NULL, 0, 150) != NULL);
    CHECK(ban_list_match(b, &c, NULL, 0, NULL, 0, 250) == NULL); /* expired */
    sec_addr_parse("192.0.2.2", &a);
    CHECK(ban_list_match(b, &a, U("alice"), U("x"), 150) == NULL);
    CHECK(ban_list_match(b, &a, U("mallory"), U("x"), 150)->kind == BAN_USERNAME);
    CHECK(ban_list_match(b, &a, U("alice"), U("bad client"), 150)->kind == BAN_CLIENTID);
    CHECK_EQ(ban_list_expire(b, 250, NULL, NULL), 1);
    CHECK_EQ(ban_list_count(b), 3);
    CHECK_EQ(ban_list_del(b, BAN_USERNAME, U("mallory")), 1);
    CHECK_EQ(ban_list_del(b, BAN_USERNAME, U("mallory")), 0);
    ban_list_free(b);
}

TEST(file_roundtrip_with_odd_bytes)
{
    char path[] = "/tmp/rampart-test-bans-XXXXXX", err[256], lock[300];
    int fd = mkstemp(path);
    ban_list *b = ban_list_new(), *r = NULL;
    const char *why;
    const ban_entry *e;

    close(fd);
    CHECK_EQ(ban_list_add(b, BAN_USERNAME, (const uint8_t *)"a b%\n\xff", 6, 0, 7, "by hand", &why), 0);
    CHECK_EQ(ban_list_add(b, BAN_NETWORK, U("192.0.2.0/24"), 99, 7, "lockout: 100 failures", &why), 0);
    CHECK_EQ(ban_list_save(b, path, err, sizeof err), 0);
    CHECK_EQ(ban_list_load(path, &r, err, sizeof err), 0);
    CHECK_EQ(ban_list_count(r), 2);
    e = ban_list_at(r, 0);
    CHECK(e && e->value_len == 6 && !memcmp(e->value, "a b%\n\xff", 6) && !strcmp(e->reason, "by hand"));
    e = ban_list_at(r, 1);
    CHECK(e && e->expires == 99 && !strcmp(e->reason, "lockout: 100 failures"));
    ban_list_free(b);
    ban_list_free(r);
    unlink(path);
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(lock);
}

TEST(parse_errors_name_line)
{
    ban_list *b = NULL;
    char err[256];
    const char *text = "# x\naddress 192.0.2.1 0 0\nfrob x 0 0\n";

    CHECK_EQ(ban_list_parse("bans", text, strlen(text), &b, err, sizeof err), -1);
    CHECK(!strncmp(err, "bans:3: unknown kind", 20));
    CHECK_EQ(ban_list_parse("bans", "address 192.0.2.1 zz 0\n", 23, &b, err, sizeof err), -1);
    CHECK(!strncmp(err, "bans:1: EXPIRES", 15));
    CHECK_EQ(ban_list_parse("bans", "username a%4 0 0\n", 17, &b, err, sizeof err), -1);
    CHECK_EQ(ban_list_parse("bans", "address 192.0.2.1 0 0\n", 22, &b, err, sizeof err), 0);
    CHECK_EQ(ban_list_count(b), 1);
    ban_list_free(b);
}

static int add_one(ban_list *b, void *ctx)
{
    const char *why;
    return ban_list_add(b, BAN_ADDRESS, U((const char *)ctx), 0, 1, "t", &why);
}

TEST(locked_update_adds_to_missing_file)
{
    char dir[] = "/tmp/rampart-test-bandir-XXXXXX", path[300], err[256];
    ban_list *r = NULL;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/bans", dir);
    CHECK_EQ(ban_file_update(path, add_one, "192.0.2.9", &r, err, sizeof err), 0);
    CHECK_EQ(ban_list_count(r), 1);
    ban_list_free(r);
    CHECK_EQ(ban_file_update(path, add_one, "192.0.2.10", NULL, err, sizeof err), 0);
    CHECK_EQ(ban_list_load(path, &r, err, sizeof err), 0);
    CHECK_EQ(ban_list_count(r), 2);
    ban_list_free(r);
    unlink(path);
    snprintf(path, sizeof path, "%s/bans.lock", dir);
    unlink(path);
    rmdir(dir);
}

typedef struct diff_seen {
    int added, removed, changed;
    char last_removed[32];
} diff_seen;

static void count_change(enum ban_change change, const ban_entry *e, void *ctx)
{
    diff_seen *d = ctx;
    if (change == BAN_CHANGE_ADDED)
        d->added++;
    else if (change == BAN_CHANGE_CHANGED)
        d->changed++;
    else {
        d->removed++;
        snprintf(d->last_removed, sizeof d->last_removed, "%s", (const char *)e->value);
    }
}

TEST(diff_reports_added_removed_and_changed)
{
    ban_list *x = ban_list_new(), *y = ban_list_new();
    const char *why = NULL;
    diff_seen d = {0};

    CHECK_EQ(ban_list_add(x, BAN_ADDRESS, (const uint8_t *)"192.0.2.1", 9, 0, 100, "a", &why), 0);
    CHECK_EQ(ban_list_add(x, BAN_USERNAME, (const uint8_t *)"mallory", 7, 0, 100, "b", &why), 0);
    CHECK_EQ(ban_list_add(x, BAN_CLIENTID, (const uint8_t *)"dev", 3, 500, 100, "c", &why), 0);
    /* y: the address stays, mallory is gone, dev gets a new expiry, a network is new */
    CHECK_EQ(ban_list_add(y, BAN_CLIENTID, (const uint8_t *)"dev", 3, 900, 100, "c", &why), 0);
    CHECK_EQ(ban_list_add(y, BAN_NETWORK, (const uint8_t *)"198.51.100.0/24", 15, 0, 100, "d", &why), 0);
    CHECK_EQ(ban_list_add(y, BAN_ADDRESS, (const uint8_t *)"192.0.2.1", 9, 0, 100, "a", &why), 0);
    /* same value under another kind is another ban */
    CHECK_EQ(ban_list_add(y, BAN_CLIENTID, (const uint8_t *)"mallory", 7, 0, 100, "e", &why), 0);
    CHECK_EQ(ban_list_diff(x, y, count_change, &d), 4);
    CHECK_EQ(d.added, 2);
    CHECK_EQ(d.removed, 1);
    CHECK_EQ(d.changed, 1);
    CHECK_STR(d.last_removed, "mallory");
    memset(&d, 0, sizeof d);
    CHECK_EQ(ban_list_diff(NULL, y, count_change, &d), 4);
    CHECK_EQ(d.added, 4);
    CHECK_EQ(ban_list_diff(y, y, count_change, &d), 0);
    ban_list_free(x);
    ban_list_free(y);
}

TEST_MAIN()
