/* notify.c - see notify.h. */
#include "base/notify.h"

#include <string.h>
#include <systemd/sd-daemon.h>

#include "base/log.h"

/* Sends `state` to the manager. Returns 1, 0 (no manager) or -1 (logged). */
static int notify_send(const char *state)
{
    int rc = sd_notify(0, state);

    if (rc < 0) {
        log_warning("sd_notify(%s): %s", state, strerror(-rc));
        return -1;
    }
    return rc > 0 ? 1 : 0;
}

int notify_ready(void)
{
    return notify_send("READY=1");
}

int notify_reloading(void)
{
    return notify_send("RELOADING=1");
}

int notify_stopping(void)
{
    return notify_send("STOPPING=1");
}

int notify_status(const char *status)
{
    int rc = sd_notifyf(0, "STATUS=%s", status);

    if (rc < 0) {
        log_warning("sd_notify(STATUS): %s", strerror(-rc));
        return -1;
    }
    return rc > 0 ? 1 : 0;
}
