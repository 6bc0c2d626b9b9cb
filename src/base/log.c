/* log.c - see log.h. */
#include "base/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level g_level = LOG_LEVEL_NOTICE;
static FILE *g_file;
static int g_syslog;
static int g_stderr = 1;

static const char *const level_names[] = {"error", "warning", "notice", "info", "debug"};

void log_set_level(enum log_level level)
{
    g_level = level;
}

enum log_level log_get_level(void)
{
    return g_level;
}

int log_set_file(const char *path)
{
    if (g_file) {
        fclose(g_file);
        g_file = NULL;
    }
    if (!path)
        return 0;
    g_file = fopen(path, "ae");
    if (!g_file)
        return -1;
    setvbuf(g_file, NULL, _IOLBF, 0);
    return 0;
}

void log_set_syslog(int on)
{
    if (on && !g_syslog)
        openlog("rampart", LOG_PID | LOG_NDELAY, LOG_DAEMON);
    g_syslog = on;
}

void log_set_stderr(int on)
{
    g_stderr = on;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    static const int syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG};
    char msg[1024];
    char stamp[32];
    va_list ap;
    time_t now;
    struct tm tm;

    if (level > g_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (g_stderr)
        fprintf(stderr, "%s %s: %s\n", stamp, level_names[level], msg);
    if (g_file)
        fprintf(g_file, "%s %s: %s\n", stamp, level_names[level], msg);
    if (g_syslog)
        syslog(syslog_prio[level], "%s", msg);
}
