/* test_tls.c - the TLS context and transport against an in-process OpenSSL client over a socketpair, with
 * a CA made by scripts/tls-ca.sh: versions and ciphers, ALPN, mTLS, revocation, expired CRLs, reload,
 * passphrase-protected keys, key file permissions, session resumption. */
#include "net/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "test.h"

static char ca_dir[64];

/* DIR/name; the string stays valid for the whole run (settings keep pointers to it). */
static const char *path_in(const char *name)
{
    static char buf[256][160];
    static int used;
    if (used == 256)
        abort();
    snprintf(buf[used], sizeof buf[used], "%s/%s", ca_dir, name);
    return buf[used++];
}

/* Runs a shell command with $D set to the test CA directory. */
static int sh(const char *cmd)
{
    setenv("D", ca_dir, 1);
    return system(cmd);
}

/* Makes the test CA once per run. */
static void setup_ca(void)
{
    if (ca_dir[0])
        return;
    snprintf(ca_dir, sizeof ca_dir, "/tmp/rampart-test-tls-XXXXXX");
    if (!mkdtemp(ca_dir))
        abort();
    const char *steps[] = {"scripts/tls-ca.sh init $D", "scripts/tls-ca.sh client $D good",
                           "scripts/tls-ca.sh client $D old expired", "scripts/tls-ca.sh client $D bad",
                           "scripts/tls-ca.sh revoke $D bad", "scripts/tls-ca.sh crl $D",
                           "scripts/tls-ca.sh init $D/other 'Other CA'",
                           "scripts/tls-ca.sh client $D/other stranger"};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        if (sh(steps[i]) != 0)
            abort();
}

static tls_settings base_settings(void)
{
    setup_ca();
    tls_settings s = {.certfile = path_in("server.crt"), .keyfile = path_in("server.key"), .name = "test"};
    return s;
}

static tls_settings mtls_settings(void)
{
    tls_settings s = base_settings();
    s.cafile = path_in("ca.crt");
    s.require_certificate = true;
    s.use_identity_as_username = true;
    s.crlfiles[0] = path_in("crl.pem");
    s.crlfile_count = 1;
    return s;
}

typedef struct pair {
    int fds[2];
    transport *server;
    SSL_CTX *cctx;
    SSL *client;
    int server_state; /* 0 running, 1 done, -1 failed */
    int client_state;
} pair;

/* Client context trusting the test CA, optionally with a client certificate and a fixed version/ciphers. */
static SSL_CTX *client_ctx(const char *cert, int max_version, const char *ciphers)
{
    SSL_CTX *c = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(c, path_in("ca.crt"), NULL);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(c, TLS1_VERSION);
    SSL_CTX_set_security_level(c, 0);
    if (max_version)
        SSL_CTX_set_max_proto_version(c, max_version);
    if (ciphers)
        SSL_CTX_set_cipher_list(c, ciphers);
    if (cert) {
        char crt[128], key[128];
        snprintf(crt, sizeof crt, "%s.crt", cert);
        snprintf(key, sizeof key, "%s.key", cert);
        SSL_CTX_use_certificate_file(c, path_in(crt), SSL_FILETYPE_PEM);
        SSL_CTX_use_PrivateKey_file(c, path_in(key), SSL_FILETYPE_PEM);
    }
    SSL_CTX_set_alpn_protos(c, (const unsigned char *)"\x04mqtt", 5);
    return c;
}

/* Runs both handshakes to completion or failure. A handshake parked on an OCSP query waits for the workers
 * up to 100 ms a round: 600 rounds are a 60 s ceiling, above the 30 s query timeout the OCSP test sets. */
static void pair_handshake(pair *p)
{
    for (int i = 0; i < 600 && (p->server_state == 0 || p->client_state == 0); i++) {
        if (p->server_state == 0 && p->server->waiting) { /* an OCSP answer from the workers */
            struct pollfd pfd = {.fd = tls_ocsp_fd(), .events = POLLIN};
            if (poll(&pfd, 1, 100) > 0)
                tls_ocsp_drain();
        }
        if (p->server_state == 0)
            p->server_state = p->server->ops->handshake(p->server);
        if (p->client_state == 0) {
            int r = SSL_do_handshake(p->client);
            int e = SSL_get_error(p->client, r);
            if (r == 1)
                p->client_state = 1;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                p->client_state = -1;
        }
        if (p->server_state < 0)
            break;
    }
    /* TLS 1.3 client certificates are checked after the client finished: let it read the verdict. */
    char b[16];
    for (int i = 0; i < 20 && p->client_state == 1; i++) {
        int r = SSL_read(p->client, b, sizeof b);
        int e = SSL_get_error(p->client, r);
        if (e != SSL_ERROR_WANT_READ)
            break;
        if (p->server_state == 1) {
            ssize_t n = p->server->ops->read(p->server, b, sizeof b);
            (void)n;
        }
    }
    ERR_clear_error();
}

static void pair_open(pair *p, tls_context *ctx, SSL_CTX *cctx, SSL_SESSION *resume)
{
    memset(p, 0, sizeof *p);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, p->fds) != 0)
        abort();
    fcntl(p->fds[0], F_SETFL, O_NONBLOCK);
    fcntl(p->fds[1], F_SETFL, O_NONBLOCK);
    p->server = transport_tls_new(ctx, p->fds[0], "127.0.0.1:1");
    p->cctx = cctx;
    p->client = SSL_new(cctx);
    SSL_set_fd(p->client, p->fds[1]);
    SSL_set_connect_state(p->client);
    if (resume)
        SSL_set_session(p->client, resume);
    pair_handshake(p);
}

static void pair_close(pair *p)
{
    p->server->ops->destroy(p->server);
    if (p->client_state == 1)
        SSL_shutdown(p->client); /* a session is resumable only after a clean close */
    SSL_free(p->client);
    SSL_CTX_free(p->cctx);
    close(p->fds[0]);
    close(p->fds[1]);
}

/* A connection the server accepted that the client can also use (TLS 1.3 may fail only after the client
 * thinks it is done). */
static bool pair_ok(pair *p)
{
    return p->server_state == 1 && p->client_state == 1;
}

TEST(defaults_tls13_alpn_and_data)
{
    char err[512];
    tls_settings s = base_settings();
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    if (!ctx) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    pair p;
    pair_open(&p, ctx, client_ctx(NULL, 0, NULL), NULL);
    CHECK(pair_ok(&p));
    CHECK_STR(transport_tls_protocol(p.server), "TLSv1.3");
    const unsigned char *alpn;
    unsigned alpn_len;
    SSL_get0_alpn_selected(p.client, &alpn, &alpn_len);
    CHECK_EQ(alpn_len, 4);
    CHECK(alpn_len == 4 && memcmp(alpn, "mqtt", 4) == 0);
    CHECK(transport_is_tls(p.server));
    CHECK(p.server->ops->peer_subject(p.server) == NULL);
    SSL_write(p.client, "\x10\x02hi", 4);
    char buf[16];
    ssize_t n = p.server->ops->read(p.server, buf, sizeof buf);
    CHECK_EQ(n, 4);
    struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
    CHECK_EQ(p.server->ops->writev(p.server, iov, 2), 4);
    CHECK_EQ(SSL_read(p.client, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "abcd", 4) == 0);
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(old_versions_and_weak_ciphers_refused)
{
    char err[512];
    tls_settings s = base_settings();
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    pair p;
    pair_open(&p, ctx, client_ctx(NULL, TLS1_1_VERSION, "ALL:@SECLEVEL=0"), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    pair_open(&p, ctx, client_ctx(NULL, TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA:AES128-SHA"), NULL);
    CHECK_EQ(p.server_state, -1); /* CBC only: refused */
    pair_close(&p);
    pair_open(&p, ctx, client_ctx(NULL, TLS1_2_VERSION, NULL), NULL);
    CHECK(pair_ok(&p));
    CHECK_STR(transport_tls_protocol(p.server), "TLSv1.2");
    CHECK(strstr(transport_tls_cipher(p.server), "ECDHE") != NULL);
    CHECK(strstr(transport_tls_cipher(p.server), "GCM") != NULL ||
          strstr(transport_tls_cipher(p.server), "CHACHA") != NULL);
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(mtls_accepts_valid_refuses_others)
{
    char err[512];
    tls_settings s = mtls_settings();
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    if (!ctx)
        return;
    pair p;
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    CHECK_STR(p.server->ops->peer_cn(p.server), "good");
    CHECK_STR(transport_tls_username(p.server), "good");
    CHECK(!transport_tls_two_factor(p.server));
    CHECK(strstr(p.server->ops->peer_subject(p.server), "CN=good") != NULL);
    pair_close(&p);
    const char *refused[] = {NULL, "bad", "old", "other/stranger"};
    for (size_t i = 0; i < 4; i++) {
        pair_open(&p, ctx, client_ctx(refused[i], 0, NULL), NULL);
        CHECK_EQ(p.server_state, -1);
        pair_close(&p);
    }
    pair_open(&p, ctx, client_ctx("bad", TLS1_2_VERSION, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    CHECK(p.client_state != 1);
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(two_factor_requires_a_certificate_and_exposes_its_cn)
{
    char err[512];
    tls_settings s = base_settings();
    s.cafile = path_in("ca.crt");
    s.two_factor = true;
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    pair p;
    pair_open(&p, ctx, client_ctx(NULL, 0, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    CHECK(transport_tls_two_factor(p.server));
    CHECK_STR(transport_tls_two_factor_identity(p.server), "good");
    CHECK(transport_tls_username(p.server) == NULL);
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(reload_revokes_live_client_and_survives_bad_files)
{
    char err[512];
    sh("scripts/tls-ca.sh client $D victim");
    sh("scripts/tls-ca.sh crl $D");
    tls_settings s = mtls_settings();
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    pair p;
    pair_open(&p, ctx, client_ctx("victim", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    CHECK(transport_tls_recheck(p.server));
    sh("scripts/tls-ca.sh revoke $D victim");
    sh("scripts/tls-ca.sh crl $D");
    CHECK_EQ(tls_context_reload(ctx, err, sizeof err), 0);
    CHECK_EQ(tls_context_generation(ctx), 1);
    CHECK(!transport_tls_recheck(p.server));
    pair_close(&p);
    /* A broken certificate file: reload fails, the old context keeps serving. */
    tls_settings broken = s;
    broken.certfile = path_in("missing.crt");
    tls_context *ctx2 = tls_context_new(&s, err, sizeof err);
    CHECK(tls_context_new(&broken, err, sizeof err) == NULL);
    CHECK(strstr(err, "certfile") != NULL);
    tls_context_free(ctx2);
    tls_context_free(ctx);
}

TEST(reconfigure_applies_new_parameters_keeps_live_connections_and_fails_closed)
{
    char err[512];
    tls_settings s = base_settings();
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    pair live, p;
    pair_open(&live, ctx, client_ctx(NULL, TLS1_2_VERSION, NULL), NULL);
    CHECK(pair_ok(&live));
    /* New parameters: TLS 1.3 only. New TLS 1.2 handshakes fail; the live 1.2 connection keeps working. */
    tls_settings only13 = base_settings();
    only13.tls_version = "tlsv1.3";
    only13.name = "ignored";
    CHECK_EQ(tls_context_reconfigure(ctx, &only13, err, sizeof err), 0);
    CHECK_EQ(tls_context_generation(ctx), 1);
    pair_open(&p, ctx, client_ctx(NULL, TLS1_2_VERSION, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    CHECK_EQ(SSL_write(live.client, "ping", 4), 4);
    char buf[8];
    CHECK_EQ(live.server->ops->read(live.server, buf, sizeof buf), 4);
    pair_close(&live);
    /* A cipher list OpenSSL refuses: nothing changes (TLS 1.3 only still). */
    tls_settings bad = only13;
    bad.tls_version = NULL;
    bad.ciphers = "NO-SUCH-CIPHER";
    CHECK_EQ(tls_context_reconfigure(ctx, &bad, err, sizeof err), -1);
    CHECK(strstr(err, "ciphers") != NULL);
    /* Authentication-defining options cannot change at run time. */
    tls_settings two = mtls_settings();
    two.two_factor = true;
    CHECK_EQ(tls_context_reconfigure(ctx, &two, err, sizeof err), -1);
    CHECK(strstr(err, "without a restart") != NULL);
    CHECK_EQ(tls_context_generation(ctx), 1);
    pair_open(&p, ctx, client_ctx(NULL, TLS1_2_VERSION, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    pair_open(&p, ctx, client_ctx(NULL, 0, NULL), NULL);
    CHECK(pair_ok(&p));
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(expired_crl_fails_closed_unless_allowed)
{
    char err[512];
    setup_ca();
    CHECK_EQ(sh("scripts/tls-ca.sh crl $D expired && mv $D/crl.pem $D/expired-crl.pem && "
                "scripts/tls-ca.sh crl $D"), 0);
    tls_settings s = mtls_settings();
    s.crlfiles[0] = path_in("expired-crl.pem");
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    pair p;
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    tls_context_free(ctx);
    s.crl_allow_expired = true;
    ctx = tls_context_new(&s, err, sizeof err);
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(key_file_readable_by_others_refused)
{
    char err[512];
    tls_settings s = base_settings();
    sh("cp $D/server.key $D/open.key && chmod 644 $D/open.key");
    s.keyfile = path_in("open.key");
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "chmod 600") != NULL);
}

TEST(passphrase_key_from_file_env_and_credential)
{
    char err[512];
    tls_settings s = base_settings();
    sh("cd $D && openssl pkey -in server.key -aes256 -passout pass:s3cret -out locked.key && "
       "chmod 600 locked.key && printf 's3cret\\n' > pass.txt && chmod 600 pass.txt && "
       "mkdir -p creds && cp pass.txt creds/tlspass");
    s.keyfile = path_in("locked.key");
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "encrypted") != NULL);
    s.keyfile_passphrase_file = path_in("pass.txt");
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    tls_context_free(ctx);
    s.keyfile_passphrase_file = NULL;
    setenv("RAMPART_TEST_PASS", "s3cret", 1);
    s.keyfile_passphrase_env = "RAMPART_TEST_PASS";
    ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    CHECK(getenv("RAMPART_TEST_PASS") == NULL);
    /* Reload with the variable gone still works: the key file is unchanged. */
    CHECK_EQ(tls_context_reload(ctx, err, sizeof err), 0);
    tls_context_free(ctx);
    s.keyfile_passphrase_env = NULL;
    setenv("CREDENTIALS_DIRECTORY", path_in("creds"), 1);
    s.keyfile_passphrase_credential = "tlspass";
    ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    tls_context_free(ctx);
    sh("printf 'wrong\\n' > $D/creds/tlspass");
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "wrong passphrase") != NULL);
    sh("chmod 604 $D/pass.txt");
    s.keyfile_passphrase_credential = NULL;
    s.keyfile_passphrase_file = path_in("pass.txt");
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "chmod 600") != NULL);
}

TEST(settings_fail_closed)
{
    char err[512];
    tls_settings s = base_settings();
    s.tls_version = "tlsv1.1";
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "tlsv1.1") != NULL);
    s = base_settings();
    s.require_certificate = true;
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    s = base_settings();
    s.two_factor = true; /* needs a CA */
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    s.cafile = path_in("ca.crt");
    s.use_identity_as_username = true; /* a certificate-only login contradicts two factors */
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "tls_two_factor") != NULL);
    s = base_settings();
    s.ciphers = "NO-SUCH-CIPHER";
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    s = base_settings();
    s.tls_version = "tlsv1.3";
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    pair p;
    pair_open(&p, ctx, client_ctx(NULL, TLS1_2_VERSION, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(session_tickets_resume)
{
    char err[512];
    tls_settings s = base_settings();
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    pair p;
    SSL_CTX *cctx = client_ctx(NULL, TLS1_2_VERSION, NULL);
    SSL_CTX_up_ref(cctx);
    pair_open(&p, ctx, cctx, NULL);
    CHECK(pair_ok(&p));
    SSL_SESSION *sess = SSL_get1_session(p.client);
    CHECK(sess != NULL);
    pair_close(&p);
    pair_open(&p, ctx, cctx, sess);
    CHECK(pair_ok(&p));
    CHECK(SSL_session_reused(p.client));
    pair_close(&p);
    SSL_SESSION_free(sess);
    tls_context_free(ctx);
}

/* Waits (bounded by a generous 60 s ceiling, for a loaded machine) until the responder says it listens (a
 * probing connection would wedge `openssl ocsp`) and returns the port from its "ACCEPT [::]:PORT" line, or 0. */
static int wait_for_responder(int fd)
{
    char buf[4096];
    size_t have = 0;
    for (int i = 0; i < 1200 && have < sizeof buf - 1; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) {
            fprintf(stderr, "  responder output: %.*s\n", (int)have, buf);
            return 0;
        }
        have += (size_t)n;
        buf[have] = '\0';
        const char *at = strstr(buf, "]:");
        if (strstr(buf, "waiting for OCSP client connections") && at)
            return atoi(at + 2);
    }
    return 0;
}

TEST(ocsp_responder_refuses_revoked_client_and_caches)
{
    char err[512], url[64];
    setup_ca();
    int out[2];
    if (pipe(out) != 0)
        abort();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(out[1], 1);
        dup2(out[1], 2);
        close(out[0]);
        execlp("openssl", "openssl", "ocsp", "-index", path_in("index.txt"), "-port", "0", /* openssl 3.0 ocsp binds every interface */ "-rsigner",
               path_in("ca.crt"), "-rkey", path_in("ca.key"), "-CA", path_in("ca.crt"), "-nmin", "5",
               "-ignore_err", (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    int port = wait_for_responder(out[0]);
    CHECK(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    tls_settings s = mtls_settings();
    s.crlfile_count = 0; /* only OCSP knows "bad" is revoked */
    s.ocsp_check_clients = true;
    s.ocsp_responder = url;
    s.ocsp_timeout_seconds = 30; /* generous: a loaded CI machine signs slowly; no timing is asserted */
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    pair p;
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    pair_close(&p);
    pair_open(&p, ctx, client_ctx("bad", 0, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    /* With the responder gone, the cached answers still decide. */
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    close(out[0]);
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    pair_close(&p);
    pair_open(&p, ctx, client_ctx("bad", 0, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    /* An uncached certificate with no responder: refused unless ocsp_allow_unreachable. A dead responder
     * answers nothing however long the query may wait (OpenSSL retries a refused connection until the query
     * timeout), so these contexts wait 1 s, not the 30 s meant for a slowly signing responder. */
    tls_context_free(ctx);
    s.ocsp_timeout_seconds = 1;
    ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    if (!ctx) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    pair_open(&p, ctx, client_ctx("victim", 0, NULL), NULL);
    CHECK_EQ(p.server_state, -1);
    pair_close(&p);
    tls_context_free(ctx);
    s.ocsp_allow_unreachable = true;
    ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    if (!ctx) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    pair_open(&p, ctx, client_ctx("good", 0, NULL), NULL);
    CHECK(pair_ok(&p));
    pair_close(&p);
    tls_context_free(ctx);
}

TEST(ocsp_stapling_serves_the_response_file)
{
    char err[512];
    setup_ca();
    CHECK_EQ(sh("cd $D && openssl ocsp -issuer ca.crt -cert server.crt -reqout req.der -no_nonce 2>/dev/null && "
                "openssl ocsp -index index.txt -rsigner ca.crt -rkey ca.key -CA ca.crt -reqin req.der "
                "-respout staple.der -ndays 2 >/dev/null 2>&1"), 0);
    tls_settings s = base_settings();
    s.ocsp_response_file = path_in("staple.der");
    tls_context *ctx = tls_context_new(&s, err, sizeof err);
    CHECK(ctx != NULL);
    SSL_CTX *cctx = client_ctx(NULL, 0, NULL);
    pair p;
    memset(&p, 0, sizeof p);
    socketpair(AF_UNIX, SOCK_STREAM, 0, p.fds);
    fcntl(p.fds[0], F_SETFL, O_NONBLOCK);
    fcntl(p.fds[1], F_SETFL, O_NONBLOCK);
    p.server = transport_tls_new(ctx, p.fds[0], "127.0.0.1:1");
    p.cctx = cctx;
    p.client = SSL_new(cctx);
    SSL_set_fd(p.client, p.fds[1]);
    SSL_set_connect_state(p.client);
    SSL_set_tlsext_status_type(p.client, TLSEXT_STATUSTYPE_ocsp);
    pair_handshake(&p);
    CHECK(pair_ok(&p));
    const unsigned char *resp = NULL;
    long len = SSL_get_tlsext_status_ocsp_resp(p.client, &resp);
    CHECK(len > 0 && resp != NULL);
    pair_close(&p);
    tls_context_free(ctx);
    /* A stale or missing file is refused at load. */
    s.ocsp_response_file = path_in("crl.pem");
    CHECK(tls_context_new(&s, err, sizeof err) == NULL);
    CHECK(strstr(err, "ocsp_response_file") != NULL);
}

TEST(cleanup)
{
    sh("rm -rf $D");
}

TEST_MAIN()
