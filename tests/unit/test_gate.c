/* Unit tests for src/security/gate.c: what the broker sees. The test plays the broker and a SCRAM client. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/log.h"
#include "security/gate.h"
#include "test.h"

static char dir[64], pwfile[128];

static sec_gate *make_gate(void)
{
    auth_settings s;
    sec_gate *g = NULL;
    char scram[256], argon[256], text[1024], err[256];
    passwd_argon2_params p = {256, 1, 1};
    FILE *f;

    snprintf(dir, sizeof dir, "/tmp/rampart-test-gate-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(pwfile, sizeof pwfile, "%s/pw", dir);
    passwd_hash_make_scram((const uint8_t *)"pencil", 6, 4096, scram, sizeof scram);
    passwd_hash_make_argon2id((const uint8_t *)"hunter22", 8, &p, argon, sizeof argon);
    snprintf(text, sizeof text, "user:%s\nalice:%s\n", scram, argon);
    f = fopen(pwfile, "w");
    fputs(text, f);
    fclose(f);
    auth_settings_init(&s);
    auth_settings_set(&s, "password_file", pwfile, err, sizeof err);
    auth_settings_set(&s, "max_unauthenticated_per_address", "2", err, sizeof err);
    if (sec_gate_new(&s, &g, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    auth_settings_clear(&s);
    return g;
}

static void cleanup(sec_gate *g)
{
    sec_gate_free(g);
    unlink(pwfile);
    rmdir(dir);
}

static sec_conn *accept_from(sec_gate *g, const char *ip)
{
    return sec_gate_accept(g, 0, "test", false, ip);
}

static mqtt_bytes B(const char *s)
{
    mqtt_bytes b = {(const uint8_t *)s, (uint32_t)strlen(s)};
    return b;
}

TEST(password_connect_goes_through_the_pool)
{
    sec_gate *g = make_gate();
    sec_conn *c = accept_from(g, "192.0.2.1");
    mqtt_connect pkt;
    sec_reply r;
    uint64_t cookie = 0;

    memset(&pkt, 0, sizeof pkt);
    pkt.version = MQTT_V311;
    pkt.has_username = pkt.has_password = true;
    pkt.username = B("alice");
    pkt.password = B("hunter22");
    pkt.client_id = B("c1");
    sec_gate_connect(g, c, 77, &pkt, &r);
    CHECK_EQ(r.kind, SEC_REPLY_PENDING);
    for (int i = 0; i < 500 && !sec_gate_take_result(g, &cookie, &r); i++) {
        struct pollfd pfd = {sec_gate_fd(g), POLLIN, 0};
        poll(&pfd, 1, 20);
    }
    CHECK_EQ(cookie, 77);
    CHECK_EQ(r.kind, SEC_REPLY_CONNACK);
    CHECK_EQ(r.reason, 0);
    sec_gate_authenticated(g, c);
    sec_gate_close(g, c);
    cleanup(g);
}

/* One password CONNECT (3.1.1) through the gate; returns the final reason (waits for the pool if needed). */
static uint8_t password_login(sec_gate *g, sec_conn *c, const char *user, const char *pw, sec_reply *r)
{
    mqtt_connect pkt;
    uint64_t cookie = 0;
    memset(&pkt, 0, sizeof pkt);
    pkt.version = MQTT_V311;
    pkt.has_username = user != NULL;
    pkt.username = B(user ? user : "");
    pkt.has_password = pw != NULL;
    pkt.password = B(pw ? pw : "");
    pkt.client_id = B("c2f");
    sec_gate_connect(g, c, 91, &pkt, r);
    for (int i = 0; i < 500 && r->kind == SEC_REPLY_PENDING && !sec_gate_take_result(g, &cookie, r); i++) {
        struct pollfd pfd = {sec_gate_fd(g), POLLIN, 0};
        poll(&pfd, 1, 20);
    }
    return r->reason;
}

TEST(two_factor_binds_the_username_to_the_certificate_cn)
{
    sec_gate *g = make_gate();
    sec_reply r;
    sec_conn *c = accept_from(g, "192.0.2.9");
    CHECK_EQ(sec_gate_require_identity(c, "alice"), 0);
    CHECK_EQ(password_login(g, c, "alice", "hunter22", &r), 0);
    CHECK(r.refusal == NULL);
    CHECK_EQ(password_login(g, c, "user", "pencil", &r), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK(r.refusal && strstr(r.refusal, "differs from the certificate CN"));
    CHECK_EQ(password_login(g, c, "alice", NULL, &r), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK(r.refusal && strstr(r.refusal, "no password"));
    CHECK_EQ(password_login(g, c, NULL, NULL, &r), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(password_login(g, c, "alice", "wrong", &r), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK(r.refusal == NULL); /* an ordinary wrong password */
    sec_gate_close(g, c);
    c = accept_from(g, "192.0.2.10");
    CHECK_EQ(sec_gate_require_identity(c, NULL), 0); /* a certificate without a CN */
    CHECK_EQ(password_login(g, c, "alice", "hunter22", &r), MQTT_RC_NOT_AUTHORIZED);
    sec_gate_close(g, c);
    cleanup(g);
}

TEST(certificate_login_needs_no_password)
{
    sec_gate *g = make_gate();
    sec_reply r;
    mqtt_connect pkt;
    memset(&pkt, 0, sizeof pkt);
    pkt.version = MQTT_V5;
    pkt.has_username = pkt.has_password = true;
    pkt.username = B("mallory"); /* ignored */
    pkt.password = B("nothing");
    pkt.client_id = B("dev");
    sec_conn *c = accept_from(g, "192.0.2.11");
    sec_gate_certificate_login(g, c, &pkt, "O=Org,CN=device-7", &r);
    CHECK_EQ(r.kind, SEC_REPLY_CONNACK);
    CHECK_EQ(r.reason, 0);
    sec_gate_close(g, c);
    cleanup(g);
}

TEST(unauthenticated_cap_refuses_at_accept)
{
    sec_gate *g = make_gate();
    sec_conn *a = accept_from(g, "192.0.2.1"), *b = accept_from(g, "192.0.2.1"), *c = accept_from(g, "192.0.2.1");
    sec_conn *d = accept_from(g, "192.0.2.2");

    CHECK(a && b && !c && d);
    sec_gate_close(g, a);
    c = accept_from(g, "192.0.2.1");
    CHECK(c != NULL);
    sec_gate_close(g, b);
    sec_gate_close(g, c);
    sec_gate_close(g, d);
    CHECK_EQ(sec_gate_connect_timeout_ms(g), 10000);
    cleanup(g);
}

/* The client side of SCRAM-SHA-256, computed independently with OpenSSL. */
static void scram_client_final(const char *cfirst_bare, const char *sfirst, const char *pw, char *final, size_t cap,
                               uint8_t server_sig[32])
{
    char nonce[256], salt64[128], authmsg[4096], without[512], proof64[64];
    uint8_t salt[64], sp[32], ck[32], sk[32], stk[32], cs[32], proof[32];
    unsigned int l;
    int iter, saltlen;
    const char *r = strstr(sfirst, "r="), *s = strstr(sfirst, ",s="), *i = strstr(sfirst, ",i=");

    snprintf(nonce, sizeof nonce, "%.*s", (int)(s - r - 2), r + 2);
    snprintf(salt64, sizeof salt64, "%.*s", (int)(i - s - 3), s + 3);
    iter = atoi(i + 3);
    saltlen = passwd_b64_decode(salt64, strlen(salt64), salt, sizeof salt);
    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, saltlen, iter, EVP_sha256(), 32, sp);
    HMAC(EVP_sha256(), sp, 32, (const uint8_t *)"Client Key", 10, ck, &l);
    HMAC(EVP_sha256(), sp, 32, (const uint8_t *)"Server Key", 10, sk, &l);
    SHA256(ck, 32, stk);
    snprintf(without, sizeof without, "c=biws,r=%s", nonce);
    snprintf(authmsg, sizeof authmsg, "%s,%s,%s", cfirst_bare, sfirst, without);
    HMAC(EVP_sha256(), stk, 32, (const uint8_t *)authmsg, strlen(authmsg), cs, &l);
    for (int k = 0; k < 32; k++)
        proof[k] = ck[k] ^ cs[k];
    passwd_b64_encode(proof, 32, proof64, sizeof proof64);
    snprintf(final, cap, "%s,p=%s", without, proof64);
    HMAC(EVP_sha256(), sk, 32, (const uint8_t *)authmsg, strlen(authmsg), server_sig, &l);
}

static int scram_login(sec_gate *g, const char *ip, const char *user, const char *pw, bool *server_ok)
{
    sec_conn *c = accept_from(g, ip);
    mqtt_connect pkt;
    mqtt_reason_only ap;
    sec_reply r;
    char cfirst[128], sfirst[SCRAM_MSG_MAX + 1], final[1024], expect[80];
    uint8_t sig[32];
    int reason;

    memset(&pkt, 0, sizeof pkt);
    pkt.version = MQTT_V5;
    pkt.client_id = B("scram-client");
    snprintf(cfirst, sizeof cfirst, "n,,n=%s,r=fyko+d2lbbFgONRv9qkxdawL", user);
    pkt.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD) | MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA);
    pkt.props.auth_method = B("SCRAM-SHA-256");
    pkt.props.auth_data = B(cfirst);
    sec_gate_connect(g, c, 1, &pkt, &r);
    if (r.kind != SEC_REPLY_AUTH) {
        sec_gate_close(g, c);
        return r.reason;
    }
    CHECK_EQ(r.reason, MQTT_RC_CONTINUE_AUTH);
    snprintf(sfirst, sizeof sfirst, "%.*s", (int)r.auth_data_len, (const char *)r.auth_data);
    scram_client_final(cfirst + 3, sfirst, pw, final, sizeof final, sig);
    memset(&ap, 0, sizeof ap);
    ap.reason = MQTT_RC_CONTINUE_AUTH;
    ap.props.present = pkt.props.present;
    ap.props.auth_method = B("SCRAM-SHA-256");
    ap.props.auth_data = B(final);
    sec_gate_auth(g, c, &ap, &r);
    CHECK_EQ(r.kind, SEC_REPLY_CONNACK);
    reason = r.reason;
    *server_ok = false;
    if (reason == 0) {
        char sig64[64];
        passwd_b64_encode(sig, 32, sig64, sizeof sig64);
        snprintf(expect, sizeof expect, "v=%s", sig64);
        *server_ok = r.has_auth && r.auth_data_len == strlen(expect) && !memcmp(r.auth_data, expect, r.auth_data_len);
        sec_gate_authenticated(g, c);
    }
    sec_gate_close(g, c);
    return reason;
}

TEST(scram_login_right_wrong_unknown)
{
    sec_gate *g = make_gate();
    bool server_ok = false;

    CHECK_EQ(scram_login(g, "192.0.2.1", "user", "pencil", &server_ok), 0);
    CHECK(server_ok); /* the client can check the server knew the key too */
    CHECK_EQ(scram_login(g, "192.0.2.1", "user", "pencil2", &server_ok), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(scram_login(g, "192.0.2.1", "ghost", "pencil", &server_ok), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    CHECK_EQ(scram_login(g, "192.0.2.1", "alice", "hunter22", &server_ok), MQTT_RC_BAD_USERNAME_OR_PASSWORD);
    cleanup(g);
}

TEST(scram_failures_feed_the_limiter)
{
    sec_gate *g = make_gate();
    bool ok;
    int reason = 0;

    for (int i = 0; i < 20 && reason != MQTT_RC_CONNECTION_RATE_EXCEEDED; i++)
        reason = scram_login(g, "192.0.2.9", "user", "nope", &ok);
    CHECK_EQ(reason, MQTT_RC_CONNECTION_RATE_EXCEEDED); /* backoff after 3 failures */
    CHECK_EQ(scram_login(g, "192.0.2.200", "user", "pencil", &ok), 0);
    cleanup(g);
}

TEST(bad_method_and_unexpected_auth)
{
    sec_gate *g = make_gate();
    sec_conn *c = accept_from(g, "192.0.2.3");
    mqtt_connect pkt;
    mqtt_reason_only ap;
    sec_reply r;

    memset(&pkt, 0, sizeof pkt);
    pkt.version = MQTT_V5;
    pkt.props.present = MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD);
    pkt.props.auth_method = B("KERBEROS");
    sec_gate_connect(g, c, 1, &pkt, &r);
    CHECK_EQ(r.kind, SEC_REPLY_CONNACK);
    CHECK_EQ(r.reason, MQTT_RC_BAD_AUTH_METHOD);
    memset(&ap, 0, sizeof ap);
    ap.reason = MQTT_RC_CONTINUE_AUTH;
    sec_gate_auth(g, c, &ap, &r);
    CHECK_EQ(r.reason, MQTT_RC_PROTOCOL_ERROR);
    pkt.props.auth_method = B("SCRAM-SHA-256"); /* no data */
    sec_gate_connect(g, c, 1, &pkt, &r);
    CHECK_EQ(r.reason, MQTT_RC_NOT_AUTHORIZED);
    sec_gate_close(g, c);
    cleanup(g);
}

int test_main_inner(int argc, char **argv);
#define main test_main_inner
TEST_MAIN()
#undef main
int main(int argc, char **argv)
{
    log_set_level(LOG_LEVEL_ERROR);
    return test_main_inner(argc, argv);
}
