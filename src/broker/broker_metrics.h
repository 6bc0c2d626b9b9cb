/*
 * broker_metrics.h - the Prometheus endpoint (`metrics_listener PORT [ADDRESS]`, docs/metrics.md): an HTTP
 * listener on the broker's own event loop (net/httpd.h) that serves GET /metrics in the text format 0.0.4
 * (base/promtext.h), optionally behind basic auth (`metrics_password_file`, the broker's password-file format,
 * verified off the loop by an auth_pool worker, constant-time comparison) and TLS (`metrics_certfile`,
 * `metrics_keyfile`, the TLS transport of net/tls.h). The password file and the certificate are re-read on
 * SIGHUP (a file that fails keeps the old one, logged).
 *
 * What it exports comes from the broker's own statistics (the same counters as $SYS), the process-wide
 * counters of base/counters.h, the process's resident memory, and the certificate expiry of every TLS
 * listener (broker_transports).
 */
#ifndef RAMPART_BROKER_BROKER_METRICS_H
#define RAMPART_BROKER_BROKER_METRICS_H

#include <stddef.h>

#include "base/promtext.h"
#include "broker/broker.h"
#include "broker/broker_transports.h"
#include "config/config.h"

typedef struct broker_metrics broker_metrics;

/*
 * Prepares the endpoint from cfg (which must outlive it): loads the password file and the TLS certificate.
 * Returns 0 with *out NULL when no metrics_listener is configured (the other metrics_* options without it are
 * an error), 0 with *out set, or -1 with err ("file:line: ...").
 */
int broker_metrics_new(const rampart_config *cfg, broker_metrics **out, char *err, size_t errlen);
/* Binds the listener on b's event loop and installs its timer, reload hook and worker fd. Call before the
 * sandbox is entered. tr (may be NULL) provides the listeners' certificate expiry. Returns 0 or -1 (logged). */
int broker_metrics_install(broker_metrics *m, broker *b, const broker_transports *tr);
/* The port bound (tests). */
uint16_t broker_metrics_port(const broker_metrics *m);
/* Closes the endpoint and frees it. Call before broker_free() (its sockets live on b's loop). NULL is
 * allowed. */
void broker_metrics_free(broker_metrics *m);

/* Writes the broker's metrics (everything but certificate expiry) to p. */
void broker_stats_render(const broker *b, promtext *p);

#endif
