/* check_files.c - see check_files.h. */
#include "tools/check_files.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "config/config.h"
#include "persist/store.h"
#include "security/ban.h"
#include "security/ban_seal.h"
#include "security/sandbox.h"
#include "tools/ban_config.h"
#include "tools/audit_checks.h"

struct check_ctx {
    FILE *out;
    const char *config;
    uid_t uid;
    gid_t gid;
    char user[64];
    int problems;
};

/* Reports a problem with `path` playing role `what` in `where`. */
static void problem(struct check_ctx *c, const char *where, const char *what, const char *path, const char *msg)
{
    fprintf(c->out, "%s: %s%s%s %s: %s\n", c->config, where, *where ? ": " : "", what, path, msg);
    c->problems++;
}

/* The file exists and the broker's account can read it. */
static void check_readable(struct check_ctx *c, const char *where, const char *what, const char *path)
{
    char why[512], msg[600];
    int r;

    if (!path)
        return;
    r = audit_readable_by(path, c->uid, c->gid, why, sizeof why);
    if (r < 0) {
        problem(c, where, what, path, strerror(ENOENT));
    } else if (r == 0) {
        snprintf(msg, sizeof msg, "not readable by user '%s': %s", c->user, why);
        problem(c, where, what, path, msg);
    }
}

/* Certificate and key of one listener parse and match. */
static void check_pair(struct check_ctx *c, const char *where, const tls_settings *t)
{
    char why[512];

    if (!t->certfile || !t->keyfile || t->keyfile_passphrase_file || t->keyfile_passphrase_env ||
        t->keyfile_passphrase_credential)
        return; /* an encrypted key is unlocked and matched by the TLS module at start-up */
    if (audit_cert_matches_key(t->certfile, t->keyfile, why, sizeof why) != 1)
        problem(c, where, "certfile", t->certfile, why);
}

/* Every file of one listener. */
static void check_listener(struct check_ctx *c, const struct config_listener *l)
{
    char where[64];
    const tls_settings *t = &l->tls;

    snprintf(where, sizeof where, "listener %u", (unsigned)l->port);
    check_readable(c, where, "certfile", t->certfile);
    check_readable(c, where, "keyfile", t->keyfile);
    check_readable(c, where, "cafile", t->cafile);
    check_readable(c, where, "capath", t->capath);
    for (size_t i = 0; i < t->crlfile_count; i++)
        check_readable(c, where, "crlfile", t->crlfiles[i]);
    check_readable(c, where, "ocsp_response_file", t->ocsp_response_file);
    check_readable(c, where, "keyfile_passphrase_file", t->keyfile_passphrase_file);
    check_readable(c, where, "password_file", l->password_file);
    check_readable(c, where, "acl_file", l->acl_file);
    check_pair(c, where, t);
}

/* persistence: the key files hold a key and are private; the data directory exists. */
static void check_persistence(struct check_ctx *c, const struct rampart_config *cfg)
{
    const struct config_persistence *p = &cfg->persist;
    const char *files[2] = {p->key_file, p->key_old_file};
    const char *what[2] = {"persistence_key", "persistence_key_old"};
    uint8_t key[RECORD_MASTER_KEY_LEN];
    char err[512];
    struct stat st;

    if (!p->enabled)
        return;
    for (int i = 0; i < 2; i++) {
        if (files[i] && store_key_load(files[i], NULL, NULL, what[i], key, err, sizeof err) != 1) {
            fprintf(c->out, "%s: %s\n", c->config, err);
            c->problems++;
        }
        OPENSSL_cleanse(key, sizeof key);
    }
    const char *dir = p->location ? p->location : ".";
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        problem(c, "", "persistence_location", dir, "not a directory");
    char path[4096];
    const char *engine = p->engine ? p->engine : "lmdb", *written_by;
    if (config_persistence_path(cfg, path, sizeof path) == 0 && (written_by = store_engine_of_file(path)) &&
        strcmp(written_by, engine) != 0) {
        fprintf(c->out, "%s: persistence_engine %s: %s was written by the %s engine (set persistence_engine %s, "
                        "or move the file away)\n", c->config, engine, path, written_by, written_by);
        c->problems++;
    }
}

/* The ban file's state in words. */
static const char *check_ban_state(enum ban_file_form form, int sealed)
{
    switch (form) {
    case BAN_FILE_ABSENT: return sealed ? "absent (written encrypted at the first ban)" : "absent (persistence false: "
                                                                                          "written as plain text)";
    case BAN_FILE_SEALED: return "encrypted (AES-256-GCM under the persistence key)";
    case BAN_FILE_SEALED_OLD: return "encrypted under persistence_key_old (re-encrypted when the broker starts)";
    case BAN_FILE_PLAIN: break;
    }
    return "plain text (persistence false: not encrypted)";
}

/* The ban file: readable in the form the broker expects (sealed under the persistence key when persistence is
 * on; a text file then is reported: the broker imports it at start). Its state goes to standard output. */
static void check_ban_file(struct check_ctx *c, const struct rampart_config *cfg)
{
    char buf[4096], err[600];
    const char *path = ban_config_path(cfg, buf, sizeof buf);
    ban_keyring keys;
    ban_list *b = NULL;
    enum ban_file_form form = BAN_FILE_ABSENT;
    int sealed;

    if (!path)
        return;
    sealed = ban_config_keys(cfg, &keys, err, sizeof err);
    if (sealed < 0) {
        problem(c, "", "ban_file", path, "cannot check: the persistence key it is encrypted with is not readable");
        return;
    }
    if (ban_list_read(path, sealed ? &keys : NULL, &b, &form, err, sizeof err) < 0) {
        fprintf(c->out, "%s: ban_file: %s\n", c->config, err);
        c->problems++;
    } else if (sealed && form == BAN_FILE_PLAIN) {
        problem(c, "", "ban_file", path, "plain text although persistence encryption is on: the broker imports and "
                "encrypts it when it starts");
    } else {
        printf("%s: ban_file %s: %s, %zu bans\n", c->config, path, check_ban_state(form, sealed), ban_list_count(b));
    }
    ban_list_free(b);
    ban_keyring_wipe(&keys);
}

int check_files_run(const struct rampart_config *cfg, FILE *out)
{
    struct check_ctx c = {out, cfg->config_file ? cfg->config_file : "(built-in)", 0, 0, "", 0};
    struct sandbox_policy p;
    char err[256];

    sandbox_policy_init(&p);
    p.user_mode = cfg->sandbox.user ? SANDBOX_USER_NAMED : SANDBOX_USER_DEFAULT;
    p.user = cfg->sandbox.user;
    if (sandbox_resolve_user(&p, &c.uid, &c.gid, c.user, sizeof c.user, err, sizeof err) != 0) {
        fprintf(out, "%s: %s\n", c.config, err);
        return 1;
    }
    check_readable(&c, "", "password_file", cfg->auth.password_file);
    check_readable(&c, "", "acl_file", cfg->acl_file);
    for (size_t i = 0; i < cfg->listener_count; i++)
        check_listener(&c, &cfg->listeners[i]);
    check_persistence(&c, cfg);
    check_ban_file(&c, cfg);
    return c.problems;
}
