/* check.c - `rampart check -c FILE`: validates a configuration file (syntax and values with file:line, then the
 * files it names), prints every error, exits 1 on errors, 2 on bad usage. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "security/acl.h"
#include "tools/check_files.h"

/* Parses every distinct acl_file of the listeners and prints its first error (file:line). Returns the number of
 * files that do not parse. */
static size_t config_check_acl_files(const rampart_config *cfg)
{
    size_t bad = 0;
    for (size_t i = 0; i < cfg->listener_count; i++) {
        const char *path = cfg->listeners[i].acl_file;
        bool seen = false;
        for (size_t j = 0; path && j < i; j++)
            seen = seen || (cfg->listeners[j].acl_file && !strcmp(cfg->listeners[j].acl_file, path));
        if (!path || seen)
            continue;
        char err[600];
        acl *a = acl_load(path, err, sizeof err);
        if (!a) {
            fprintf(stderr, "%s\n", err);
            bad++;
        }
        acl_free(a);
    }
    return bad;
}

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
    size_t errors = errs.count + errs.dropped;
    if (rc == 0) /* the files it names: exist, readable by the broker's account, certificates match keys */
        errors += (size_t)check_files_run(&cfg, stderr);
    if (rc == 0)
        errors += config_check_acl_files(&cfg);
    if (errors == 0)
        printf("%s: OK (%zu listener%s)\n", path, cfg.listener_count, cfg.listener_count == 1 ? "" : "s");
    else
        fprintf(stderr, "%s: %zu error%s\n", path, errors, errors == 1 ? "" : "s");
    config_free(&cfg);
    config_errors_free(&errs);
    return errors == 0 ? 0 : 1;
}
