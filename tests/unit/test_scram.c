/* Unit tests for src/security/scram.c, with the exchange of RFC 7677 section 3 (user "user", "pencil"). */
#include <stdio.h>
#include <stdlib.h>

#include "security/scram.h"
#include "test.h"

static const char *const c_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
static const char *const s_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
static const char *const c_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
static const char *const s_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

/* A password file holding "user" with the RFC's salt and iteration count. */
static passwd_db *rfc_db(void)
{
    passwd_hash h;
    char salt[64], stored[64], server[64], text[512], err[256];
    passwd_db *db = NULL;

    memset(&h, 0, sizeof h);
    h.salt_len = (size_t)passwd_b64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 24, h.salt, sizeof h.salt);
    h.iterations = 4096;
    if (passwd_scram_derive((const uint8_t *)"pencil", 6, &h) < 0)
        abort();
    passwd_b64_encode(h.salt, h.salt_len, salt, sizeof salt);
    passwd_b64_encode(h.hash, 32, stored, sizeof stored);
    passwd_b64_encode(h.server_key, 32, server, sizeof server);
    snprintf(text, sizeof text, "user:$scram-sha-256$4096$%s$%s$%s\nother:%s\n", salt, stored, server,
             "$7$101$4W5hsY/ieDlZ1LE9$cscO+jRw2HMKe9EGoUKRpzWbgDEndDL6/CQZrdvco3thITZiF3E0jhrmbiTsqkkJOSlytgHekUpBECrgYUULRQ==");
    if (passwd_db_parse("t", text, strlen(text), &db, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return db;
}

static const uint8_t secret[32] = {1, 2, 3};

TEST(rfc7677_exchange)
{
    passwd_db *db = rfc_db();
    scram_server *s = scram_server_new(secret);
    uint8_t out[512];
    size_t n = 0;

    scram_server_set_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    CHECK_EQ(scram_server_first(s, (const uint8_t *)c_first, strlen(c_first), db, out, sizeof out, &n), SCRAM_OK);
    CHECK_EQ(n, strlen(s_first));
    CHECK_MEM(out, s_first, n);
    CHECK_STR(scram_server_username(s), "user");
    CHECK_EQ(scram_server_final(s, (const uint8_t *)c_final, strlen(c_final), out, sizeof out, &n), SCRAM_OK);
    CHECK_EQ(n, strlen(s_final));
    CHECK_MEM(out, s_final, n);
    scram_server_free(s);
    passwd_db_free(db);
}

TEST(wrong_proof_and_unknown_user_fail_alike)
{
    passwd_db *db = rfc_db();
    uint8_t out[512], out2[512];
    size_t n = 0, n2 = 0;
    char bad[256];
    scram_server *s = scram_server_new(secret), *u1, *u2;

    scram_server_set_nonce(s, "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
    scram_server_first(s, (const uint8_t *)c_first, strlen(c_first), db, out, sizeof out, &n);
    snprintf(bad, sizeof bad, "%s", c_final);
    bad[strlen(bad) - 3] ^= 1;
    CHECK_EQ(scram_server_final(s, (const uint8_t *)bad, strlen(bad), out, sizeof out, &n), SCRAM_FAIL);
    scram_server_free(s);
    /* unknown user: a stable salt across attempts, then failure */
    u1 = scram_server_new(secret);
    u2 = scram_server_new(secret);
    CHECK_EQ(scram_server_first(u1, (const uint8_t *)"n,,n=ghost,r=abc", 16, db, out, sizeof out, &n), SCRAM_OK);
    CHECK_EQ(scram_server_first(u2, (const uint8_t *)"n,,n=ghost,r=abc", 16, db, out2, sizeof out2, &n2), SCRAM_OK);
    CHECK(strstr((char *)out, ",i=4096") != NULL);
    /* same salt (the part after ",s=") although the nonces differ */
    CHECK(!memcmp(strstr((char *)out, ",s="), strstr((char *)out2, ",s="), 28));
    snprintf(bad, sizeof bad, "c=biws,r=%.*s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
             (int)(strchr((char *)out, ',') - (char *)out - 2), (char *)out + 2);
    CHECK_EQ(scram_server_final(u1, (const uint8_t *)bad, strlen(bad), out, sizeof out, &n), SCRAM_FAIL);
    scram_server_free(u1);
    scram_server_free(u2);
    passwd_db_free(db);
}

TEST(malformed_messages)
{
    static const char *const bad_first[] = {"", "x,,n=u,r=a", "p=tls,,n=u,r=a", "n,,n=,r=a", "n,,n=u", "n,,n=a=ZZ,r=a",
                                            "n,,n=u,r=", "n,,n=u,r=a b"};
    uint8_t out[512];
    size_t n;

    for (size_t i = 0; i < sizeof bad_first / sizeof bad_first[0]; i++) {
        scram_server *s = scram_server_new(secret);
        CHECK_EQ(scram_server_first(s, (const uint8_t *)bad_first[i], strlen(bad_first[i]), NULL, out, sizeof out, &n),
                 SCRAM_MALFORMED);
        scram_server_free(s);
    }
    {
        scram_server *s = scram_server_new(secret);
        CHECK_EQ(scram_server_first(s, (const uint8_t *)"n,,n=a=2Cb,r=xyz", 16, NULL, out, sizeof out, &n), SCRAM_OK);
        CHECK_STR(scram_server_username(s), "a,b");
        CHECK_EQ(scram_server_final(s, (const uint8_t *)"c=biws,r=wrong,p=AAAA", 21, out, sizeof out, &n),
                 SCRAM_MALFORMED);
        CHECK_EQ(scram_server_final(s, (const uint8_t *)"c=biws", 6, out, sizeof out, &n), SCRAM_MALFORMED);
        scram_server_free(s);
    }
}

TEST_MAIN()
