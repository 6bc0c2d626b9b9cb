/*
 * sandbox_landlock.c - the Landlock step of sandbox_enter(). Debian 12's <linux/landlock.h> knows ABI 2 only,
 * so the kernel interface (stable UAPI, Documentation/userspace-api/landlock.rst) is declared here under our
 * own names, and every right is masked by what the running kernel's ABI supports:
 *   ABI 1: filesystem rights; 2: REFER; 3: TRUNCATE; 4: TCP bind/connect rules; 5: IOCTL_DEV;
 *   6: scopes (abstract unix sockets, signals); 7: audit logging flags (unused here).
 * Handled rights with no rule allowing them are denied everywhere: all filesystem rights, TCP bind (ABI 4),
 * signals to processes outside the domain (ABI 6). TCP connect is not handled (cluster and bridges connect out);
 * abstract unix sockets are not scoped when systemd's NOTIFY_SOCKET is an abstract one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/log.h"
#include "security/sandbox.h"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_READ_DIR (1ULL << 3)
#define LL_FS_REMOVE_DIR (1ULL << 4)
#define LL_FS_REMOVE_FILE (1ULL << 5)
#define LL_FS_MAKE_CHAR (1ULL << 6)
#define LL_FS_MAKE_DIR (1ULL << 7)
#define LL_FS_MAKE_REG (1ULL << 8)
#define LL_FS_MAKE_SOCK (1ULL << 9)
#define LL_FS_MAKE_FIFO (1ULL << 10)
#define LL_FS_MAKE_BLOCK (1ULL << 11)
#define LL_FS_MAKE_SYM (1ULL << 12)
#define LL_FS_REFER (1ULL << 13)    /* ABI 2 */
#define LL_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define LL_NET_BIND_TCP (1ULL << 0)  /* ABI 4 */
#define LL_SCOPE_ABSTRACT_UNIX (1ULL << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL (1ULL << 1)        /* ABI 6 */

#define LL_FS_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};

int sandbox_landlock_abi(void)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);

    return abi < 0 ? 0 : (int)abi;
}

/* Every filesystem right the kernel of `abi` knows. */
static uint64_t fs_rights_for_abi(int abi)
{
    uint64_t r = (LL_FS_MAKE_SYM << 1) - 1; /* ABI 1: bits 0..12 */

    if (abi >= 2)
        r |= LL_FS_REFER;
    if (abi >= 3)
        r |= LL_FS_TRUNCATE;
    if (abi >= 5)
        r |= LL_FS_IOCTL_DEV;
    return r;
}

/* True when systemd's notification socket is an abstract one (then abstract sockets cannot be scoped). */
static int notify_socket_is_abstract(void)
{
    const char *s = getenv("NOTIFY_SOCKET");

    return s && s[0] == '@';
}

/* Adds a path-beneath rule for `path` with `rights` (restricted to file rights when it is not a directory
 * and to what `handled` covers). A path that does not exist is skipped with a notice: nothing can be allowed
 * beneath it. Returns 0 or -1 with err set. */
static int add_path_rule(int ruleset, const char *path, uint64_t rights, uint64_t handled, char *err,
                         size_t errlen)
{
    struct ll_path_beneath_attr attr;
    struct stat st;
    int fd = open(path, O_PATH | O_CLOEXEC);
    int rc = -1;

    if (fd < 0) {
        log_notice("sandbox: Landlock: '%s' does not exist, nothing allowed beneath it", path);
        return 0;
    }
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "landlock: stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISDIR(st.st_mode))
        rights &= LL_FS_FILE_RIGHTS;
    attr.allowed_access = rights & handled;
    attr.parent_fd = fd;
    if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_PATH_BENEATH, &attr, 0) != 0) {
        snprintf(err, errlen, "landlock: rule for %s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(fd);
    return rc;
}

/* Adds the read, write and port rules of `p`. Returns 0 or -1 with err set. */
static int add_rules(int ruleset, const struct sandbox_policy *p, const struct ll_ruleset_attr *attr, char *err,
                     size_t errlen)
{
    const uint64_t read = LL_FS_READ_FILE | LL_FS_READ_DIR;
    const uint64_t write = read | LL_FS_WRITE_FILE | LL_FS_TRUNCATE | LL_FS_REMOVE_FILE | LL_FS_MAKE_REG |
                           LL_FS_MAKE_DIR | LL_FS_REMOVE_DIR | LL_FS_REFER;

    for (size_t i = 0; i < p->n_read_paths; i++)
        if (add_path_rule(ruleset, p->read_paths[i], read, attr->handled_access_fs, err, errlen) != 0)
            return -1;
    for (size_t i = 0; i < p->n_write_paths; i++)
        if (add_path_rule(ruleset, p->write_paths[i], write, attr->handled_access_fs, err, errlen) != 0)
            return -1;
#ifdef SANDBOX_SANITIZER
    if (add_path_rule(ruleset, "/proc/self", read, attr->handled_access_fs, err, errlen) != 0)
        return -1;
#endif
    if (!attr->handled_access_net)
        return 0;
    for (size_t i = 0; i < p->n_bind_ports; i++) {
        struct ll_net_port_attr net = {LL_NET_BIND_TCP, p->bind_ports[i]};

        if (syscall(__NR_landlock_add_rule, ruleset, LL_RULE_NET_PORT, &net, 0) != 0) {
            snprintf(err, errlen, "landlock: rule for port %u: %s", (unsigned)p->bind_ports[i], strerror(errno));
            return -1;
        }
    }
    return 0;
}

int sandbox_landlock_apply(const struct sandbox_policy *p, struct sandbox_state *state, char *err,
                           size_t errlen)
{
    struct ll_ruleset_attr attr = {0, 0, 0};
    int abi = sandbox_landlock_abi();
    int ruleset, rc = -1;

    state->landlock_abi = abi;
    if (abi <= 0) {
        log_warning("sandbox: Landlock is not supported by this kernel; file and port restrictions not applied");
        return 0;
    }
    attr.handled_access_fs = fs_rights_for_abi(abi);
    if (abi >= 4)
        attr.handled_access_net = LL_NET_BIND_TCP;
    if (abi >= 6)
        attr.scoped = LL_SCOPE_SIGNAL | (notify_socket_is_abstract() ? 0 : LL_SCOPE_ABSTRACT_UNIX);
    ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        snprintf(err, errlen, "landlock: create ruleset (ABI %d): %s", abi, strerror(errno));
        return -1;
    }
    if (add_rules(ruleset, p, &attr, err, errlen) != 0)
        goto out;
    if (syscall(__NR_landlock_restrict_self, ruleset, 0) != 0) {
        snprintf(err, errlen, "landlock: restrict self: %s", strerror(errno));
        goto out;
    }
    state->landlock = true;
    state->landlock_net = attr.handled_access_net != 0;
    log_notice("sandbox: Landlock ABI %d in force: %zu readable and %zu writable paths, %s", abi,
               p->n_read_paths, p->n_write_paths,
               state->landlock_net ? "TCP bind limited to the configured ports" : "TCP bind not limited (ABI < 4)");
    rc = 0;
out:
    close(ruleset);
    return rc;
}
