/* test_proxy.c - the PROXY protocol v1/v2 header parser. */
#include "codec/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "test.h"

static int parse(const void *buf, size_t len, proxy_header *h)
{
    const char *err;
    return proxy_header_parse(buf, len, h, &err);
}

TEST(v1_tcp4_and_prefixes_need_more)
{
    const char line[] = "PROXY TCP4 192.0.2.1 198.51.100.2 51234 1883\r\nMQTT";
    proxy_header h;
    size_t n = strlen(line);
    for (size_t i = 0; i < n - 4; i++)
        CHECK_EQ(parse(line, i, &h), PROXY_NEED_MORE);
    CHECK_EQ(parse(line, n, &h), PROXY_OK);
    CHECK_EQ(h.size, n - 4);
    CHECK_EQ(h.version, 1);
    CHECK(!h.local);
    struct sockaddr_in *s = (struct sockaddr_in *)&h.src;
    CHECK_EQ(s->sin_family, AF_INET);
    CHECK_EQ(ntohs(s->sin_port), 51234);
    CHECK_EQ(ntohl(s->sin_addr.s_addr), 0xC0000201);
}

TEST(v1_tcp6_and_unknown)
{
    const char l6[] = "PROXY TCP6 2001:db8::1 2001:db8::2 1 65535\r\n";
    proxy_header h;
    CHECK_EQ(parse(l6, strlen(l6), &h), PROXY_OK);
    CHECK_EQ(h.src.ss_family, AF_INET6);
    CHECK_EQ(ntohs(((struct sockaddr_in6 *)&h.dst)->sin6_port), 65535);
    const char lu[] = "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    CHECK_EQ(parse(lu, strlen(lu), &h), PROXY_OK);
    CHECK(h.local);
}

TEST(v1_refusals)
{
    proxy_header h;
    const char *bad[] = {
        "PROXY TCP4 192.0.2.1 198.51.100.2 51234 65536\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.2 051234 1883\r\n",
        "PROXY TCP4 2001:db8::1 198.51.100.2 1 1\r\n",
        "PROXY TCP4  192.0.2.1 198.51.100.2 1 1\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.2 1 1 extra\r\n",
        "PROXY UDP4 192.0.2.1 198.51.100.2 1 1\r\n",
        "PROXY TCP4 192.0.2.1 198.51.100.2 1 1\rX",
        "GET / HTTP/1.1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ(parse(bad[i], strlen(bad[i]), &h), PROXY_ERROR);
    char longline[200] = "PROXY TCP4 ";
    memset(longline + 11, '1', 150);
    CHECK_EQ(parse(longline, strlen(longline), &h), PROXY_ERROR);
}

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

TEST(v2_ipv4_with_tlv)
{
    uint8_t b[64];
    memcpy(b, sig, 12);
    b[12] = 0x21;
    b[13] = 0x11;
    b[14] = 0;
    b[15] = 12 + 4;
    memcpy(b + 16, "\xc0\x00\x02\x01\xc6\x33\x64\x02\x04\xd2\x07\x5b", 12);
    memcpy(b + 28, "\x04\x00\x01\x00", 4); /* a NOOP TLV */
    proxy_header h;
    for (size_t i = 0; i < 32; i++)
        CHECK_EQ(parse(b, i, &h), PROXY_NEED_MORE);
    CHECK_EQ(parse(b, 32, &h), PROXY_OK);
    CHECK_EQ(h.size, 32);
    CHECK_EQ(h.version, 2);
    CHECK_EQ(ntohs(((struct sockaddr_in *)&h.src)->sin_port), 1234);
    CHECK_EQ(ntohs(((struct sockaddr_in *)&h.dst)->sin_port), 1883);
}

TEST(v2_local_ipv6_and_refusals)
{
    uint8_t b[64] = {0};
    proxy_header h;
    memcpy(b, sig, 12);
    b[12] = 0x20;
    CHECK_EQ(parse(b, 16, &h), PROXY_OK);
    CHECK(h.local);
    b[12] = 0x21;
    b[13] = 0x21;
    b[15] = 36;
    b[16 + 15] = 1;
    CHECK_EQ(parse(b, 52, &h), PROXY_OK);
    CHECK_EQ(h.src.ss_family, AF_INET6);
    b[15] = 20;
    CHECK_EQ(parse(b, 36, &h), PROXY_ERROR); /* truncated IPv6 */
    b[15] = 36;
    b[12] = 0x31;
    CHECK_EQ(parse(b, 52, &h), PROXY_ERROR); /* version 3 */
    b[12] = 0x22;
    CHECK_EQ(parse(b, 52, &h), PROXY_ERROR); /* command 2 */
    b[12] = 0x21;
    b[13] = 0x12;
    CHECK_EQ(parse(b, 52, &h), PROXY_ERROR); /* UDP */
    b[13] = 0x11;
    b[14] = 0xff;
    CHECK_EQ(parse(b, 52, &h), PROXY_ERROR); /* too long */
}

TEST_MAIN()
