/*
 * sandbox.h - least privilege for the broker process, applied once after start-up (listeners bound, keys and
 * certificates read):
 *   1. a tight umask (077) and no core dumps (RLIMIT_CORE 0, PR_SET_DUMPABLE 0): keys live in memory;
 *   2. the `user` option: started as root, drop to that user and its primary group for good (setgroups,
 *      setresgid, setresuid, capability bounding set emptied), then verify that no way back exists;
 *   3. PR_SET_NO_NEW_PRIVS: no set-uid, set-gid or file-capability gain through execve;
 *   4. Landlock (ABI checked at run time; constants defined here because Debian 12's headers stop at ABI 2):
 *      read only the configured files, write only the persistence and log paths, bind only the configured
 *      TCP ports (ABI >= 4);
 *   5. seccomp (libseccomp): an allowlist of the system calls the broker makes; anything else fails with
 *      EPERM, except execve/execveat/ptrace-style calls that kill the process (see sandbox_seccomp.c).
 * Each step logs what it put in force. Landlock and seccomp each have an off switch; the kernel lacking one
 * is logged as a warning and is not an error (fail closed applies to what the operator asked for: a user
 * that cannot be switched to is an error).
 *
 * The module never reads the configuration itself: the caller fills a struct sandbox_policy. See
 * sandbox_policy_from_config() in security/sandbox_config.c for the broker's mapping.
 */
#ifndef RAMPART_SECURITY_SANDBOX_H
#define RAMPART_SECURITY_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Sanitizer builds (the tests) let LeakSanitizer's exit-time check work inside the sandbox: it reads
 * /proc/self/task and ptraces the broker's threads from a cloned task. Release builds allow neither. */
#if defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

#define SANDBOX_MAX_PATHS 64
#define SANDBOX_MAX_PORTS 64

/* Which user to become. */
enum sandbox_user_mode {
    SANDBOX_USER_DEFAULT = 0, /* `rampart` when that account exists, else `nobody` */
    SANDBOX_USER_NAMED,       /* the account in sandbox_policy.user (may be "root": stay root, warned) */
};

struct sandbox_policy {
    enum sandbox_user_mode user_mode;
    const char *user;                           /* account name for SANDBOX_USER_NAMED; borrowed */
    bool landlock;                              /* apply Landlock where the kernel supports it */
    bool seccomp;                               /* apply the seccomp allowlist */
    const char *read_paths[SANDBOX_MAX_PATHS];  /* files or directories readable after start; borrowed */
    size_t n_read_paths;
    const char *write_paths[SANDBOX_MAX_PATHS]; /* files or directories writable (persistence, logs) */
    size_t n_write_paths;
    uint16_t bind_ports[SANDBOX_MAX_PORTS];     /* TCP ports the process may bind after start */
    size_t n_bind_ports;
};

/* What sandbox_enter() put in force (for logs, tests and `rampart audit`). */
struct sandbox_state {
    uid_t uid;
    gid_t gid;
    bool dropped;      /* switched from root to an unprivileged account */
    bool no_new_privs;
    int landlock_abi;  /* kernel ABI found, 0 when Landlock is unavailable or switched off */
    bool landlock;     /* a Landlock domain is in force */
    bool landlock_net; /* ... including the TCP bind rule */
    bool seccomp;      /* the seccomp filter is in force */
};

/* Initialises a policy to the defaults: default user, Landlock and seccomp on, no paths, no ports. */
void sandbox_policy_init(struct sandbox_policy *p);

/* Adds a path readable (sandbox_policy_add_read) or writable (sandbox_policy_add_write) after start, or a
 * TCP port the process may bind. The string is borrowed and must outlive sandbox_enter(). Duplicates are
 * ignored. Returns 0, or -1 when the table is full. */
int sandbox_policy_add_read(struct sandbox_policy *p, const char *path);
int sandbox_policy_add_write(struct sandbox_policy *p, const char *path);
int sandbox_policy_add_port(struct sandbox_policy *p, uint16_t port);

/* Applies the whole policy, in the order listed at the top of this file, to the calling process, which must
 * have a single thread (Landlock and no_new_privs bind the calling thread and its future threads only; a
 * second thread is refused as an error). Worker threads are started after this call. On failure returns -1 with a reason in err; the process must then exit, as it may be partly
 * restricted. `state` (may be NULL) receives what is in force. */
int sandbox_enter(const struct sandbox_policy *p, struct sandbox_state *state, char *err, size_t errlen);

/* Privilege step alone (also used by tests): resolves the account, drops to it when running as root, and
 * verifies that root cannot be regained. Returns 0 or -1 with err set. */
int sandbox_drop_privileges(const struct sandbox_policy *p, struct sandbox_state *state, char *err,
                            size_t errlen);

/* Resolves the account the policy names (or the default one) into uid/gid and the name actually used.
 * Returns 0, or -1 when a named account does not exist. Pure apart from the passwd lookup. */
int sandbox_resolve_user(const struct sandbox_policy *p, uid_t *uid, gid_t *gid, char *name, size_t namelen,
                         char *err, size_t errlen);

/* Landlock ABI version the running kernel supports, 0 when none (not built in, disabled, or ENOSYS). */
int sandbox_landlock_abi(void);

/* Landlock step alone. Requires no_new_privs or CAP_SYS_ADMIN. Returns 0 (in force, or unsupported and
 * logged: state->landlock tells which) or -1 with err set. */
int sandbox_landlock_apply(const struct sandbox_policy *p, struct sandbox_state *state, char *err,
                           size_t errlen);

/* seccomp step alone. Returns 0 (state->seccomp true) or -1 with err set. */
int sandbox_seccomp_apply(struct sandbox_state *state, char *err, size_t errlen);

/* Number of system calls in the seccomp allowlist (for the log line and tests). */
size_t sandbox_seccomp_allowlist_size(void);

#endif
