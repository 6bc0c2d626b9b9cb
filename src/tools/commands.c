/* commands.c - the table of subcommands (one line per tool; keep sorted). */
#include "tools/commands.h"

#include <stddef.h>

const struct rampart_command rampart_commands[] = {
    {"ban", "add, remove or list bans (addresses, networks, usernames, client ids)", rampart_ban_main},
    {"passwd", "manage a password file (argon2id, SCRAM-SHA-256)", rampart_passwd_main},
    {NULL, NULL, NULL},
};
