/*
 * test_sandbox.c - the policy table, account resolution, and the real sandbox applied in a forked child:
 * the child enters the sandbox, then tries what it must and must not be able to do, and reports through its
 * exit status (one bit per failed expectation) or dies from the signal seccomp sends.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "security/sandbox.h"
#include "security/sandbox_options.h"
#include "test.h"

TEST(policy_defaults_and_tables)
{
    struct sandbox_policy p;

    sandbox_policy_init(&p);
    CHECK(p.landlock);
    CHECK(p.seccomp);
    CHECK_EQ(p.user_mode, SANDBOX_USER_DEFAULT);
    CHECK_EQ(sandbox_policy_add_read(&p, "/etc/a"), 0);
    CHECK_EQ(sandbox_policy_add_read(&p, "/etc/a"), 0);
    CHECK_EQ(p.n_read_paths, 1);
    CHECK_EQ(sandbox_policy_add_port(&p, 1883), 0);
    CHECK_EQ(sandbox_policy_add_port(&p, 1883), 0);
    CHECK_EQ(p.n_bind_ports, 1);
    for (int i = 0; i < SANDBOX_MAX_PORTS - 1; i++)
        CHECK_EQ(sandbox_policy_add_port(&p, (uint16_t)(2000 + i)), 0);
    CHECK_EQ(sandbox_policy_add_port(&p, 9999), -1);
    CHECK(sandbox_seccomp_allowlist_size() > 50);
}

TEST(resolve_user_default_and_named)
{
    struct sandbox_policy p;
    char name[64], err[256];
    uid_t uid;
    gid_t gid;

    sandbox_policy_init(&p);
    CHECK_EQ(sandbox_resolve_user(&p, &uid, &gid, name, sizeof name, err, sizeof err), 0);
    CHECK(!strcmp(name, "rampart") || !strcmp(name, "nobody"));
    CHECK(uid != 0);
    p.user_mode = SANDBOX_USER_NAMED;
    p.user = "root";
    CHECK_EQ(sandbox_resolve_user(&p, &uid, &gid, name, sizeof name, err, sizeof err), 0);
    CHECK_EQ(uid, 0);
    p.user = "no-such-account-rampart";
    CHECK_EQ(sandbox_resolve_user(&p, &uid, &gid, name, sizeof name, err, sizeof err), -1);
    CHECK(strstr(err, "no-such-account-rampart") != NULL);
}

/* Binds a TCP socket on 127.0.0.1:port. Returns 0 or the errno. */
static int try_bind(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = {htonl(0x7f000001)}};
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc;
    int one = 1;

    if (fd < 0)
        return errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    rc = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 ? 0 : errno;
    close(fd);
    return rc;
}

/* Finds a TCP port free on 127.0.0.1. */
static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(0x7f000001)}};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

/* Opens `path` for reading. Returns 0 or the errno. */
static int try_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static void *thread_main(void *arg)
{
    return arg;
}

/* Starts and joins a thread (glibc tries clone3, which answers ENOSYS, then clone). Returns 0 or an errno. */
static int try_thread(void)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, thread_main, NULL);

    return rc ? rc : pthread_join(t, NULL);
}

/* Maps executable memory. Returns 0 or the errno. */
static int try_exec_mapping(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (p == MAP_FAILED)
        return errno;
    munmap(p, 4096);
    return 0;
}

static char dir_allowed[64], dir_denied[64], file_allowed[96], file_denied[96];

/* Makes two directories with one file each, readable by everyone (the child runs as nobody). */
static void make_fixture(void)
{
    snprintf(dir_allowed, sizeof dir_allowed, "/tmp/rampart-sbx-a-%d", (int)getpid());
    snprintf(dir_denied, sizeof dir_denied, "/tmp/rampart-sbx-d-%d", (int)getpid());
    snprintf(file_allowed, sizeof file_allowed, "%s/f", dir_allowed);
    snprintf(file_denied, sizeof file_denied, "%s/f", dir_denied);
    mkdir(dir_allowed, 0755);
    mkdir(dir_denied, 0755);
    close(open(file_allowed, O_CREAT | O_WRONLY, 0644));
    close(open(file_denied, O_CREAT | O_WRONLY, 0644));
}

static void remove_fixture(void)
{
    unlink(file_allowed);
    unlink(file_denied);
    rmdir(dir_allowed);
    rmdir(dir_denied);
}

/* The child: enters the sandbox and checks each expectation; bit i of the exit status = expectation i failed. */
static int child_checks(uint16_t port_ok, uint16_t port_no, int report_fd)
{
    struct sandbox_policy p;
    struct sandbox_state st;
    struct rlimit rl;
    char err[256];
    int bad = 0;

    sandbox_policy_init(&p);
    sandbox_policy_add_read(&p, dir_allowed);
    sandbox_policy_add_port(&p, port_ok);
    if (sandbox_enter(&p, &st, err, sizeof err) != 0) {
        fprintf(stderr, "sandbox_enter: %s\n", err);
        return 0x7f;
    }
    bad |= (getuid() == 0 || geteuid() == 0 || !st.dropped) << 0;
    bad |= (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) << 1;
    bad |= (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 || prctl(PR_GET_DUMPABLE) != 0) << 2;
    bad |= (try_read(file_allowed) != 0) << 3;
    bad |= (!st.landlock || try_read(file_denied) != EACCES) << 4;
    bad |= (try_bind(port_ok) != 0) << 5;
    bad |= (!st.landlock_net || try_bind(port_no) != EACCES) << 6;
    bad |= (!st.seccomp) << 7;
    bad |= (try_thread() != 0) << 8;
    bad |= (try_exec_mapping() != EPERM) << 9;
    bad |= (socket(AF_NETLINK, SOCK_RAW, 0) >= 0 || errno != EPERM) << 10;
    if (write(report_fd, &bad, sizeof bad) != (ssize_t)sizeof bad)
        return 0x7e;
    setuid(0); /* seccomp kills the process here */
    return 0x7d;
}

TEST(sandbox_applied_in_child)
{
    uint16_t port_ok = free_port(), port_no = free_port();
    int status = 0, mask = -1, pipefd[2];
    pid_t pid;

    if (getuid() != 0 || sandbox_landlock_abi() < 4) {
        /* The account switch and the port rule need root and Landlock ABI 4; say so rather than pass. */
        fprintf(stderr, "  sandbox_applied_in_child needs root and Landlock ABI >= 4 (have uid %d, ABI %d)\n",
                (int)getuid(), sandbox_landlock_abi());
        CHECK(getuid() == 0 && sandbox_landlock_abi() >= 4);
        return;
    }
    make_fixture();
    CHECK_EQ(pipe(pipefd), 0);
    fflush(NULL);
    pid = fork();
    if (pid == 0)
        _exit(child_checks(port_ok, port_no, pipefd[1]));
    CHECK(pid > 0);
    close(pipefd[1]);
    CHECK_EQ(read(pipefd[0], &mask, sizeof mask), (ssize_t)sizeof mask);
    close(pipefd[0]);
    waitpid(pid, &status, 0);
    remove_fixture();
    /* Every expectation held (mask 0) and the setuid(0) attempt was killed by seccomp. */
    CHECK_EQ(mask, 0);
    if (WIFEXITED(status))
        fprintf(stderr, "  child exited %d\n", WEXITSTATUS(status));
    CHECK(WIFSIGNALED(status));
    CHECK_EQ(WIFSIGNALED(status) ? WTERMSIG(status) : 0, SIGSYS);
}

TEST(seccomp_refuses_unlisted_call_with_eperm)
{
    int status = 0;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct sandbox_state st = {0};
        char err[256];

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || sandbox_seccomp_apply(&st, err, sizeof err) != 0)
            _exit(10);
        /* acct(2) is on no list: refused with EPERM, the process lives on. */
        errno = 0;
        if (syscall(SYS_acct, NULL) != -1 || errno != EPERM)
            _exit(11);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0);
}

TEST(seccomp_kills_exec)
{
    int status = 0;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        struct sandbox_state st = {0};
        char err[256];
        char *const argv[] = {"/bin/true", NULL};

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || sandbox_seccomp_apply(&st, err, sizeof err) != 0)
            _exit(10);
        execv("/bin/true", argv);
        _exit(12);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    CHECK_EQ(WIFSIGNALED(status) ? WTERMSIG(status) : 0, SIGSYS);
}

TEST(options_parse_and_refuse)
{
    sandbox_settings s;
    char err[128];

    sandbox_settings_init(&s);
    CHECK(s.landlock && s.seccomp && !s.user);
    CHECK(sandbox_settings_knows("sandbox_seccomp"));
    CHECK(!sandbox_settings_knows("listener"));
    CHECK_EQ(sandbox_settings_set(&s, "user", "rampart", err, sizeof err), 1);
    CHECK_STR(s.user, "rampart");
    CHECK_EQ(sandbox_settings_set(&s, "user", "a b", err, sizeof err), -1);
    CHECK_EQ(sandbox_settings_set(&s, "user", "-x", err, sizeof err), -1);
    CHECK_EQ(sandbox_settings_set(&s, "sandbox_landlock", "false", err, sizeof err), 1);
    CHECK(!s.landlock);
    CHECK_EQ(sandbox_settings_set(&s, "sandbox_seccomp", "off", err, sizeof err), -1);
    CHECK(strstr(err, "true or false") != NULL);
    CHECK_EQ(sandbox_settings_set(&s, "sandbox_allow_read", "relative/path", err, sizeof err), -1);
    CHECK_EQ(sandbox_settings_set(&s, "sandbox_allow_write", "/var/lib/x", err, sizeof err), 1);
    CHECK_EQ(s.n_allow_write, 1);
    CHECK_EQ(sandbox_settings_set(&s, "listener", "1883", err, sizeof err), 0);
    CHECK_EQ(sandbox_settings_set(&s, "cluster_node_name", "rampart3@host", err, sizeof err), 1);
    CHECK_STR(s.cluster_node_name, "rampart3@host");
    CHECK_EQ(sandbox_settings_set(&s, "cluster_node_name", "rampart", err, sizeof err), -1);
    CHECK_EQ(sandbox_settings_set(&s, "cluster_node_name", "r99999@h", err, sizeof err), -1);
    CHECK_EQ(sandbox_settings_set(&s, "cluster_node_name", "r60165@h", err, sizeof err), 1);
    sandbox_settings_clear(&s);
}

TEST_MAIN()
