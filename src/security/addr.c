/* addr.c - see addr.h. */
#include "security/addr.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fills text and network from family and bytes. */
static void addr_finish(sec_addr *a)
{
    uint8_t net[16];
    char buf[INET6_ADDRSTRLEN];

    memset(net, 0, sizeof net);
    if (a->family == 4) {
        inet_ntop(AF_INET, a->bytes, a->text, sizeof a->text);
        memcpy(net, a->bytes, 3);
        inet_ntop(AF_INET, net, buf, sizeof buf);
        snprintf(a->network, sizeof a->network, "%s/24", buf);
    } else if (a->family == 6) {
        inet_ntop(AF_INET6, a->bytes, a->text, sizeof a->text);
        memcpy(net, a->bytes, 8);
        inet_ntop(AF_INET6, net, buf, sizeof buf);
        snprintf(a->network, sizeof a->network, "%s/64", buf);
    } else {
        snprintf(a->text, sizeof a->text, "local");
        snprintf(a->network, sizeof a->network, "local");
    }
}

static void addr_set_v6(sec_addr *a, const uint8_t b[16])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(a->bytes, 0, sizeof a->bytes);
    if (!memcmp(b, mapped, 12)) {
        a->family = 4;
        memcpy(a->bytes, b + 12, 4);
    } else {
        a->family = 6;
        memcpy(a->bytes, b, 16);
    }
}

void sec_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, sec_addr *out)
{
    memset(out, 0, sizeof *out);
    if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        out->family = 4;
        memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        addr_set_v6(out, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr);
    }
    addr_finish(out);
}

void sec_addr_from_bytes(uint8_t family, const uint8_t bytes[16], sec_addr *out)
{
    memset(out, 0, sizeof *out);
    if (family == 4 || family == 6) {
        out->family = family;
        memcpy(out->bytes, bytes, family == 4 ? 4 : 16);
    }
    addr_finish(out);
}

int sec_addr_parse(const char *s, sec_addr *out)
{
    uint8_t b[16];

    memset(out, 0, sizeof *out);
    if (inet_pton(AF_INET, s, b) == 1) {
        out->family = 4;
        memcpy(out->bytes, b, 4);
    } else if (inet_pton(AF_INET6, s, b) == 1) {
        addr_set_v6(out, b);
    } else {
        return -1;
    }
    addr_finish(out);
    return 0;
}

int sec_cidr_parse(const char *s, sec_addr *base, unsigned *bits)
{
    char buf[SEC_ADDR_TEXT_MAX];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    unsigned max;
    char *end;
    unsigned long v;

    if (alen >= sizeof buf)
        return -1;
    memcpy(buf, s, alen);
    buf[alen] = '\0';
    if (sec_addr_parse(buf, base) < 0)
        return -1;
    max = base->family == 4 ? 32 : 128;
    if (!slash) {
        *bits = max;
        return 0;
    }
    if (slash[1] < '0' || slash[1] > '9')
        return -1;
    v = strtoul(slash + 1, &end, 10);
    if (*end || v > max)
        return -1;
    *bits = (unsigned)v;
    return 0;
}

bool sec_addr_in_cidr(const sec_addr *a, const sec_addr *base, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (a->family != base->family || a->family == 0)
        return false;
    if (memcmp(a->bytes, base->bytes, full))
        return false;
    if (rest) {
        uint8_t mask = (uint8_t)(0xff << (8 - rest));
        if ((a->bytes[full] & mask) != (base->bytes[full] & mask))
            return false;
    }
    return true;
}
