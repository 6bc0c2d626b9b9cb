/*
 * fuzz_broker.c - the broker's whole input path (framing, decoding, packet handling, sessions, routing,
 * output) fed by up to four clients over socketpairs. The input is a script of chunks:
 *   [client index byte] [length byte] [that many bytes]   ...
 * each chunk is written to that client's socket and the broker runs one step; a length byte of 0 closes the
 * client's socket instead. Whatever the bytes, the broker must not crash, leak or touch memory it does not
 * own (ASan/UBSan/LeakSanitizer), and broker_free must release everything.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "broker/broker.h"

#define FUZZ_CLIENTS 4

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/*
 * A toy security provider so that enhanced authentication and re-authentication run too: an Authentication
 * Method is accepted; the first byte of the Authentication Data picks the answer: 0 accept, 1 continue
 * (AUTH 0x18), 2 refuse, 3 pending (answered with "accept" at the next step of the script). Without a method:
 * accept.
 */
static uint64_t fuzz_pending[8];
static int fuzz_npending;

static int fuzz_answer(const mqtt_props *pr, uint64_t cookie, broker_auth_result *out)
{
    memset(out, 0, sizeof *out);
    if (!(pr->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_METHOD)))
        return BROKER_AUTH_DONE;
    uint8_t pick = (pr->present & MQTT_PROP_BIT(MQTT_PROP_AUTH_DATA)) && pr->auth_data.len ? pr->auth_data.data[0] % 4
                                                                                             : 0;
    if (pick == 3 && fuzz_npending < 8) {
        fuzz_pending[fuzz_npending++] = cookie;
        return BROKER_AUTH_PENDING;
    }
    out->reason = pick == 1 ? MQTT_RC_CONTINUE_AUTH : pick == 2 ? MQTT_RC_NOT_AUTHORIZED : 0;
    out->data = (const uint8_t *)"fuzz";
    out->data_len = 4;
    return BROKER_AUTH_DONE;
}

static int fuzz_authenticate(void *ctx, const broker_client *cl, const mqtt_connect *ck, uint64_t cookie,
                             broker_auth_result *out)
{
    (void)ctx;
    (void)cl;
    return fuzz_answer(&ck->props, cookie, out);
}

static int fuzz_step(void *ctx, const broker_client *cl, const mqtt_reason_only *a, uint64_t cookie,
                     broker_auth_result *out)
{
    (void)ctx;
    (void)cl;
    return fuzz_answer(&a->props, cookie, out);
}

static void fuzz_complete_pending(broker *b)
{
    broker_auth_result ok = {0};
    int n = fuzz_npending;
    fuzz_npending = 0;
    for (int i = 0; i < n; i++)
        broker_auth_complete(b, fuzz_pending[i], &ok);
}

static void fuzz_drain(int fd)
{
    uint8_t buf[4096];
    while (fd >= 0 && read(fd, buf, sizeof buf) > 0) {
    }
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    broker_settings s;
    int fds[FUZZ_CLIENTS];
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LEVEL_ERROR);
    broker_settings_default(&s);
    s.no_signals = true;
    s.sys_interval = 0;
    s.max_inflight_messages = 4;
    s.max_queued_messages = 8;
    s.out_buffer_limit = 16384;
    broker_listener_settings *ls = broker_settings_add_listener(&s, "127.0.0.1", 0);
    ls->allow_anonymous = true;
    ls->max_topic_alias = 4;
    broker *b = broker_new(&s);
    if (!b)
        return 0;
    broker_security sec = {.authenticate = fuzz_authenticate, .auth_step = fuzz_step,
                           .reauthenticate = fuzz_step};
    broker_set_security(b, &sec);
    fuzz_npending = 0;
    for (int i = 0; i < FUZZ_CLIENTS; i++) {
        int sv[2];
        fds[i] = -1;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
            continue;
        fds[i] = sv[0];
        broker_attach_fd(b, sv[1], i & 1 ? "192.0.2.1" : "2001:db8::1");
    }
    size_t pos = 0;
    while (pos + 2 <= size) {
        int who = data[pos] % FUZZ_CLIENTS;
        size_t len = data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = size - pos;
        if (len == 0 && fds[who] >= 0) {
            close(fds[who]);
            fds[who] = -1;
        } else if (fds[who] >= 0) {
            (void)!write(fds[who], data + pos, len);
        }
        pos += len;
        broker_step(b, 0);
        fuzz_complete_pending(b);
        for (int i = 0; i < FUZZ_CLIENTS; i++)
            fuzz_drain(fds[i]);
    }
    broker_step(b, 0);
    broker_free(b);
    for (int i = 0; i < FUZZ_CLIENTS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return 0;
}
