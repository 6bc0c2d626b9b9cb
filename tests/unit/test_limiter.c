/* Unit tests for src/security/limiter.c, lru.c and addr.c. Time is passed in, so nothing sleeps. */
#include <stdlib.h>

#include "security/addr.h"
#include "security/limiter.h"
#include "security/lru.h"
#include "test.h"

static sec_addr addr_of(const char *s)
{
    sec_addr a;
    if (sec_addr_parse(s, &a) < 0)
        abort();
    return a;
}

#define U(s) (const uint8_t *)(s), strlen(s)

TEST(addr_forms_and_networks)
{
    sec_addr a = addr_of("192.0.2.77"), b = addr_of("::ffff:192.0.2.1"), c = addr_of("2001:db8:1:2:3:4:5:6"), base;
    unsigned bits;

    CHECK_STR(a.network, "192.0.2.0/24");
    CHECK_EQ(b.family, 4);
    CHECK_STR(b.text, "192.0.2.1");
    CHECK_STR(c.network, "2001:db8:1:2::/64");
    CHECK_EQ(sec_cidr_parse("192.0.2.0/24", &base, &bits), 0);
    CHECK(sec_addr_in_cidr(&a, &base, bits));
    CHECK(!sec_addr_in_cidr(&c, &base, bits));
    CHECK_EQ(sec_cidr_parse("10.0.0.0/33", &base, &bits), -1);
    CHECK_EQ(sec_cidr_parse("2001:db8:1:2::/63", &base, &bits), 0);
    CHECK(sec_addr_in_cidr(&c, &base, bits));
    CHECK_EQ(sec_addr_parse("300.1.1.1", &a), -1);
}

TEST(lru_evicts_least_recent_and_hashes_long_keys)
{
    lru_table *t = lru_new(2, sizeof(int));
    bool created;
    char big[1000];
    int *v;

    *(int *)lru_put(t, "a", 1, &created) = 1;
    CHECK(created);
    *(int *)lru_put(t, "b", 1, &created) = 2;
    CHECK(lru_get(t, "a", 1) != NULL); /* a is now most recent */
    *(int *)lru_put(t, "c", 1, &created) = 3;
    CHECK(lru_get(t, "b", 1) == NULL);
    CHECK_EQ(*(int *)lru_get(t, "a", 1), 1);
    CHECK_EQ(lru_count(t), 2);
    memset(big, 'x', sizeof big);
    v = lru_put(t, big, sizeof big, &created);
    *v = 9;
    CHECK_EQ(*(int *)lru_get(t, big, sizeof big), 9);
    big[999] = 'y';
    CHECK(lru_get(t, big, sizeof big) == NULL);
    lru_del(t, "a", 1);
    CHECK_EQ(lru_count(t), 1);
    lru_free(t);
}

TEST(address_backoff_then_lockout)
{
    limiter_config cfg = limiter_config_default();
    limiter *l = limiter_new(&cfg);
    sec_addr a = addr_of("192.0.2.1");
    uint64_t now = 1000000000;
    limiter_decision d;
    int evaluated = 0, locked = 0;

    /* An attacker retrying as soon as allowed: count attempts that reach password work. */
    for (int i = 0; i < 20000 && !locked; i++) {
        d = limiter_check(l, &a, U("victim"), now);
        if (d.verdict == LIMITER_ALLOW) {
            evaluated++;
            d = limiter_record_failure(l, &a, U("victim"), now);
            if (d.locked_scopes & (1u << LIMITER_SCOPE_ADDRESS))
                locked = 1;
        } else {
            CHECK_EQ(d.verdict, LIMITER_BACKOFF);
            CHECK_EQ(d.scope, LIMITER_SCOPE_ADDRESS);
        }
        now += 250;
    }
    CHECK(locked);
    CHECK_EQ(evaluated, (int)cfg.address.lockout_after);
    limiter_free(l);
}

TEST(parallel_attempts_during_backoff_are_refused_without_work)
{
    limiter_config cfg = limiter_config_default();
    limiter *l = limiter_new(&cfg);
    sec_addr a = addr_of("192.0.2.1");
    uint64_t now = 5000000;
    limiter_decision d;

    for (unsigned i = 0; i < cfg.address.backoff_after; i++)
        limiter_record_failure(l, &a, U("u"), now);
    d = limiter_check(l, &a, U("u"), now + 10);
    CHECK_EQ(d.verdict, LIMITER_BACKOFF);
    CHECK(d.retry_after_ms > 0 && d.retry_after_ms <= cfg.backoff_base_ms);
    d = limiter_check(l, &a, U("u"), now + cfg.backoff_base_ms + 1);
    CHECK_EQ(d.verdict, LIMITER_ALLOW);
    /* another address in another network is not affected */
    sec_addr b = addr_of("198.51.100.1");
    CHECK_EQ(limiter_check(l, &b, U("other"), now + 10).verdict, LIMITER_ALLOW);
    limiter_free(l);
}

TEST(window_slides_failures_out)
{
    limiter_config cfg = limiter_config_default();
    limiter *l = limiter_new(&cfg);
    sec_addr a = addr_of("192.0.2.1");
    uint64_t now = 7000000;

    for (unsigned i = 0; i < cfg.address.backoff_after + 2; i++)
        limiter_record_failure(l, &a, U("u"), now);
    CHECK_EQ(limiter_check(l, &a, U("u"), now + 1).verdict, LIMITER_BACKOFF);
    /* two windows later everything has slid out */
    CHECK_EQ(limiter_check(l, &a, U("u"), now + 2ULL * cfg.window_s * 1000 + 1).verdict, LIMITER_ALLOW);
    limiter_free(l);
}

TEST(username_under_attack_spares_trusted_owner)
{
    limiter_config cfg = limiter_config_default();
    limiter *l = limiter_new(&cfg);
    sec_addr owner = addr_of("203.0.113.5"), newcomer = addr_of("203.0.113.99");
    uint64_t now = 9000000;
    limiter_decision d;
    char ip[32];

    limiter_record_success(l, &owner, U("alice"), now);
    /* a botnet: one failure each from many networks */
    for (unsigned i = 0; i < cfg.username.lockout_after; i++) {
        sec_addr bot;
        snprintf(ip, sizeof ip, "10.%u.%u.1", i / 200, i % 200);
        bot = addr_of(ip);
        d = limiter_record_failure(l, &bot, U("alice"), now + i);
    }
    CHECK(d.locked_scopes & (1u << LIMITER_SCOPE_USERNAME));
    now += 1000;
    d = limiter_check(l, &newcomer, U("alice"), now);
    CHECK_EQ(d.verdict, LIMITER_LOCKOUT);
    CHECK_EQ(d.scope, LIMITER_SCOPE_USERNAME);
    CHECK_EQ(limiter_check(l, &owner, U("alice"), now).verdict, LIMITER_ALLOW);
    CHECK_EQ(limiter_check(l, &newcomer, U("bob"), now).verdict, LIMITER_ALLOW);
    /* lockout ends */
    CHECK_EQ(limiter_check(l, &newcomer, U("alice"), now + cfg.lockout_s * 1000ULL).verdict, LIMITER_ALLOW);
    limiter_free(l);
}

TEST(network_counts_across_addresses)
{
    limiter_config cfg = limiter_config_default();
    limiter *l = limiter_new(&cfg);
    uint64_t now = 11000000;
    limiter_decision d = {0};
    char ip[32];

    for (unsigned i = 0; i < cfg.network.lockout_after; i++) {
        sec_addr a;
        snprintf(ip, sizeof ip, "192.0.2.%u", i % 250);
        a = addr_of(ip);
        d = limiter_record_failure(l, &a, U("x"), now + i);
        if (d.locked_scopes & (1u << LIMITER_SCOPE_NETWORK))
            break;
    }
    CHECK(d.locked_scopes & (1u << LIMITER_SCOPE_NETWORK));
    limiter_free(l);
}

TEST(success_does_not_reset_failures)
{
    limiter_config cfg = limiter_config_default();
    limiter *l = limiter_new(&cfg);
    sec_addr a = addr_of("192.0.2.1");
    uint64_t now = 13000000;

    for (unsigned i = 0; i < cfg.address.backoff_after; i++)
        limiter_record_failure(l, &a, U("victim"), now);
    limiter_record_success(l, &a, U("mine"), now);
    CHECK_EQ(limiter_check(l, &a, U("victim"), now + 1).verdict, LIMITER_BACKOFF);
    limiter_free(l);
}

TEST(repeated_lockouts_last_longer)
{
    limiter_config cfg = limiter_config_default();
    limiter *l;
    sec_addr a = addr_of("192.0.2.1");
    uint64_t now = 17000000, first = 0, second = 0;
    limiter_decision d;

    cfg.address.backoff_after = 0;
    cfg.address.lockout_after = 2;
    l = limiter_new(&cfg);
    limiter_record_failure(l, &a, U("u"), now);
    d = limiter_record_failure(l, &a, U("u"), now);
    first = d.retry_after_ms;
    limiter_record_failure(l, &a, U("u"), now + 1);
    d = limiter_record_failure(l, &a, U("u"), now + 1);
    second = d.retry_after_ms;
    CHECK_EQ(first, cfg.lockout_s * 1000ULL);
    CHECK_EQ(second, 2 * first);
    limiter_free(l);
}

TEST_MAIN()
