/* proc.c - see proc.h. */
#include "tools/bench/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads a whole small /proc file into buf (NUL-terminated). Returns 0 or -1. */
static int proc_slurp(pid_t pid, const char *file, char *buf, size_t cap)
{
    char path[64];
    ssize_t n;
    size_t used = 0;
    int fd;

    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (used + 1 < cap && (n = read(fd, buf + used, cap - 1 - used)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return used ? 0 : -1;
}

int bench_proc_parse_stat(const char *text, uint64_t *utime, uint64_t *stime)
{
    const char *p = strrchr(text, ')');
    int field = 2; /* the ')' ends field 2 (comm) */

    if (!p)
        return -1;
    p++;
    while (*p && field < 14) {
        if (*p == ' ') {
            field++;
            while (*p == ' ')
                p++;
            continue;
        }
        p++;
    }
    if (field != 14 || !*p)
        return -1;
    /* p now points at field 14 */
    if (sscanf(p, "%" SCNu64 " %" SCNu64, utime, stime) != 2)
        return -1;
    return 0;
}

int bench_proc_parse_status_kb(const char *text, const char *name, uint64_t *kb)
{
    size_t len = strlen(name);
    const char *p = text;

    while (p && *p) {
        if (!strncmp(p, name, len) && p[len] == ':')
            return sscanf(p + len + 1, " %" SCNu64, kb) == 1 ? 0 : -1;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

int bench_proc_read(pid_t pid, bench_proc_sample *out)
{
    char buf[4096];
    uint64_t utime, stime;
    long ticks = sysconf(_SC_CLK_TCK);

    if (ticks <= 0 || proc_slurp(pid, "stat", buf, sizeof buf) || bench_proc_parse_stat(buf, &utime, &stime))
        return -1;
    out->cpu_s = (double)(utime + stime) / (double)ticks;
    if (proc_slurp(pid, "status", buf, sizeof buf) || bench_proc_parse_status_kb(buf, "VmRSS", &out->rss_kb) ||
        bench_proc_parse_status_kb(buf, "VmHWM", &out->hwm_kb))
        return -1;
    return 0;
}
