/*
 * passwd.c - `rampart passwd`: manage a password file (mosquitto's format, argon2id or SCRAM entries).
 *
 *   rampart passwd [-c] [OPTIONS] FILE USER            add or change USER; password read twice from the
 *                                                      terminal without echo, or once from stdin (--stdin)
 *   rampart passwd -b [-c] [OPTIONS] FILE USER PASSWORD   batch: the password on the command line (visible in
 *                                                      `ps` and shell history; for scripts on trusted hosts)
 *   rampart passwd --batch-file LIST [-c] [OPTIONS] FILE  many users from LIST, lines USER:PASSWORD
 *   rampart passwd -D FILE USER                        delete USER
 *   rampart passwd --list FILE                         list users, schemes, set dates and expiry
 * OPTIONS: --scram [--iterations N]   write a SCRAM-SHA-256 entry (for MQTT 5 enhanced authentication)
 *          --max-age DAYS             per-user maximum password age (0: none)
 *          --policy FILE              libpwquality configuration (default /etc/security/pwquality.conf)
 * The file is rewritten atomically (temporary file, fsync, rename) under an flock on FILE.lock; comments and
 * other users' lines are kept as they were.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <pwquality.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "security/passwd.h"
#include "tools/commands.h"

#define PW_MAX 1024

typedef struct pw_opts {
    bool create, batch, delete, list, from_stdin, scram;
    const char *batch_file, *policy;
    uint32_t iterations;
    int64_t max_age_days; /* -1: keep the entry's current value */
} pw_opts;

/* The file as lines, so a rewrite keeps comments and unrelated entries byte for byte. */
typedef struct pw_lines {
    char **line;
    size_t count, cap;
} pw_lines;

static void lines_free(pw_lines *l)
{
    for (size_t i = 0; i < l->count; i++) {
        OPENSSL_cleanse(l->line[i], strlen(l->line[i]));
        free(l->line[i]);
    }
    free(l->line);
    memset(l, 0, sizeof *l);
}

static int lines_push(pw_lines *l, char *s)
{
    if (l->count == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 32;
        char **n = realloc(l->line, ncap * sizeof *n);
        if (!n)
            return -1;
        l->line = n;
        l->cap = ncap;
    }
    l->line[l->count++] = s;
    return 0;
}

/* Reads path into lines and checks every line parses. Missing file: empty (allowed only with create). */
static int lines_load(const char *path, bool create, pw_lines *l)
{
    FILE *f = create ? NULL : fopen(path, "re");
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned line_no = 0;

    if (create)
        return 0;
    if (!f) {
        fprintf(stderr, "rampart passwd: %s: %s (use -c to create it)\n", path, strerror(errno));
        return -1;
    }
    while ((n = getline(&buf, &cap, f)) >= 0) {
        passwd_entry e;
        const char *why;
        line_no++;
        if (n > 0 && buf[n - 1] == '\n')
            buf[--n] = 0;
        if (passwd_line_parse(buf, (size_t)n, &e, &why) < 0) {
            fprintf(stderr, "rampart passwd: %s:%u: %s\n", path, line_no, why);
            goto fail;
        }
        passwd_entry_clear(&e);
        if (lines_push(l, strdup(buf)) < 0 || !l->line[l->count - 1])
            goto fail;
    }
    free(buf);
    fclose(f);
    return 0;
fail:
    free(buf);
    fclose(f);
    return -1;
}

/* Index of USER's line, or -1. */
static long lines_find(const pw_lines *l, const char *user)
{
    size_t ulen = strlen(user);

    for (size_t i = 0; i < l->count; i++)
        if (!strncmp(l->line[i], user, ulen) && l->line[i][ulen] == ':')
            return (long)i;
    return -1;
}

/* Writes lines to path atomically, keeping the old file's mode (0600 for a new file). */
static int lines_save(const char *path, const pw_lines *l)
{
    char tmp[4096];
    struct stat st;
    bool existed = stat(path, &st) == 0;
    mode_t mode = existed ? (st.st_mode & 0777) : 0600;
    int fd;
    FILE *f;
    int rc = -1;

    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0 || !(f = fdopen(fd, "w"))) {
        fprintf(stderr, "rampart passwd: %s: %s\n", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fchmod(fd, mode);
    /* keep the owner and group (e.g. root:rampart 0640, so the broker can re-read it after dropping root) */
    if (existed && fchown(fd, st.st_uid, st.st_gid) < 0 && geteuid() == 0)
        fprintf(stderr, "rampart passwd: warning: cannot keep the owner of %s: %s\n", path, strerror(errno));
    for (size_t i = 0; i < l->count; i++)
        fprintf(f, "%s\n", l->line[i]);
    if (fflush(f) == 0 && !ferror(f) && fsync(fd) == 0 && rename(tmp, path) == 0)
        rc = 0;
    else
        fprintf(stderr, "rampart passwd: writing %s: %s\n", path, strerror(errno));
    fclose(f);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* ---- reading passwords ------------------------------------------------------------------------------- */

static struct termios saved_tty;
static int tty_fd = -1;

static void restore_tty_and_exit(int sig)
{
    if (tty_fd >= 0)
        tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
    (void)write(STDERR_FILENO, "\n", 1);
    _exit(128 + sig);
}

/* Reads one line from fd into buf (without the newline). Returns its length or -1 (EOF first, too long). */
static int read_line_fd(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char c;

    for (;;) {
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return n ? (int)n : -1;
        if (c == '\n')
            break;
        if (n + 1 >= cap) {
            OPENSSL_cleanse(buf, cap);
            return -1;
        }
        buf[n++] = c;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = 0;
    return (int)n;
}

/* Prompts on the terminal with echo off. */
static int read_tty_password(const char *prompt, char *buf, size_t cap)
{
    struct termios t;
    int n;

    tty_fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (tty_fd < 0 || tcgetattr(tty_fd, &saved_tty) < 0) {
        fprintf(stderr, "rampart passwd: no terminal to read the password from (use --stdin)\n");
        if (tty_fd >= 0)
            close(tty_fd);
        tty_fd = -1;
        return -1;
    }
    signal(SIGINT, restore_tty_and_exit);
    signal(SIGTERM, restore_tty_and_exit);
    t = saved_tty;
    t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
    t.c_lflag |= ICANON;
    (void)write(tty_fd, prompt, strlen(prompt));
    tcsetattr(tty_fd, TCSAFLUSH, &t);
    n = read_line_fd(tty_fd, buf, cap);
    tcsetattr(tty_fd, TCSAFLUSH, &saved_tty);
    (void)write(tty_fd, "\n", 1);
    close(tty_fd);
    tty_fd = -1;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return n;
}

/* Gets the new password: terminal twice, or stdin once. */
static int get_password(const pw_opts *o, char *buf, size_t cap)
{
    char again[PW_MAX];
    int n, m;

    if (o->from_stdin) {
        n = read_line_fd(STDIN_FILENO, buf, cap);
        if (n < 0)
            fprintf(stderr, "rampart passwd: no password on stdin (or longer than %d bytes)\n", PW_MAX - 1);
        return n;
    }
    n = read_tty_password("Password: ", buf, cap);
    if (n < 0)
        return -1;
    m = read_tty_password("Reenter password: ", again, sizeof again);
    if (m != n || CRYPTO_memcmp(buf, again, (size_t)n) != 0) {
        fprintf(stderr, "rampart passwd: passwords do not match\n");
        n = -1;
    }
    OPENSSL_cleanse(again, sizeof again);
    return n;
}

/* ---- policy ------------------------------------------------------------------------------------------- */

/* Rampart's defaults (minimum length 12, dictionary check, username check), then the pwquality file. */
static pwquality_settings_t *policy_load(const char *path)
{
    pwquality_settings_t *pwq = pwquality_default_settings();
    void *aux = NULL;
    char msg[256];
    int rc;

    if (!pwq)
        return NULL;
    pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, 12);
    pwquality_set_int_value(pwq, PWQ_SETTING_DICT_CHECK, 1);
    pwquality_set_int_value(pwq, PWQ_SETTING_USER_CHECK, 1);
    rc = pwquality_read_config(pwq, path, &aux);
    if (rc != 0 && (path || rc != PWQ_ERROR_CFGFILE_OPEN)) {
        fprintf(stderr, "rampart passwd: policy %s: %s\n", path ? path : "/etc/security/pwquality.conf",
                pwquality_strerror(msg, sizeof msg, rc, aux));
        pwquality_free_settings(pwq);
        return NULL;
    }
    return pwq;
}

static int policy_check(pwquality_settings_t *pwq, const char *user, const char *pw)
{
    void *aux = NULL;
    char msg[256];
    int score = pwquality_check(pwq, pw, NULL, user, &aux);

    if (score < 0) {
        fprintf(stderr, "rampart passwd: password for '%s' refused by the policy: %s\n", user,
                pwquality_strerror(msg, sizeof msg, score, aux));
        return -1;
    }
    return 0;
}

/* ---- entries ------------------------------------------------------------------------------------------ */

static bool username_valid(const char *u)
{
    if (!*u || strlen(u) > 1024)
        return false;
    for (const unsigned char *p = (const unsigned char *)u; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == ':')
            return false;
    return true;
}

/* Sets USER's entry in lines to a fresh hash of pw. */
static int set_user(const pw_opts *o, pw_lines *l, const char *user, const char *pw)
{
    char hash[512], line[PASSWD_LINE_MAX + 64];
    passwd_argon2_params params = passwd_argon2_default();
    passwd_entry e;
    long idx = lines_find(l, user);
    int rc;

    memset(&e, 0, sizeof e);
    if (idx >= 0) { /* keep an existing per-user max_age unless told otherwise */
        const char *why;
        passwd_entry old;
        if (passwd_line_parse(l->line[idx], strlen(l->line[idx]), &old, &why) == 1) {
            e.max_age = old.max_age;
            passwd_entry_clear(&old);
        }
    }
    if (o->max_age_days >= 0)
        e.max_age = o->max_age_days * 86400;
    rc = o->scram ? passwd_hash_make_scram((const uint8_t *)pw, strlen(pw), o->iterations, hash, sizeof hash)
                  : passwd_hash_make_argon2id((const uint8_t *)pw, strlen(pw), &params, hash, sizeof hash);
    if (rc < 0) {
        fprintf(stderr, "rampart passwd: hashing failed\n");
        return -1;
    }
    e.username = (char *)user;
    e.hash_text = hash;
    e.set_time = (int64_t)time(NULL);
    if (passwd_line_format(&e, line, sizeof line) < 0) {
        fprintf(stderr, "rampart passwd: entry too long\n");
        return -1;
    }
    if (idx >= 0) {
        char *copy = strdup(line);
        if (!copy)
            return -1;
        OPENSSL_cleanse(l->line[idx], strlen(l->line[idx]));
        free(l->line[idx]);
        l->line[idx] = copy;
    } else if (lines_push(l, strdup(line)) < 0 || !l->line[l->count - 1]) {
        return -1;
    }
    return 0;
}

/* Applies a USER:PASSWORD list file: every line checked before anything is written. */
static int apply_batch_file(const pw_opts *o, pwquality_settings_t *pwq, pw_lines *l)
{
    FILE *f = strcmp(o->batch_file, "-") ? fopen(o->batch_file, "re") : stdin;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned line_no = 0;
    int rc = 0;

    if (!f) {
        fprintf(stderr, "rampart passwd: %s: %s\n", o->batch_file, strerror(errno));
        return -1;
    }
    while (rc == 0 && (n = getline(&buf, &cap, f)) >= 0) {
        char *colon;
        line_no++;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            buf[--n] = 0;
        if (n == 0 || buf[0] == '#')
            continue;
        colon = strchr(buf, ':');
        if (!colon || colon == buf) {
            fprintf(stderr, "rampart passwd: %s:%u: expected USER:PASSWORD\n", o->batch_file, line_no);
            rc = -1;
            break;
        }
        *colon = 0;
        if (!username_valid(buf)) {
            fprintf(stderr, "rampart passwd: %s:%u: invalid username\n", o->batch_file, line_no);
            rc = -1;
        } else if ((pwq && policy_check(pwq, buf, colon + 1) < 0) || set_user(o, l, buf, colon + 1) < 0) {
            fprintf(stderr, "rampart passwd: %s:%u: not applied; nothing written\n", o->batch_file, line_no);
            rc = -1;
        }
        OPENSSL_cleanse(buf, cap);
    }
    if (buf) {
        OPENSSL_cleanse(buf, cap);
        free(buf);
    }
    if (f != stdin)
        fclose(f);
    return rc;
}

static int list_users(const char *path)
{
    passwd_db *db = NULL;
    char err[512];

    if (passwd_db_load(path, &db, err, sizeof err) < 0) {
        fprintf(stderr, "rampart passwd: %s\n", err);
        return 1;
    }
    for (size_t i = 0; i < passwd_db_count(db); i++) {
        const passwd_entry *e = passwd_db_at(db, i);
        char set[32] = "unknown";
        if (e->set_time) {
            time_t t = (time_t)e->set_time;
            struct tm tm;
            gmtime_r(&t, &tm);
            strftime(set, sizeof set, "%Y-%m-%d", &tm);
        }
        printf("%s\t%s%s\tset=%s", e->username, passwd_scheme_name(e->hash.scheme),
               passwd_scheme_is_weak(e->hash.scheme) ? " (weak: change the password)" : "", set);
        if (e->max_age)
            printf("\tmax_age_days=%" PRId64, e->max_age / 86400);
        printf("\n");
    }
    passwd_db_free(db);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: rampart passwd [-c] [--stdin] [OPTIONS] FILE USER    add or change USER (password asked twice)\n"
            "       rampart passwd -b [-c] [OPTIONS] FILE USER PASSWORD  batch (the password shows in ps!)\n"
            "       rampart passwd --batch-file LIST [-c] [OPTIONS] FILE  USER:PASSWORD lines from LIST ('-': stdin)\n"
            "       rampart passwd -D FILE USER                          delete USER\n"
            "       rampart passwd --list FILE                           list users\n"
            "options: --scram [--iterations N] (SCRAM-SHA-256 entry, default 4096 iterations)\n"
            "         --max-age DAYS (per-user maximum password age, 0: none)\n"
            "         --policy FILE (libpwquality settings; default /etc/security/pwquality.conf, minlen 12)\n");
}

static int parse_opts(int argc, char **argv, pw_opts *o)
{
    static const struct option longopts[] = {
        {"stdin", no_argument, NULL, 's'},         {"list", no_argument, NULL, 'l'},
        {"batch-file", required_argument, NULL, 'B'}, {"scram", no_argument, NULL, 'S'},
        {"iterations", required_argument, NULL, 'i'}, {"max-age", required_argument, NULL, 'm'},
        {"policy", required_argument, NULL, 'p'},  {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    char *end;

    memset(o, 0, sizeof *o);
    o->iterations = 4096;
    o->max_age_days = -1;
    optind = 0;
    while ((c = getopt_long(argc, argv, "bcDh", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o->batch = true; break;
        case 'c': o->create = true; break;
        case 'D': o->delete = true; break;
        case 's': o->from_stdin = true; break;
        case 'l': o->list = true; break;
        case 'B': o->batch_file = optarg; break;
        case 'S': o->scram = true; break;
        case 'p': o->policy = optarg; break;
        case 'i':
            o->iterations = (uint32_t)strtoul(optarg, &end, 10);
            if (*end || o->iterations < 4096 || o->iterations > PASSWD_PBKDF2_ITER_MAX) {
                fprintf(stderr, "rampart passwd: --iterations must be 4096..%u\n", PASSWD_PBKDF2_ITER_MAX);
                return -1;
            }
            break;
        case 'm':
            o->max_age_days = strtoll(optarg, &end, 10);
            if (*end || o->max_age_days < 0 || o->max_age_days > 36500) {
                fprintf(stderr, "rampart passwd: --max-age must be 0..36500 days\n");
                return -1;
            }
            break;
        default: return -1;
        }
    }
    return 0;
}

/* Add, change or delete under the lock. */
static int modify(const pw_opts *o, const char *path, const char *user, const char *batch_pw)
{
    pwquality_settings_t *pwq = NULL;
    char lock_path[4096], pw[PW_MAX];
    pw_lines l = {0};
    int lock_fd = -1, rc = 1, n;

    memset(pw, 0, sizeof pw);
    if (user && !username_valid(user)) {
        fprintf(stderr, "rampart passwd: invalid username (empty, ':' or control characters)\n");
        return 1;
    }
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
        fprintf(stderr, "rampart passwd: %s: %s\n", lock_path, strerror(errno));
        goto done;
    }
    if (lines_load(path, o->create, &l) < 0)
        goto done;
    if (o->delete) {
        long idx = lines_find(&l, user);
        if (idx < 0) {
            fprintf(stderr, "rampart passwd: user '%s' not in %s\n", user, path);
            goto done;
        }
        free(l.line[idx]);
        memmove(&l.line[idx], &l.line[idx + 1], (l.count - (size_t)idx - 1) * sizeof *l.line);
        l.count--;
    } else {
        pwq = policy_load(o->policy);
        if (!pwq)
            goto done;
        if (o->batch_file) {
            if (apply_batch_file(o, pwq, &l) < 0)
                goto done;
        } else {
            n = batch_pw ? snprintf(pw, sizeof pw, "%s", batch_pw) : get_password(o, pw, sizeof pw);
            if (n < 0 || n >= (int)sizeof pw || policy_check(pwq, user, pw) < 0 || set_user(o, &l, user, pw) < 0)
                goto done;
        }
    }
    if (lines_save(path, &l) == 0)
        rc = 0;
done:
    OPENSSL_cleanse(pw, sizeof pw);
    if (pwq)
        pwquality_free_settings(pwq);
    lines_free(&l);
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}

int rampart_passwd_main(int argc, char **argv)
{
    pw_opts o;
    int rest;

    if (parse_opts(argc, argv, &o) < 0) {
        usage();
        return 2;
    }
    rest = argc - optind;
    if (o.list)
        return rest == 1 ? list_users(argv[optind]) : (usage(), 2);
    if (o.delete)
        return rest == 2 && !o.batch && !o.batch_file ? modify(&o, argv[optind], argv[optind + 1], NULL) : (usage(), 2);
    if (o.batch_file)
        return rest == 1 ? modify(&o, argv[optind], NULL, NULL) : (usage(), 2);
    if (o.batch)
        return rest == 3 ? modify(&o, argv[optind], argv[optind + 1], argv[optind + 2]) : (usage(), 2);
    return rest == 2 ? modify(&o, argv[optind], argv[optind + 1], NULL) : (usage(), 2);
}
