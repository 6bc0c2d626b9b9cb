/* Unit tests for the load generator's pure parts: histogram and percentiles, sequence tracking, /proc
 * parsing, option checking (src/tools/bench/). */
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "tools/bench/bench.h"
#include "tools/bench/hist.h"
#include "tools/bench/proc.h"
#include "tools/bench/track.h"
#include "tools/bench/wsclient.h"
#include "codec/http.h"

static bench_hist *hist_new(void)
{
    bench_hist *h = malloc(sizeof *h);

    if (h)
        bench_hist_init(h);
    return h;
}

TEST(hist_empty_reports_zero)
{
    bench_hist *h = hist_new();

    CHECK(h != NULL);
    if (!h)
        return;
    CHECK_EQ(h->count, 0);
    CHECK_EQ(bench_hist_percentile(h, 50), 0);
    CHECK_EQ(bench_hist_percentile(h, 100), 0);
    CHECK(bench_hist_mean(h) == 0.0);
    free(h);
}

TEST(hist_buckets_are_contiguous_and_cover_their_values)
{
    uint64_t prev_high = 0;

    for (uint32_t b = 0; b < BENCH_HIST_BUCKETS; b++) {
        uint64_t low = bench_hist_bucket_low(b), high = bench_hist_bucket_high(b);

        CHECK(low <= high);
        if (b > 0 && low != prev_high + 1) {
            CHECK_EQ(low, prev_high + 1);
            break;
        }
        CHECK_EQ(bench_hist_bucket_of(low), b);
        CHECK_EQ(bench_hist_bucket_of(high), b);
        /* relative width under 1/SUB */
        CHECK((high - low) * BENCH_HIST_SUB <= low + 1);
        prev_high = high;
    }
    /* values beyond the range fall into the last bucket */
    CHECK_EQ(bench_hist_bucket_of(UINT64_MAX), BENCH_HIST_BUCKETS - 1);
}

TEST(hist_small_values_are_exact)
{
    bench_hist *h = hist_new();

    if (!h)
        return;
    for (uint64_t v = 1; v <= 100; v++)
        bench_hist_record(h, v);
    CHECK_EQ(h->count, 100);
    CHECK_EQ(h->min, 1);
    CHECK_EQ(h->max, 100);
    CHECK_EQ(bench_hist_percentile(h, 50), 50);
    CHECK_EQ(bench_hist_percentile(h, 99), 99);
    CHECK_EQ(bench_hist_percentile(h, 100), 100);
    CHECK_EQ(bench_hist_percentile(h, 0.001), 1);
    CHECK(bench_hist_mean(h) == 50.5);
    free(h);
}

/* A uniform 1..1,000,000: every percentile lands within the bucket precision of its exact value. */
TEST(hist_percentiles_within_precision)
{
    bench_hist *h = hist_new();
    static const double ps[] = {50, 90, 99, 99.9, 99.99};

    if (!h)
        return;
    for (uint64_t v = 1; v <= 1000000; v++)
        bench_hist_record(h, v);
    for (unsigned i = 0; i < sizeof ps / sizeof *ps; i++) {
        double exact = ps[i] / 100.0 * 1e6;
        double got = (double)bench_hist_percentile(h, ps[i]);

        CHECK(got >= exact);
        CHECK(got <= exact * (1.0 + 1.0 / BENCH_HIST_SUB) + 1);
    }
    CHECK_EQ(bench_hist_percentile(h, 100), 1000000);
    free(h);
}

/* The maximum is exact and a percentile never reports more than it; one outlier shows at p100 only. */
TEST(hist_outlier_and_clamping)
{
    bench_hist *h = hist_new();

    if (!h)
        return;
    for (int i = 0; i < 999; i++)
        bench_hist_record(h, 1000);
    bench_hist_record(h, 123456789);
    CHECK(bench_hist_percentile(h, 50) >= 1000 && bench_hist_percentile(h, 50) < 1000 + 1000 / BENCH_HIST_SUB + 1);
    CHECK(bench_hist_percentile(h, 99.9) < 1010);
    CHECK_EQ(bench_hist_percentile(h, 100), 123456789);
    CHECK_EQ(h->max, 123456789);
    free(h);
}

TEST(hist_merge_adds_counts_and_extremes)
{
    bench_hist *a = hist_new(), *b = hist_new();

    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    for (uint64_t v = 1; v <= 50; v++)
        bench_hist_record(a, v);
    for (uint64_t v = 51; v <= 100; v++)
        bench_hist_record(b, v);
    bench_hist_merge(a, b);
    CHECK_EQ(a->count, 100);
    CHECK_EQ(a->min, 1);
    CHECK_EQ(a->max, 100);
    CHECK_EQ(bench_hist_percentile(a, 50), 50);
    CHECK_EQ(bench_hist_percentile(a, 75), 75);
    bench_hist_init(b);
    bench_hist_merge(a, b); /* merging an empty histogram changes nothing */
    CHECK_EQ(a->count, 100);
    CHECK_EQ(a->min, 1);
    free(a);
    free(b);
}

TEST(track_in_order_stream)
{
    bench_track t;

    bench_track_init(&t);
    for (uint64_t s = 0; s < 10000; s++)
        bench_track_arrive(&t, s);
    CHECK_EQ(t.unique, 10000);
    CHECK_EQ(t.duplicated, 0);
    CHECK_EQ(t.out_of_order, 0);
    CHECK_EQ(t.next, 10000);
}

TEST(track_gap_late_arrival_and_duplicates)
{
    bench_track t;

    bench_track_init(&t);
    bench_track_arrive(&t, 0);
    bench_track_arrive(&t, 1);
    bench_track_arrive(&t, 3); /* 2 missing for now */
    bench_track_arrive(&t, 1); /* duplicate */
    bench_track_arrive(&t, 3); /* duplicate */
    bench_track_arrive(&t, 2); /* late: out of order, still unique */
    bench_track_arrive(&t, 2); /* now a duplicate */
    bench_track_arrive(&t, 5); /* 4 lost */
    CHECK_EQ(t.unique, 5);
    CHECK_EQ(t.duplicated, 3);
    CHECK_EQ(t.out_of_order, 1);
    /* 6 sent (0..5), 5 unique: the caller computes 1 lost */
}

TEST(track_window_edges)
{
    bench_track t;

    bench_track_init(&t);
    bench_track_arrive(&t, 0);
    bench_track_arrive(&t, BENCH_TRACK_WINDOW);     /* 1..W-1 missing; 0 is exactly W below next-1 */
    bench_track_arrive(&t, 1);                       /* inside the window: late */
    bench_track_arrive(&t, 1);                       /* duplicate inside the window */
    bench_track_arrive(&t, 0);                       /* beyond the window: counted out of order */
    CHECK_EQ(t.unique, 4);
    CHECK_EQ(t.duplicated, 1);
    CHECK_EQ(t.out_of_order, 2);
    bench_track_arrive(&t, 10 * (uint64_t)BENCH_TRACK_WINDOW); /* a big jump clears the window */
    bench_track_arrive(&t, 10 * (uint64_t)BENCH_TRACK_WINDOW - 1);
    CHECK_EQ(t.unique, 6);
    CHECK_EQ(t.duplicated, 1);
    CHECK_EQ(t.out_of_order, 3);
}

TEST(proc_parse_stat_with_odd_command_name)
{
    const char *stat = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 99 "
                       "1000000 500 18446744073709551615";
    uint64_t u = 0, s = 0;

    CHECK_EQ(bench_proc_parse_stat(stat, &u, &s), 0);
    CHECK_EQ(u, 250);
    CHECK_EQ(s, 75);
    CHECK_EQ(bench_proc_parse_stat("1234 (x) S 1 2", &u, &s), -1);
    CHECK_EQ(bench_proc_parse_stat("no parenthesis", &u, &s), -1);
}

TEST(proc_parse_status_fields)
{
    const char *status = "Name:\trampart\nVmPeak:\t  20000 kB\nVmHWM:\t    9000 kB\nVmRSS:\t    8000 kB\n";
    uint64_t kb = 0;

    CHECK_EQ(bench_proc_parse_status_kb(status, "VmRSS", &kb), 0);
    CHECK_EQ(kb, 8000);
    CHECK_EQ(bench_proc_parse_status_kb(status, "VmHWM", &kb), 0);
    CHECK_EQ(kb, 9000);
    CHECK_EQ(bench_proc_parse_status_kb(status, "VmSwap", &kb), -1);
}

TEST(proc_read_self)
{
    bench_proc_sample s;

    CHECK_EQ(bench_proc_read(getpid(), &s), 0);
    CHECK(s.rss_kb > 0);
    CHECK(s.hwm_kb >= s.rss_kb);
    CHECK(s.cpu_s >= 0.0);
}

TEST(config_defaults_and_scenarios)
{
    bench_config cfg;
    char *fan_in[] = {"bench", "-s", "fan-in", "-p", "1999", "-q", "1", NULL};
    char *pairs[] = {"bench", "--scenario", "pairs", "--clients", "7", NULL};
    char *shared[] = {"bench", "-s", "shared", "--publishers", "3", "--subscribers", "4", "-H", "::1", NULL};

    CHECK_EQ(bench_config_parse(&cfg, 7, fan_in), 0);
    CHECK_EQ(cfg.scenario, BENCH_FAN_IN);
    CHECK_EQ(cfg.port, 1999);
    CHECK_EQ(cfg.qos, 1);
    CHECK_EQ(cfg.publishers, 10);
    CHECK_EQ(cfg.subscribers, 1);
    CHECK_EQ(bench_config_parse(&cfg, 5, pairs), 0);
    CHECK_EQ(cfg.publishers, 7);
    CHECK_EQ(cfg.subscribers, 7);
    CHECK_EQ(bench_config_parse(&cfg, 9, shared), 0);
    CHECK_EQ(cfg.publishers, 3);
    CHECK_EQ(cfg.subscribers, 4);
    CHECK_STR(bench_scenario_name(cfg.scenario), "shared");
}

TEST(config_refuses_bad_options)
{
    bench_config cfg;
    char *remote[] = {"bench", "-H", "192.0.2.1", NULL};
    char *name[] = {"bench", "-H", "localhost", NULL};
    char *qos[] = {"bench", "-q", "3", NULL};
    char *payload[] = {"bench", "-l", "8", NULL};
    char *scenario[] = {"bench", "-s", "nope", NULL};
    char *pairs[] = {"bench", "-s", "pairs", "--publishers", "2", "--subscribers", "3", NULL};
    char *window[] = {"bench", "-q", "1", "-w", "70000", NULL};

    fprintf(stderr, "(the refusals below are expected)\n");
    CHECK_EQ(bench_config_parse(&cfg, 3, remote), -1);
    CHECK_EQ(bench_config_parse(&cfg, 3, name), -1);
    CHECK_EQ(bench_config_parse(&cfg, 3, qos), -1);
    CHECK_EQ(bench_config_parse(&cfg, 3, payload), -1);
    CHECK_EQ(bench_config_parse(&cfg, 3, scenario), -1);
    CHECK_EQ(bench_config_parse(&cfg, 7, pairs), -1);
    CHECK_EQ(bench_config_parse(&cfg, 5, window), -1);
}

/* The upgrade request carries our key; a 101 with the right Sec-WebSocket-Accept opens the stream, and
 * bytes after the header are left for the frame decoder. */
TEST(ws_upgrade_request_and_response)
{
    bench_ws *ws = bench_ws_new();
    char accept[HTTP_WS_ACCEPT_LEN + 1], resp[512];
    const char *why = NULL;
    int n;

    CHECK(ws != NULL);
    if (!ws)
        return;
    CHECK_EQ(bench_ws_request(ws, "127.0.0.1", 1883, "/mqtt"), 0);
    CHECK(ws->len > 0 && memmem(ws->out, ws->len, ws->key, strlen(ws->key)) != NULL);
    CHECK(memmem(ws->out, ws->len, "GET /mqtt HTTP/1.1\r\n", 20) == ws->out);
    CHECK(http_ws_accept((http_slice){ws->key, strlen(ws->key)}, accept));
    n = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nsec-websocket-accept: %s\r\n\r\nXY", accept);
    CHECK_EQ(bench_ws_response(ws, (const uint8_t *)resp, 20, &why), 0); /* incomplete */
    CHECK_EQ(bench_ws_response(ws, (const uint8_t *)resp, (size_t)n, &why), n - 2);
    CHECK(ws->open);
    bench_ws_free(ws);
}

TEST(ws_upgrade_refusals)
{
    bench_ws *ws = bench_ws_new();
    const char *why = NULL;
    static const char *bad_status = "HTTP/1.1 400 Bad Request\r\n\r\n";
    static const char *bad_accept = "HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: "
                                    "AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";

    if (!ws)
        return;
    CHECK_EQ(bench_ws_response(ws, (const uint8_t *)bad_status, strlen(bad_status), &why), -1);
    CHECK(why != NULL);
    why = NULL;
    CHECK_EQ(bench_ws_response(ws, (const uint8_t *)bad_accept, strlen(bad_accept), &why), -1);
    CHECK(why != NULL && !ws->open);
    bench_ws_free(ws);
}

/* Our frames are masked binary frames a server-side decoder accepts and unmasks to the original bytes. */
TEST(ws_frames_are_masked_and_decode)
{
    bench_ws *ws = bench_ws_new();
    ws_decoder dec;
    ws_limits lim = {0, 0, true, false};
    uint8_t payload[300];
    size_t at = 0, got = 0;

    if (!ws)
        return;
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)i;
    CHECK_EQ(bench_ws_frame(ws, WS_OP_BINARY, payload, 5), 0);
    CHECK_EQ(bench_ws_frame(ws, WS_OP_BINARY, payload, sizeof payload), 0);
    CHECK((ws->out[1] & 0x80) != 0); /* mask bit */
    ws_decoder_init(&dec, &lim);
    while (at < ws->len) {
        ws_event ev;

        at += ws_decoder_feed(&dec, ws->out + at, ws->len - at, &ev);
        CHECK(ev.type != WS_EV_ERROR);
        if (ev.type == WS_EV_DATA) {
            CHECK(got + ev.len <= 5 + sizeof payload);
            if (got < 5)
                CHECK_MEM(ev.data, payload + got, ev.len);
            got += ev.len;
        }
        if (ev.type == WS_EV_ERROR)
            break;
    }
    CHECK_EQ(got, 5 + sizeof payload);
    bench_ws_free(ws);
}

/* Server frames (unmasked) are unwrapped in place; a ping is answered with a pong; close ends the stream. */
TEST(ws_ingest_data_ping_close)
{
    bench_ws *ws = bench_ws_new();
    uint8_t in[64];
    size_t n = 0;
    const char *why = NULL;
    bool closed = false;

    if (!ws)
        return;
    n += ws_frame_header_encode(in + n, WS_OP_BINARY, true, 3);
    memcpy(in + n, "abc", 3), n += 3;
    n += ws_frame_header_encode(in + n, WS_OP_PING, true, 2);
    memcpy(in + n, "hi", 2), n += 2;
    n += ws_frame_header_encode(in + n, WS_OP_BINARY, true, 2);
    memcpy(in + n, "de", 2), n += 2;
    CHECK_EQ(bench_ws_ingest(ws, in, n, &closed, &why), 5);
    CHECK_MEM(in, "abcde", 5);
    CHECK(!closed);
    CHECK(ws->len == 2 + 4 + 2 && (ws->out[0] & 0x0F) == WS_OP_PONG);
    n = ws_close_frame_encode(in, 1000, "bye");
    CHECK_EQ(bench_ws_ingest(ws, in, n, &closed, &why), -1);
    CHECK(closed);
    bench_ws_free(ws);
}

TEST_MAIN()
