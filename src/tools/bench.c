/*
 * bench.c - `rampart bench`: the MQTT load generator's command line. Parses and checks the options (every
 * count and time bounded, the broker on a loopback address only), runs the scenario and prints the human
 * table and/or the JSON line. See src/tools/bench/bench.h for how a run works, docs/performance.md for use.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/bench/bench.h"
#include "tools/commands.h"

static const char *const scenario_names[] = {"fan-in", "fan-out", "pairs", "shared", "storm", "idle"};

const char *bench_scenario_name(enum bench_scenario s)
{
    return (unsigned)s < sizeof scenario_names / sizeof *scenario_names ? scenario_names[s] : "?";
}

static void bench_usage(FILE *out)
{
    fprintf(out,
            "usage: rampart bench [options]\n"
            "  -s, --scenario NAME    fan-in (N->1, wildcard), fan-out (1->N), pairs (N x 1->1), shared (N->M\n"
            "                         through $share), storm (connect/disconnect), idle (held connections)\n"
            "  -H, --host ADDR        broker address, loopback only (default 127.0.0.1)\n"
            "  -p, --port PORT        broker port (default 1883)\n"
            "  -q, --qos 0|1|2        QoS of publications and subscriptions (default 0)\n"
            "  -V, --mqtt-version 4|5 MQTT 3.1.1 or 5.0 (default 4)\n"
            "      --publishers N     publishers (fan-in 10, fan-out 1, pairs 100, shared 10)\n"
            "      --subscribers N    subscribers (fan-in 1, fan-out 100, pairs = publishers, shared 10)\n"
            "  -c, --clients N        storm/idle: connections (5000 / 10000); fan-in: publishers;\n"
            "                         fan-out and shared: subscribers; pairs: pairs\n"
            "      --concurrency N    connections being set up at once (default 100)\n"
            "  -l, --payload BYTES    message size, at least %d (default 64)\n"
            "  -w, --window N         per publisher: unacknowledged messages (QoS 1/2) or messages not yet\n"
            "                         delivered to every subscriber (QoS 0) (default 100)\n"
            "  -r, --rate MSGS        fixed total offered rate in messages/s (default: open, window bound)\n"
            "  -d, --duration SECONDS publishing time; storm: at most; idle: holding time (default 5)\n"
            "  -n, --count N          messages per publisher at most (default: unbounded)\n"
            "      --drain SECONDS    wait for outstanding deliveries after publishing (default 2)\n"
            "      --connect-timeout SECONDS  for all clients to connect (default 30)\n"
            "  -t, --threads N        event-loop threads (default 1)\n"
            "      --pid PID          the broker's process: report its CPU time and memory\n"
            "  -u, --username NAME    -P, --password SECRET   credentials for CONNECT\n"
            "      --tls              TLS over TCP (full handshakes, no session resumption)\n"
            "      --tls-resume       with --tls: resume sessions with the broker's session tickets\n"
            "      --cert FILE --key FILE  with --tls: present this client certificate (PEM chain, key)\n"
            "      --cafile FILE      with --tls: verify the broker's certificate (default: not verified)\n"
            "      --sources N        spread clients over 127.0.0.1 .. 127.0.0.N (per-address broker limits,\n"
            "                         ephemeral ports; IPv4 loopback only; default 1)\n"
            "      --ws               MQTT over WebSocket (subprotocol mqtt; over TLS with --tls)\n"
            "      --persistent       persistent sessions (clean start off; 5.0: Session Expiry 300 s), so a broker\n"
            "                         with persistence stores every QoS 1/2 delivery\n"
            "      --ws-path PATH     the upgrade request's path (default /mqtt)\n"
            "      --json             also print the result as one JSON line\n"
            "      --quiet            no table, no progress (with --json: only the JSON line)\n",
            BENCH_PAYLOAD_HEADER);
}

/* Parses an unsigned integer option within [lo, hi]. Returns 0 or -1 after a message. */
static int parse_uint(const char *opt, const char *text, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!text[0] || text[0] == '-')
        goto bad;
    v = strtoull(text, &end, 10);
    if (*end || v < lo || v > hi)
        goto bad;
    *out = v;
    return 0;
bad:
    fprintf(stderr, "bench: %s: '%s' is not a whole number in %llu..%llu\n", opt, text, (unsigned long long)lo,
            (unsigned long long)hi);
    return -1;
}

static int parse_seconds(const char *opt, const char *text, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(text, &end);

    if (!text[0] || *end || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bench: %s: '%s' is not a number in %g..%g\n", opt, text, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* Resolves host (numeric only) and accepts it only if it is a loopback address. */
static int parse_loopback(bench_config *cfg)
{
    struct addrinfo hints, *ai = NULL;
    char port[8];
    bool loopback = false;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%u", cfg->port);
    rc = getaddrinfo(cfg->host, port, &hints, &ai);
    if (rc || !ai) {
        fprintf(stderr, "bench: --host '%s': not a numeric address (%s)\n", cfg->host, gai_strerror(rc));
        return -1;
    }
    if (ai->ai_family == AF_INET)
        loopback = (ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr) >> 24) == 127;
    else if (ai->ai_family == AF_INET6)
        loopback = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
    if (loopback) {
        memcpy(&cfg->addr, ai->ai_addr, ai->ai_addrlen);
        cfg->addrlen = ai->ai_addrlen;
    }
    freeaddrinfo(ai);
    if (!loopback)
        fprintf(stderr, "bench: --host '%s': the load generator only targets loopback addresses\n", cfg->host);
    return loopback ? 0 : -1;
}

static void config_defaults(bench_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->scenario = BENCH_FAN_OUT;
    snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
    cfg->port = 1883;
    cfg->version = 4;
    cfg->concurrency = 100;
    cfg->payload = 64;
    cfg->window = 100;
    cfg->duration = 5;
    cfg->drain = 2;
    cfg->connect_timeout = 30;
    cfg->threads = 1;
    cfg->ws_path = "/mqtt";
}

/* Fills in the per-scenario client counts the options left open and checks the totals. */
static int config_finish(bench_config *cfg, uint64_t clients, uint64_t pubs, uint64_t subs)
{
    static const uint32_t def_pubs[] = {10, 1, 100, 10, 0, 0}, def_subs[] = {1, 100, 0, 10, 0, 0};
    enum bench_scenario s = cfg->scenario;

    if (s == BENCH_STORM || s == BENCH_IDLE) {
        cfg->clients = (uint32_t)(clients ? clients : s == BENCH_STORM ? 5000 : 10000);
        return 0;
    }
    if (clients && s == BENCH_FAN_IN && !pubs)
        pubs = clients;
    if (clients && (s == BENCH_FAN_OUT || s == BENCH_SHARED) && !subs)
        subs = clients;
    if (clients && s == BENCH_PAIRS && !pubs)
        pubs = clients;
    cfg->publishers = (uint32_t)(pubs ? pubs : def_pubs[s]);
    cfg->subscribers = (uint32_t)(subs ? subs : s == BENCH_PAIRS ? cfg->publishers : def_subs[s]);
    if (s == BENCH_PAIRS && cfg->subscribers != cfg->publishers) {
        fprintf(stderr, "bench: pairs needs as many subscribers as publishers\n");
        return -1;
    }
    if ((uint64_t)cfg->publishers + cfg->subscribers > BENCH_MAX_CLIENTS ||
        ((s == BENCH_FAN_IN || s == BENCH_FAN_OUT) &&
         (uint64_t)cfg->publishers * cfg->subscribers > BENCH_MAX_STREAMS)) {
        fprintf(stderr, "bench: too many clients (at most %u, and publishers x subscribers at most %u)\n",
                BENCH_MAX_CLIENTS, BENCH_MAX_STREAMS);
        return -1;
    }
    if (cfg->qos > 0 && cfg->window > 65000) {
        fprintf(stderr, "bench: --window above 65000 does not fit MQTT packet identifiers\n");
        return -1;
    }
    return 0;
}

/* Makes this run's magic number and topic prefix, so concurrent runs never see each other's messages. */
static void config_identity(bench_config *cfg)
{
    uint32_t magic = 0;

    if (RAND_bytes((unsigned char *)&magic, sizeof magic) != 1)
        magic = (uint32_t)getpid() * 2654435761u ^ (uint32_t)bench_now_ns();
    cfg->magic = magic;
    snprintf(cfg->prefix, sizeof cfg->prefix, "rbench/%08x", magic);
}

static int config_scenario(bench_config *cfg, const char *name)
{
    for (unsigned i = 0; i < sizeof scenario_names / sizeof *scenario_names; i++)
        if (!strcmp(name, scenario_names[i])) {
            cfg->scenario = (enum bench_scenario)i;
            return 0;
        }
    fprintf(stderr, "bench: unknown scenario '%s' (fan-in, fan-out, pairs, shared, storm, idle)\n", name);
    return -1;
}

enum { OPT_PUBS = 256, OPT_SUBS, OPT_CONC, OPT_DRAIN, OPT_CTIMEOUT, OPT_PID, OPT_JSON, OPT_QUIET, OPT_TLS,
       OPT_CAFILE, OPT_WS, OPT_WS_PATH, OPT_SOURCES, OPT_TLS_RESUME, OPT_CERT, OPT_KEY, OPT_PERSISTENT };

static const struct option bench_options[] = {
    {"scenario", required_argument, NULL, 's'}, {"host", required_argument, NULL, 'H'},
    {"port", required_argument, NULL, 'p'},     {"qos", required_argument, NULL, 'q'},
    {"mqtt-version", required_argument, NULL, 'V'}, {"publishers", required_argument, NULL, OPT_PUBS},
    {"subscribers", required_argument, NULL, OPT_SUBS}, {"clients", required_argument, NULL, 'c'},
    {"concurrency", required_argument, NULL, OPT_CONC}, {"payload", required_argument, NULL, 'l'},
    {"window", required_argument, NULL, 'w'},   {"rate", required_argument, NULL, 'r'},
    {"duration", required_argument, NULL, 'd'}, {"count", required_argument, NULL, 'n'},
    {"drain", required_argument, NULL, OPT_DRAIN}, {"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
    {"threads", required_argument, NULL, 't'},  {"pid", required_argument, NULL, OPT_PID},
    {"username", required_argument, NULL, 'u'}, {"password", required_argument, NULL, 'P'},
    {"tls", no_argument, NULL, OPT_TLS},        {"tls-resume", no_argument, NULL, OPT_TLS_RESUME},
    {"cert", required_argument, NULL, OPT_CERT}, {"key", required_argument, NULL, OPT_KEY},        {"cafile", required_argument, NULL, OPT_CAFILE},
    {"sources", required_argument, NULL, OPT_SOURCES},
    {"ws", no_argument, NULL, OPT_WS},          {"ws-path", required_argument, NULL, OPT_WS_PATH},
    {"json", no_argument, NULL, OPT_JSON},      {"quiet", no_argument, NULL, OPT_QUIET},
    {"persistent", no_argument, NULL, OPT_PERSISTENT},
    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
};

/* Applies one option. Returns 0, or -1 after a message. */
static int config_option(bench_config *cfg, int opt, const char *arg, uint64_t *clients, uint64_t *pubs,
                         uint64_t *subs)
{
    uint64_t v = 0;
    int rc = 0;

    switch (opt) {
    case 's': return config_scenario(cfg, arg);
    case 'H':
        if (strlen(arg) >= sizeof cfg->host) {
            fprintf(stderr, "bench: --host: too long\n");
            return -1;
        }
        snprintf(cfg->host, sizeof cfg->host, "%s", arg);
        return 0;
    case 'p': rc = parse_uint("--port", arg, 1, 65535, &v); cfg->port = (uint16_t)v; return rc;
    case 'q': rc = parse_uint("--qos", arg, 0, 2, &v); cfg->qos = (uint8_t)v; return rc;
    case 'V':
        rc = parse_uint("--mqtt-version", arg, 4, 5, &v);
        cfg->version = (uint8_t)v;
        return rc;
    case OPT_PUBS: return parse_uint("--publishers", arg, 1, BENCH_MAX_CLIENTS, pubs);
    case OPT_SUBS: return parse_uint("--subscribers", arg, 1, BENCH_MAX_CLIENTS, subs);
    case 'c': return parse_uint("--clients", arg, 1, BENCH_MAX_CLIENTS, clients);
    case OPT_CONC: rc = parse_uint("--concurrency", arg, 1, 10000, &v); cfg->concurrency = (uint32_t)v; return rc;
    case 'l':
        rc = parse_uint("--payload", arg, BENCH_PAYLOAD_HEADER, BENCH_MAX_PAYLOAD, &v);
        cfg->payload = (uint32_t)v;
        return rc;
    case 'w': rc = parse_uint("--window", arg, 1, 1000000, &v); cfg->window = (uint32_t)v; return rc;
    case 'r': return parse_seconds("--rate", arg, 1, 1e8, &cfg->rate);
    case 'd': return parse_seconds("--duration", arg, 0.1, 3600, &cfg->duration);
    case 'n': return parse_uint("--count", arg, 1, UINT64_C(1) << 40, &cfg->count);
    case OPT_DRAIN: return parse_seconds("--drain", arg, 0, 600, &cfg->drain);
    case OPT_CTIMEOUT: return parse_seconds("--connect-timeout", arg, 0.1, 600, &cfg->connect_timeout);
    case 't': rc = parse_uint("--threads", arg, 1, BENCH_MAX_THREADS, &v); cfg->threads = (uint32_t)v; return rc;
    case OPT_PID: rc = parse_uint("--pid", arg, 1, 1u << 22, &v); cfg->pid = (pid_t)v; return rc;
    case 'u': cfg->username = arg; return 0;
    case 'P': cfg->password = arg; return 0;
    case OPT_TLS: cfg->tls = true; return 0;
    case OPT_TLS_RESUME: cfg->tls_resume = true; return 0;
    case OPT_CERT: cfg->certfile = arg; return 0;
    case OPT_KEY: cfg->keyfile = arg; return 0;
    case OPT_PERSISTENT: cfg->persistent = true; return 0;
    case OPT_CAFILE: cfg->cafile = arg; return 0;
    case OPT_WS: cfg->ws = true; return 0;
    case OPT_SOURCES: rc = parse_uint("--sources", arg, 1, 254, &v); cfg->sources = (uint32_t)v; return rc;
    case OPT_WS_PATH:
        if (arg[0] != '/' || strlen(arg) > 200 || strpbrk(arg, " \r\n")) {
            fprintf(stderr, "bench: --ws-path: an absolute path without spaces, at most 200 bytes\n");
            return -1;
        }
        cfg->ws_path = arg;
        return 0;
    case OPT_JSON: cfg->json = true; return 0;
    case OPT_QUIET: cfg->quiet = true; return 0;
    default: bench_usage(stderr); return -1;
    }
}

int bench_config_parse(bench_config *cfg, int argc, char **argv)
{
    uint64_t clients = 0, pubs = 0, subs = 0;
    int opt;

    config_defaults(cfg);
    optind = 1;
    opterr = 1;
    while ((opt = getopt_long(argc, argv, "s:H:p:q:V:c:l:w:r:d:n:t:u:P:h", bench_options, NULL)) != -1) {
        if (opt == 'h') {
            bench_usage(stdout);
            return 1;
        }
        if (config_option(cfg, opt, optarg, &clients, &pubs, &subs))
            return -1;
    }
    if ((cfg->cafile || cfg->tls_resume || cfg->certfile || cfg->keyfile) && !cfg->tls) {
        fprintf(stderr, "bench: --cafile, --tls-resume, --cert and --key need --tls\n");
        return -1;
    }
    if (!cfg->certfile != !cfg->keyfile) {
        fprintf(stderr, "bench: --cert and --key go together\n");
        return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (parse_loopback(cfg) || config_finish(cfg, clients, pubs, subs))
        return -1;
    if (cfg->sources > 1 && cfg->addr.ss_family != AF_INET) {
        fprintf(stderr, "bench: --sources needs an IPv4 loopback broker address\n");
        return -1;
    }
    config_identity(cfg);
    return 0;
}

/* Entry point of `rampart bench`. Exit status 0 when the run completed without errors, 1 otherwise
 * (errors, or a connect phase that did not finish), 2 for bad options. */
int rampart_bench_main(int argc, char **argv)
{
    bench_config cfg;
    bench_result *res;
    int rc = bench_config_parse(&cfg, argc, argv);

    if (rc)
        return rc > 0 ? 0 : 2;
    res = malloc(sizeof *res);
    if (!res) {
        fprintf(stderr, "bench: out of memory\n");
        return 1;
    }
    rc = bench_run_execute(&cfg, res);
    if (rc == 0 || res->error[0]) {
        if (!cfg.quiet)
            bench_report_human(&cfg, res);
        if (cfg.json)
            bench_report_json(&cfg, res);
    }
    rc = rc == 0 && res->errors == 0 && res->connect_failures == 0 ? 0 : 1;
    free(res);
    return rc;
}
