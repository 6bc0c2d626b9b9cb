/*
 * proc.h - what the benchmark reads about the broker process from /proc/PID: CPU time (utime + stime of
 * /proc/PID/stat, all threads together) and memory (VmRSS, VmHWM of /proc/PID/status).
 */
#ifndef RAMPART_TOOLS_BENCH_PROC_H
#define RAMPART_TOOLS_BENCH_PROC_H

#include <stdint.h>
#include <sys/types.h>

typedef struct bench_proc_sample {
    double cpu_s;     /* user + system CPU seconds since the process started */
    uint64_t rss_kb;  /* VmRSS */
    uint64_t hwm_kb;  /* VmHWM: peak resident set size */
} bench_proc_sample;

/* Reads the three values of process pid. Returns 0, or -1 when the process or a field cannot be read. */
int bench_proc_read(pid_t pid, bench_proc_sample *out);

/* Parses the text of /proc/PID/stat: the 14th and 15th fields (utime, stime) in clock ticks, counting
 * fields after the ')' that closes the command name (which may itself hold spaces and parentheses).
 * Returns 0 or -1 on malformed text. */
int bench_proc_parse_stat(const char *text, uint64_t *utime, uint64_t *stime);
/* Finds "Name:   N kB" in the text of /proc/PID/status. Returns 0 or -1 when absent. */
int bench_proc_parse_status_kb(const char *text, const char *name, uint64_t *kb);

#endif
