/* ban_config.c - see ban_config.h. */
#include "tools/ban_config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "persist/store.h"

const char *ban_config_path(const struct rampart_config *cfg, char *buf, size_t len)
{
    const char *dir;
    size_t dl;
    int n;

    if (cfg->auth.ban_file)
        return cfg->auth.ban_file;
    if (!cfg->persist.enabled)
        return NULL;
    dir = cfg->persist.location ? cfg->persist.location : ".";
    dl = strlen(dir);
    n = snprintf(buf, len, "%s%s%s", dir, dl && dir[dl - 1] == '/' ? "" : "/", BAN_CONFIG_DATA_FILE);
    return n < 0 || (size_t)n >= len ? NULL : buf;
}

int ban_config_keys(const struct rampart_config *cfg, ban_keyring *out, char *err, size_t errlen)
{
    const struct config_persistence *pc = &cfg->persist;
    uint8_t key[RECORD_MASTER_KEY_LEN], old[RECORD_MASTER_KEY_LEN];
    int rc = -1, has_old;

    memset(out, 0, sizeof *out);
    if (!pc->enabled)
        return 0;
    err[0] = '\0';
    if (store_key_load(pc->key_file, pc->key_env, pc->key_credential, "persistence_key", key, err, errlen) != 1) {
        if (!err[0])
            snprintf(err, errlen, "persistence true needs a key (persistence_key_file, _env or _credential)");
        goto out;
    }
    has_old = store_key_load(pc->key_old_file, pc->key_old_env, pc->key_old_credential, "persistence_key_old", old,
                             err, errlen);
    if (has_old < 0)
        goto out;
    if (ban_keyring_init(out, key, has_old ? old : NULL) < 0) {
        snprintf(err, errlen, "cannot derive the ban file key (OpenSSL)");
        goto out;
    }
    rc = 1;
out:
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(old, sizeof old);
    return rc;
}
