/* ocsp_worker.c - see ocsp_worker.h. */
#include "net/ocsp_worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/http.h>

#include "base/log.h"

struct ocsp_job {
    char *url;
    BIO *body;             /* the DER request, read by the worker only */
    int timeout_s;
    OCSP_RESPONSE *resp;   /* set by the worker */
    bool done, abandoned;  /* under the lock */
    struct ocsp_job *next; /* in the queue */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    unsigned refs;
    int efd;
    bool stopping;
    pthread_t threads[OCSP_WORKER_THREADS];
    unsigned nthreads;
    ocsp_job *head, *tail; /* waiting for a worker */
    ocsp_job *running[OCSP_WORKER_QUEUE_MAX]; /* every job not yet taken or freed */
    unsigned inflight;
} ow = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, -1, false, {0}, 0, NULL, NULL, {0}, 0};

static void ocsp_job_free(ocsp_job *j)
{
    free(j->url);
    BIO_free(j->body);
    OCSP_RESPONSE_free(j->resp);
    free(j);
}

/* Forgets j in the in-flight table (lock held). */
static void ocsp_worker_forget(ocsp_job *j)
{
    for (unsigned i = 0; i < OCSP_WORKER_QUEUE_MAX; i++)
        if (ow.running[i] == j) {
            ow.running[i] = NULL;
            ow.inflight--;
            return;
        }
}

OCSP_RESPONSE *ocsp_http_query(const char *url, const OCSP_REQUEST *req, int timeout_s)
{
    BIO *body = ASN1_item_i2d_mem_bio(ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *)req);
    OCSP_RESPONSE *resp = NULL;
    char *host = NULL, *port = NULL, *path = NULL;
    int use_ssl = 0;
    BIO *answer = NULL;
    if (!body || !OSSL_HTTP_parse_url(url, &use_ssl, NULL, &host, &port, NULL, &path, NULL, NULL) || use_ssl)
        goto done;
    answer = OSSL_HTTP_transfer(NULL, host, port, path, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL,
                                "application/ocsp-request", body, "application/ocsp-response", 1, 100000,
                                timeout_s, 0);
    if (answer)
        resp = (OCSP_RESPONSE *)ASN1_item_d2i_bio(ASN1_ITEM_rptr(OCSP_RESPONSE), answer, NULL);
done:
    ERR_clear_error();
    BIO_free(body);
    BIO_free(answer);
    OPENSSL_free(host);
    OPENSSL_free(port);
    OPENSSL_free(path);
    return resp;
}

/* One worker's exchange: the same as ocsp_http_query, from the pre-encoded body. */
static OCSP_RESPONSE *ocsp_worker_exchange(const ocsp_job *j)
{
    OCSP_REQUEST *req = (OCSP_REQUEST *)ASN1_item_d2i_bio(ASN1_ITEM_rptr(OCSP_REQUEST), j->body, NULL);
    OCSP_RESPONSE *resp = req ? ocsp_http_query(j->url, req, j->timeout_s) : NULL;
    OCSP_REQUEST_free(req);
    ERR_clear_error();
    return resp;
}

static void *ocsp_worker_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ow.lock);
    for (;;) {
        while (!ow.head && !ow.stopping)
            pthread_cond_wait(&ow.wake, &ow.lock);
        if (ow.stopping)
            break;
        ocsp_job *j = ow.head;
        ow.head = j->next;
        if (!ow.head)
            ow.tail = NULL;
        pthread_mutex_unlock(&ow.lock);
        OCSP_RESPONSE *resp = ocsp_worker_exchange(j);
        pthread_mutex_lock(&ow.lock);
        j->resp = resp;
        j->done = true;
        if (j->abandoned) {
            ocsp_worker_forget(j);
            ocsp_job_free(j);
        } else {
            uint64_t one = 1;
            ssize_t n = write(ow.efd, &one, sizeof one);
            (void)n; /* a full counter is still readable */
        }
    }
    pthread_mutex_unlock(&ow.lock);
    return NULL;
}

int ocsp_worker_acquire(void)
{
    int rc = 0;
    pthread_mutex_lock(&ow.lock);
    if (ow.refs == 0) {
        ow.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        ow.stopping = false;
    }
    if (ow.efd < 0)
        rc = -1;
    else
        ow.refs++;
    pthread_mutex_unlock(&ow.lock);
    return rc;
}

void ocsp_worker_release(void)
{
    pthread_mutex_lock(&ow.lock);
    if (ow.refs == 0 || --ow.refs > 0) {
        pthread_mutex_unlock(&ow.lock);
        return;
    }
    ow.stopping = true;
    pthread_cond_broadcast(&ow.wake);
    pthread_mutex_unlock(&ow.lock);
    for (unsigned i = 0; i < ow.nthreads; i++)
        pthread_join(ow.threads[i], NULL);
    pthread_mutex_lock(&ow.lock);
    ow.nthreads = 0;
    for (unsigned i = 0; i < OCSP_WORKER_QUEUE_MAX; i++)
        if (ow.running[i]) {
            ocsp_job_free(ow.running[i]);
            ow.running[i] = NULL;
        }
    ow.inflight = 0;
    ow.head = ow.tail = NULL;
    close(ow.efd);
    ow.efd = -1;
    pthread_mutex_unlock(&ow.lock);
}

int ocsp_worker_fd(void)
{
    return ow.efd;
}

void ocsp_worker_drain(void)
{
    uint64_t n;
    if (ow.efd >= 0 && read(ow.efd, &n, sizeof n) < 0 && errno != EAGAIN)
        log_warning("ocsp: cannot read the completion eventfd: %s", strerror(errno));
}

/* Starts the worker threads if they are not running (lock held). False when none runs. */
static bool ocsp_worker_start(void)
{
    while (ow.nthreads < OCSP_WORKER_THREADS &&
           pthread_create(&ow.threads[ow.nthreads], NULL, ocsp_worker_main, NULL) == 0)
        ow.nthreads++;
    return ow.nthreads > 0;
}

ocsp_job *ocsp_worker_submit(const char *url, const OCSP_REQUEST *req, int timeout_s)
{
    ocsp_job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->url = strdup(url);
    j->body = ASN1_item_i2d_mem_bio(ASN1_ITEM_rptr(OCSP_REQUEST), (const ASN1_VALUE *)req);
    j->timeout_s = timeout_s;
    pthread_mutex_lock(&ow.lock);
    bool ok = j->url && j->body && ow.refs > 0 && ow.inflight < OCSP_WORKER_QUEUE_MAX && ocsp_worker_start();
    for (unsigned i = 0; ok && i < OCSP_WORKER_QUEUE_MAX; i++)
        if (!ow.running[i]) {
            ow.running[i] = j;
            ow.inflight++;
            break;
        }
    if (ok) {
        if (ow.tail)
            ow.tail->next = j;
        else
            ow.head = j;
        ow.tail = j;
        pthread_cond_signal(&ow.wake);
    }
    pthread_mutex_unlock(&ow.lock);
    if (!ok) {
        ERR_clear_error();
        ocsp_job_free(j);
        return NULL;
    }
    return j;
}

bool ocsp_job_take(ocsp_job *j, OCSP_RESPONSE **resp)
{
    pthread_mutex_lock(&ow.lock);
    bool done = j->done;
    if (done) {
        *resp = j->resp;
        j->resp = NULL;
        ocsp_worker_forget(j);
    }
    pthread_mutex_unlock(&ow.lock);
    if (done)
        ocsp_job_free(j);
    return done;
}

void ocsp_job_abandon(ocsp_job *j)
{
    pthread_mutex_lock(&ow.lock);
    bool free_now = j->done;
    if (!free_now) {
        j->abandoned = true;
        /* still queued: unlink it, nobody will run it */
        for (ocsp_job **pp = &ow.head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next)
            if (*pp == j) {
                *pp = j->next;
                if (ow.tail == j)
                    ow.tail = prev;
                free_now = true;
                break;
            }
    }
    if (free_now)
        ocsp_worker_forget(j);
    pthread_mutex_unlock(&ow.lock);
    if (free_now)
        ocsp_job_free(j);
}
