/*
 * auth_pool.h - password verification off the event loop: a few worker threads take jobs from a bounded
 * queue, run the key derivation (argon2id costs tens of milliseconds and 19 MiB), and hand finished jobs
 * back through an eventfd the event loop polls for readability.
 *
 * Ownership: auth_pool_submit() takes the job on success (0); on failure (-1: queue full, the caller refuses
 * the client at once with "server busy") the caller keeps it. Finished jobs come back from
 * auth_pool_take_done() and the caller frees them with auth_job_free(), which wipes the password.
 * Only the event loop thread calls these functions; the workers touch nothing but the jobs.
 */
#ifndef RAMPART_SECURITY_AUTH_POOL_H
#define RAMPART_SECURITY_AUTH_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "security/passwd.h"

typedef struct auth_job {
    uint64_t cookie;    /* the caller's: which connection asked */
    passwd_hash hash;   /* copy of the entry's hash (or the dummy hash for unknown users) */
    uint8_t *password;  /* owned by the job, wiped by auth_job_free */
    size_t password_len;
    int result;         /* set by the worker: 1 match, 0 mismatch, -1 internal failure */
    void *ctx;          /* the caller's, untouched (freed by the caller before auth_job_free) */
    struct auth_job *next;
} auth_job;

typedef struct auth_pool auth_pool;

/* A pool of `workers` threads (1..64) with room for `queue_max` waiting jobs. NULL on failure. The threads
 * start with the first auth_pool_submit(), so a pool made before the process enters its sandbox still runs
 * every worker inside it. */
auth_pool *auth_pool_new(unsigned workers, unsigned queue_max);
/* Stops and joins the workers; frees (wiping) every job still queued or done, calling free_ctx (may be NULL)
 * on each job's ctx first. */
void auth_pool_free(auth_pool *p, void (*free_ctx)(void *ctx));

/* The eventfd that becomes readable when finished jobs are waiting. */
int auth_pool_fd(const auth_pool *p);

/* A job for cookie with a copy of password[0..len) and hash. NULL on allocation failure. */
auth_job *auth_job_new(uint64_t cookie, const passwd_hash *hash, const uint8_t *password, size_t len);
void auth_job_free(auth_job *j);

/* Queues j. Returns 0 (the pool owns j now) or -1 when the queue is full or the pool is stopping. */
int auth_pool_submit(auth_pool *p, auth_job *j);
/* The next finished job, or NULL when none is waiting (then the eventfd has been drained). */
auth_job *auth_pool_take_done(auth_pool *p);
/* Jobs queued but not yet started. */
size_t auth_pool_queued(const auth_pool *p);

#endif
