/* acl.c - see acl.h: the acl_file parser and the indexed rule tries. */
#include "security/acl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec/mqtt.h"

typedef struct acl_rule {
    uint8_t access;   /* ACL_* bits; 0 = deny */
    uint8_t max_qos;  /* 0..2 */
    bool retain_deny; /* write rule that refuses retained publishes */
    uint16_t listener; /* 0 = any */
} acl_rule;

typedef struct acl_node acl_node;
struct acl_node {
    char *level;         /* this node's literal level (NULL for the root and wildcard nodes) */
    size_t level_len;
    acl_node **children; /* literal children, sorted by level */
    size_t nchildren, cap_children;
    acl_node *plus, *hash, *user_var, *client_var;
    acl_rule *rules;     /* rules whose filter ends at this node */
    size_t nrules;
};

typedef struct acl_block {
    char *name;
    acl_node root;
} acl_block;

struct acl {
    char *path;
    acl_node anonymous; /* rules before the first user/identity line */
    acl_block **users;  /* sorted by name */
    size_t nusers;
    acl_block **identities; /* sorted by name */
    size_t nidentities;
    acl_node patterns;
    size_t rule_count;
};

/* ---- tries ------------------------------------------------------------------------------------------ */

static void node_clear(acl_node *n)
{
    for (size_t i = 0; i < n->nchildren; i++) {
        node_clear(n->children[i]);
        free(n->children[i]);
    }
    acl_node *wild[] = {n->plus, n->hash, n->user_var, n->client_var};
    for (size_t i = 0; i < 4; i++) {
        if (wild[i]) {
            node_clear(wild[i]);
            free(wild[i]);
        }
    }
    free(n->children);
    free(n->rules);
    free(n->level);
    memset(n, 0, sizeof(*n));
}

/* Compares a level (s, len) with a node's level, as memcmp then length. */
static int level_compare(const char *s, size_t len, const acl_node *n)
{
    size_t m = len < n->level_len ? len : n->level_len;
    int c = memcmp(s, n->level, m);
    if (c)
        return c;
    return len < n->level_len ? -1 : len > n->level_len ? 1 : 0;
}

/* Bisection over n's literal children: the index of the level, or where it would be inserted (*found 0). */
static size_t child_search(const acl_node *n, const char *s, size_t len, bool *found)
{
    size_t lo = 0, hi = n->nchildren;
    *found = false;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = level_compare(s, len, n->children[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static const acl_node *child_find(const acl_node *n, const char *s, size_t len)
{
    bool found;
    size_t i = child_search(n, s, len, &found);
    return found ? n->children[i] : NULL;
}

/* The literal child for level s, created if missing. NULL when out of memory. */
static acl_node *child_get(acl_node *n, const char *s, size_t len)
{
    bool found;
    size_t i = child_search(n, s, len, &found);
    if (found)
        return n->children[i];
    if (n->nchildren == n->cap_children) {
        size_t cap = n->cap_children ? n->cap_children * 2 : 4;
        acl_node **grown = realloc(n->children, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        n->children = grown;
        n->cap_children = cap;
    }
    acl_node *c = calloc(1, sizeof(*c));
    if (!c || !(c->level = malloc(len + 1))) {
        free(c);
        return NULL;
    }
    memcpy(c->level, s, len);
    c->level[len] = '\0';
    c->level_len = len;
    memmove(&n->children[i + 1], &n->children[i], (n->nchildren - i) * sizeof(*n->children));
    n->children[i] = c;
    n->nchildren++;
    return c;
}

static acl_node *wild_get(acl_node **slot)
{
    if (!*slot)
        *slot = calloc(1, sizeof(acl_node));
    return *slot;
}

/* Adds rule r for filter (validated) under root; in pattern mode whole levels "%u" / "%c" are variables.
 * Returns 0 or -1 when out of memory. */
static int trie_insert(acl_node *root, const char *filter, size_t len, bool pattern, const acl_rule *r)
{
    acl_node *n = root;
    size_t pos = 0;
    for (;;) {
        const char *slash = memchr(filter + pos, '/', len - pos);
        size_t end = slash ? (size_t)(slash - filter) : len, l = end - pos;
        const char *s = filter + pos;
        if (l == 1 && s[0] == '+')
            n = wild_get(&n->plus);
        else if (l == 1 && s[0] == '#')
            n = wild_get(&n->hash);
        else if (pattern && l == 2 && !memcmp(s, "%u", 2))
            n = wild_get(&n->user_var);
        else if (pattern && l == 2 && !memcmp(s, "%c", 2))
            n = wild_get(&n->client_var);
        else
            n = child_get(n, s, l);
        if (!n)
            return -1;
        if (!slash)
            break;
        pos = end + 1;
    }
    acl_rule *grown = realloc(n->rules, (n->nrules + 1) * sizeof(*grown));
    if (!grown)
        return -1;
    n->rules = grown;
    n->rules[n->nrules++] = *r;
    return 0;
}

/* ---- checking --------------------------------------------------------------------------------------- */

/* What the rules that matched say. */
typedef struct match_state {
    const acl_client *client;
    enum acl_access access;
    uint8_t qos;
    bool retain;
    bool denied;
    bool granted;
    uint8_t max_qos; /* highest maxqos among the grants (SUBSCRIBE) */
    uint32_t examined;
} match_state;

/* True if name may stand for a %u / %c level equal to (s, len): non-empty, no '/', '+', '#'. */
static bool var_matches(const char *name, const char *s, size_t len)
{
    if (!name || !*name || strpbrk(name, "/+#"))
        return false;
    return strlen(name) == len && !memcmp(name, s, len);
}

static void rules_apply(match_state *m, const acl_node *n)
{
    m->examined += (uint32_t)n->nrules;
    for (size_t i = 0; i < n->nrules; i++) {
        const acl_rule *r = &n->rules[i];
        if (r->listener && r->listener != m->client->listener_port)
            continue;
        if (r->access == 0) {
            m->denied = true;
            continue;
        }
        if (!(r->access & m->access))
            continue;
        if (m->access == ACL_WRITE && (m->qos > r->max_qos || (m->retain && r->retain_deny)))
            continue;
        m->granted = true;
        if (r->max_qos > m->max_qos)
            m->max_qos = r->max_qos;
    }
}

/* Finds the end of the level starting at pos; sets *more when a '/' follows. */
static size_t level_end(const char *t, size_t len, size_t pos, bool *more)
{
    const char *slash = memchr(t + pos, '/', len - pos);
    *more = slash != NULL;
    return slash ? (size_t)(slash - t) : len;
}

/* Applies every rule of the trie at n whose filter matches the topic name t[pos..len) (`more` levels remain
 * when at_end is false). `first`: pos is the first level (wildcards there skip '$' topics). */
static void match_name(match_state *m, const acl_node *n, const char *t, size_t len, size_t pos, bool at_end,
                       bool first)
{
    bool dollar = first && !at_end && pos < len && t[pos] == '$';
    if (n->hash && !dollar)
        rules_apply(m, n->hash);
    if (at_end) {
        rules_apply(m, n);
        return;
    }
    bool more;
    size_t end = level_end(t, len, pos, &more);
    const char *s = t + pos;
    size_t l = end - pos, next = more ? end + 1 : len;
    const acl_node *c = child_find(n, s, l);
    if (c)
        match_name(m, c, t, len, next, !more, false);
    if (n->plus && !dollar)
        match_name(m, n->plus, t, len, next, !more, false);
    if (n->user_var && var_matches(m->client->username, s, l))
        match_name(m, n->user_var, t, len, next, !more, false);
    if (n->client_var && var_matches(m->client->client_id, s, l))
        match_name(m, n->client_var, t, len, next, !more, false);
}

/* Applies every rule of the trie at n whose filter covers the whole filter f[pos..len): every topic f can
 * match, the rule's filter matches too. */
static void match_cover(match_state *m, const acl_node *n, const char *f, size_t len, size_t pos, bool at_end,
                        bool first)
{
    bool dollar = first && !at_end && pos < len && f[pos] == '$';
    if (n->hash && !dollar)
        rules_apply(m, n->hash);
    if (at_end) {
        rules_apply(m, n);
        return;
    }
    bool more;
    size_t end = level_end(f, len, pos, &more);
    const char *s = f + pos;
    size_t l = end - pos, next = more ? end + 1 : len;
    if (l == 1 && s[0] == '#')
        return; /* only a '#' rule covers '#' (applied above) */
    if (l == 1 && s[0] == '+') {
        if (n->plus)
            match_cover(m, n->plus, f, len, next, !more, false);
        return;
    }
    const acl_node *c = child_find(n, s, l);
    if (c)
        match_cover(m, c, f, len, next, !more, false);
    if (n->plus && !dollar)
        match_cover(m, n->plus, f, len, next, !more, false);
    if (n->user_var && var_matches(m->client->username, s, l))
        match_cover(m, n->user_var, f, len, next, !more, false);
    if (n->client_var && var_matches(m->client->client_id, s, l))
        match_cover(m, n->client_var, f, len, next, !more, false);
}

static const acl_block *block_find(acl_block *const *blocks, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, blocks[mid]->name);
        if (c == 0)
            return blocks[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Runs the walk for one trie. */
static void match_trie(match_state *m, const acl_node *root, const char *t, size_t len)
{
    if (m->access == ACL_SUBSCRIBE)
        match_cover(m, root, t, len, 0, false, true);
    else
        match_name(m, root, t, len, 0, false, true);
}

acl_result acl_check(const acl *a, const acl_client *client, enum acl_access access, const char *topic,
                     size_t len, uint8_t qos, bool retain)
{
    acl_result res = {false, 0, 0};
    if (!a || !client || !topic || len == 0)
        return res;
    if (access == ACL_WRITE && len >= 4 && !memcmp(topic, "$SYS", 4) && (len == 4 || topic[4] == '/'))
        return res; /* never, whatever the rules say */
    if (access == ACL_SUBSCRIBE) {
        mqtt_bytes whole = {(const uint8_t *)topic, len}, group, inner;
        if (mqtt_shared_split(whole, &group, &inner)) {
            topic = (const char *)inner.data;
            len = inner.len;
            if (len == 0)
                return res;
        }
    }
    match_state m = {client, access, qos, retain, false, false, 0, 0};
    if (client->username) {
        const acl_block *b = block_find(a->users, a->nusers, client->username);
        if (b)
            match_trie(&m, &b->root, topic, len);
    } else {
        match_trie(&m, &a->anonymous, topic, len);
    }
    if (client->cert_identity) {
        const acl_block *b = block_find(a->identities, a->nidentities, client->cert_identity);
        if (b)
            match_trie(&m, &b->root, topic, len);
    }
    match_trie(&m, &a->patterns, topic, len);
    res.allowed = m.granted && !m.denied;
    res.rules_examined = m.examined;
    if (res.allowed && access == ACL_SUBSCRIBE)
        res.max_qos = m.max_qos;
    else if (res.allowed)
        res.max_qos = 2;
    return res;
}

/* ---- parsing ---------------------------------------------------------------------------------------- */

typedef struct acl_parser {
    acl *a;
    const char *name;
    int line;
    acl_node *current; /* where topic rules go */
    char *err;
    size_t errlen;
} acl_parser;

static int parse_fail(acl_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int parse_fail(acl_parser *p, const char *fmt, ...)
{
    char body[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof(body), fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "%s:%d: %s", p->name, p->line, body);
    return -1;
}

static char *skip_blanks(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Maps an access word; returns -1 when s is not one. */
static int access_word(const char *s)
{
    if (!strcmp(s, "read"))
        return ACL_READ | ACL_SUBSCRIBE;
    if (!strcmp(s, "write"))
        return ACL_WRITE;
    if (!strcmp(s, "readwrite"))
        return ACL_READ | ACL_WRITE | ACL_SUBSCRIBE;
    if (!strcmp(s, "subscribe"))
        return ACL_SUBSCRIBE;
    if (!strcmp(s, "deny"))
        return 0;
    return -1;
}

/* True if w looks like OPTION=VALUE (lower-case name). */
static bool looks_like_option(const char *w)
{
    const char *eq = strchr(w, '=');
    if (!eq || eq == w)
        return false;
    for (const char *c = w; c < eq; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return false;
    return true;
}

/* Parses one rule option into r. Returns 0 or -1 (reported). */
static int parse_option(acl_parser *p, const char *w, acl_rule *r)
{
    const char *v = strchr(w, '=') + 1;
    if (!strncmp(w, "maxqos=", 7)) {
        if (strlen(v) != 1 || v[0] < '0' || v[0] > '2')
            return parse_fail(p, "maxqos must be 0, 1 or 2, not '%s'", v);
        r->max_qos = (uint8_t)(v[0] - '0');
        return 0;
    }
    if (!strncmp(w, "retain=", 7)) {
        if (!strcmp(v, "deny"))
            r->retain_deny = true;
        else if (!strcmp(v, "allow"))
            r->retain_deny = false;
        else
            return parse_fail(p, "retain must be allow or deny, not '%s'", v);
        if (!(r->access & ACL_WRITE))
            return parse_fail(p, "retain= applies to write and readwrite rules only");
        return 0;
    }
    if (!strncmp(w, "listener=", 9)) {
        char *end;
        errno = 0;
        long port = strtol(v, &end, 10);
        if (errno || *end || !*v || port < 1 || port > 65535)
            return parse_fail(p, "listener must be a port 1..65535, not '%s'", v);
        r->listener = (uint16_t)port;
        return 0;
    }
    return parse_fail(p, "unknown rule option '%s' (maxqos=, retain=, listener=)", w);
}

/* Copies the next blank-separated word of s into w (at most wsize - 1 bytes, longer words come back empty)
 * and returns the position after it. */
static const char *take_word(const char *s, char *w, size_t wsize)
{
    while (*s == ' ' || *s == '\t')
        s++;
    const char *start = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    size_t n = (size_t)(s - start);
    if (n >= wsize)
        n = 0;
    memcpy(w, start, n);
    w[n] = '\0';
    return s;
}

/* Checks a rule's topic filter; in pattern mode %u / %c must be whole levels. Returns 0 or -1 (reported). */
static int check_rule_topic(acl_parser *p, const char *topic, bool pattern)
{
    size_t len = strlen(topic);
    if (len == 0)
        return parse_fail(p, "%s needs a topic", pattern ? "pattern" : "topic");
    if (!mqtt_topic_filter_valid((const uint8_t *)topic, len))
        return parse_fail(p, "'%s' is not a valid topic filter", topic);
    if (!strncmp(topic, "$share/", 7))
        return parse_fail(p, "'%s': ACL rules name topics, not shared subscriptions", topic);
    for (const char *q = pattern ? strchr(topic, '%') : NULL; q; q = strchr(q + 1, '%')) {
        bool whole = (q == topic || q[-1] == '/') && (q[1] == 'u' || q[1] == 'c') && (q[2] == '\0' || q[2] == '/');
        if (!whole)
            return parse_fail(p, "'%s': %%u and %%c must each be a whole topic level", topic);
    }
    return 0;
}

/* `topic ...` or `pattern ...` (rest after the keyword): [ACCESS [OPTION...]] TOPIC. */
static int parse_rule(acl_parser *p, const char *rest, bool pattern)
{
    acl_rule r = {ACL_READ | ACL_WRITE | ACL_SUBSCRIBE, 2, false, 0};
    char w[64];
    const char *after = take_word(rest, w, sizeof(w));
    int acc = access_word(w);
    const char *topic = skip_blanks((char *)rest);
    if (acc >= 0) {
        r.access = (uint8_t)acc;
        topic = skip_blanks((char *)after);
        for (;;) {
            const char *next = take_word(topic, w, sizeof(w));
            if (!looks_like_option(w))
                break;
            if (r.access == 0)
                return parse_fail(p, "rule options do not apply to deny rules");
            if (parse_option(p, w, &r) < 0)
                return -1;
            topic = skip_blanks((char *)next);
        }
    } else if (strpbrk(topic, " \t")) {
        return parse_fail(p, "'%s' is not read, write, readwrite, subscribe or deny (a topic containing spaces "
                             "needs an access word first)", w[0] ? w : "(long word)");
    }
    if (check_rule_topic(p, topic, pattern) < 0)
        return -1;
    if (p->a->rule_count >= ACL_MAX_RULES)
        return parse_fail(p, "more than %d rules", ACL_MAX_RULES);
    if (trie_insert(pattern ? &p->a->patterns : p->current, topic, strlen(topic), pattern, &r) < 0)
        return parse_fail(p, "out of memory");
    p->a->rule_count++;
    return 0;
}

/* The block named name in the sorted array, created if missing. NULL when out of memory. */
static acl_block *block_get(acl_block ***blocks, size_t *n, const char *name)
{
    size_t lo = 0, hi = *n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, (*blocks)[mid]->name);
        if (c == 0)
            return (*blocks)[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    acl_block **grown = realloc(*blocks, (*n + 1) * sizeof(*grown));
    if (!grown)
        return NULL;
    *blocks = grown;
    acl_block *b = calloc(1, sizeof(*b));
    if (!b || !(b->name = strdup(name))) {
        free(b);
        return NULL;
    }
    memmove(&grown[lo + 1], &grown[lo], (*n - lo) * sizeof(*grown));
    grown[lo] = b;
    (*n)++;
    return b;
}

/* `user NAME` / `identity NAME`: the rest of the line, trimmed, is the name. */
static int parse_block(acl_parser *p, char *rest, bool identity)
{
    char *name = skip_blanks(rest);
    if (!*name)
        return parse_fail(p, "%s needs a name", identity ? "identity" : "user");
    acl_block *b = identity ? block_get(&p->a->identities, &p->a->nidentities, name)
                            : block_get(&p->a->users, &p->a->nusers, name);
    if (!b)
        return parse_fail(p, "out of memory");
    p->current = &b->root;
    return 0;
}

/* One line, NUL-terminated, without its newline. */
static int parse_line(acl_parser *p, char *line)
{
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = '\0';
    char *s = skip_blanks(line);
    if (!*s || *s == '#')
        return 0;
    char keyword[16];
    s = (char *)take_word(s, keyword, sizeof(keyword));
    if (!strcmp(keyword, "topic"))
        return parse_rule(p, s, false);
    if (!strcmp(keyword, "pattern"))
        return parse_rule(p, s, true);
    if (!strcmp(keyword, "user"))
        return parse_block(p, s, false);
    if (!strcmp(keyword, "identity"))
        return parse_block(p, s, true);
    return parse_fail(p, "unknown keyword '%.40s' (topic, pattern, user, identity)", keyword[0] ? keyword : line);
}

acl *acl_load_buffer(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    acl *a = calloc(1, sizeof(*a));
    if (!a || !(a->path = strdup(name))) {
        free(a);
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    acl_parser p = {a, a->path, 0, &a->anonymous, err, errlen};
    char buf[ACL_MAX_LINE + 1];
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
        p.line++;
        int rc;
        if (n > ACL_MAX_LINE) {
            rc = parse_fail(&p, "line longer than %d bytes", ACL_MAX_LINE);
        } else if (memchr(text + pos, '\0', n)) {
            rc = parse_fail(&p, "line contains a NUL byte");
        } else {
            memcpy(buf, text + pos, n);
            buf[n] = '\0';
            rc = parse_line(&p, buf);
        }
        if (rc < 0) {
            acl_free(a);
            return NULL;
        }
        pos += n + (nl ? 1 : 0);
    }
    return a;
}

acl *acl_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    acl *a = NULL;
    char *text = NULL;
    struct stat st;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        goto done;
    }
    if ((unsigned long long)st.st_size > ACL_MAX_FILE_SIZE) {
        snprintf(err, errlen, "%s: larger than %u bytes", path, ACL_MAX_FILE_SIZE);
        goto done;
    }
    text = malloc((size_t)st.st_size + 1);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto done;
    }
    size_t got = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto done;
    }
    a = acl_load_buffer(path, text, got, err, errlen);
done:
    free(text);
    fclose(f);
    return a;
}

void acl_free(acl *a)
{
    if (!a)
        return;
    node_clear(&a->anonymous);
    node_clear(&a->patterns);
    for (size_t i = 0; i < a->nusers; i++) {
        node_clear(&a->users[i]->root);
        free(a->users[i]->name);
        free(a->users[i]);
    }
    for (size_t i = 0; i < a->nidentities; i++) {
        node_clear(&a->identities[i]->root);
        free(a->identities[i]->name);
        free(a->identities[i]);
    }
    free(a->users);
    free(a->identities);
    free(a->path);
    free(a);
}

int acl_reload(acl **current, char *err, size_t errlen)
{
    acl *fresh = acl_load((*current)->path, err, errlen);
    if (!fresh)
        return -1;
    acl_free(*current);
    *current = fresh;
    return 0;
}

const char *acl_path(const acl *a)
{
    return a->path;
}

size_t acl_rule_count(const acl *a)
{
    return a->rule_count;
}
