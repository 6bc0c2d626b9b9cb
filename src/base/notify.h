/*
 * notify.h - tells a supervising service manager (systemd, Type=notify) where the broker stands, through
 * libsystemd's sd_notify. Each call is a no-op returning 0 when NOTIFY_SOCKET is not set (not under
 * systemd). The environment variable is kept (not unset) so that later calls still reach the manager.
 */
#ifndef RAMPART_BASE_NOTIFY_H
#define RAMPART_BASE_NOTIFY_H

/* Start-up is complete: listeners bound, sandbox entered. Returns 1 sent, 0 no manager, -1 failed (logged). */
int notify_ready(void);
/* A SIGHUP reload starts; call notify_ready() when it is done (successfully or not). */
int notify_reloading(void);
/* Shutdown starts. */
int notify_stopping(void);
/* Free-form status line shown by `systemctl status` (no secrets). */
int notify_status(const char *status);

#endif
