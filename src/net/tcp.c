/* tcp.c - the plain TCP transport (see transport.h): a thin layer over read(2) / writev(2). */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/transport.h"

static int tcp_handshake(transport *t)
{
    (void)t;
    return 1;
}

static ssize_t tcp_read(transport *t, void *buf, size_t len)
{
    ssize_t n = read(t->fd, buf, len);
    t->want_read = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (t->want_read)
        errno = EAGAIN;
    return n;
}

static ssize_t tcp_writev(transport *t, const struct iovec *iov, int iovcnt)
{
    /* sendmsg rather than writev: MSG_NOSIGNAL, so a peer that went away is EPIPE, never SIGPIPE. */
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    ssize_t n = sendmsg(t->fd, &msg, MSG_NOSIGNAL);
    t->want_write = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    if (t->want_write)
        errno = EAGAIN;
    return n;
}

static bool tcp_pending(const transport *t)
{
    (void)t;
    return false;
}

static void tcp_shutdown(transport *t, int code)
{
    (void)code;
    shutdown(t->fd, SHUT_WR);
}

static void tcp_destroy(transport *t)
{
    free(t);
}

static const char *tcp_peer_none(const transport *t)
{
    (void)t;
    return NULL;
}

static const transport_ops tcp_ops = {
    .name = "tcp",
    .handshake = tcp_handshake,
    .read = tcp_read,
    .writev = tcp_writev,
    .pending = tcp_pending,
    .shutdown = tcp_shutdown,
    .destroy = tcp_destroy,
    .peer_subject = tcp_peer_none,
    .peer_cn = tcp_peer_none,
};

transport *transport_tcp_new(int fd)
{
    transport *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ops = &tcp_ops;
    t->fd = fd;
    return t;
}
