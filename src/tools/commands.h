/* commands.h - the subcommands of the `rampart` binary. Each tool's entry point gets argv with argv[0] set
 * to the subcommand's name and returns the process exit status. */
#ifndef RAMPART_TOOLS_COMMANDS_H
#define RAMPART_TOOLS_COMMANDS_H

struct rampart_command {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
};

/* Terminated by an entry whose name is NULL. Defined in src/tools/commands.c. */
extern const struct rampart_command rampart_commands[];

/* Runs the broker (`rampart [-c FILE] [-p PORT] [-v]`). */
int rampart_broker_main(int argc, char **argv);

/* `rampart passwd` (src/tools/passwd.c) and `rampart ban` (src/tools/ban.c). */
int rampart_passwd_main(int argc, char **argv);
int rampart_ban_main(int argc, char **argv);
int rampart_audit_main(int argc, char **argv);
int rampart_firewall_main(int argc, char **argv);

/* `rampart store-salvage`: recovers the intact records of a damaged store (src/tools/store_salvage.c). */
int rampart_store_salvage_main(int argc, char **argv);

/* `rampart bench`: the MQTT load generator (src/tools/bench.c). */
int rampart_bench_main(int argc, char **argv);

#endif
