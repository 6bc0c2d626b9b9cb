/* test_secure_options.c - parsing of the TLS / WebSocket / PROXY listener options: values, ranges, lists,
 * and refusals with a message that names the option. */
#include "net/secure.h"

#include "test.h"

TEST(known_options_are_applied)
{
    secure_options o;
    char err[256];
    secure_options_init(&o);
    CHECK_EQ(secure_options_set(&o, "certfile", "/etc/x.crt", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "certfile", "/etc/y.crt", err, sizeof err), 1); /* last one wins */
    CHECK_STR(o.tls.certfile, "/etc/y.crt");
    CHECK_EQ(secure_options_set(&o, "require_certificate", "true", err, sizeof err), 1);
    CHECK(o.tls.require_certificate);
    CHECK_EQ(secure_options_set(&o, "crlfile", "/a.pem", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "crlfile", "/b.pem", err, sizeof err), 1);
    CHECK_EQ(o.tls.crlfile_count, 2);
    CHECK_EQ(secure_options_set(&o, "ciphers_tls1.3", "TLS_AES_128_GCM_SHA256", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "tls_verify_depth", "3", err, sizeof err), 1);
    CHECK_EQ(o.tls.verify_depth, 3);
    CHECK_EQ(secure_options_set(&o, "protocol", "websockets", err, sizeof err), 1);
    CHECK(o.websocket);
    CHECK_EQ(secure_options_set(&o, "websocket_origin", "https://a.example", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "websocket_trusted_proxy", "10.0.0.0/8", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "proxy_protocol_from", "::1", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "websocket_max_frame_size", "65536", err, sizeof err), 1);
    CHECK_EQ(o.ws_max_frame, 65536);
    CHECK(secure_options_tls(&o));
    CHECK_EQ(secure_options_set(&o, "max_connections", "5", err, sizeof err), 0);
    CHECK(secure_options_knows("ocsp_responder"));
    CHECK(!secure_options_knows("persistence"));
    secure_options_clear(&o);
}

TEST(bad_values_are_refused_with_the_option_name)
{
    secure_options o;
    char err[256];
    secure_options_init(&o);
    CHECK_EQ(secure_options_set(&o, "tls_version", "tlsv1.1", err, sizeof err), -1);
    CHECK(strstr(err, "tls_version tlsv1.1") != NULL);
    CHECK_EQ(secure_options_set(&o, "require_certificate", "yes", err, sizeof err), -1);
    CHECK(strstr(err, "true or false") != NULL);
    CHECK_EQ(secure_options_set(&o, "tls_verify_depth", "0", err, sizeof err), -1);
    CHECK_EQ(secure_options_set(&o, "tls_verify_depth", "4x", err, sizeof err), -1);
    CHECK_EQ(secure_options_set(&o, "protocol", "http", err, sizeof err), -1);
    CHECK_EQ(secure_options_set(&o, "websocket_path", "mqtt", err, sizeof err), -1);
    CHECK_EQ(secure_options_set(&o, "websocket_trusted_proxy", "10.0.0.0/33", err, sizeof err), -1);
    CHECK_EQ(secure_options_set(&o, "websocket_max_frame_size", "10", err, sizeof err), -1);
    CHECK_EQ(secure_options_set(&o, "certfile", "", err, sizeof err), -1);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(secure_options_set(&o, "crlfile", "/c.pem", err, sizeof err), 1);
    CHECK_EQ(secure_options_set(&o, "crlfile", "/c.pem", err, sizeof err), -1);
    CHECK(!secure_options_tls(&o));
    secure_options_clear(&o);
}

TEST_MAIN()
