/*
 * sandbox_seccomp.c - the seccomp step of sandbox_enter(): an allowlist of the system calls the broker makes
 * after start-up (found with `strace -f -c` on the broker under the integration tests), built with libseccomp.
 *
 * Default action: EPERM. A call the list misses then fails like any refused operation and the broker's error
 * paths handle it (logged, connection or operation refused), instead of a whole-broker crash that would be a
 * denial of service for every client. Calls that only an exploit makes - running programs, tracing or writing
 * other processes, loading kernel code - kill the process instead (SCMP_ACT_KILL_PROCESS): no error path
 * could want them and the crash is the loudest signal an operator can get. clone3 answers ENOSYS so glibc
 * falls back to clone, which is allowed only for threads (CLONE_THREAD) in normal builds.
 *
 * Sanitizer builds (the tests): LeakSanitizer's exit-time check stops the world with a cloned tracer task that
 * ptraces the broker's threads and reads /proc/self; those calls are allowed only when compiled with ASan.
 */
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>

#include "base/log.h"
#include "security/sandbox.h"

static const char *const allowed_calls[] = {
    /* memory */
    "brk", "munmap", "mremap", "madvise",
    /* files: Landlock decides which paths */
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "openat", "open", "close", "fstat",
    "newfstatat", "stat", "lstat", "statx", "fsync", "fdatasync", "ftruncate", "rename", "renameat",
    "renameat2", "unlink", "unlinkat", "mkdir", "mkdirat", "getdents64", "fcntl", "flock", "access",
    "faccessat", "faccessat2", "readlink", "readlinkat", "getcwd", "dup", "dup2", "dup3", "pipe2", "umask",
    "fchmod",
    /* the persistent store (LMDB: writes, syncs; free space checks) */
    "pwritev", "pwritev2", "msync", "statfs", "fstatfs",
    /* sockets: Landlock decides which ports can be bound */
    "bind", "listen", "accept", "accept4", "connect", "shutdown", "getsockname", "getpeername",
    "getsockopt", "setsockopt", "recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg", "sendmmsg",
    "socketpair",
    /* waiting */
    "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
    "pselect6", "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd4",
    "nanosleep", "clock_nanosleep", "sched_yield",
    /* time, identity, limits */
    "clock_gettime", "clock_getres", "gettimeofday", "time", "getpid", "gettid", "getppid", "getuid",
    "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "uname", "sysinfo",
    "getrlimit", "prlimit64", "getrusage", "getrandom", "sched_getaffinity",
    /* threads and signals */
    "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "rt_sigaction",
    "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack", "tgkill", "kill", "restart_syscall",
    "membarrier", "exit", "exit_group",
};

#ifdef SANDBOX_SANITIZER
static const char *const sanitizer_calls[] = {
    "ptrace", "wait4", "waitid", "getdents", "sched_getparam", "sched_getscheduler", "sched_setaffinity", "getpgid",
    "mincore", "pidfd_open",
};
#endif

/* Calls that kill the process rather than fail. */
static const char *const fatal_calls[] = {
    "execve", "execveat", "process_vm_writev", "process_vm_readv", "init_module", "finit_module",
    "kexec_load", "kexec_file_load", "bpf", "setuid", "setgid", "setreuid", "setregid", "setresuid",
    "setresgid", "setgroups", "chroot", "pivot_root", "mount", "umount2", "unshare", "setns",
#ifndef SANDBOX_SANITIZER
    "ptrace",
#endif
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ARG_FILTERED_CALLS 5 /* mmap, mprotect, socket, ioctl, prctl: see add_arg_rules() */

size_t sandbox_seccomp_allowlist_size(void)
{
    size_t n = COUNT(allowed_calls) + 1 + ARG_FILTERED_CALLS; /* + clone */
#ifdef SANDBOX_SANITIZER
    n += COUNT(sanitizer_calls);
#endif
    return n;
}

/* Adds rule `action` for every name in `names` this architecture has. Returns 0 or a negative errno. */
static int add_calls(scmp_filter_ctx ctx, uint32_t action, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int nr = seccomp_syscall_resolve_name(names[i]);
        int rc;

        if (nr == __NR_SCMP_ERROR)
            continue; /* not on this architecture (e.g. open on arm64) */
        rc = seccomp_rule_add(ctx, action, nr, 0);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Calls allowed only with some arguments (each also counted in sandbox_seccomp_allowlist_size):
 * mmap/mprotect without PROT_EXEC (no new executable memory after start-up), socket for unix, IPv4 and IPv6
 * only, ioctl for the requests stdio and sockets use, prctl for thread names and reading state (sanitizer
 * builds: any, LeakSanitizer toggles dumpability). */

static const unsigned long allowed_ioctls[] = {FIONREAD, FIONBIO, FIOCLEX, FIONCLEX, TCGETS, TIOCGWINSZ, TIOCOUTQ};
static const int allowed_domains[] = {AF_UNIX, AF_INET, AF_INET6};
#ifndef SANDBOX_SANITIZER
static const int allowed_prctls[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, PR_GET_NO_NEW_PRIVS,
                                     PR_CAPBSET_READ, PR_GET_SECCOMP};
#endif

/* Allows call `nr` when argument `arg` equals `value`. Returns 0 or a negative errno. */
static int allow_when_equal(scmp_filter_ctx ctx, int nr, unsigned arg, scmp_datum_t value)
{
    struct scmp_arg_cmp cmp = {.arg = arg, .op = SCMP_CMP_EQ, .datum_a = value, .datum_b = 0};

    return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
}

static int add_arg_rules(scmp_filter_ctx ctx)
{
    int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));

    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    for (size_t i = 0; rc == 0 && i < COUNT(allowed_domains); i++)
        rc = allow_when_equal(ctx, SCMP_SYS(socket), 0, (scmp_datum_t)allowed_domains[i]);
    for (size_t i = 0; rc == 0 && i < COUNT(allowed_ioctls); i++)
        rc = allow_when_equal(ctx, SCMP_SYS(ioctl), 1, (scmp_datum_t)allowed_ioctls[i]);
#ifdef SANDBOX_SANITIZER
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 0);
#else
    for (size_t i = 0; rc == 0 && i < COUNT(allowed_prctls); i++)
        rc = allow_when_equal(ctx, SCMP_SYS(prctl), 0, (scmp_datum_t)allowed_prctls[i]);
#endif
    return rc;
}

/* clone for threads only (any flags in sanitizer builds), clone3 answers ENOSYS. */
static int add_clone_rules(scmp_filter_ctx ctx)
{
    int rc;

#ifdef SANDBOX_SANITIZER
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 0);
#else
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
#endif
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    return rc;
}

/* Builds the whole filter into ctx. Returns 0 or a negative errno. */
static int build_filter(scmp_filter_ctx ctx)
{
    int rc = add_calls(ctx, SCMP_ACT_ALLOW, allowed_calls, COUNT(allowed_calls));

#ifdef SANDBOX_SANITIZER
    if (rc == 0)
        rc = add_calls(ctx, SCMP_ACT_ALLOW, sanitizer_calls, COUNT(sanitizer_calls));
#endif
    if (rc == 0)
        rc = add_calls(ctx, SCMP_ACT_KILL_PROCESS, fatal_calls, COUNT(fatal_calls));
    if (rc == 0)
        rc = add_clone_rules(ctx);
    if (rc == 0)
        rc = add_arg_rules(ctx);
    if (rc == 0)
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    return rc;
}

int sandbox_seccomp_apply(struct sandbox_state *state, char *err, size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    int rc;

    if (!ctx) {
        snprintf(err, errlen, "seccomp: cannot create a filter");
        return -1;
    }
    rc = build_filter(ctx);
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0) {
        snprintf(err, errlen, "seccomp: %s", strerror(-rc));
        return -1;
    }
    state->seccomp = true;
    log_notice("sandbox: seccomp in force: %zu system calls allowed, others fail with EPERM, exec and "
               "privilege changes kill the process",
               sandbox_seccomp_allowlist_size());
    return 0;
}
