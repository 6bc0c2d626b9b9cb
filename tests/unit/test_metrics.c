/*
 * test_metrics.c - the metrics pieces without a broker process: the Prometheus text writer (escaping, names,
 * the size cap), the counter table, the plain HTTP request parser, the HTTP endpoint over a real loopback
 * socket (answers, basic-auth verdicts, limits, deadline), and the broker's rendering after real traffic on
 * a socketpair.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/promtext.h"
#include "broker/broker_metrics.h"
#include "codec/http.h"
#include "net/httpd.h"
#include "test.h"

/* ---- promtext ---- */

TEST(promtext_family_and_samples)
{
    promtext p;
    promtext_init(&p, 1 << 16);
    promtext_family(&p, "rampart_x_total", "counter", "Help with \\ and\nnewline.");
    promtext_u64(&p, "rampart_x_total", "reason", "a\"b\\c\nd", 42);
    promtext_i64(&p, "rampart_y", NULL, NULL, -5);
    CHECK(!p.failed);
    CHECK_STR(p.buf, "# HELP rampart_x_total Help with \\\\ and\\nnewline.\n"
                     "# TYPE rampart_x_total counter\n"
                     "rampart_x_total{reason=\"a\\\"b\\\\c\\nd\"} 42\n"
                     "rampart_y -5\n");
    promtext_free(&p);
}

TEST(promtext_cap_fails_closed)
{
    promtext p;
    promtext_init(&p, 16);
    promtext_u64(&p, "rampart_a_long_metric_name", NULL, NULL, 1);
    CHECK(p.failed);
    size_t len = p.len;
    promtext_u64(&p, "b", NULL, NULL, 1);
    CHECK_EQ(p.len, len);
    promtext_free(&p);
}

TEST(promtext_names)
{
    CHECK(promtext_name_valid("rampart_up"));
    CHECK(promtext_name_valid("a:b_c9"));
    CHECK(!promtext_name_valid("9abc"));
    CHECK(!promtext_name_valid("a-b"));
    CHECK(!promtext_name_valid(""));
    CHECK(!promtext_name_valid(NULL));
}

/* ---- counters ---- */

TEST(counters_families_are_contiguous_and_named)
{
    enum counter_family last = 0;
    for (enum counter_id id = 0; id < COUNTER_COUNT; id++) {
        enum counter_family f = counters_family_of(id);
        CHECK(f >= last);
        last = f;
        CHECK(promtext_name_valid(counters_family_info(f)->name));
        CHECK(promtext_name_valid(counters_family_info(f)->label));
        CHECK(counters_label_of(id) && *counters_label_of(id));
    }
    CHECK_EQ(last, COUNTER_FAMILY_COUNT - 1);
    uint64_t before = counters_get(COUNTER_AUTH_BANNED);
    counters_inc(COUNTER_AUTH_BANNED);
    CHECK_EQ(counters_get(COUNTER_AUTH_BANNED), before + 1);
    counters_gauge_set(COUNTER_GAUGE_BANS_ACTIVE, 3);
    CHECK_EQ(counters_gauge_get(COUNTER_GAUGE_BANS_ACTIVE), 3);
}

/* ---- plain request parser ---- */

static int parse(const char *s, http_upgrade_request *r)
{
    http_parser p;
    http_parser_init(&p, 256, 8);
    return http_request_parse(&p, (const uint8_t *)s, strlen(s), r);
}

TEST(http_request_plain_get)
{
    http_upgrade_request r;
    CHECK_EQ(parse("GET /metrics?x=1 HTTP/1.0\r\nAuthorization: Basic YTpi\r\n\r\n", &r), HTTP_OK);
    CHECK_EQ(r.target.len, 12);
    CHECK_EQ(r.authorization.len, 10);
    CHECK(!r.has_body);
    CHECK_EQ(parse("POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\n", &r), HTTP_OK);
    CHECK(r.has_body);
    CHECK_EQ(r.method.len, 4);
    CHECK_EQ(parse("GET /metrics HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b\r\n\r\n", &r), HTTP_ERROR);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(parse("GET /metrics HTTP/2.0\r\n\r\n", &r), HTTP_ERROR);
    CHECK_EQ(parse("GET /metrics HTTP/1.1\r\n", &r), HTTP_NEED_MORE);
}

TEST(http_upgrade_still_refuses_plain_requests)
{
    http_parser p;
    http_upgrade_request r;
    const char *s = "POST /mqtt HTTP/1.1\r\nHost: x\r\n\r\n";
    http_parser_init(&p, 0, 0);
    CHECK_EQ(http_upgrade_parse(&p, (const uint8_t *)s, strlen(s), &r), HTTP_ERROR);
    CHECK_EQ(r.status, 405);
}

/* ---- the endpoint over loopback ---- */

typedef struct fake_owner {
    enum httpd_verdict verdict;
    uint64_t pending_token;
    int renders;
} fake_owner;

static enum httpd_verdict fake_authorize(void *ctx, uint64_t token, const char *header, size_t len)
{
    fake_owner *o = ctx;
    if (o->verdict == HTTPD_PENDING)
        o->pending_token = token;
    (void)header;
    return len == 0 ? HTTPD_DENY : o->verdict;
}

static bool fake_render(void *ctx, char **body, size_t *len)
{
    fake_owner *o = ctx;
    o->renders++;
    *body = strdup("rampart_up 1\n");
    *len = strlen(*body);
    return *body != NULL;
}

static int connect_to(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends req, runs the loop until the answer is complete (the server closes), returns it (static). */
static const char *exchange(net_loop *loop, uint16_t port, const char *req)
{
    static char buf[4096];
    size_t n = 0;
    int fd = connect_to(port);
    buf[0] = '\0';
    if (fd < 0)
        return buf;
    CHECK_EQ(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    shutdown(fd, SHUT_WR);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 200; i++) {
        loop_run_once(loop, 10);
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r == 0)
            break;
        if (r > 0)
            n += (size_t)r;
    }
    buf[n] = '\0';
    close(fd);
    for (int i = 0; i < 5; i++)
        loop_run_once(loop, 5);
    return buf;
}

static httpd *open_endpoint(net_loop *loop, fake_owner *o, uint32_t max_conns)
{
    char err[256];
    httpd_options opt = {.address = "127.0.0.1", .path = "/metrics", .max_connections = max_conns,
                         .max_request = 256, .timeout_ms = 1000};
    httpd_handler h = {.ctx = o, .authorize = fake_authorize, .render = fake_render,
                       .content_type = PROMTEXT_CONTENT_TYPE, .realm = "test"};
    return httpd_open(loop, &opt, &h, err, sizeof err);
}

TEST(httpd_answers)
{
    fake_owner o = {.verdict = HTTPD_ALLOW};
    net_loop *loop = loop_new();
    log_set_level(LOG_LEVEL_ERROR);
    httpd *h = open_endpoint(loop, &o, 4);
    CHECK(h != NULL);
    if (!h)
        return;
    uint16_t port = httpd_port(h);
    const char *r = exchange(loop, port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic eDp5\r\n\r\n");
    CHECK(strstr(r, "HTTP/1.1 200 OK\r\n") == r);
    CHECK(strstr(r, "Content-Type: text/plain; version=0.0.4") != NULL);
    CHECK(strstr(r, "\r\n\r\nrampart_up 1\n") != NULL);
    r = exchange(loop, port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(strstr(r, "HTTP/1.1 401 ") == r);
    CHECK(strstr(r, "WWW-Authenticate: Basic realm=\"test\"") != NULL);
    CHECK(strstr(exchange(loop, port, "GET /other HTTP/1.1\r\n\r\n"), "HTTP/1.1 404 ") != NULL);
    CHECK(strstr(exchange(loop, port, "PUT /metrics HTTP/1.1\r\n\r\n"), "HTTP/1.1 405 ") != NULL);
    CHECK(strstr(exchange(loop, port, "GET /metrics HTTP/1.1\r\nX: \001\r\n\r\n"), "HTTP/1.1 400 ") != NULL);
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "GET /", 5);
    CHECK(strstr(exchange(loop, port, big), "HTTP/1.1 431 ") != NULL);
    o.verdict = HTTPD_BUSY;
    CHECK(strstr(exchange(loop, port, "GET /metrics HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n"),
                 "HTTP/1.1 503 ") != NULL);
    CHECK_EQ(o.renders, 1);
    CHECK_EQ(httpd_connections(h), 0);
    httpd_close(h);
    loop_free(loop);
}

TEST(httpd_pending_verdict_and_deadline)
{
    fake_owner o = {.verdict = HTTPD_PENDING};
    net_loop *loop = loop_new();
    httpd *h = open_endpoint(loop, &o, 1);
    CHECK(h != NULL);
    if (!h)
        return;
    int fd = connect_to(httpd_port(h));
    const char *req = "GET /metrics HTTP/1.1\r\nAuthorization: Basic eDp5\r\n\r\n";
    CHECK_EQ(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    for (int i = 0; i < 20 && !o.pending_token; i++)
        loop_run_once(loop, 10);
    CHECK(o.pending_token != 0);
    /* The cap is one connection: a second one is closed at once and counted. */
    uint64_t hits = counters_get(COUNTER_LIMIT_METRICS_CONNECTIONS);
    int fd2 = connect_to(httpd_port(h));
    for (int i = 0; i < 5; i++)
        loop_run_once(loop, 5);
    CHECK_EQ(counters_get(COUNTER_LIMIT_METRICS_CONNECTIONS), hits + 1);
    char c;
    CHECK_EQ(read(fd2, &c, 1), 0);
    close(fd2);
    httpd_auth_done(h, o.pending_token, HTTPD_ALLOW);
    char buf[512] = {0};
    for (int i = 0; i < 20; i++)
        loop_run_once(loop, 5);
    CHECK(read(fd, buf, sizeof buf - 1) > 0);
    CHECK(strstr(buf, "200 OK") != NULL);
    /* The client never closes: the deadline does. */
    httpd_tick(h, loop_now_ms() + 5000);
    CHECK_EQ(httpd_connections(h), 0);
    close(fd);
    httpd_close(h);
    loop_free(loop);
}

/* ---- the broker's rendering after traffic ---- */

static broker *start_broker(void)
{
    broker_settings s;
    signal(SIGPIPE, SIG_IGN);
    broker_settings_default(&s);
    broker_settings_add_listener(&s, "127.0.0.1", 0)->allow_anonymous = true; /* never opened */
    s.no_signals = true;
    s.sys_interval = 0;
    return broker_new(&s);
}

/* Every sample line's metric has a TYPE line before it, and every line is HELP, TYPE or a sample. */
static bool exposition_well_formed(const char *text)
{
    char typed[256][96];
    size_t ntyped = 0;
    for (const char *line = text; *line;) {
        const char *eol = strchr(line, '\n');
        if (!eol)
            return false;
        char name[96] = {0};
        if (sscanf(line, "# TYPE %95s", name) == 1 && ntyped < 256)
            snprintf(typed[ntyped++], sizeof typed[0], "%s", name);
        else if (strncmp(line, "# HELP ", 7) != 0) {
            size_t n = strcspn(line, "{ ");
            bool found = false;
            for (size_t i = 0; i < ntyped && !found; i++)
                found = strlen(typed[i]) == n && strncmp(typed[i], line, n) == 0;
            if (!found || n >= 96)
                return false;
        }
        line = eol + 1;
    }
    return true;
}

TEST(broker_render_counts_real_traffic)
{
    static const uint8_t connect_pkt[] = {0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 0};
    static const uint8_t publish_pkt[] = {0x32, 10, 0, 1, 't', 0, 1, 'h', 'e', 'l', 'l', 'o'};
    broker *b = start_broker();
    int sv[2];
    CHECK(b != NULL);
    if (!b || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return;
    broker_attach_fd(b, sv[1], "192.0.2.1");
    CHECK_EQ(write(sv[0], connect_pkt, sizeof connect_pkt), (ssize_t)sizeof connect_pkt);
    for (int i = 0; i < 5; i++)
        broker_step(b, 5);
    CHECK_EQ(write(sv[0], publish_pkt, sizeof publish_pkt), (ssize_t)sizeof publish_pkt);
    for (int i = 0; i < 5; i++)
        broker_step(b, 5);
    promtext p;
    promtext_init(&p, 1 << 20);
    broker_stats_render(b, &p);
    CHECK(!p.failed && p.buf);
    if (p.buf) {
        CHECK(exposition_well_formed(p.buf));
        CHECK(strstr(p.buf, "rampart_clients_connected 1\n") != NULL);
        CHECK(strstr(p.buf, "rampart_messages_received_total{qos=\"1\"} 1\n") != NULL);
        CHECK(strstr(p.buf, "rampart_payload_received_bytes_total{qos=\"1\"} 5\n") != NULL);
        CHECK(strstr(p.buf, "rampart_connections_open{listener=\"127.0.0.1:0\"} 1\n") != NULL);
        CHECK(strstr(p.buf, "rampart_connections_accepted_total{listener=\"127.0.0.1:0\"} 1\n") != NULL);
        CHECK(strstr(p.buf, "# TYPE rampart_auth_failures_total counter\n") != NULL);
        CHECK(strstr(p.buf, "rampart_limit_hits_total{limit=\"max_packet_size\"} ") != NULL);
        CHECK(strstr(p.buf, "process_resident_memory_bytes ") != NULL);
    }
    promtext_free(&p);
    close(sv[0]);
    broker_free(b);
}

TEST_MAIN()
