/* test_ocsp_worker.c - the OCSP worker threads (src/net/ocsp_worker.h) against local sockets: a refused
 * connection comes back as "no answer" through the eventfd, a query abandoned while the responder holds it
 * is freed without a leak, references start and stop the workers. */
#include "net/ocsp_worker.h"

#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"

/* A listening loopback socket that never answers; its URL goes into url. */
static int silent_listener(char *url, size_t cap)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    snprintf(url, cap, "http://127.0.0.1:%u/", (unsigned)ntohs(a.sin_port));
    return fd;
}

/* Waits (bounded) until job j is done; returns whether it was, with the response in *resp. */
static bool wait_done(ocsp_job *j, OCSP_RESPONSE **resp)
{
    for (int i = 0; i < 100; i++) {
        struct pollfd p = {.fd = ocsp_worker_fd(), .events = POLLIN};
        if (poll(&p, 1, 100) > 0)
            ocsp_worker_drain();
        if (ocsp_job_take(j, resp))
            return true;
    }
    return false;
}

TEST(refused_connection_is_no_answer_through_the_eventfd)
{
    CHECK_EQ(ocsp_worker_acquire(), 0);
    CHECK(ocsp_worker_fd() >= 0);
    char url[64];
    int fd = silent_listener(url, sizeof url);
    CHECK(fd >= 0);
    close(fd); /* nothing listens there any more: refused (OpenSSL retries until the timeout) */
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    ocsp_job *j = ocsp_worker_submit(url, req, 1);
    CHECK(j != NULL);
    OCSP_RESPONSE *resp = (OCSP_RESPONSE *)1;
    CHECK(wait_done(j, &resp));
    CHECK(resp == NULL);
    OCSP_REQUEST_free(req);
    ocsp_worker_release();
    CHECK_EQ(ocsp_worker_fd(), -1);
}

TEST(abandoned_queries_are_freed_and_release_stops_the_workers)
{
    char url[64];
    int fd = silent_listener(url, sizeof url);
    CHECK(fd >= 0);
    CHECK_EQ(ocsp_worker_acquire(), 0);
    CHECK_EQ(ocsp_worker_acquire(), 0); /* two listeners */
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    ocsp_job *held[4];
    for (int i = 0; i < 4; i++) { /* two run (and wait for the silent responder), two stay queued */
        held[i] = ocsp_worker_submit(url, req, 1);
        CHECK(held[i] != NULL);
    }
    OCSP_RESPONSE *resp = NULL;
    CHECK(!ocsp_job_take(held[3], &resp));
    for (int i = 0; i < 4; i++)
        ocsp_job_abandon(held[i]); /* queued ones now, running ones when their timeout ends */
    ocsp_worker_release();
    CHECK(ocsp_worker_fd() >= 0); /* one reference left */
    ocsp_worker_release();        /* joins the workers (each at most its 1 s timeout) */
    CHECK_EQ(ocsp_worker_fd(), -1);
    CHECK(ocsp_worker_submit(url, req, 1) == NULL); /* nobody holds a reference */
    OCSP_REQUEST_free(req);
    close(fd);
}

TEST_MAIN()
