/* test_proxy_transport.c - PROXY headers in front of a transport: consumed byte-exactly from configured
 * proxies only, client address recorded, the stream after the header untouched. */
#include "net/proxy_transport.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

static char made_for[64];

static ssize_t plain_read(transport *t, void *buf, size_t len)
{
    return recv(t->fd, buf, len, MSG_DONTWAIT);
}

static ssize_t plain_writev(transport *t, const struct iovec *iov, int iovcnt)
{
    return writev(t->fd, iov, iovcnt);
}

static bool plain_pending(const transport *t)
{
    return false;
}

static void plain_shutdown(transport *t, int code)
{
}

static void plain_destroy(transport *t)
{
    free(t);
}

static const transport_ops plain_ops = {.name = "plain", .read = plain_read, .writev = plain_writev,
                                        .pending = plain_pending, .shutdown = plain_shutdown,
                                        .destroy = plain_destroy};

static transport *make_plain(void *ctx, int fd, const char *client)
{
    transport *t = calloc(1, sizeof *t);
    t->ops = &plain_ops;
    t->fd = fd;
    snprintf(made_for, sizeof made_for, "%s", client);
    return t;
}

static ws_cidr allowed[1];

static transport *open_pair(int fds[2], const char *peer)
{
    sec_cidr_parse("10.0.0.0/8", &allowed[0].base, &allowed[0].bits);
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        abort();
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    made_for[0] = '\0';
    return transport_proxy_new(fds[0], peer, allowed, 1, make_plain, NULL);
}

TEST(v1_header_from_proxy_then_stream)
{
    int fds[2];
    transport *t = open_pair(fds, "10.1.2.3");
    const char *hdr = "PROXY TCP4 198.51.100.7 10.0.0.1 40000 1883\r\n";
    send(fds[1], hdr, 10, 0);
    CHECK_EQ(t->ops->handshake(t), 0);
    CHECK(t->want_read);
    CHECK(transport_proxy_client_address(t) == NULL);
    const char *addr = NULL;
    uint16_t port = 0;
    CHECK_EQ(t->ops->client_address(t, &addr, &port), -1); /* not known before the header */
    send(fds[1], hdr + 10, strlen(hdr) - 10, 0);
    send(fds[1], "\x10\x02MQ", 4, 0);
    CHECK_EQ(t->ops->handshake(t), 1);
    CHECK_STR(made_for, "198.51.100.7");
    CHECK_STR(transport_proxy_client_address(t), "198.51.100.7");
    CHECK_EQ(t->ops->client_address(t, &addr, &port), 1);
    CHECK_STR(addr, "198.51.100.7");
    CHECK_EQ(port, 40000);
    char buf[16];
    CHECK_EQ(t->ops->read(t, buf, sizeof buf), 4);
    CHECK(memcmp(buf, "\x10\x02MQ", 4) == 0);
    t->ops->destroy(t);
    close(fds[0]);
    close(fds[1]);
}

TEST(v2_header_ipv6)
{
    int fds[2];
    transport *t = open_pair(fds, "10.9.9.9");
    uint8_t h[16 + 36] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x21, 0, 36};
    h[16] = 0x20;
    h[17] = 0x01;
    h[16 + 15] = 5;
    send(fds[1], h, sizeof h, 0);
    send(fds[1], "after", 5, 0);
    CHECK_EQ(t->ops->handshake(t), 1);
    CHECK_STR(made_for, "2001::5");
    char buf[16];
    CHECK_EQ(t->ops->read(t, buf, sizeof buf), 5);
    t->ops->destroy(t);
    close(fds[0]);
    close(fds[1]);
}

TEST(direct_clients_are_not_parsed_and_garbage_from_proxies_refused)
{
    int fds[2];
    transport *t = open_pair(fds, "192.0.2.1");
    CHECK_STR(made_for, "192.0.2.1"); /* a direct client: the real transport exists at once */
    const char *addr = NULL;
    uint16_t port = 0;
    CHECK_EQ(t->ops->client_address(t, &addr, &port), 0); /* the socket peer is the client */
    send(fds[1], "PROXY TCP4 1.1.1.1 2.2.2.2 1 2\r\n", 32, 0);
    CHECK_EQ(t->ops->handshake(t), 1);
    CHECK_STR(made_for, "192.0.2.1");
    char buf[64];
    CHECK_EQ(t->ops->read(t, buf, sizeof buf), 32); /* untouched: the MQTT codec will refuse it */
    t->ops->destroy(t);
    close(fds[0]);
    close(fds[1]);
    t = open_pair(fds, "10.0.0.5");
    send(fds[1], "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c", 12, 0);
    CHECK_EQ(t->ops->handshake(t), -1);
    CHECK_EQ(made_for[0], '\0');
    t->ops->destroy(t);
    close(fds[0]);
    close(fds[1]);
}

TEST_MAIN()
