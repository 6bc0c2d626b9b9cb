/*
 * log.h - the operator's log (not the security audit log, which is src/security/audit.h).
 * Lines go to stderr by default, "YYYY-MM-DDTHH:MM:SSZ level: message". Never pass secrets.
 */
#ifndef RAMPART_BASE_LOG_H
#define RAMPART_BASE_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARNING = 1, LOG_LEVEL_NOTICE = 2, LOG_LEVEL_INFO = 3,
                 LOG_LEVEL_DEBUG = 4 };

/* Messages above this level are dropped. Default LOG_LEVEL_NOTICE. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Also (or only) write to syslog / a file; file may be NULL to stop. Returns 0 or -1 with errno. */
int log_set_file(const char *path);
void log_set_syslog(int on);
void log_set_stderr(int on);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
