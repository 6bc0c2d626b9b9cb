/* Unit tests for src/security/auth_options.c. */
#include "security/auth_options.h"
#include "test.h"

TEST(options_parse_and_range_check)
{
    auth_settings s;
    char err[256];

    auth_settings_init(&s);
    CHECK_EQ(auth_settings_set(&s, "password_file", "/etc/rampart/pw", err, sizeof err), 1);
    CHECK_STR(s.auth.password_file, "/etc/rampart/pw");
    CHECK_EQ(auth_settings_set(&s, "password_file", "/etc/rampart/pw2", err, sizeof err), 1);
    CHECK_STR(s.auth.password_file, "/etc/rampart/pw2");
    CHECK_EQ(auth_settings_set(&s, "login_lockout_address", "5", err, sizeof err), 1);
    CHECK_EQ(s.auth.limiter.address.lockout_after, 5);
    CHECK_EQ(auth_settings_set(&s, "password_max_age", "90", err, sizeof err), 1);
    CHECK_EQ(s.auth.password_max_age, 90 * 86400);
    CHECK_EQ(auth_settings_set(&s, "login_trusted_days", "2", err, sizeof err), 1);
    CHECK_EQ(s.auth.limiter.trusted_s, 2 * 86400);
    CHECK_EQ(auth_settings_set(&s, "connect_timeout", "3", err, sizeof err), 1);
    CHECK_EQ(s.conn.connect_timeout_s, 3);
    CHECK_EQ(auth_settings_set(&s, "auth_workers", "0", err, sizeof err), -1);
    CHECK(strstr(err, "from 1 to 64") != NULL);
    CHECK_EQ(auth_settings_set(&s, "auth_queue", "-1", err, sizeof err), -1);
    CHECK_EQ(auth_settings_set(&s, "auth_queue", "12x", err, sizeof err), -1);
    CHECK_EQ(auth_settings_set(&s, "ban_file", "", err, sizeof err), -1);
    CHECK_EQ(auth_settings_set(&s, "listener", "1883", err, sizeof err), 0);
    CHECK(auth_settings_knows("max_unauthenticated"));
    CHECK(!auth_settings_knows("allow_anonymous"));
    auth_settings_clear(&s);
}

TEST_MAIN()
