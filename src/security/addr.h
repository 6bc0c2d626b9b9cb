/*
 * addr.h - client addresses as the security modules see them: IPv4 or IPv6 (IPv4-mapped IPv6 addresses are
 * treated as the IPv4 address they carry), with their text form and their network (/24 for IPv4, /64 for
 * IPv6) used for per-network counting and network bans.
 */
#ifndef RAMPART_SECURITY_ADDR_H
#define RAMPART_SECURITY_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define SEC_ADDR_TEXT_MAX 64 /* "ffff:...:ffff/128" fits */

typedef struct sec_addr {
    uint8_t family;    /* 4 or 6; 0 = unknown (e.g. a Unix socket) */
    uint8_t bytes[16]; /* network order; IPv4 uses the first 4 */
    char text[SEC_ADDR_TEXT_MAX];
    char network[SEC_ADDR_TEXT_MAX]; /* "192.0.2.0/24", "2001:db8::/64" */
} sec_addr;

/* Fills *out from a socket address. Anything that is not IPv4/IPv6 becomes family 0 with text "local". */
void sec_addr_from_sockaddr(const struct sockaddr *sa, socklen_t len, sec_addr *out);
/* Fills *out from family (4, 6; anything else: "local") and the address bytes (network order; IPv4 uses the
 * first 4), as kept by sec_addr.family and sec_addr.bytes: a compact form to store, expanded when needed. */
void sec_addr_from_bytes(uint8_t family, const uint8_t bytes[16], sec_addr *out);
/* Parses "A.B.C.D" or an IPv6 address. Returns 0 or -1. */
int sec_addr_parse(const char *s, sec_addr *out);
/* Parses "ADDR/BITS" (BITS optional: then a host route). Returns 0 or -1 (bad address or prefix length). */
int sec_cidr_parse(const char *s, sec_addr *base, unsigned *bits);
/* True if a lies in base/bits (same family). */
bool sec_addr_in_cidr(const sec_addr *a, const sec_addr *base, unsigned bits);

#endif
