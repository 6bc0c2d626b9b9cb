/*
 * broker_main.c - `rampart [-c FILE] [-p PORT] [-v]`: mosquitto's flags. Without -c the broker listens on
 * 127.0.0.1 (port 1883, or -p) only, with anonymous access (the built-in loopback-only default).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "broker/broker.h"
#include "tools/commands.h"

static void broker_main_usage(void)
{
    fprintf(stderr, "usage: rampart [-c FILE] [-p PORT] [-v]\n");
}

static int broker_main_port(const char *arg, uint16_t *port)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*arg == 0 || *end || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

int rampart_broker_main(int argc, char **argv)
{
    const char *config = NULL;
    uint16_t port = 1883;
    bool have_port = false;
    int opt, rc = 1;
    broker_settings set;
    broker *b = NULL;

    optind = 1;
    while ((opt = getopt(argc, argv, "c:p:vd")) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'p':
            if (broker_main_port(optarg, &port) < 0) {
                fprintf(stderr, "rampart: invalid port '%s'\n", optarg);
                return 2;
            }
            have_port = true;
            break;
        case 'v':
            log_set_level(LOG_LEVEL_DEBUG);
            break;
        case 'd':
            fprintf(stderr, "rampart: -d (daemonize) is not supported: run under a service manager\n");
            return 2;
        default:
            broker_main_usage();
            return 2;
        }
    }
    if (optind < argc) {
        broker_main_usage();
        return 2;
    }
    broker_settings_default(&set);
    if (config) {
        fprintf(stderr, "rampart: %s: configuration files are not supported by this build yet\n", config);
        goto out;
    }
    (void)have_port;
    broker_listener_settings *ls = broker_settings_add_listener(&set, "127.0.0.1", port);
    if (!ls)
        goto out;
    ls->allow_anonymous = true;
    b = broker_new(&set);
    if (!b || broker_listen(b) < 0)
        goto out;
    log_notice("rampart %s running", RAMPART_VERSION);
    rc = broker_run(b);
    log_notice("rampart stopped");
out:
    broker_settings_clear(&set);
    broker_free(b);
    return rc;
}
