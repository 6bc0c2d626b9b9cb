/* sandbox.c - see sandbox.h. The process-wide steps: umask, core dumps, user switch, no_new_privs. */
#include "security/sandbox.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define SANDBOX_DEFAULT_USER "rampart"
#define SANDBOX_FALLBACK_USER "nobody"

void sandbox_policy_init(struct sandbox_policy *p)
{
    memset(p, 0, sizeof *p);
    p->user_mode = SANDBOX_USER_DEFAULT;
    p->landlock = true;
    p->seccomp = true;
}

/* Adds `path` to `table` of `*n` entries unless already there. Returns 0 or -1 when full. */
static int policy_add_path(const char **table, size_t *n, const char *path)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(table[i], path))
            return 0;
    if (*n >= SANDBOX_MAX_PATHS)
        return -1;
    table[(*n)++] = path;
    return 0;
}

int sandbox_policy_add_read(struct sandbox_policy *p, const char *path)
{
    return policy_add_path(p->read_paths, &p->n_read_paths, path);
}

int sandbox_policy_add_write(struct sandbox_policy *p, const char *path)
{
    return policy_add_path(p->write_paths, &p->n_write_paths, path);
}

int sandbox_policy_add_port(struct sandbox_policy *p, uint16_t port)
{
    for (size_t i = 0; i < p->n_bind_ports; i++)
        if (p->bind_ports[i] == port)
            return 0;
    if (p->n_bind_ports >= SANDBOX_MAX_PORTS)
        return -1;
    p->bind_ports[p->n_bind_ports++] = port;
    return 0;
}

/* Looks `name` up in the passwd database. Returns 0 with uid/gid set, -1 when absent. */
static int lookup_user(const char *name, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];

    if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res)
        return -1;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return 0;
}

int sandbox_resolve_user(const struct sandbox_policy *p, uid_t *uid, gid_t *gid, char *name, size_t namelen,
                         char *err, size_t errlen)
{
    const char *want = p->user_mode == SANDBOX_USER_NAMED ? p->user : SANDBOX_DEFAULT_USER;

    if (!want || !*want) {
        snprintf(err, errlen, "user: empty account name");
        return -1;
    }
    if (lookup_user(want, uid, gid) == 0) {
        snprintf(name, namelen, "%s", want);
        return 0;
    }
    if (p->user_mode == SANDBOX_USER_NAMED) {
        snprintf(err, errlen, "user: no account named '%s'", want);
        return -1;
    }
    if (lookup_user(SANDBOX_FALLBACK_USER, uid, gid) == 0) {
        snprintf(name, namelen, "%s", SANDBOX_FALLBACK_USER);
        return 0;
    }
    snprintf(err, errlen, "user: neither '%s' nor '%s' exists; create one or set 'user'", SANDBOX_DEFAULT_USER,
             SANDBOX_FALLBACK_USER);
    return -1;
}

/* Empties the capability bounding set (needs CAP_SETPCAP, i.e. call while still root). Returns 0 or -1. */
static int drop_bounding_set(void)
{
    for (int cap = 0; cap <= 63; cap++) {
        if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
            break; /* past the last capability this kernel knows */
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return -1;
    }
    return 0;
}

/* Checks that the real, effective and saved ids all equal uid/gid and that none of root's can be taken back.
 * Returns 0 or -1 with err set. */
static int verify_no_way_back(uid_t uid, gid_t gid, char *err, size_t errlen)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid || eu != uid ||
        su != uid || rg != gid || eg != gid || sg != gid) {
        snprintf(err, errlen, "user: ids after the switch are not all %u:%u", (unsigned)uid, (unsigned)gid);
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0) {
        snprintf(err, errlen, "user: root could be regained after dropping privileges");
        return -1;
    }
    if (getgroups(0, NULL) > 1) {
        snprintf(err, errlen, "user: supplementary groups remain after dropping privileges");
        return -1;
    }
    return 0;
}

/* Switches every id to uid/gid with only gid as group, empties the bounding set, verifies. */
static int switch_ids(uid_t uid, gid_t gid, char *err, size_t errlen)
{
    if (drop_bounding_set() != 0) {
        snprintf(err, errlen, "user: cannot empty the capability bounding set: %s", strerror(errno));
        return -1;
    }
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
        snprintf(err, errlen, "user: cannot switch to %u:%u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
        return -1;
    }
    return verify_no_way_back(uid, gid, err, errlen);
}

int sandbox_drop_privileges(const struct sandbox_policy *p, struct sandbox_state *state, char *err,
                            size_t errlen)
{
    char name[256];
    uid_t uid;
    gid_t gid;
    bool is_default = p->user_mode == SANDBOX_USER_DEFAULT;

    if (sandbox_resolve_user(p, &uid, &gid, name, sizeof name, err, errlen) != 0)
        return -1;
    state->uid = geteuid();
    state->gid = getegid();
    if (geteuid() != 0) {
        if (!is_default && uid != geteuid()) {
            snprintf(err, errlen, "user: not started as root, cannot switch to '%s'", name);
            return -1;
        }
        log_notice("privileges: not started as root, running as uid %u gid %u", (unsigned)state->uid,
                   (unsigned)state->gid);
        return 0;
    }
    if (uid == 0) {
        log_warning("privileges: staying root because 'user %s' is set explicitly; this is not recommended",
                    name);
        return 0;
    }
    if (switch_ids(uid, gid, err, errlen) != 0)
        return -1;
    state->uid = uid;
    state->gid = gid;
    state->dropped = true;
    log_notice("privileges: dropped to user '%s' (uid %u, gid %u)%s", name, (unsigned)uid, (unsigned)gid,
               is_default ? (strcmp(name, SANDBOX_DEFAULT_USER) ? ", the default; account 'rampart' does not exist"
                                                                 : ", the default")
                          : "");
    return 0;
}

/* umask 077 and no core dumps (a limit already at 0, e.g. systemd's LimitCORE=0 under a filter refusing
 * setrlimit, is accepted as is). */
static int harden_process(char *err, size_t errlen)
{
    struct rlimit rl = {0, 0}, cur;

    umask(077);
    if (getrlimit(RLIMIT_CORE, &cur) == 0 && cur.rlim_cur == 0 && cur.rlim_max == 0)
        return 0;
    if (setrlimit(RLIMIT_CORE, &rl) != 0) {
        snprintf(err, errlen, "cannot disable core dumps: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Post-switch: not dumpable (the uid change may have reset it) and no new privileges. */
static int lock_process(struct sandbox_state *state, char *err, size_t errlen)
{
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        snprintf(err, errlen, "prctl: %s", strerror(errno));
        return -1;
    }
    state->no_new_privs = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
    if (!state->no_new_privs) {
        snprintf(err, errlen, "prctl: no_new_privs did not stick");
        return -1;
    }
    return 0;
}

/* Number of threads of this process (from /proc/self/status), or -1 when unknown. */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    int n = -1;

    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

int sandbox_enter(const struct sandbox_policy *p, struct sandbox_state *state, char *err, size_t errlen)
{
    struct sandbox_state local;
    int threads = thread_count();

    if (!state)
        state = &local;
    memset(state, 0, sizeof *state);
    /* Landlock and no_new_privs apply to the calling thread and the threads it starts later: a thread started
     * before would escape them. */
    if (threads != 1) {
        snprintf(err, errlen, "sandbox: must be entered before any thread starts (%d threads running)", threads);
        return -1;
    }
    if (harden_process(err, errlen) != 0 || sandbox_drop_privileges(p, state, err, errlen) != 0 ||
        lock_process(state, err, errlen) != 0)
        return -1;
    if (p->landlock) {
        if (sandbox_landlock_apply(p, state, err, errlen) != 0)
            return -1;
    } else {
        log_warning("sandbox: Landlock switched off by 'sandbox_landlock false'");
    }
    if (p->seccomp) {
        if (sandbox_seccomp_apply(state, err, errlen) != 0)
            return -1;
    } else {
        log_warning("sandbox: seccomp switched off by 'sandbox_seccomp false'");
    }
    log_notice("sandbox: in force: uid %u gid %u, umask 077, no core dumps, no_new_privs, Landlock %s, "
               "seccomp %s",
               (unsigned)state->uid, (unsigned)state->gid,
               state->landlock ? (state->landlock_net ? "files+ports" : "files") : "off",
               state->seccomp ? "on" : "off");
    return 0;
}
