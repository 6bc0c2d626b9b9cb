/*
 * ocsp_worker.h - OCSP queries off the event loop. A TLS listener with ocsp_check_clients asks the responder
 * about a client certificate after the handshake; over HTTP that can take up to ocsp_timeout, which must not
 * stall every other client. The loop submits the request here; a few worker threads (started by the first
 * submission, so after the process entered its sandbox, like the password workers) do the HTTP exchange and
 * signal completion through an eventfd the loop watches; the loop then takes the answer and finishes the
 * handshake (src/net/tls.c). The workers touch nothing but their job (request in, response out).
 *
 * Process-wide, reference-counted: every TLS context that checks clients holds one reference
 * (ocsp_worker_acquire before the sandbox, which creates the eventfd; ocsp_worker_release, the last one stops
 * and joins the threads and frees every job). Bounded: at most OCSP_WORKER_QUEUE_MAX jobs in flight.
 * Ownership: a submitted job belongs to the submitter until it calls ocsp_job_take (done: the job is freed,
 * the response handed over) or ocsp_job_abandon (the connection went away: freed now or when it finishes).
 */
#ifndef RAMPART_NET_OCSP_WORKER_H
#define RAMPART_NET_OCSP_WORKER_H

#include <stdbool.h>

#include <openssl/ocsp.h>

#define OCSP_WORKER_THREADS 2
#define OCSP_WORKER_QUEUE_MAX 256

typedef struct ocsp_job ocsp_job;

/* Takes a reference; the first creates the completion eventfd. 0, or -1 when it cannot be created. */
int ocsp_worker_acquire(void);
/* Drops a reference; the last one stops the workers and frees everything. */
void ocsp_worker_release(void);
/* The eventfd that becomes readable when a job finished, or -1 when nobody holds a reference. */
int ocsp_worker_fd(void);
/* Clears the eventfd (call when it was readable, before looking at the jobs). */
void ocsp_worker_drain(void);

/* Queues an HTTP OCSP query of `req` (encoded now: the caller keeps req) to `url` (copied) with a timeout
 * in seconds. NULL when the queue is full, a worker cannot start or memory is short: the caller treats that
 * as "no usable answer". */
ocsp_job *ocsp_worker_submit(const char *url, const OCSP_REQUEST *req, int timeout_s);
/* If j finished: frees it, sets *resp to the responder's answer (NULL when none; the caller frees it) and
 * returns true. Otherwise returns false and keeps j. */
bool ocsp_job_take(ocsp_job *j, OCSP_RESPONSE **resp);
/* The submitter no longer wants j: it is freed now, or by the worker when it finishes. */
void ocsp_job_abandon(ocsp_job *j);

/* The HTTP exchange itself (blocking, bounded by timeout_s): req to an http:// URL, the answer or NULL. */
OCSP_RESPONSE *ocsp_http_query(const char *url, const OCSP_REQUEST *req, int timeout_s);

#endif
