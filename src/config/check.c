/* check.c - `rampart check -c FILE`: validates a configuration file, prints every error, exits 1 on errors. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

int config_check_main(int argc, char **argv)
{
    const char *path = NULL;
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "c:")) != -1) {
        if (opt == 'c') {
            path = optarg;
        } else {
            fprintf(stderr, "usage: rampart check -c FILE\n");
            return 2;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "usage: rampart check -c FILE\n");
        return 2;
    }
    rampart_config cfg;
    config_errors errs;
    config_errors_init(&errs);
    int rc = config_load(&cfg, path, &errs);
    config_errors_print(&errs, stderr);
    if (rc == 0)
        printf("%s: OK (%zu listener%s)\n", path, cfg.listener_count, cfg.listener_count == 1 ? "" : "s");
    else
        fprintf(stderr, "%s: %zu error%s\n", path, errs.count + errs.dropped,
                errs.count + errs.dropped == 1 ? "" : "s");
    config_free(&cfg);
    config_errors_free(&errs);
    return rc == 0 ? 0 : 1;
}
