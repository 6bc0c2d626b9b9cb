/* Unit tests for src/security/auth.c: the CONNECT-time flow with real files, real worker threads, real
 * argon2id (at a low cost to keep the test quick). */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "codec/mqtt.h"
#include "security/auth.h"
#include "security/ban.h"
#include "test.h"

static char dir[64], pwfile[128], banfile[128];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* A password file with alice/alicepass (argon2id, cheap), bob/bobpass expired, carol (mosquitto $7$). */
static void setup(void)
{
    passwd_argon2_params p = {256, 1, 1};
    char a[256], b[256], text[1024];

    snprintf(dir, sizeof dir, "/tmp/rampart-test-auth-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
    snprintf(banfile, sizeof banfile, "%s/bans", dir);
    passwd_hash_make_argon2id((const uint8_t *)"alicepass", 9, &p, a, sizeof a);
    passwd_hash_make_argon2id((const uint8_t *)"bobpass", 7, &p, b, sizeof b);
    snprintf(text, sizeof text,
             "alice:%s\nbob:%s:set=1000,max_age=10\n"
             "carol:$7$101$4W5hsY/ieDlZ1LE9$cscO+jRw2HMKe9EGoUKRpzWbgDEndDL6/CQZrdvco3thITZiF3E0jhrmbiTsqkkJOSlytgHek"
             "UpBECrgYUULRQ==\n",
             a, b);
    write_file(pwfile, text);
    unlink(banfile);
}

static void teardown(void)
{
    char p[160];
    unlink(pwfile);
    unlink(banfile);
    snprintf(p, sizeof p, "%s.lock", banfile);
    unlink(p);
    rmdir(dir);
}

static auth *make_auth(unsigned backoff_after, unsigned lockout_after)
{
    auth_config cfg = auth_config_default();
    auth *a = NULL;
    char err[256];

    cfg.password_file = pwfile;
    cfg.ban_file = banfile;
    cfg.limiter.address.backoff_after = backoff_after;
    cfg.limiter.address.lockout_after = lockout_after;
    if (auth_new(&cfg, &a, err, sizeof err) < 0) {
        fprintf(stderr, "auth_new: %s\n", err);
        abort();
    }
    return a;
}

/* Runs one attempt to its end; returns the reason code. */
static int attempt(auth *a, const char *ip, const char *user, const char *pass)
{
    sec_addr addr;
    auth_attempt at = {0};
    uint8_t reason = 0xff;
    uint64_t cookie = 0;

    sec_addr_parse(ip, &addr);
    at.addr = &addr;
    at.listener = "test";
    at.has_username = user != NULL;
    at.username = (const uint8_t *)user;
    at.username_len = user ? strlen(user) : 0;
    at.has_password = pass != NULL;
    at.password = (const uint8_t *)pass;
    at.password_len = pass ? strlen(pass) : 0;
    at.client_id = (const uint8_t *)"cid";
    at.client_id_len = 3;
    if (auth_begin(a, &at, 42, &reason) == AUTH_DONE)
        return reason;
    for (int i = 0; i < 500; i++) {
        struct pollfd pfd = {auth_fd(a), POLLIN, 0};
        poll(&pfd, 1, 20);
        if (auth_take_result(a, &cookie, &reason)) {
            CHECK_EQ(cookie, 42);
            return reason;
        }
    }
    return -1;
}

TEST(right_wrong_unknown_and_migrated)
{
    auth *a;
    setup();
    a = make_auth(0, 0);
    CHECK_EQ(attempt(a, "192.0.2.1", "alice", "alicepass"), 0);
    CHECK_EQ(attempt(a, "192.0.2.1", "alice", "wrong"), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(attempt(a, "192.0.2.1", "nobody", "alicepass"), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(attempt(a, "192.0.2.1", "alice", NULL), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(attempt(a, "192.0.2.1", "carol", "secret1"), 0);
    CHECK_EQ(auth_get_stats(a).evaluated, 5); /* the unknown user cost a verification too */
    auth_free(a);
    teardown();
}

TEST(expired_password_is_refused_like_a_wrong_one)
{
    auth *a;
    setup();
    a = make_auth(0, 0);
    CHECK_EQ(attempt(a, "192.0.2.1", "bob", "bobpass"), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    auth_free(a);
    teardown();
}

TEST(anonymous_follows_listener_setting)
{
    auth *a;
    sec_addr addr;
    auth_attempt at = {0};
    uint8_t reason = 0xff;

    setup();
    a = make_auth(0, 0);
    sec_addr_parse("127.0.0.1", &addr);
    at.addr = &addr;
    CHECK_EQ(auth_begin(a, &at, 1, &reason), AUTH_DONE);
    CHECK_EQ(reason, MQTT_RC_NOT_AUTHORIZED);
    at.allow_anonymous = true;
    CHECK_EQ(auth_begin(a, &at, 1, &reason), AUTH_DONE);
    CHECK_EQ(reason, 0);
    auth_free(a);
    teardown();
}

TEST(lockout_bans_address_persistently_and_spares_others)
{
    auth *a;
    ban_list *b = NULL;
    char err[256];
    int evaluated_before;

    setup();
    a = make_auth(0, 4);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(attempt(a, "192.0.2.66", "alice", "guess"), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    evaluated_before = (int)auth_get_stats(a).evaluated;
    CHECK_EQ(attempt(a, "192.0.2.66", "alice", "alicepass"), MQTT_RC_BANNED);
    CHECK_EQ(attempt(a, "192.0.2.66", "nobody", "x"), MQTT_RC_BANNED);
    CHECK_EQ((int)auth_get_stats(a).evaluated, evaluated_before); /* no password work once banned */
    CHECK_EQ(attempt(a, "198.51.100.7", "alice", "alicepass"), 0);
    CHECK_EQ(ban_list_load(banfile, &b, err, sizeof err), 0);
    CHECK_EQ(ban_list_count(b), 1);
    CHECK_STR((const char *)ban_list_at(b, 0)->value, "192.0.2.66");
    ban_list_free(b);
    auth_free(a);
    /* a restart keeps the ban */
    a = make_auth(0, 4);
    CHECK_EQ(attempt(a, "192.0.2.66", "alice", "alicepass"), MQTT_RC_BANNED);
    auth_free(a);
    teardown();
}

TEST(backoff_refuses_without_work)
{
    auth *a;
    setup();
    a = make_auth(2, 0);
    CHECK_EQ(attempt(a, "192.0.2.5", "alice", "g1"), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(attempt(a, "192.0.2.5", "alice", "g2"), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(attempt(a, "192.0.2.5", "alice", "g3"), MQTT_RC_CONNECTION_RATE_EXCEEDED);
    CHECK_EQ(auth_get_stats(a).evaluated, 2);
    auth_free(a);
    teardown();
}

TEST(ban_file_edits_are_picked_up_on_tick)
{
    auth *a;
    setup();
    a = make_auth(0, 0);
    CHECK_EQ(attempt(a, "192.0.2.1", "alice", "alicepass"), 0);
    write_file(banfile, "username alice 0 1 operator\n");
    auth_tick(a);
    CHECK_EQ(attempt(a, "192.0.2.1", "alice", "alicepass"), MQTT_RC_BANNED);
    auth_free(a);
    teardown();
}

TEST(reload_keeps_old_file_on_error)
{
    auth *a;
    char err[256];

    setup();
    a = make_auth(0, 0);
    write_file(pwfile, "alice:$argon2id$broken\n");
    CHECK_EQ(auth_reload(a, err, sizeof err), -1);
    CHECK(strstr(err, ":1: ") != NULL);
    CHECK_EQ(attempt(a, "192.0.2.1", "alice", "alicepass"), 0);
    auth_free(a);
    teardown();
}

TEST(full_queue_answers_server_busy)
{
    auth_config cfg = auth_config_default();
    auth *a = NULL;
    char err[256];
    sec_addr addr;
    auth_attempt at = {0};
    uint8_t reason;
    int busy = 0, pending = 0;
    uint64_t cookie;

    setup();
    /* an expensive file so the single worker stays busy */
    write_file(pwfile, "alice:$7$1000000$4W5hsY/ieDlZ1LE9$cscO+jRw2HMKe9EGoUKRpzWbgDEndDL6/CQZrdvco3thITZiF3E0jhrmbiTs"
                       "qkkJOSlytgHekUpBECrgYUULRQ==\n");
    cfg.password_file = pwfile;
    cfg.workers = 1;
    cfg.queue_max = 2;
    cfg.limiter.address.backoff_after = 0;
    CHECK_EQ(auth_new(&cfg, &a, err, sizeof err), 0);
    sec_addr_parse("192.0.2.1", &addr);
    at.addr = &addr;
    at.has_username = at.has_password = true;
    at.username = (const uint8_t *)"alice";
    at.username_len = 5;
    at.password = (const uint8_t *)"x";
    at.password_len = 1;
    for (int i = 0; i < 6; i++) {
        if (auth_begin(a, &at, (uint64_t)i, &reason) == AUTH_PENDING)
            pending++;
        else if (reason == MQTT_RC_SERVER_BUSY)
            busy++;
    }
    CHECK(pending >= 2 && pending <= 3);
    CHECK_EQ(busy, 6 - pending);
    CHECK_EQ(auth_get_stats(a).busy, (uint64_t)busy);
    (void)cookie;
    auth_free(a); /* frees queued jobs and their contexts */
    teardown();
}

TEST(log_escape_neutralises_bytes)
{
    char out[600];
    CHECK_STR(auth_log_escape((const uint8_t *)"a\"b\n\\", 5, out, sizeof out), "a\\x22b\\x0a\\x5c");
}

int test_main_inner(int argc, char **argv);
#define main test_main_inner
TEST_MAIN()
#undef main
int main(int argc, char **argv)
{
    log_set_level(LOG_LEVEL_ERROR);
    return test_main_inner(argc, argv);
}
