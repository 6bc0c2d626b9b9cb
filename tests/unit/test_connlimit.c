/* Unit tests for src/security/connlimit.c. Time is passed in. */
#include "base/log.h"
#include "security/connlimit.h"
#include "test.h"

static sec_addr addr_of(const char *s)
{
    sec_addr a;
    sec_addr_parse(s, &a);
    return a;
}

TEST(address_rate_bucket_refills)
{
    connlimit_config cfg = connlimit_config_default();
    connlimit *c;
    sec_addr a = addr_of("192.0.2.1");
    int ok = 0;

    cfg.rate_per_address = 2;
    cfg.burst_per_address = 3;
    c = connlimit_new(&cfg);
    for (int i = 0; i < 10; i++)
        if (connlimit_accept(c, 0, &a, 1000) == CONNLIMIT_OK)
            ok++;
    CHECK_EQ(ok, 3);
    CHECK_EQ(connlimit_accept(c, 0, &a, 1000), CONNLIMIT_RATE_ADDRESS);
    CHECK_EQ(connlimit_accept(c, 0, &a, 1500), CONNLIMIT_OK); /* one token after half a second at 2/s */
    connlimit_free(c);
}

TEST(unauthenticated_caps_and_release)
{
    connlimit_config cfg = connlimit_config_default();
    connlimit *c;
    sec_addr a = addr_of("192.0.2.1"), b = addr_of("192.0.2.2");

    cfg.rate_per_address = 0;
    cfg.max_unauthenticated = 3;
    cfg.max_unauthenticated_per_address = 2;
    c = connlimit_new(&cfg);
    CHECK_EQ(connlimit_accept(c, 0, &a, 1), CONNLIMIT_OK);
    CHECK_EQ(connlimit_accept(c, 0, &a, 1), CONNLIMIT_OK);
    CHECK_EQ(connlimit_accept(c, 0, &a, 1), CONNLIMIT_MAX_UNAUTHENTICATED_ADDRESS);
    CHECK_EQ(connlimit_accept(c, 0, &b, 1), CONNLIMIT_OK);
    CHECK_EQ(connlimit_accept(c, 0, &b, 1), CONNLIMIT_MAX_UNAUTHENTICATED);
    connlimit_authenticated(c, &a);
    CHECK_EQ(connlimit_unauthenticated(c), 2);
    CHECK_EQ(connlimit_accept(c, 0, &b, 1), CONNLIMIT_OK);
    connlimit_closed(c, &b, false);
    connlimit_closed(c, &a, true);
    CHECK_EQ(connlimit_unauthenticated(c), 2);
    connlimit_free(c);
}

TEST(max_per_address_and_listener_rate)
{
    connlimit_config cfg = connlimit_config_default();
    connlimit *c;
    sec_addr a = addr_of("2001:db8::1");

    cfg.rate_per_address = 0;
    cfg.max_per_address = 2;
    cfg.rate_per_listener = 1;
    cfg.burst_per_listener = 4;
    c = connlimit_new(&cfg);
    CHECK_EQ(connlimit_accept(c, 7, &a, 10), CONNLIMIT_OK);
    connlimit_authenticated(c, &a);
    CHECK_EQ(connlimit_accept(c, 7, &a, 10), CONNLIMIT_OK);
    connlimit_authenticated(c, &a);
    CHECK_EQ(connlimit_accept(c, 7, &a, 10), CONNLIMIT_MAX_ADDRESS);
    CHECK_EQ(connlimit_accept(c, 7, &a, 10), CONNLIMIT_MAX_ADDRESS);
    CHECK_EQ(connlimit_accept(c, 7, &a, 10), CONNLIMIT_RATE_LISTENER);
    CHECK_EQ(connlimit_accept(c, 8, &a, 10), CONNLIMIT_MAX_ADDRESS); /* another listener has its own bucket */
    connlimit_log_refusal(c, CONNLIMIT_MAX_ADDRESS, &a, "test", 10);
    connlimit_free(c);
}

TEST(loopback_exempt_from_per_address_caps_unless_included)
{
    connlimit_config cfg = connlimit_config_default();
    connlimit *c;
    sec_addr lo = addr_of("127.0.0.1");

    cfg.rate_per_address = 1;
    cfg.burst_per_address = 1;
    cfg.max_unauthenticated_per_address = 1;
    c = connlimit_new(&cfg);
    for (int i = 0; i < 5; i++)
        CHECK_EQ(connlimit_accept(c, 0, &lo, 10), CONNLIMIT_OK);
    connlimit_free(c);
    cfg.include_loopback = true;
    c = connlimit_new(&cfg);
    CHECK_EQ(connlimit_accept(c, 0, &lo, 10), CONNLIMIT_OK);
    CHECK_EQ(connlimit_accept(c, 0, &lo, 10), CONNLIMIT_RATE_ADDRESS);
    connlimit_free(c);
}

TEST_MAIN()
