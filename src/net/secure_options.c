/* secure_options.c - parsing of the TLS, WebSocket and PROXY listener options; see secure.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/secure.h"

void secure_options_init(secure_options *o)
{
    memset(o, 0, sizeof *o);
}

void secure_options_clear(secure_options *o)
{
    free((char *)o->tls.certfile);
    free((char *)o->tls.keyfile);
    free((char *)o->tls.cafile);
    free((char *)o->tls.capath);
    free((char *)o->tls.tls_version);
    free((char *)o->tls.ciphers);
    free((char *)o->tls.ciphers_tls13);
    free((char *)o->tls.ocsp_response_file);
    free((char *)o->tls.ocsp_responder);
    free((char *)o->tls.keyfile_passphrase_file);
    free((char *)o->tls.keyfile_passphrase_env);
    free((char *)o->tls.keyfile_passphrase_credential);
    for (size_t i = 0; i < o->tls.crlfile_count; i++)
        free((char *)o->tls.crlfiles[i]);
    free(o->ws_path);
    for (size_t i = 0; i < o->ws_origin_count; i++)
        free(o->ws_origins[i]);
    memset(o, 0, sizeof *o);
}

/* The option kinds. */
enum secure_kind { SK_STRING, SK_BOOL, SK_INT, SK_SIZE, SK_CRL, SK_PROTOCOL, SK_ORIGIN, SK_WS_PROXY, SK_PROXY_FROM };

typedef struct secure_option {
    const char *name;
    enum secure_kind kind;
    size_t offset; /* into secure_options */
    long long min, max;
} secure_option;

#define OFF(field) offsetof(secure_options, field)
static const secure_option secure_table[] = {
    {"certfile", SK_STRING, OFF(tls.certfile), 0, 0},
    {"keyfile", SK_STRING, OFF(tls.keyfile), 0, 0},
    {"cafile", SK_STRING, OFF(tls.cafile), 0, 0},
    {"capath", SK_STRING, OFF(tls.capath), 0, 0},
    {"crlfile", SK_CRL, 0, 0, 0},
    {"require_certificate", SK_BOOL, OFF(tls.require_certificate), 0, 0},
    {"use_identity_as_username", SK_BOOL, OFF(tls.use_identity_as_username), 0, 0},
    {"use_subject_as_username", SK_BOOL, OFF(tls.use_subject_as_username), 0, 0},
    {"tls_version", SK_STRING, OFF(tls.tls_version), 0, 0},
    {"ciphers", SK_STRING, OFF(tls.ciphers), 0, 0},
    {"ciphers_tls1.3", SK_STRING, OFF(tls.ciphers_tls13), 0, 0},
    {"tls_verify_depth", SK_INT, OFF(tls.verify_depth), 1, 16},
    {"crl_allow_expired", SK_BOOL, OFF(tls.crl_allow_expired), 0, 0},
    {"ocsp_response_file", SK_STRING, OFF(tls.ocsp_response_file), 0, 0},
    {"ocsp_check_clients", SK_BOOL, OFF(tls.ocsp_check_clients), 0, 0},
    {"ocsp_responder", SK_STRING, OFF(tls.ocsp_responder), 0, 0},
    {"ocsp_cache_time", SK_INT, OFF(tls.ocsp_cache_seconds), 1, 86400},
    {"ocsp_timeout", SK_INT, OFF(tls.ocsp_timeout_seconds), 1, 60},
    {"ocsp_allow_unreachable", SK_BOOL, OFF(tls.ocsp_allow_unreachable), 0, 0},
    {"keyfile_passphrase_file", SK_STRING, OFF(tls.keyfile_passphrase_file), 0, 0},
    {"keyfile_passphrase_env", SK_STRING, OFF(tls.keyfile_passphrase_env), 0, 0},
    {"keyfile_passphrase_credential", SK_STRING, OFF(tls.keyfile_passphrase_credential), 0, 0},
    {"tls_ticket_key_lifetime", SK_INT, OFF(tls.ticket_key_lifetime), 60, 7 * 86400},
    {"tls_two_factor", SK_BOOL, OFF(tls_two_factor), 0, 0},
    {"protocol", SK_PROTOCOL, 0, 0, 0},
    {"websocket_path", SK_STRING, OFF(ws_path), 0, 0},
    {"websocket_origin", SK_ORIGIN, 0, 0, 0},
    {"websocket_trusted_proxy", SK_WS_PROXY, 0, 0, 0},
    {"websocket_max_frame_size", SK_SIZE, OFF(ws_max_frame), 126, 268435460},
    {"websocket_max_message_size", SK_SIZE, OFF(ws_max_message), 126, 1LL << 40},
    {"websocket_handshake_timeout", SK_INT, OFF(ws_handshake_timeout), 1, 300},
    {"proxy_protocol", SK_BOOL, OFF(proxy_protocol), 0, 0},
    {"proxy_protocol_from", SK_PROXY_FROM, 0, 0, 0},
};

static const secure_option *secure_find(const char *name)
{
    for (size_t i = 0; i < sizeof secure_table / sizeof secure_table[0]; i++)
        if (strcmp(secure_table[i].name, name) == 0)
            return &secure_table[i];
    return NULL;
}

bool secure_options_knows(const char *name)
{
    return secure_find(name) != NULL;
}

bool secure_options_tls(const secure_options *o)
{
    return o->tls.certfile || o->tls.keyfile;
}

static int secure_bad(char *err, size_t errlen, const char *name, const char *value, const char *why)
{
    snprintf(err, errlen, "%s %s: %s", name, value, why);
    return -1;
}

/* Parses a decimal integer in [min, max]. */
static bool secure_parse_int(const char *value, long long min, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Appends a CIDR ("ADDR" or "ADDR/BITS") to a bounded list. */
static int secure_add_cidr(ws_cidr *list, size_t *count, const secure_option *opt, const char *value, char *err,
                           size_t errlen)
{
    if (*count >= SECURE_MAX_LIST)
        return secure_bad(err, errlen, opt->name, value, "too many entries for this listener");
    if (sec_cidr_parse(value, &list[*count].base, &list[*count].bits) != 0)
        return secure_bad(err, errlen, opt->name, value, "not an IPv4/IPv6 address or ADDR/BITS network");
    (*count)++;
    return 1;
}

/* Options that are lists or enums. */
static int secure_set_special(secure_options *o, const secure_option *opt, const char *value, char *err,
                              size_t errlen)
{
    switch (opt->kind) {
    case SK_CRL:
        if (o->tls.crlfile_count >= TLS_MAX_CRL_FILES)
            return secure_bad(err, errlen, opt->name, value, "at most 8 crlfile lines per listener");
        if (!(o->tls.crlfiles[o->tls.crlfile_count] = strdup(value)))
            return secure_bad(err, errlen, opt->name, value, "out of memory");
        o->tls.crlfile_count++;
        return 1;
    case SK_PROTOCOL:
        if (strcmp(value, "mqtt") && strcmp(value, "websockets"))
            return secure_bad(err, errlen, opt->name, value, "must be mqtt or websockets");
        o->websocket = strcmp(value, "websockets") == 0;
        return 1;
    case SK_ORIGIN:
        if (o->ws_origin_count >= SECURE_MAX_LIST)
            return secure_bad(err, errlen, opt->name, value, "too many entries for this listener");
        if (!(o->ws_origins[o->ws_origin_count] = strdup(value)))
            return secure_bad(err, errlen, opt->name, value, "out of memory");
        o->ws_origin_count++;
        return 1;
    case SK_WS_PROXY:
        return secure_add_cidr(o->ws_proxies, &o->ws_proxy_count, opt, value, err, errlen);
    case SK_PROXY_FROM:
        return secure_add_cidr(o->proxy_from, &o->proxy_from_count, opt, value, err, errlen);
    default:
        return secure_bad(err, errlen, opt->name, value, "internal error");
    }
}

int secure_options_set(secure_options *o, const char *name, const char *value, char *err, size_t errlen)
{
    const secure_option *opt = secure_find(name);
    long long v;
    if (!opt)
        return 0;
    char *field = (char *)o + opt->offset;
    switch (opt->kind) {
    case SK_STRING: {
        if (!*value)
            return secure_bad(err, errlen, name, value, "needs a value");
        if (!strcmp(name, "tls_version") && strcmp(value, "tlsv1.2") && strcmp(value, "tlsv1.3"))
            return secure_bad(err, errlen, name, value, "only tlsv1.2 and tlsv1.3 are allowed");
        if (!strcmp(name, "websocket_path") && value[0] != '/')
            return secure_bad(err, errlen, name, value, "must start with /");
        char *copy = strdup(value);
        if (!copy)
            return secure_bad(err, errlen, name, value, "out of memory");
        free(*(char **)field);
        *(char **)field = copy;
        return 1;
    }
    case SK_BOOL:
        if (strcmp(value, "true") && strcmp(value, "false"))
            return secure_bad(err, errlen, name, value, "must be true or false");
        *(bool *)field = strcmp(value, "true") == 0;
        return 1;
    case SK_INT:
        if (!secure_parse_int(value, opt->min, opt->max, &v)) {
            snprintf(err, errlen, "%s %s: must be a whole number from %lld to %lld", name, value, opt->min,
                     opt->max);
            return -1;
        }
        *(int *)field = (int)v;
        return 1;
    case SK_SIZE:
        if (!secure_parse_int(value, opt->min, opt->max, &v)) {
            snprintf(err, errlen, "%s %s: must be a byte count from %lld to %lld", name, value, opt->min,
                     opt->max);
            return -1;
        }
        *(unsigned long long *)field = (unsigned long long)v;
        return 1;
    default:
        return secure_set_special(o, opt, value, err, errlen);
    }
}
