/* commands.c - the table of subcommands (one line per tool; keep sorted). */
#include "tools/commands.h"

#include <stddef.h>

#include "config/config.h"

const struct rampart_command rampart_commands[] = {
    {"audit", "hardening audit of a deployment (-c FILE [--json] [--fail-on SEVERITY])", rampart_audit_main},
    {"ban", "add, remove or list bans (addresses, networks, usernames, client ids)", rampart_ban_main},
    {"bench", "MQTT load generator: throughput, latency, loss, broker CPU and memory", rampart_bench_main},
    {"check", "validate a configuration file (-c FILE): every error as file:line", config_check_main},
    {"firewall", "print an nftables/iptables ruleset admitting exactly the configured ports", rampart_firewall_main},
    {"passwd", "manage a password file (argon2id, SCRAM-SHA-256)", rampart_passwd_main},
    {"store-salvage", "copy every readable, authenticated record of a damaged store into a new one (-c FILE)",
     rampart_store_salvage_main},
    {NULL, NULL, NULL},
};
