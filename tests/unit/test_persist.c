/* test_persist.c - the encrypted store: records (seal/open, tamper, keys), the store over its engine (batches,
 * reopen, rotation, tampered file, full map), key loading. The store tests run on LMDB here and on SQLite in
 * test_persist_sqlite.c, which includes this file with TEST_PERSIST_ENGINE "sqlite". */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "broker/broker.h"
#include "broker/persist.h"
#include "persist/pstate.h"
#include "persist/record.h"
#include "persist/store.h"
#include "test.h"

#ifndef TEST_PERSIST_ENGINE
#define TEST_PERSIST_ENGINE "lmdb"
#endif

static const uint8_t key_a[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                  17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const uint8_t key_b[32] = {0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba,
                                  0xbb, 0xbc, 0xbd, 0xbe, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5,
                                  0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf};

static char *tmpdir_make(void)
{
    char *d = strdup("/tmp/rampart-test-persist-XXXXXX");
    return mkdtemp(d);
}

static void tmpdir_remove(char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    CHECK_EQ(system(cmd), 0);
    free(d);
}

TEST(record_roundtrip_and_index_hides_the_logical_key)
{
    record_keys k;
    uint8_t idx[RECORD_INDEX_LEN], idx2[RECORD_INDEX_LEN], *rec = NULL;
    size_t len = 0;
    record_view v;
    CHECK_EQ(record_keys_derive(key_a, &k), 0);
    record_index(&k, 3, (const uint8_t *)"sensors/kitchen", 15, idx);
    record_index(&k, 3, (const uint8_t *)"sensors/kitchen", 15, idx2);
    CHECK_MEM(idx, idx2, sizeof idx);
    CHECK_EQ(idx[0], 3);
    CHECK(memmem(idx, sizeof idx, "kitchen", 7) == NULL);
    record_index(&k, 2, (const uint8_t *)"sensors/kitchen", 15, idx2);
    CHECK(memcmp(idx + 1, idx2 + 1, 32) != 0); /* the kind is part of the hash */
    CHECK_EQ(record_seal(&k, idx, 3, (const uint8_t *)"sensors/kitchen", 15, (const uint8_t *)"21.5C", 5, &rec,
                         &len), 0);
    CHECK_EQ(len, RECORD_OVERHEAD + 15 + 5);
    CHECK(memmem(rec, len, "21.5C", 5) == NULL && memmem(rec, len, "kitchen", 7) == NULL);
    const record_keys *keys[1] = {&k};
    CHECK_EQ(record_open(keys, 1, idx, sizeof idx, rec, len, &v), RECORD_OK);
    CHECK_EQ(v.kind, 3);
    CHECK_EQ(v.lkey_len, 15);
    CHECK_MEM(v.lkey, "sensors/kitchen", 15);
    CHECK_EQ(v.value_len, 5);
    CHECK_MEM(v.value, "21.5C", 5);
    CHECK_EQ(v.key_id, k.id);
    record_view_free(&v);
    free(rec);
    record_keys_wipe(&k);
}

TEST(record_any_flipped_byte_fails_authentication)
{
    record_keys k;
    uint8_t idx[RECORD_INDEX_LEN], *rec = NULL;
    size_t len = 0;
    record_view v;
    record_keys_derive(key_a, &k);
    const record_keys *keys[1] = {&k};
    record_index(&k, 2, (const uint8_t *)"client-1", 8, idx);
    CHECK_EQ(record_seal(&k, idx, 2, (const uint8_t *)"client-1", 8, (const uint8_t *)"state", 5, &rec, &len), 0);
    for (size_t i = 0; i < len; i++) {
        rec[i] ^= 0x40;
        enum record_status st = record_open(keys, 1, idx, sizeof idx, rec, len, &v);
        CHECK(st != RECORD_OK);
        if (st == RECORD_OK)
            record_view_free(&v);
        rec[i] ^= 0x40;
    }
    idx[5] ^= 1; /* the same record under another index (moved) */
    CHECK_EQ(record_open(keys, 1, idx, sizeof idx, rec, len, &v), RECORD_AUTH_FAILED);
    idx[5] ^= 1;
    CHECK_EQ(record_open(keys, 1, idx, sizeof idx, rec, len - 1, &v), RECORD_AUTH_FAILED);
    CHECK_EQ(record_open(keys, 1, idx, sizeof idx, rec, 10, &v), RECORD_MALFORMED);
    record_keys other;
    record_keys_derive(key_b, &other);
    const record_keys *wrong[1] = {&other};
    CHECK_EQ(record_open(wrong, 1, idx, sizeof idx, rec, len, &v), RECORD_UNKNOWN_KEY);
    CHECK(other.id != k.id);
    free(rec);
    record_keys_wipe(&k);
    record_keys_wipe(&other);
}

TEST(record_seal_to_counts_nonces_up_and_opens)
{
    record_keys k;
    record_nonce n = {.left = 0};
    uint8_t idx[RECORD_INDEX_LEN], rec[3][RECORD_OVERHEAD + 8 + 64], small[RECORD_OVERHEAD];
    record_view v;
    CHECK_EQ(record_keys_derive(key_a, &k), 0);
    const record_keys *keys[1] = {&k};
    record_index(&k, 1, (const uint8_t *)"msg-0001", 8, idx);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(record_seal_to(&k, &n, idx, 1, (const uint8_t *)"msg-0001", 8, (const uint8_t *)"payload", 7,
                                rec[i], sizeof rec[i]),
                 record_sealed_len(8, 7));
        CHECK_EQ(record_open(keys, 1, idx, sizeof idx, rec[i], record_sealed_len(8, 7), &v), RECORD_OK);
        CHECK_EQ(v.value_len, 7);
        CHECK_MEM(v.value, "payload", 7);
        record_view_free(&v);
    }
    CHECK_EQ(n.left, RECORD_NONCE_RUN - 3);
    /* the nonces (bytes 5..16) of one run differ by one, as a 96-bit big-endian counter */
    CHECK(memcmp(rec[0] + 5, rec[1] + 5, 12) != 0 && memcmp(rec[1] + 5, rec[2] + 5, 12) != 0);
    CHECK_EQ((uint8_t)(rec[0][16] + 1), rec[1][16]);
    CHECK(memmem(rec[2], record_sealed_len(8, 7), "payload", 7) == NULL);
    /* too small a buffer: nothing sealed */
    CHECK_EQ(record_seal_to(&k, &n, idx, 1, (const uint8_t *)"msg-0001", 8, (const uint8_t *)"payload", 7, small,
                            sizeof small),
             0);
    record_keys_wipe(&k);
}

typedef struct seen {
    int count;
    char keys[8][32];
    char values[8][32];
} seen;

static int collect(void *ctx, const uint8_t *lkey, size_t lkey_len, const uint8_t *value, size_t len)
{
    seen *s = ctx;
    if (s->count < 8 && lkey_len < 32 && len < 32) {
        memcpy(s->keys[s->count], lkey, lkey_len);
        s->keys[s->count][lkey_len] = 0;
        memcpy(s->values[s->count], value, len);
        s->values[s->count][len] = 0;
    }
    s->count++;
    return STORE_OK;
}

static store *open_store(const char *dir, const uint8_t *key, const uint8_t *old, uint64_t map)
{
    char path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/rampart.db", dir);
    store_options o = {.path = path, .engine = TEST_PERSIST_ENGINE, .map_size = map, .durable = true, .key = key, .old_key = old};
    store *s = store_open(&o, err, sizeof err);
    if (!s)
        fprintf(stderr, "  store_open: %s\n", err);
    return s;
}

static bool file_contains(const char *dir, const char *needle)
{
    char path[256];
    snprintf(path, sizeof path, "%s/rampart.db", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memmem(buf, n, needle, strlen(needle)) != NULL;
}

TEST(store_batches_survive_reopen_and_nothing_is_readable_on_disk)
{
    char *dir = tmpdir_make();
    store *s = open_store(dir, key_a, NULL, 8 << 20);
    CHECK(s != NULL);
    if (!s)
        return;
    CHECK_EQ(store_begin(s), STORE_OK);
    CHECK_EQ(store_put(s, STORE_KIND_RETAIN, "plant/secret-topic", 18, "payload-XYZZY", 13), STORE_OK);
    CHECK_EQ(store_put(s, STORE_KIND_SESSION, "client-QWERTY", 13, "s1", 2), STORE_OK);
    CHECK_EQ(store_put(s, STORE_KIND_SESSION, "client-two", 10, "s2", 2), STORE_OK);
    CHECK_EQ(store_commit(s), STORE_OK);
    CHECK_EQ(store_begin(s), STORE_OK);
    CHECK_EQ(store_del(s, STORE_KIND_SESSION, "client-two", 10), STORE_OK);
    CHECK_EQ(store_del(s, STORE_KIND_SESSION, "never-there", 11), STORE_OK);
    CHECK_EQ(store_commit(s), STORE_OK);
    store_begin(s);
    store_put(s, STORE_KIND_SESSION, "aborted", 7, "x", 1);
    store_abort(s);
    store_close(s);
    CHECK(!file_contains(dir, "XYZZY") && !file_contains(dir, "secret-topic") && !file_contains(dir, "QWERTY"));
    s = open_store(dir, key_a, NULL, 8 << 20);
    seen r = {0}, ss = {0};
    CHECK_EQ(store_iterate(s, STORE_KIND_RETAIN, collect, &r), STORE_OK);
    CHECK_EQ(store_iterate(s, STORE_KIND_SESSION, collect, &ss), STORE_OK);
    CHECK_EQ(r.count, 1);
    CHECK_STR(r.keys[0], "plant/secret-topic");
    CHECK_STR(r.values[0], "payload-XYZZY");
    CHECK_EQ(ss.count, 1);
    CHECK_STR(ss.keys[0], "client-QWERTY");
    CHECK_EQ(store_get_stats(s)->corrupt, 0);
    store_close(s);
    tmpdir_remove(dir);
}

TEST(store_rotation_rewrites_old_records_under_the_new_key)
{
    char *dir = tmpdir_make();
    store *s = open_store(dir, key_a, NULL, 8 << 20);
    store_begin(s);
    store_put(s, STORE_KIND_SESSION, "c1", 2, "v1", 2);
    store_put(s, STORE_KIND_MSG, "m1", 2, "v2", 2);
    CHECK_EQ(store_commit(s), STORE_OK);
    store_close(s);
    s = open_store(dir, key_b, NULL, 8 << 20); /* the new key alone cannot read them */
    seen none = {0};
    store_iterate(s, STORE_KIND_SESSION, collect, &none);
    CHECK_EQ(none.count, 0);
    CHECK_EQ(store_get_stats(s)->unknown_key, 1);
    store_close(s);
    s = open_store(dir, key_b, key_a, 8 << 20);
    CHECK_EQ(store_get_stats(s)->rotated, 2);
    store_close(s);
    s = open_store(dir, key_b, NULL, 8 << 20); /* old key gone: everything is under the new one */
    seen a = {0}, b = {0};
    store_iterate(s, STORE_KIND_SESSION, collect, &a);
    store_iterate(s, STORE_KIND_MSG, collect, &b);
    CHECK_EQ(a.count, 1);
    CHECK_STR(a.values[0], "v1");
    CHECK_EQ(b.count, 1);
    CHECK_EQ(store_get_stats(s)->unknown_key + store_get_stats(s)->corrupt, 0);
    store_close(s);
    tmpdir_remove(dir);
}

TEST(store_tampered_record_is_counted_and_skipped)
{
    char *dir = tmpdir_make();
    store *s = open_store(dir, key_a, NULL, 8 << 20);
    record_keys k;
    record_keys_derive(key_a, &k);
    store_begin(s);
    store_put(s, STORE_KIND_SESSION, "good", 4, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 32);
    store_put(s, STORE_KIND_SESSION, "bad", 3, "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB", 32);
    CHECK_EQ(store_commit(s), STORE_OK);
    store_close(s);
    /* Find both records by their header (version 1 + key id) and flip a ciphertext byte of one. */
    char path[256];
    snprintf(path, sizeof path, "%s/rampart.db", dir);
    int fd = open(path, O_RDWR);
    struct stat st;
    fstat(fd, &st);
    uint8_t *buf = malloc((size_t)st.st_size);
    CHECK_EQ(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    uint8_t hdr[5] = {1, (uint8_t)(k.id >> 24), (uint8_t)(k.id >> 16), (uint8_t)(k.id >> 8), (uint8_t)k.id};
    uint8_t *hit = memmem(buf, (size_t)st.st_size, hdr, 5);
    CHECK(hit != NULL);
    if (hit) {
        uint8_t b = hit[RECORD_HEADER_LEN + 4] ^ 0xff;
        CHECK_EQ(pwrite(fd, &b, 1, hit - buf + RECORD_HEADER_LEN + 4), 1);
    }
    close(fd);
    free(buf);
    s = open_store(dir, key_a, NULL, 8 << 20);
    seen r = {0};
    CHECK_EQ(store_iterate(s, STORE_KIND_SESSION, collect, &r), STORE_OK);
    CHECK_EQ(r.count, 1);
    CHECK_EQ(store_get_stats(s)->corrupt, 1);
    store_close(s);
    record_keys_wipe(&k);
    tmpdir_remove(dir);
}

TEST(store_garbage_file_is_a_clear_error)
{
    char *dir = tmpdir_make(), path[256], err[256] = "";
    snprintf(path, sizeof path, "%s/rampart.db", dir);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 3000; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    store_options o = {.path = path, .engine = TEST_PERSIST_ENGINE, .map_size = 8 << 20, .durable = true, .key = key_a};
    store *s = store_open(&o, err, sizeof err);
    CHECK(s == NULL);
    CHECK(strstr(err, "rampart.db") != NULL);
    store_close(s);
    tmpdir_remove(dir);
}

TEST(store_full_map_is_reported_and_the_store_stays_usable)
{
    char *dir = tmpdir_make();
    store *s = open_store(dir, key_a, NULL, 1 << 20);
    static uint8_t big[64 << 10];
    int rc = STORE_OK, i;
    memset(big, 'x', sizeof big);
    for (i = 0; i < 64 && rc == STORE_OK; i++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", i);
        store_begin(s);
        rc = store_put(s, STORE_KIND_MSG, k, strlen(k), big, sizeof big);
        int crc = store_commit(s);
        if (rc == STORE_OK)
            rc = crc;
    }
    CHECK_EQ(rc, STORE_FULL);
    uint64_t map_free = 0, fs_free = 0;
    store_space(s, &map_free, &fs_free);
    CHECK(map_free < (256u << 10));
    store_begin(s); /* deleting makes room again */
    for (int j = 0; j < i; j++) {
        char k[16];
        snprintf(k, sizeof k, "m%d", j);
        store_del(s, STORE_KIND_MSG, k, strlen(k));
    }
    CHECK_EQ(store_commit(s), STORE_OK);
    store_begin(s); /* LMDB reuses freed pages one commit later */
    CHECK_EQ(store_put(s, STORE_KIND_META, "tick", 4, "1", 1), STORE_OK);
    CHECK_EQ(store_commit(s), STORE_OK);
    store_begin(s);
    CHECK_EQ(store_put(s, STORE_KIND_MSG, "again", 5, big, sizeof big), STORE_OK);
    CHECK_EQ(store_commit(s), STORE_OK);
    store_close(s);
    tmpdir_remove(dir);
}

TEST(key_loading_refuses_readable_files_and_bad_keys)
{
    char *dir = tmpdir_make(), path[256], err[256];
    uint8_t key[32];
    const char *hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
    snprintf(path, sizeof path, "%s/key", dir);
    FILE *f = fopen(path, "w");
    fputs(hex, f);
    fclose(f);
    chmod(path, 0644);
    CHECK_EQ(store_key_load(path, NULL, NULL, "persistence_key", key, err, sizeof err), -1);
    CHECK(strstr(err, "readable or writable by other users") != NULL);
    chmod(path, 0600);
    CHECK_EQ(store_key_load(path, NULL, NULL, "persistence_key", key, err, sizeof err), 1);
    CHECK_EQ(key[0], 0);
    CHECK_EQ(key[31], 0x1f);
    CHECK_EQ(store_key_load(NULL, NULL, NULL, "persistence_key", key, err, sizeof err), 0);
    setenv("RAMPART_TEST_KEY", "00112233", 1);
    CHECK_EQ(store_key_load(NULL, "RAMPART_TEST_KEY", NULL, "persistence_key", key, err, sizeof err), -1);
    CHECK(getenv("RAMPART_TEST_KEY") == NULL); /* removed even when wrong */
    setenv("RAMPART_TEST_KEY", "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100", 1);
    CHECK_EQ(store_key_load(NULL, "RAMPART_TEST_KEY", NULL, "persistence_key", key, err, sizeof err), 1);
    CHECK_EQ(key[0], 0xff);
    CHECK(getenv("RAMPART_TEST_KEY") == NULL);
    unsetenv("CREDENTIALS_DIRECTORY");
    CHECK_EQ(store_key_load(NULL, NULL, "k", "persistence_key", key, err, sizeof err), -1);
    CHECK(strstr(err, "CREDENTIALS_DIRECTORY") != NULL);
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    CHECK_EQ(store_key_load(NULL, NULL, "key", "persistence_key", key, err, sizeof err), 1);
    unsetenv("CREDENTIALS_DIRECTORY");
    tmpdir_remove(dir);
}

TEST(pstate_message_and_session_round_trip_and_reject_bad_values)
{
    pstate_buf b = {0};
    mqtt_user_prop users[2] = {{{(const uint8_t *)"k1", 2}, {(const uint8_t *)"v1", 2}},
                               {{(const uint8_t *)"k2", 2}, {(const uint8_t *)"", 0}}};
    mqtt_props props = {0};
    props.present = MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) | MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY) |
                    MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS); /* not forwarded: not stored */
    props.content_type = (mqtt_bytes){(const uint8_t *)"text/plain", 10};
    props.user = users;
    props.user_count = 2;
    pstate_msg_encode(&b, 2, true, 12345, "a/b", 3, (const uint8_t *)"payload", 7, &props);
    CHECK(!b.oom);
    pstate_msg m;
    size_t pos = 0;
    CHECK_EQ(pstate_msg_decode(b.data, b.len, &pos, &m), 0);
    CHECK_EQ(pos, b.len);
    CHECK_EQ(m.qos, 2);
    CHECK(m.retain);
    CHECK_EQ(m.expiry_wall_ms, 12345);
    CHECK_MEM(m.topic.data, "a/b", 3);
    CHECK_MEM(m.payload.data, "payload", 7);
    CHECK(!(m.props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)));
    CHECK_EQ(m.props.user_count, 2);
    CHECK_MEM(m.props.user[0].key.data, "k1", 2);
    CHECK_EQ(m.props.user[1].value.len, 0);
    CHECK_MEM(m.props.content_type.data, "text/plain", 10);
    pstate_msg_clear(&m);
    for (size_t cut = 0; cut < b.len; cut++) { /* every truncation is refused */
        pos = 0;
        CHECK_EQ(pstate_msg_decode(b.data, cut, &pos, &m), -1);
    }
    b.data[1] = 3; /* QoS 3 */
    pos = 0;
    CHECK_EQ(pstate_msg_decode(b.data, b.len, &pos, &m), -1);
    pstate_buf_free(&b);
    /* A session: format, expiry 60, v5, next pid 9, port 1883, offline deadline, no username, no will, one
     * subscription, one inbound QoS 2 id, one in-flight delivery with two subscription ids. */
    pstate_put_u8(&b, PSTATE_SESSION_FORMAT);
    pstate_put_u32(&b, 60);
    pstate_put_u8(&b, 5);
    pstate_put_u16(&b, 9);
    pstate_put_u16(&b, 1883);
    pstate_put_u64(&b, 777);
    pstate_put_u8(&b, 0);
    pstate_put_u8(&b, 0);
    pstate_put_u32(&b, 1);
    pstate_put_bytes16(&b, "x/#", 3);
    pstate_put_u8(&b, 1);
    pstate_put_u8(&b, 1 | 2 | (2 << 2));
    pstate_put_u32(&b, 5);
    pstate_put_u32(&b, 1);
    pstate_put_u16(&b, 42);
    pstate_put_u32(&b, 1);
    pstate_put_u64(&b, 3);
    pstate_put_u16(&b, 8);
    pstate_put_u8(&b, 1);
    pstate_put_u8(&b, PSTATE_DLV_INFLIGHT);
    pstate_put_u16(&b, 2);
    pstate_put_u32(&b, 5);
    pstate_put_u32(&b, 6);
    pstate_put_bytes16(&b, "grp", 3); /* it came through $share/grp/x/# */
    pstate_put_bytes16(&b, "x/#", 3);
    pstate_session s;
    CHECK_EQ(pstate_session_decode(b.data, b.len, &s), 0);
    CHECK_EQ(s.deliveries[0].share_group.len, 3);
    CHECK_MEM(s.deliveries[0].share_filter.data, "x/#", 3);
    CHECK_EQ(s.expiry_s, 60);
    CHECK_EQ(s.nsubs, 1);
    CHECK_EQ(s.subs[0].options, 1 | 2 | 8);
    CHECK_EQ(s.nin_qos2, 1);
    CHECK_EQ(s.in_qos2[0], 42);
    CHECK_EQ(s.ndeliveries, 1);
    CHECK_EQ(s.deliveries[0].msg_id, 3);
    CHECK_EQ(pstate_delivery_sub_id(&s.deliveries[0], 1), 6);
    pstate_session_clear(&s);
    pstate_put_u8(&b, 0); /* trailing garbage */
    CHECK_EQ(pstate_session_decode(b.data, b.len, &s), -1);
    pstate_buf_free(&b);
}

TEST(pstate_segment_header)
{
    const uint8_t ok[] = {PSTATE_SEGMENT_FORMAT, 0, 0, 0, 3, 0xAA}, zero[] = {PSTATE_SEGMENT_FORMAT, 0, 0, 0, 0},
                  many[] = {PSTATE_SEGMENT_FORMAT, 0, 0, 4, 1}, old[] = {PSTATE_MSG_FORMAT_OLD, 1, 0},
                  cut[] = {PSTATE_SEGMENT_FORMAT, 0, 0};
    uint32_t count = 0;
    size_t pos = 0;
    CHECK_EQ(pstate_segment_open(ok, sizeof ok, 1024, &count, &pos), 0);
    CHECK_EQ(count, 3);
    CHECK_EQ(pos, 5);
    CHECK_EQ(pstate_segment_open(zero, sizeof zero, 1024, &count, &pos), -1);
    CHECK_EQ(pstate_segment_open(many, sizeof many, 1024, &count, &pos), -1); /* 1025 > the cap */
    CHECK_EQ(pstate_segment_open(cut, sizeof cut, 1024, &count, &pos), -1);
    CHECK_EQ(pstate_segment_open(old, sizeof old, 1024, &count, &pos), -2);
    CHECK_EQ(pstate_segment_open(ok, 0, 1024, &count, &pos), -1);
}

TEST(persist_refuses_a_store_of_an_earlier_format)
{
    char *dir = tmpdir_make(), path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/rampart.db", dir);
    store *s = open_store(dir, key_a, NULL, 8 << 20);
    CHECK(s != NULL);
    /* a format 1 message record: one message per record, its value starting with the message format byte */
    const uint8_t id[8] = {0, 0, 0, 0, 0, 0, 0, 1}, old[] = {PSTATE_MSG_FORMAT_OLD, 1, 0};
    CHECK_EQ(store_begin(s), STORE_OK);
    CHECK_EQ(store_put(s, STORE_KIND_MSG, id, sizeof id, old, sizeof old), STORE_OK);
    CHECK_EQ(store_commit(s), STORE_OK);
    store_close(s);
    broker_settings bs;
    log_set_level(LOG_LEVEL_ERROR);
    broker_settings_default(&bs);
    bs.no_signals = true;
    bs.sys_interval = 0;
    broker *b = broker_new(&bs);
    CHECK(b != NULL);
    persist_options po = {.path = path, .engine = TEST_PERSIST_ENGINE, .max_size = 8 << 20, .key = key_a};
    CHECK_EQ(persist_open(b, &po, err, sizeof err), -1);
    CHECK(strstr(err, "earlier format") != NULL);
    CHECK(strstr(err, "move it away") != NULL);
    broker_free(b);
    tmpdir_remove(dir);
}

TEST_MAIN()
