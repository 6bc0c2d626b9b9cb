/*
 * ban.c - `rampart ban`: the operator's side of the ban list (src/security/ban.h).
 *
 *   rampart ban [-f FILE] add KIND VALUE [--for DURATION] [--reason TEXT]
 *   rampart ban [-f FILE] del KIND VALUE
 *   rampart ban [-f FILE] list
 * KIND is address, network (CIDR), username or clientid. DURATION is seconds or a number with s/m/h/d;
 * without --for the ban never expires. The broker picks changes up within a second (it watches the file).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "security/ban.h"
#include "tools/commands.h"

typedef struct ban_cmd {
    enum ban_kind kind;
    const char *value;
    int64_t expires, now;
    const char *reason;
    int removed;
} ban_cmd;

static int parse_duration(const char *s, int64_t *out)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    int64_t mult = 1;

    if (end == s || v <= 0)
        return -1;
    switch (*end) {
    case '\0':
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    default: return -1;
    }
    if (*end && end[1])
        return -1;
    if (v > (long long)(INT64_MAX / 86400 / 2))
        return -1;
    *out = (int64_t)v * mult;
    return 0;
}

static int do_add(ban_list *b, void *ctx)
{
    ban_cmd *c = ctx;
    const char *why = NULL;

    if (ban_list_add(b, c->kind, (const uint8_t *)c->value, strlen(c->value), c->expires, c->now, c->reason,
                     &why) < 0) {
        fprintf(stderr, "rampart ban: %s\n", why);
        return -1;
    }
    return 0;
}

static int do_del(ban_list *b, void *ctx)
{
    ban_cmd *c = ctx;

    c->removed = ban_list_del(b, c->kind, (const uint8_t *)c->value, strlen(c->value));
    return c->removed ? 0 : 1;
}

static int do_list(const char *path)
{
    ban_list *b = NULL;
    char err[512], enc[BAN_VALUE_MAX * 3 + 8], when[32];
    int64_t now = (int64_t)time(NULL);

    if (ban_list_load(path, &b, err, sizeof err) < 0) {
        fprintf(stderr, "rampart ban: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < ban_list_count(b); i++) {
        const ban_entry *e = ban_list_at(b, i);
        if (e->expires && e->expires <= now)
            continue;
        if (e->expires) {
            time_t t = (time_t)e->expires;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        } else {
            snprintf(when, sizeof when, "never");
        }
        printf("%s\t%s\texpires=%s\t%s\n", ban_kind_name(e->kind), ban_value_encode(e->value, e->value_len, enc, sizeof enc),
               when, e->reason);
    }
    ban_list_free(b);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: rampart ban [-f FILE] add KIND VALUE [--for DURATION] [--reason TEXT]\n"
                    "       rampart ban [-f FILE] del KIND VALUE\n"
                    "       rampart ban [-f FILE] list\n"
                    "KIND: address, network, username, clientid; DURATION: N, Ns, Nm, Nh, Nd (default: never expires)\n"
                    "FILE: default " BAN_DEFAULT_FILE "\n");
}

int rampart_ban_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'}, {"for", required_argument, NULL, 't'},
        {"reason", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *path = BAN_DEFAULT_FILE, *verb;
    ban_cmd c = {.reason = "operator", .now = (int64_t)time(NULL)};
    int64_t duration = 0;
    char err[512] = "";
    int opt, rc;

    optind = 0; /* full re-initialisation: options may come before or after the positional arguments */
    while ((opt = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
        if (opt == 'f') {
            path = optarg;
        } else if (opt == 't' && parse_duration(optarg, &duration) == 0) {
            continue;
        } else if (opt == 'r') {
            c.reason = optarg;
        } else {
            if (opt == 't')
                fprintf(stderr, "rampart ban: bad duration '%s'\n", optarg);
            usage();
            return 2;
        }
    }
    if (optind >= argc) {
        usage();
        return 2;
    }
    verb = argv[optind++];
    if (!strcmp(verb, "list") && optind == argc)
        return do_list(path);
    if ((strcmp(verb, "add") && strcmp(verb, "del")) || argc - optind != 2 || ban_kind_parse(argv[optind], &c.kind) < 0) {
        usage();
        return 2;
    }
    c.value = argv[optind + 1];
    c.expires = duration ? c.now + duration : 0;
    rc = ban_file_update(path, !strcmp(verb, "add") ? do_add : do_del, &c, NULL, err, sizeof err);
    if (rc < 0) {
        if (*err)
            fprintf(stderr, "rampart ban: %s\n", err);
        return 1;
    }
    if (!strcmp(verb, "del") && !c.removed) {
        fprintf(stderr, "rampart ban: no %s ban for '%s'\n", ban_kind_name(c.kind), c.value);
        return 1;
    }
    return 0;
}
