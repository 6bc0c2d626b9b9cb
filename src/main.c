/*
 * main.c - the one `rampart` binary: `rampart [-c FILE] [-p PORT] [-v]` runs the broker, and the
 * administrative tools are subcommands (`rampart passwd ...`, `rampart check ...`).
 */
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <string.h>

#include "tools/commands.h"

static int print_version(void)
{
    printf("rampart %s\n", RAMPART_VERSION);
    printf("OpenSSL: linked %s (built against %s)\n", OpenSSL_version(OPENSSL_VERSION),
           OPENSSL_VERSION_TEXT);
    return 0;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: rampart [-c FILE] [-p PORT] [-v]     run the broker\n"
                 "       rampart --version\n");
    for (const struct rampart_command *c = rampart_commands; c->name; c++)
        fprintf(out, "       rampart %-10s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")))
        return print_version();
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        usage(stdout);
        return 0;
    }
    if (argc >= 2 && argv[1][0] != '-') {
        for (const struct rampart_command *c = rampart_commands; c->name; c++)
            if (!strcmp(argv[1], c->name))
                return c->main(argc - 1, argv + 1);
        fprintf(stderr, "rampart: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    return rampart_broker_main(argc, argv);
}
