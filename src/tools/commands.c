/* commands.c - the table of subcommands (one line per tool; keep sorted). */
#include "tools/commands.h"

#include <stddef.h>

const struct rampart_command rampart_commands[] = {
    {"bench", "MQTT load generator: throughput, latency, loss, broker CPU and memory", bench_main},
    {NULL, NULL, NULL},
};
