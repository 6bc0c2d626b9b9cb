/*
 * ban_config.h - the ban file a configuration means and the keys it is sealed with, shared by the broker
 * (broker_main.c), `rampart ban -c FILE` and `rampart check` so that all three agree (docs/persistence.md,
 * "The ban list").
 *
 * The file: `ban_file` when given; else, with `persistence true`, `bans` in persistence_location (so the ban
 * list persists with everything else); else none (bans kept in memory). It is sealed exactly when persistence
 * is on (persistence true needs a key), under a key derived from the persistence master key.
 */
#ifndef RAMPART_TOOLS_BAN_CONFIG_H
#define RAMPART_TOOLS_BAN_CONFIG_H

#include <stddef.h>

#include "security/ban_seal.h"

struct rampart_config;

#define BAN_CONFIG_DATA_FILE "bans"

/* The ban file of cfg, written into buf when it has to be composed. NULL when there is none (or it does not
 * fit in len). */
const char *ban_config_path(const struct rampart_config *cfg, char *buf, size_t len);
/*
 * Loads the persistence keys of cfg (persistence_key_* and persistence_key_old_*, store_key_load) and derives
 * the ban file's keyring from them; the master keys are wiped. Returns 1 (persistence on: *out filled; wipe it
 * with ban_keyring_wipe), 0 (persistence off: the ban file is text), or -1 with err (no key, unreadable key).
 */
int ban_config_keys(const struct rampart_config *cfg, ban_keyring *out, char *err, size_t errlen);

#endif
