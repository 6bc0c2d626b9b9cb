/* auth_pool.c - see auth_pool.h. */
#include "security/auth_pool.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct auth_pool {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    auth_job *queue_head, *queue_tail; /* waiting jobs, oldest first */
    auth_job *done_head, *done_tail;   /* finished jobs, oldest first */
    size_t queued, queue_max;
    bool stopping;
    int efd;
    unsigned nthreads, workers; /* started so far, wanted */
    pthread_t *threads;
};

auth_job *auth_job_new(uint64_t cookie, const passwd_hash *hash, const uint8_t *password, size_t len)
{
    auth_job *j = calloc(1, sizeof *j);

    if (!j)
        return NULL;
    j->password = malloc(len ? len : 1);
    if (!j->password) {
        free(j);
        return NULL;
    }
    if (len)
        memcpy(j->password, password, len);
    j->password_len = len;
    j->cookie = cookie;
    j->hash = *hash;
    j->result = -1;
    return j;
}

void auth_job_free(auth_job *j)
{
    if (!j)
        return;
    OPENSSL_cleanse(j->password, j->password_len);
    free(j->password);
    OPENSSL_cleanse(j, sizeof *j);
    free(j);
}

static void list_append(auth_job **head, auth_job **tail, auth_job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static auth_job *list_pop(auth_job **head, auth_job **tail)
{
    auth_job *j = *head;

    if (j) {
        *head = j->next;
        if (!*head)
            *tail = NULL;
        j->next = NULL;
    }
    return j;
}

/* Worker: verifies jobs until the pool stops. The password is wiped as soon as it has been used. */
static void *worker_main(void *arg)
{
    auth_pool *p = arg;
    uint64_t one = 1;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        auth_job *j;
        while (!p->stopping && !p->queue_head)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->stopping)
            break;
        j = list_pop(&p->queue_head, &p->queue_tail);
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        j->result = passwd_hash_verify(&j->hash, j->password, j->password_len);
        OPENSSL_cleanse(j->password, j->password_len);
        pthread_mutex_lock(&p->lock);
        list_append(&p->done_head, &p->done_tail, j);
        while (write(p->efd, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

auth_pool *auth_pool_new(unsigned workers, unsigned queue_max)
{
    auth_pool *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    if (workers < 1 || workers > 64)
        workers = workers < 1 ? 1 : 64;
    p->queue_max = queue_max;
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    p->threads = calloc(workers, sizeof *p->threads);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    p->workers = workers;
    if (p->efd < 0 || !p->threads)
        goto fail;
    return p;
fail:
    auth_pool_free(p, NULL);
    return NULL;
}

void auth_pool_free(auth_pool *p, void (*free_ctx)(void *ctx))
{
    auth_job *j;

    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while ((j = list_pop(&p->queue_head, &p->queue_tail)) || (j = list_pop(&p->done_head, &p->done_tail))) {
        if (free_ctx)
            free_ctx(j->ctx);
        auth_job_free(j);
    }
    if (p->efd >= 0)
        close(p->efd);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p->threads);
    free(p);
}

int auth_pool_fd(const auth_pool *p)
{
    return p->efd;
}

/* Starts the workers not yet running. They start with the first job rather than in auth_pool_new() so that
 * they begin life inside the process sandbox (Landlock binds only threads started after it is entered; see
 * security/sandbox.h). Called with the lock held. Returns 0 when at least one worker runs. */
static int start_workers(auth_pool *p)
{
    while (p->nthreads < p->workers && pthread_create(&p->threads[p->nthreads], NULL, worker_main, p) == 0)
        p->nthreads++;
    return p->nthreads > 0 ? 0 : -1;
}

int auth_pool_submit(auth_pool *p, auth_job *j)
{
    int rc = -1;

    pthread_mutex_lock(&p->lock);
    if (!p->stopping && p->queued < p->queue_max && start_workers(p) == 0) {
        list_append(&p->queue_head, &p->queue_tail, j);
        p->queued++;
        pthread_cond_signal(&p->wake);
        rc = 0;
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

auth_job *auth_pool_take_done(auth_pool *p)
{
    auth_job *j;
    uint64_t n;

    pthread_mutex_lock(&p->lock);
    j = list_pop(&p->done_head, &p->done_tail);
    if (!j) /* drained: clear the eventfd while holding the lock, so no completion is missed */
        while (read(p->efd, &n, sizeof n) < 0 && errno == EINTR)
            ;
    pthread_mutex_unlock(&p->lock);
    return j;
}

size_t auth_pool_queued(const auth_pool *p)
{
    auth_pool *mp = (auth_pool *)p; /* the lock is not part of the logical state */
    size_t n;

    pthread_mutex_lock(&mp->lock);
    n = mp->queued;
    pthread_mutex_unlock(&mp->lock);
    return n;
}
