/* Unit tests for src/security/passwd.c: mosquitto's $6$/$7$ entries, argon2id and SCRAM entries, the file. */
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "security/passwd.h"
#include "test.h"

/* Written by Debian's mosquitto_passwd 2.0.11 (`-b` and `-H sha512 -b`), password "secret1". */
static const char *const mosq7 =
    "$7$101$4W5hsY/ieDlZ1LE9$cscO+jRw2HMKe9EGoUKRpzWbgDEndDL6/CQZrdvco3thITZiF3E0jhrmbiTsqkkJOSlytgHekUpBECrgYUULRQ==";
static const char *const mosq6 =
    "$6$dd4r9LQ3E0iM9d1I$CVdpDao3xujPMXf9utc2cJBHEkPNiqegHy8MbHkmpzthcLZEmkAkLl6YU8wRiw5fYjgq0mCqYkkH1jNkKwo32Q==";

static int verify_text(const char *hash, const char *pw)
{
    passwd_hash h;
    const char *why = NULL;

    if (passwd_hash_parse(hash, strlen(hash), &h, &why) < 0)
        return -2;
    return passwd_hash_verify(&h, (const uint8_t *)pw, strlen(pw));
}

TEST(mosquitto_pbkdf2_entry_verifies)
{
    CHECK_EQ(verify_text(mosq7, "secret1"), 1);
    CHECK_EQ(verify_text(mosq7, "secret2"), 0);
    CHECK_EQ(verify_text(mosq7, ""), 0);
}

TEST(mosquitto_sha512_entry_verifies)
{
    CHECK_EQ(verify_text(mosq6, "secret1"), 1);
    CHECK_EQ(verify_text(mosq6, "Secret1"), 0);
}

TEST(argon2id_roundtrip_and_libargon2_agrees)
{
    passwd_argon2_params p = {1024, 1, 1};
    char enc[256];

    CHECK_EQ(passwd_hash_make_argon2id((const uint8_t *)"hunter22", 8, &p, enc, sizeof enc), 0);
    CHECK(!strncmp(enc, "$argon2id$v=19$m=1024,t=1,p=1$", 30));
    CHECK_EQ(verify_text(enc, "hunter22"), 1);
    CHECK_EQ(verify_text(enc, "hunter23"), 0);
    CHECK_EQ(argon2id_verify(enc, "hunter22", 8), ARGON2_OK);
}

TEST(argon2id_default_is_owasp)
{
    passwd_argon2_params p = passwd_argon2_default();
    CHECK_EQ(p.memory_kib, 19456);
    CHECK_EQ(p.time_cost, 2);
    CHECK_EQ(p.lanes, 1);
}

TEST(scram_roundtrip)
{
    char enc[256];
    passwd_hash h;
    const char *why;

    CHECK_EQ(passwd_hash_make_scram((const uint8_t *)"pencil", 6, 4096, enc, sizeof enc), 0);
    CHECK(!strncmp(enc, "$scram-sha-256$4096$", 20));
    CHECK_EQ(passwd_hash_parse(enc, strlen(enc), &h, &why), 0);
    CHECK_EQ(h.scheme, PASSWD_SCHEME_SCRAM_SHA256);
    CHECK_EQ(verify_text(enc, "pencil"), 1);
    CHECK_EQ(verify_text(enc, "pencil2"), 0);
    CHECK_EQ(passwd_hash_make_scram((const uint8_t *)"x", 1, 100, enc, sizeof enc), -1);
}

TEST(dummy_hash_matches_nothing)
{
    passwd_argon2_params p = {1024, 1, 1};
    passwd_hash h;

    CHECK_EQ(passwd_hash_make_dummy(&p, &h), 0);
    CHECK_EQ(passwd_hash_verify(&h, (const uint8_t *)"", 0), 0);
    CHECK_EQ(passwd_hash_verify(&h, (const uint8_t *)"password", 8), 0);
}

TEST(bad_hashes_are_refused)
{
    static const char *const bad[] = {
        "", "plain", "$5$abc$def", "$6$", "$6$c2FsdHNhbHQ=", "$6$c2FsdHNhbHQ=$aGFzaA==", "$7$0$c2FsdHNhbHQ=$x",
        "$7$99999999999$c2FsdHNhbHQ=$" "aGFzaA==", "$argon2id$v=16$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1,x=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        "$argon2id$v=19$m=1024,t=1,p=1$c2$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$a*",
        "$scram-sha-256$10$c2FsdHNhbHQ=$x$y", "$6$c2FsdHNhbHQ=$a$b",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        passwd_hash h;
        const char *why = NULL;
        if (passwd_hash_parse(bad[i], strlen(bad[i]), &h, &why) != -1)
            fprintf(stderr, "  accepted: %s\n", bad[i]);
        CHECK(passwd_hash_parse(bad[i], strlen(bad[i]), &h, &why) == -1 && why != NULL);
    }
}

TEST(base64_helpers)
{
    uint8_t out[16];
    char enc[16];

    CHECK_EQ(passwd_b64_decode("aGk=", 4, out, sizeof out), 2);
    CHECK_MEM(out, "hi", 2);
    CHECK_EQ(passwd_b64_decode("aGk", 3, out, sizeof out), 2);
    CHECK_EQ(passwd_b64_decode("aGk==", 5, out, sizeof out), -1);
    CHECK_EQ(passwd_b64_decode("a", 1, out, sizeof out), -1);
    CHECK_EQ(passwd_b64_decode("aG k", 4, out, sizeof out), -1);
    CHECK_EQ(passwd_b64_encode((const uint8_t *)"hi", 2, enc, sizeof enc), 4);
    CHECK_STR(enc, "aGk=");
}

TEST(file_parses_comments_fields_and_finds_users)
{
    char buf[1024], err[256];
    passwd_db *db = NULL;
    const passwd_entry *e;

    snprintf(buf, sizeof buf, "# comment\n\nalice:%s\r\nbob:%s:set=1700000000,max_age=86400\n  \n", mosq7, mosq6);
    CHECK_EQ(passwd_db_parse("pw", buf, strlen(buf), &db, err, sizeof err), 0);
    CHECK_EQ(passwd_db_count(db), 2);
    e = passwd_db_find(db, (const uint8_t *)"alice", 5);
    CHECK(e && e->hash.scheme == PASSWD_SCHEME_PBKDF2_SHA512 && e->set_time == 0 && e->line == 3);
    e = passwd_db_find(db, (const uint8_t *)"bob", 3);
    CHECK(e && e->hash.scheme == PASSWD_SCHEME_SHA512 && e->set_time == 1700000000 && e->max_age == 86400);
    CHECK(passwd_db_find(db, (const uint8_t *)"ali", 3) == NULL);
    CHECK(passwd_db_find(db, (const uint8_t *)"alicex", 6) == NULL);
    CHECK_STR(passwd_db_at(db, 0)->username, "alice");
    passwd_db_free(db);
}

TEST(file_errors_name_file_and_line)
{
    char buf[1024], err[256];
    passwd_db *db = NULL;

    snprintf(buf, sizeof buf, "alice:%s\nbob\n", mosq7);
    CHECK_EQ(passwd_db_parse("pw", buf, strlen(buf), &db, err, sizeof err), -1);
    CHECK(db == NULL);
    CHECK(!strncmp(err, "pw:2: missing ':'", 17));
    snprintf(buf, sizeof buf, "alice:%s\n#x\nalice:%s\n", mosq7, mosq6);
    CHECK_EQ(passwd_db_parse("pw", buf, strlen(buf), &db, err, sizeof err), -1);
    CHECK_STR(err, "pw:3: duplicate username");
    snprintf(buf, sizeof buf, "alice:%s:colour=blue\n", mosq7);
    CHECK_EQ(passwd_db_parse("pw", buf, strlen(buf), &db, err, sizeof err), -1);
    CHECK(!strncmp(err, "pw:1: unknown field", 19));
    CHECK_EQ(passwd_db_parse("pw", ":x\n", 3, &db, err, sizeof err), -1);
    CHECK_STR(err, "pw:1: empty username");
    CHECK_EQ(passwd_db_load("/nonexistent/rampart-pw", &db, err, sizeof err), -1);
    CHECK(strstr(err, "/nonexistent/rampart-pw: ") == err);
}

TEST(line_format_roundtrips)
{
    char buf[512], line[512];
    passwd_entry e, f;
    const char *why;

    snprintf(buf, sizeof buf, "carol:%s:set=1700000000,max_age=0", mosq6);
    CHECK_EQ(passwd_line_parse(buf, strlen(buf), &e, &why), 1);
    CHECK(passwd_line_format(&e, line, sizeof line) > 0);
    CHECK_EQ(passwd_line_parse(line, strlen(line), &f, &why), 1);
    CHECK_STR(f.username, "carol");
    CHECK_EQ(f.set_time, 1700000000);
    CHECK_STR(f.hash_text, mosq6);
    passwd_entry_clear(&e);
    passwd_entry_clear(&f);
    CHECK_EQ(passwd_line_parse("# x", 3, &e, &why), 0);
}

TEST(file_load_from_disk)
{
    char path[] = "/tmp/rampart-test-pw-XXXXXX", err[256];
    int fd = mkstemp(path);
    passwd_db *db = NULL;
    FILE *f;

    CHECK(fd >= 0);
    f = fdopen(fd, "w");
    fprintf(f, "alice:%s\n", mosq7);
    fclose(f);
    CHECK_EQ(passwd_db_load(path, &db, err, sizeof err), 0);
    CHECK_EQ(passwd_db_count(db), 1);
    passwd_db_free(db);
    unlink(path);
}

TEST_MAIN()
