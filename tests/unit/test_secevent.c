/* test_secevent.c - the security-event hook: no sink drops events, the sink sees every field, extra fields
 * fill up to the table's size, peer strings split into address and port. */
#include <string.h>

#include "base/secevent.h"
#include "test.h"

typedef struct seen {
    int count;
    secevent last;
} seen;

static void record(void *ctx, const secevent *e)
{
    seen *s = ctx;
    s->count++;
    s->last = *e;
}

TEST(no_sink_drops_and_sink_receives)
{
    seen s = {0};
    secevent e = {.type = "limit_hit", .address = "192.0.2.1", .port = 7, .outcome = "refused"};

    secevent_set_sink(NULL, NULL);
    CHECK(!secevent_wanted());
    secevent_emit(&e);
    secevent_set_sink(record, &s);
    CHECK(secevent_wanted());
    secevent_add_text(&e, "limit", "max_connections");
    secevent_add_number(&e, "count", 42);
    secevent_add_text(&e, "absent", NULL); /* ignored */
    secevent_emit(&e);
    secevent e2 = {0}; /* no type: dropped */
    secevent_emit(&e2);
    CHECK_EQ(s.count, 1);
    CHECK_STR(s.last.type, "limit_hit");
    CHECK_STR(s.last.extra[0].key, "limit");
    CHECK_STR(s.last.extra[0].text, "max_connections");
    CHECK(s.last.extra[1].is_number);
    CHECK_EQ(s.last.extra[1].number, 42);
    CHECK(s.last.extra[2].key == NULL);
    secevent_set_sink(NULL, NULL);
}

TEST(extra_fields_are_bounded)
{
    secevent e = {.type = "x"};
    for (int i = 0; i < SECEVENT_MAX_EXTRA + 3; i++)
        secevent_add_number(&e, "n", i);
    CHECK_EQ(e.extra[SECEVENT_MAX_EXTRA - 1].number, SECEVENT_MAX_EXTRA - 1);
}

TEST(peer_strings_split)
{
    char buf[64];
    secevent e = {.type = "x"};

    secevent_set_peer(&e, "192.0.2.1:5555", buf, sizeof buf);
    CHECK_STR(e.address, "192.0.2.1");
    CHECK_EQ(e.port, 5555);
    secevent_set_peer(&e, "[2001:db8::1]:8883", buf, sizeof buf);
    CHECK_STR(e.address, "2001:db8::1");
    CHECK_EQ(e.port, 8883);
    secevent_set_peer(&e, "2001:db8::2", buf, sizeof buf);
    CHECK_STR(e.address, "2001:db8::2");
    CHECK_EQ(e.port, 0);
    secevent_set_peer(&e, "198.51.100.7", buf, sizeof buf);
    CHECK_STR(e.address, "198.51.100.7");
    CHECK_EQ(e.port, 0);
    secevent_set_peer(&e, "198.51.100.7:99999", buf, sizeof buf);
    CHECK_EQ(e.port, 0); /* out of range: absent */
}

TEST_MAIN()
