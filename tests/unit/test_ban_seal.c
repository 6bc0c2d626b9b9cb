/* Unit tests for src/security/ban_seal.c and the sealed form of the ban file (ban.c): key derivation (a known
 * answer computed independently with Python's hmac), seal/unseal round trips, tamper, truncation, unknown and
 * old keys, and the file-level read/write/update with import and re-encryption. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "security/ban.h"
#include "security/ban_seal.h"
#include "test.h"

#define U(s) (const uint8_t *)(s), strlen(s)

static void master_fill(uint8_t m[32], uint8_t start)
{
    for (int i = 0; i < 32; i++)
        m[i] = (uint8_t)(start + i);
}

TEST(derive_known_answer_and_distinct_keys)
{
    static const uint8_t want_enc[32] = {0x72, 0x41, 0x97, 0x97, 0xe2, 0x3a, 0x7e, 0x3a, 0xbc, 0x76, 0x9f,
                                         0x86, 0x14, 0xd4, 0xd8, 0xbc, 0x26, 0xfb, 0xd3, 0xa9, 0x2a, 0x28,
                                         0x36, 0x72, 0xcc, 0xff, 0xa2, 0xe4, 0xe3, 0xf5, 0x6c, 0x4d};
    uint8_t m[32];
    ban_seal_key k, k2;

    master_fill(m, 0);
    CHECK_EQ(ban_seal_derive(m, &k), 0);
    CHECK_EQ(k.id, 0x5f6d1d62u);
    CHECK_MEM(k.enc, want_enc, 32);
    master_fill(m, 1);
    CHECK_EQ(ban_seal_derive(m, &k2), 0);
    CHECK(k2.id != k.id);
    CHECK(memcmp(k2.enc, k.enc, 32) != 0);
}

TEST(seal_open_roundtrip_fresh_nonces)
{
    uint8_t m[32], *f1 = NULL, *f2 = NULL, *p = NULL;
    size_t l1, l2, pl, which = 9;
    ban_keyring r;
    const char *text = "clientid secret-device 0 5 stolen\n";

    master_fill(m, 0);
    CHECK_EQ(ban_keyring_init(&r, m, NULL), 0);
    CHECK_EQ(r.count, 1);
    CHECK_EQ(ban_seal(&r.key[0], U(text), &f1, &l1), 0);
    CHECK_EQ(ban_seal(&r.key[0], U(text), &f2, &l2), 0);
    CHECK_EQ(l1, strlen(text) + BAN_SEAL_OVERHEAD);
    CHECK(ban_seal_detect(f1, l1));
    CHECK(memcmp(f1 + 13, f2 + 13, 12) != 0); /* random nonces */
    CHECK(memmem(f1, l1, "secret-device", 13) == NULL);
    CHECK_EQ(ban_unseal(&r, f1, l1, &p, &pl, &which), BAN_SEAL_OK);
    CHECK_EQ(which, 0);
    CHECK(p && pl == strlen(text) && !memcmp(p, text, pl) && p[pl] == 0);
    ban_seal_plain_free(p, pl);
    free(f1);
    free(f2);
    /* an empty list seals and opens too */
    CHECK_EQ(ban_seal(&r.key[0], NULL, 0, &f1, &l1), 0);
    CHECK_EQ(ban_unseal(&r, f1, l1, &p, &pl, NULL), BAN_SEAL_OK);
    CHECK_EQ(pl, 0);
    ban_seal_plain_free(p, pl);
    free(f1);
    ban_keyring_wipe(&r);
}

TEST(every_byte_flip_and_truncation_is_detected)
{
    uint8_t m[32], *f = NULL, *p = NULL;
    size_t l, pl;
    ban_keyring r;
    int undetected = 0;

    master_fill(m, 7);
    CHECK_EQ(ban_keyring_init(&r, m, NULL), 0);
    CHECK_EQ(ban_seal(&r.key[0], U("address 192.0.2.1 0 1 x\n"), &f, &l), 0);
    for (size_t i = 0; i < l; i++) {
        f[i] ^= 0x20;
        if (ban_unseal(&r, f, l, &p, &pl, NULL) == BAN_SEAL_OK)
            undetected++;
        ban_seal_plain_free(p, pl);
        f[i] ^= 0x20;
    }
    CHECK_EQ(undetected, 0);
    f[BAN_SEAL_HEADER_LEN + 2] ^= 1;
    CHECK_EQ(ban_unseal(&r, f, l, &p, &pl, NULL), BAN_SEAL_AUTH_FAILED);
    CHECK(p == NULL);
    f[BAN_SEAL_HEADER_LEN + 2] ^= 1;
    f[8] = 2; /* another version */
    CHECK_EQ(ban_unseal(&r, f, l, &p, &pl, NULL), BAN_SEAL_MALFORMED);
    f[8] = 1;
    for (size_t n = 0; n < l; n++)
        CHECK(ban_unseal(&r, f, n, &p, &pl, NULL) != BAN_SEAL_OK);
    CHECK_EQ(ban_unseal(&r, f, BAN_SEAL_OVERHEAD - 1, &p, &pl, NULL), BAN_SEAL_MALFORMED);
    free(f);
    ban_keyring_wipe(&r);
}

TEST(old_key_opens_unknown_key_is_named)
{
    uint8_t m_old[32], m_new[32], m_other[32], *f = NULL, *p = NULL;
    size_t l, pl, which = 9;
    ban_keyring old_only, both, other;
    uint32_t id;

    master_fill(m_old, 10);
    master_fill(m_new, 20);
    master_fill(m_other, 30);
    CHECK_EQ(ban_keyring_init(&old_only, m_old, NULL), 0);
    CHECK_EQ(ban_keyring_init(&both, m_new, m_old), 0);
    CHECK_EQ(ban_keyring_init(&other, m_other, NULL), 0);
    CHECK_EQ(both.count, 2);
    CHECK_EQ(ban_seal(&old_only.key[0], U("username u 0 1 r\n"), &f, &l), 0);
    CHECK_EQ(ban_unseal(&both, f, l, &p, &pl, &which), BAN_SEAL_OK);
    CHECK_EQ(which, 1);
    ban_seal_plain_free(p, pl);
    CHECK_EQ(ban_unseal(&other, f, l, &p, &pl, NULL), BAN_SEAL_UNKNOWN_KEY);
    CHECK(ban_seal_key_id(f, l, &id) && id == old_only.key[0].id);
    /* the same key id with the wrong key bytes (a forged header) fails authentication */
    other.key[0].id = old_only.key[0].id;
    CHECK_EQ(ban_unseal(&other, f, l, &p, &pl, NULL), BAN_SEAL_AUTH_FAILED);
    free(f);
    ban_keyring_wipe(&old_only);
    ban_keyring_wipe(&both);
    ban_keyring_wipe(&other);
}

static int add_clientid(ban_list *b, void *ctx)
{
    const char *why;
    return ban_list_add(b, BAN_CLIENTID, U((const char *)ctx), 0, 1, "test", &why);
}

static int keep(ban_list *b, void *ctx)
{
    (void)b;
    (void)ctx;
    return 1;
}

/* The whole file at path into buf (cap bytes); returns its length. */
static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, cap, f) : 0;
    if (f)
        fclose(f);
    return n;
}

TEST(file_sealed_write_read_update_import_and_rekey)
{
    char dir[] = "/tmp/rampart-test-banseal-XXXXXX", path[128], lock[140], err[512], buf[4096];
    uint8_t m1[32], m2[32];
    ban_keyring k1, k12;
    ban_list *b = NULL;
    enum ban_file_form form;
    size_t n;
    FILE *f;

    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/bans", dir);
    snprintf(lock, sizeof lock, "%s.lock", path);
    master_fill(m1, 1);
    master_fill(m2, 2);
    CHECK_EQ(ban_keyring_init(&k1, m1, NULL), 0);
    CHECK_EQ(ban_keyring_init(&k12, m2, m1), 0);
    /* a missing file: empty, absent */
    CHECK_EQ(ban_list_read(path, &k1, &b, &form, err, sizeof err), 0);
    CHECK(b && ban_list_count(b) == 0 && form == BAN_FILE_ABSENT);
    ban_list_free(b);
    /* a keyed update writes the sealed form, mode 0600 */
    CHECK_EQ(ban_file_update_keyed(path, &k1, add_clientid, "dev-secret-1", NULL, &form, err, sizeof err), 0);
    n = slurp(path, buf, sizeof buf);
    CHECK(ban_seal_detect((uint8_t *)buf, n));
    CHECK(memmem(buf, n, "dev-secret-1", 12) == NULL);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK_EQ(ban_list_read(path, &k1, &b, &form, err, sizeof err), 0);
    CHECK(form == BAN_FILE_SEALED && ban_list_count(b) == 1);
    ban_list_free(b);
    /* without keys: a clear refusal, not a parse error */
    CHECK_EQ(ban_list_load(path, &b, err, sizeof err), -1);
    CHECK(strstr(err, "the ban file is encrypted: it needs the persistence key") != NULL);
    CHECK_EQ(ban_file_update(path, add_clientid, "x", NULL, err, sizeof err), -1);
    /* the new key with the old one: read as old, rewritten by an update that changes nothing */
    CHECK_EQ(ban_list_read(path, &k12, &b, &form, err, sizeof err), 0);
    CHECK(form == BAN_FILE_SEALED_OLD && ban_list_count(b) == 1);
    ban_list_free(b);
    CHECK_EQ(ban_file_update_keyed(path, &k12, keep, NULL, NULL, &form, err, sizeof err), 1);
    CHECK(form == BAN_FILE_SEALED_OLD);
    CHECK_EQ(ban_list_read(path, &k12, &b, &form, err, sizeof err), 0);
    CHECK(form == BAN_FILE_SEALED);
    ban_list_free(b);
    /* now the old key alone cannot read it, and says which key is missing */
    CHECK_EQ(ban_list_read(path, &k1, &b, &form, err, sizeof err), -1);
    CHECK(strstr(err, "sealed under a key this configuration does not have") != NULL);
    /* tampered: a clear error with what to do */
    n = slurp(path, buf, sizeof buf);
    buf[n - 1] ^= 1;
    f = fopen(path, "wb");
    fwrite(buf, 1, n, f);
    fclose(f);
    CHECK_EQ(ban_list_read(path, &k12, &b, &form, err, sizeof err), -1);
    CHECK(strstr(err, "authentication failed (tampered or corrupt); restore it") != NULL);
    CHECK_EQ(ban_file_update_keyed(path, &k12, add_clientid, "y", NULL, NULL, err, sizeof err), -1);
    /* a plain file: read as plain, imported (sealed) by an update that changes nothing */
    f = fopen(path, "w");
    fputs("clientid plain-dev 0 1 old\n", f);
    fclose(f);
    CHECK_EQ(ban_list_read(path, &k12, &b, &form, err, sizeof err), 0);
    CHECK(form == BAN_FILE_PLAIN && ban_list_count(b) == 1);
    ban_list_free(b);
    CHECK_EQ(ban_file_update_keyed(path, &k12, keep, NULL, &b, &form, err, sizeof err), 1);
    CHECK(form == BAN_FILE_PLAIN && b && ban_list_count(b) == 1);
    ban_list_free(b);
    n = slurp(path, buf, sizeof buf);
    CHECK(ban_seal_detect((uint8_t *)buf, n) && memmem(buf, n, "plain-dev", 9) == NULL);
    /* a sealed file whose text is bad reports path:line */
    {
        uint8_t *sealed = NULL;
        size_t sl;
        CHECK_EQ(ban_seal(&k12.key[0], U("clientid ok 0 1 r\nbogus line\n"), &sealed, &sl), 0);
        f = fopen(path, "wb");
        fwrite(sealed, 1, sl, f);
        fclose(f);
        free(sealed);
        CHECK_EQ(ban_list_read(path, &k12, &b, &form, err, sizeof err), -1);
        char want[200];
        snprintf(want, sizeof want, "%s:2: ", path);
        CHECK(strstr(err, want) != NULL);
    }
    unlink(path);
    unlink(lock);
    rmdir(dir);
    ban_keyring_wipe(&k1);
    ban_keyring_wipe(&k12);
}

TEST_MAIN()
