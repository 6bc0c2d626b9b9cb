/* proxy.c - the PROXY protocol v1/v2 header parser; see proxy.h for the contract. */
#include "codec/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t proxy_v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

static int proxy_fail(const char **err, const char *message)
{
    *err = message;
    return PROXY_ERROR;
}

/* Parses a decimal port of 1..5 digits, no sign, no leading zero (except "0"), <= 65535. */
static bool proxy_parse_port(const char *s, uint16_t *port)
{
    size_t n = strlen(s);
    unsigned long v = 0;
    if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* Fills a sockaddr from a textual address of the given family and a port. */
static bool proxy_fill_addr(int family, const char *addr, uint16_t port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return inet_pton(AF_INET, addr, &sin->sin_addr) == 1;
    }
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(port);
    return inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1;
}

/* Splits line at single spaces into at most max fields; returns the count, or -1 on an empty field. */
static int proxy_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    while (n < max) {
        fields[n++] = p;
        char *sp = strchr(p, ' ');
        if (!sp || n == max)
            break;
        *sp = '\0';
        if (sp == p)
            return -1;
        p = sp + 1;
    }
    if (strchr(p, ' ') || *p == '\0')
        return -1;
    return n;
}

/* "PROXY TCP4|TCP6 src dst sport dport\r\n" or "PROXY UNKNOWN...\r\n". */
static int proxy_parse_v1(const uint8_t *buf, size_t len, proxy_header *out, const char **err)
{
    char line[PROXY_V1_MAX + 1];
    size_t limit = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
    const uint8_t *cr = memchr(buf, '\r', limit);
    if (!cr)
        return len >= PROXY_V1_MAX ? proxy_fail(err, "PROXY v1 line too long") : PROXY_NEED_MORE;
    size_t n = (size_t)(cr - buf);
    if (n + 1 >= len)
        return PROXY_NEED_MORE;
    if (cr[1] != '\n')
        return proxy_fail(err, "PROXY v1 line not ended by CRLF");
    if (memchr(buf, '\0', n) || memchr(buf, '\n', n))
        return proxy_fail(err, "PROXY v1 line contains a control byte");
    memcpy(line, buf, n);
    line[n] = '\0';
    out->version = 1;
    out->size = n + 2;
    if (strncmp(line, "PROXY UNKNOWN", 13) == 0 && (line[13] == '\0' || line[13] == ' ')) {
        out->local = true;
        return PROXY_OK;
    }
    char *f[6];
    uint16_t sport, dport;
    if (proxy_split(line, f, 6) != 6 || strcmp(f[0], "PROXY") != 0)
        return proxy_fail(err, "malformed PROXY v1 line");
    int family = strcmp(f[1], "TCP4") == 0 ? AF_INET : strcmp(f[1], "TCP6") == 0 ? AF_INET6 : 0;
    if (!family)
        return proxy_fail(err, "PROXY v1 protocol is not TCP4, TCP6 or UNKNOWN");
    if (!proxy_parse_port(f[4], &sport) || !proxy_parse_port(f[5], &dport))
        return proxy_fail(err, "malformed PROXY v1 port");
    if (!proxy_fill_addr(family, f[2], sport, &out->src) || !proxy_fill_addr(family, f[3], dport, &out->dst))
        return proxy_fail(err, "malformed PROXY v1 address");
    return PROXY_OK;
}

/* Binary header: signature, version/command, family/protocol, length, addresses, TLVs (skipped). */
static int proxy_parse_v2(const uint8_t *buf, size_t len, proxy_header *out, const char **err)
{
    if (len < 16)
        return PROXY_NEED_MORE;
    uint8_t ver_cmd = buf[12], fam = buf[13];
    size_t body = ((size_t)buf[14] << 8) | buf[15];
    if ((ver_cmd >> 4) != 2)
        return proxy_fail(err, "PROXY v2 version is not 2");
    if ((ver_cmd & 0x0F) > 1)
        return proxy_fail(err, "PROXY v2 command is not LOCAL or PROXY");
    if (16 + body > PROXY_MAX_SIZE)
        return proxy_fail(err, "PROXY v2 header too long");
    if (len < 16 + body)
        return PROXY_NEED_MORE;
    out->version = 2;
    out->size = 16 + body;
    if ((ver_cmd & 0x0F) == 0 || fam == 0x00) {
        out->local = true;
        return PROXY_OK;
    }
    const uint8_t *a = buf + 16;
    if (fam == 0x11) {
        if (body < 12)
            return proxy_fail(err, "PROXY v2 IPv4 addresses truncated");
        struct sockaddr_in *s = (struct sockaddr_in *)&out->src, *d = (struct sockaddr_in *)&out->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, a, 4);
        memcpy(&d->sin_addr, a + 4, 4);
        memcpy(&s->sin_port, a + 8, 2);
        memcpy(&d->sin_port, a + 10, 2);
        return PROXY_OK;
    }
    if (fam == 0x21) {
        if (body < 36)
            return proxy_fail(err, "PROXY v2 IPv6 addresses truncated");
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&out->src, *d = (struct sockaddr_in6 *)&out->dst;
        s->sin6_family = d->sin6_family = AF_INET6;
        memcpy(&s->sin6_addr, a, 16);
        memcpy(&d->sin6_addr, a + 16, 16);
        memcpy(&s->sin6_port, a + 32, 2);
        memcpy(&d->sin6_port, a + 34, 2);
        return PROXY_OK;
    }
    return proxy_fail(err, "PROXY v2 address family is not TCP over IPv4 or IPv6");
}

int proxy_header_parse(const uint8_t *buf, size_t len, proxy_header *out, const char **err)
{
    memset(out, 0, sizeof *out);
    *err = NULL;
    size_t n = len < sizeof proxy_v2_sig ? len : sizeof proxy_v2_sig;
    if (memcmp(buf, proxy_v2_sig, n) == 0)
        return len < sizeof proxy_v2_sig ? PROXY_NEED_MORE : proxy_parse_v2(buf, len, out, err);
    n = len < 6 ? len : 6;
    if (memcmp(buf, "PROXY ", n) == 0)
        return len < 6 ? PROXY_NEED_MORE : proxy_parse_v1(buf, len, out, err);
    return proxy_fail(err, "no PROXY protocol header");
}
