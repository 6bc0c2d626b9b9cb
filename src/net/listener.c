/* listener.c - see listener.h. */
#include "net/listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"

#define LISTENER_MAX_SOCKETS 8
#define LISTENER_ACCEPT_BATCH 64

typedef struct listener_socket {
    loop_watch watch;
    net_listener *owner;
} listener_socket;

struct net_listener {
    net_loop *loop;
    listener_socket socks[LISTENER_MAX_SOCKETS];
    int nsocks;
    uint16_t port;
    listener_accept_fn accept_fn;
    void *accept_ctx;
    listener_transport_fn transport_fn;
    void *transport_ctx;
    void *user;
    int paused;
    bool tcp_nodelay;
};

static transport *listener_default_transport(void *ctx, int fd)
{
    (void)ctx;
    return transport_tcp_new(fd);
}

/* Accepts up to a batch of connections from one socket. Running out of descriptors pauses accepting. */
static void listener_on_readable(void *ctx, uint32_t events)
{
    listener_socket *s = ctx;
    net_listener *l = s->owner;
    (void)events;
    for (int i = 0; i < LISTENER_ACCEPT_BATCH; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(s->watch.fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warning("listener on port %u: out of file descriptors, pausing accept", l->port);
                for (int j = 0; j < l->nsocks; j++)
                    loop_watch_set(l->loop, &l->socks[j].watch, 0);
                l->paused = 1;
            }
            return;
        }
        int one = 1;
        if (l->tcp_nodelay && (peer.ss_family == AF_INET || peer.ss_family == AF_INET6))
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        l->accept_fn(l->accept_ctx, l, fd, &peer, len);
    }
}

static int listener_bind_one(net_listener *l, const struct addrinfo *ai, uint16_t port, const char *device,
                             char *err, size_t errlen)
{
    int one = 1;
    struct sockaddr_storage ss;
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto fail;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ai->ai_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (device && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device)) < 0) {
        snprintf(err, errlen, "cannot bind to interface %s: %s", device, strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
        goto fail;
    listener_socket *s = &l->socks[l->nsocks];
    s->owner = l;
    if (loop_watch_add(l->loop, &s->watch, fd, LOOP_READ, listener_on_readable, s) < 0)
        goto fail;
    l->nsocks++;
    if (l->port == 0) {
        socklen_t len = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &len);
        l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on port %u: %s", port, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

net_listener *listener_open(net_loop *loop, const listener_options *opt, listener_accept_fn fn, void *ctx,
                            char *err, size_t errlen)
{
    const char *address = opt->address;
    uint16_t port = opt->port;
    struct addrinfo hints = {.ai_family = opt->family, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    net_listener *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    l->loop = loop;
    l->accept_fn = fn;
    l->accept_ctx = ctx;
    l->transport_fn = listener_default_transport;
    l->tcp_nodelay = opt->tcp_nodelay;
    if (address && !*address)
        address = NULL;
    int rc = getaddrinfo(address, "0", &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve listener address '%s': %s", address ? address : "*",
                 gai_strerror(rc));
        goto fail;
    }
    /* With port 0 every socket must share the port the first one got. */
    for (struct addrinfo *ai = res; ai && l->nsocks < LISTENER_MAX_SOCKETS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        if (listener_bind_one(l, ai, l->port ? l->port : port, opt->bind_interface, err, errlen) < 0) {
            /* An unavailable IPv6 stack must not stop an IPv4 listener on a wildcard address. */
            if (!address && ai->ai_family == AF_INET6 && errno == EAFNOSUPPORT)
                continue;
            goto fail;
        }
    }
    if (l->nsocks == 0) {
        snprintf(err, errlen, "no usable address for listener '%s'", address ? address : "*");
        goto fail;
    }
    freeaddrinfo(res);
    return l;
fail:
    if (res)
        freeaddrinfo(res);
    listener_close(l);
    return NULL;
}

void listener_close(net_listener *l)
{
    if (!l)
        return;
    for (int i = 0; i < l->nsocks; i++) {
        loop_watch_remove(l->loop, &l->socks[i].watch);
        close(l->socks[i].watch.fd);
    }
    free(l);
}

void listener_set_transport(net_listener *l, listener_transport_fn fn, void *ctx)
{
    l->transport_fn = fn ? fn : listener_default_transport;
    l->transport_ctx = ctx;
}

transport *listener_make_transport(net_listener *l, int fd)
{
    return l->transport_fn(l->transport_ctx, fd);
}

uint16_t listener_port(const net_listener *l)
{
    return l->port;
}

void listener_set_user(net_listener *l, void *user)
{
    l->user = user;
}

void *listener_user(const net_listener *l)
{
    return l->user;
}

void listener_tick(net_listener *l)
{
    if (!l->paused)
        return;
    l->paused = 0;
    for (int i = 0; i < l->nsocks; i++)
        loop_watch_set(l->loop, &l->socks[i].watch, LOOP_READ);
}
