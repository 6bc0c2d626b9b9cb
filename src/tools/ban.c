/*
 * ban.c - `rampart ban`: the operator's side of the ban list (src/security/ban.h).
 *
 *   rampart ban [-c CONFIG] [-f FILE] add KIND VALUE [--for DURATION] [--reason TEXT]
 *   rampart ban [-c CONFIG] [-f FILE] del KIND VALUE
 *   rampart ban [-c CONFIG] [-f FILE] list
 * KIND is address, network (CIDR), username or clientid. DURATION is seconds or a number with s/m/h/d;
 * without --for the ban never expires. The broker picks changes up within a second (it watches the file).
 * With -c the broker's configuration names the file (ban_config_path) and, with persistence on, the key the
 * file is sealed with (ban_config_keys): the tool reads and writes it encrypted as the broker does. Without
 * -c an encrypted file is refused with a message saying so.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "security/ban.h"
#include "security/ban_seal.h"
#include "tools/ban_config.h"
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

static int do_list(const char *path, const ban_keyring *keys)
{
    ban_list *b = NULL;
    char err[512], enc[BAN_VALUE_MAX * 3 + 8], when[32];
    int64_t now = (int64_t)time(NULL);

    if (ban_list_read(path, keys, &b, NULL, err, sizeof err) < 0) {
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
    fprintf(stderr, "usage: rampart ban [-c CONFIG] [-f FILE] add KIND VALUE [--for DURATION] [--reason TEXT]\n"
                    "       rampart ban [-c CONFIG] [-f FILE] del KIND VALUE\n"
                    "       rampart ban [-c CONFIG] [-f FILE] list\n"
                    "KIND: address, network, username, clientid; DURATION: N, Ns, Nm, Nh, Nd (default: never expires)\n"
                    "CONFIG: the broker's configuration: its ban file and, with persistence on, the key it is\n"
                    "        encrypted with; FILE: default the configuration's, else " BAN_DEFAULT_FILE "\n");
}

/* With -c: loads the configuration, picks its ban file (unless -f gave one) into path, and its keys into keys
 * (*sealed set when persistence is on). Returns 0, or the exit status (errors printed). */
static int ban_tool_config(const char *config, const char **path, char *buf, size_t len, ban_keyring *keys,
                           bool *sealed)
{
    rampart_config cfg;
    config_errors errs;
    char err[512] = "";
    int rc = 1, k;

    config_errors_init(&errs);
    if (config_load(&cfg, config, &errs) != 0) {
        config_errors_print(&errs, stderr);
        config_errors_free(&errs);
        return 1;
    }
    config_errors_free(&errs);
    if (!*path) {
        const char *p = ban_config_path(&cfg, buf, len);
        if (p && p != buf)
            snprintf(buf, len, "%s", p);
        *path = p ? buf : NULL;
    }
    k = ban_config_keys(&cfg, keys, err, sizeof err);
    if (k < 0) {
        fprintf(stderr, "rampart ban: %s: %s; the ban file is encrypted with the persistence key, so the tool "
                "cannot read or write it without that key\n", config, err);
        goto out;
    }
    *sealed = k == 1;
    rc = 0;
out:
    config_free(&cfg);
    return rc;
}

int rampart_ban_main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"file", required_argument, NULL, 'f'}, {"config", required_argument, NULL, 'c'},
        {"for", required_argument, NULL, 't'}, {"reason", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *path = NULL, *config = NULL, *verb;
    ban_cmd c = {.reason = "operator", .now = (int64_t)time(NULL)};
    int64_t duration = 0;
    char err[512] = "", path_buf[4096];
    ban_keyring keys;
    bool sealed = false;
    int opt, rc = 2;

    memset(&keys, 0, sizeof keys);
    optind = 0; /* full re-initialisation: options may come before or after the positional arguments */
    while ((opt = getopt_long(argc, argv, "f:c:h", longopts, NULL)) != -1) {
        if (opt == 'f') {
            path = optarg;
        } else if (opt == 'c') {
            config = optarg;
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
    if (!(!strcmp(verb, "list") && optind == argc) &&
        ((strcmp(verb, "add") && strcmp(verb, "del")) || argc - optind != 2 || ban_kind_parse(argv[optind], &c.kind) < 0)) {
        usage();
        return 2;
    }
    if (config && (rc = ban_tool_config(config, &path, path_buf, sizeof path_buf, &keys, &sealed)) != 0)
        goto out;
    if (!path && config) {
        fprintf(stderr, "rampart ban: %s names no ban file (no ban_file, persistence false): give one with -f\n",
                config);
        rc = 1;
        goto out;
    }
    if (!path)
        path = BAN_DEFAULT_FILE;
    if (!strcmp(verb, "list")) {
        rc = do_list(path, sealed ? &keys : NULL);
        goto out;
    }
    c.value = argv[optind + 1];
    c.expires = duration ? c.now + duration : 0;
    rc = ban_file_update_keyed(path, sealed ? &keys : NULL, !strcmp(verb, "add") ? do_add : do_del, &c, NULL, NULL,
                               err, sizeof err);
    if (rc < 0) {
        if (*err)
            fprintf(stderr, "rampart ban: %s\n", err);
        rc = 1;
        goto out;
    }
    rc = 0;
    if (!strcmp(verb, "del") && !c.removed) {
        fprintf(stderr, "rampart ban: no %s ban for '%s'\n", ban_kind_name(c.kind), c.value);
        rc = 1;
    }
out:
    ban_keyring_wipe(&keys);
    return rc;
}
