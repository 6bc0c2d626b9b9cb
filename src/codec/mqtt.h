/*
 * mqtt.h - the pure MQTT 3.1.1 / 5.0 codec: bytes in, typed packets out, and back.
 *
 * No I/O, no globals, no hidden allocation. Decoding validates everything (it faces untrusted bytes) and
 * reports the reason code a server would send; encoding trusts its input (it handles our own data) and
 * asserts. Decoded strings and binaries are slices pointing INTO the frame buffer: they stay valid only as
 * long as that buffer does. Arrays of variable length (user properties, subscriptions, reason codes,
 * subscription identifiers) come from the caller's allocator (mqtt_alloc), typically a per-packet arena.
 *
 * Return convention (see docs/core-principles.md):
 *   MQTT_OK (0)           success
 *   MQTT_NEED_MORE (1)    framing only: the buffer does not yet hold a whole fixed header / packet
 *   MQTT_ERROR (-1)       failure; *err says why (reason code to send, byte offset, message)
 */
#ifndef RAMPART_CODEC_MQTT_H
#define RAMPART_CODEC_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MQTT_OK = 0, MQTT_NEED_MORE = 1, MQTT_ERROR = -1 };

/* Protocol levels as carried in CONNECT. */
enum mqtt_version { MQTT_V31 = 3, MQTT_V311 = 4, MQTT_V5 = 5 };

enum mqtt_packet_type {
    MQTT_CONNECT = 1, MQTT_CONNACK = 2, MQTT_PUBLISH = 3, MQTT_PUBACK = 4, MQTT_PUBREC = 5,
    MQTT_PUBREL = 6, MQTT_PUBCOMP = 7, MQTT_SUBSCRIBE = 8, MQTT_SUBACK = 9, MQTT_UNSUBSCRIBE = 10,
    MQTT_UNSUBACK = 11, MQTT_PINGREQ = 12, MQTT_PINGRESP = 13, MQTT_DISCONNECT = 14, MQTT_AUTH = 15
};

/* MQTT 5.0 reason codes (section 2.4). 3.1.1 CONNACK return codes are mapped by mqtt_connack_code_v311(). */
enum mqtt_reason {
    MQTT_RC_SUCCESS = 0x00, /* also: normal disconnection, granted QoS 0 */
    MQTT_RC_GRANTED_QOS1 = 0x01,
    MQTT_RC_GRANTED_QOS2 = 0x02,
    MQTT_RC_DISCONNECT_WITH_WILL = 0x04,
    MQTT_RC_NO_MATCHING_SUBSCRIBERS = 0x10,
    MQTT_RC_NO_SUBSCRIPTION_EXISTED = 0x11,
    MQTT_RC_CONTINUE_AUTH = 0x18,
    MQTT_RC_REAUTHENTICATE = 0x19,
    MQTT_RC_UNSPECIFIED = 0x80,
    MQTT_RC_MALFORMED = 0x81,
    MQTT_RC_PROTOCOL_ERROR = 0x82,
    MQTT_RC_IMPLEMENTATION_SPECIFIC = 0x83,
    MQTT_RC_UNSUPPORTED_VERSION = 0x84,
    MQTT_RC_CLIENT_ID_NOT_VALID = 0x85,
    MQTT_RC_BAD_USERNAME_OR_PASSWORD = 0x86,
    MQTT_RC_NOT_AUTHORIZED = 0x87,
    MQTT_RC_SERVER_UNAVAILABLE = 0x88,
    MQTT_RC_SERVER_BUSY = 0x89,
    MQTT_RC_BANNED = 0x8A,
    MQTT_RC_SERVER_SHUTTING_DOWN = 0x8B,
    MQTT_RC_BAD_AUTH_METHOD = 0x8C,
    MQTT_RC_KEEP_ALIVE_TIMEOUT = 0x8D,
    MQTT_RC_SESSION_TAKEN_OVER = 0x8E,
    MQTT_RC_TOPIC_FILTER_INVALID = 0x8F,
    MQTT_RC_TOPIC_NAME_INVALID = 0x90,
    MQTT_RC_PACKET_ID_IN_USE = 0x91,
    MQTT_RC_PACKET_ID_NOT_FOUND = 0x92,
    MQTT_RC_RECEIVE_MAX_EXCEEDED = 0x93,
    MQTT_RC_TOPIC_ALIAS_INVALID = 0x94,
    MQTT_RC_PACKET_TOO_LARGE = 0x95,
    MQTT_RC_MESSAGE_RATE_TOO_HIGH = 0x96,
    MQTT_RC_QUOTA_EXCEEDED = 0x97,
    MQTT_RC_ADMINISTRATIVE_ACTION = 0x98,
    MQTT_RC_PAYLOAD_FORMAT_INVALID = 0x99,
    MQTT_RC_RETAIN_NOT_SUPPORTED = 0x9A,
    MQTT_RC_QOS_NOT_SUPPORTED = 0x9B,
    MQTT_RC_USE_ANOTHER_SERVER = 0x9C,
    MQTT_RC_SERVER_MOVED = 0x9D,
    MQTT_RC_SHARED_SUBS_NOT_SUPPORTED = 0x9E,
    MQTT_RC_CONNECTION_RATE_EXCEEDED = 0x9F,
    MQTT_RC_MAX_CONNECT_TIME = 0xA0,
    MQTT_RC_SUB_IDS_NOT_SUPPORTED = 0xA1,
    MQTT_RC_WILDCARD_SUBS_NOT_SUPPORTED = 0xA2
};

/* MQTT 5.0 property identifiers (section 2.2.2.2). */
enum mqtt_prop_id {
    MQTT_PROP_PAYLOAD_FORMAT = 0x01, MQTT_PROP_MESSAGE_EXPIRY = 0x02, MQTT_PROP_CONTENT_TYPE = 0x03,
    MQTT_PROP_RESPONSE_TOPIC = 0x08, MQTT_PROP_CORRELATION_DATA = 0x09, MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
    MQTT_PROP_SESSION_EXPIRY = 0x11, MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12, MQTT_PROP_SERVER_KEEP_ALIVE = 0x13,
    MQTT_PROP_AUTH_METHOD = 0x15, MQTT_PROP_AUTH_DATA = 0x16, MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
    MQTT_PROP_WILL_DELAY = 0x18, MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19, MQTT_PROP_RESPONSE_INFO = 0x1A,
    MQTT_PROP_SERVER_REFERENCE = 0x1C, MQTT_PROP_REASON_STRING = 0x1F, MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
    MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22, MQTT_PROP_TOPIC_ALIAS = 0x23, MQTT_PROP_MAXIMUM_QOS = 0x24,
    MQTT_PROP_RETAIN_AVAILABLE = 0x25, MQTT_PROP_USER_PROPERTY = 0x26, MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
    MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28, MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
    MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A
};
#define MQTT_PROP_BIT(id) (UINT64_C(1) << (id))

/* A slice of bytes (UTF-8 string or binary data); NOT NUL-terminated. data may be NULL when len is 0. */
typedef struct mqtt_bytes {
    const uint8_t *data;
    uint32_t len;
} mqtt_bytes;

typedef struct mqtt_user_prop {
    mqtt_bytes key, value;
} mqtt_user_prop;

/*
 * All MQTT 5 properties of one packet. `present` has MQTT_PROP_BIT(id) set for every property that appeared
 * (or is to be encoded); a field whose bit is clear is meaningless. User properties keep wire order.
 */
typedef struct mqtt_props {
    uint64_t present;
    uint8_t payload_format;
    uint32_t message_expiry;
    mqtt_bytes content_type;
    mqtt_bytes response_topic;
    mqtt_bytes correlation_data;
    uint32_t *sub_ids; /* SUBSCRIBE: exactly one; server->client PUBLISH: one per matching subscription */
    uint32_t sub_id_count;
    uint32_t session_expiry;
    mqtt_bytes assigned_client_id;
    uint16_t server_keep_alive;
    mqtt_bytes auth_method;
    mqtt_bytes auth_data;
    uint8_t request_problem_info;
    uint32_t will_delay;
    uint8_t request_response_info;
    mqtt_bytes response_info;
    mqtt_bytes server_reference;
    mqtt_bytes reason_string;
    uint16_t receive_maximum;
    uint16_t topic_alias_maximum;
    uint16_t topic_alias;
    uint8_t maximum_qos;
    uint8_t retain_available;
    mqtt_user_prop *user;
    uint32_t user_count;
    uint32_t maximum_packet_size;
    uint8_t wildcard_sub_available;
    uint8_t sub_id_available;
    uint8_t shared_sub_available;
} mqtt_props;

typedef struct mqtt_connect {
    uint8_t version; /* enum mqtt_version */
    bool clean_start;
    uint16_t keep_alive;
    mqtt_bytes client_id;
    bool has_will;
    uint8_t will_qos;
    bool will_retain;
    mqtt_props will_props; /* v5 only */
    mqtt_bytes will_topic;
    mqtt_bytes will_payload;
    bool has_username;
    mqtt_bytes username;
    bool has_password;
    mqtt_bytes password; /* a secret: callers wipe the frame buffer after use */
    mqtt_props props;
} mqtt_connect;

typedef struct mqtt_connack {
    bool session_present;
    uint8_t reason; /* v5 reason code; for v3.1.1 the 0..5 return code */
    mqtt_props props;
} mqtt_connack;

typedef struct mqtt_publish {
    uint8_t qos;
    bool dup;
    bool retain;
    mqtt_bytes topic; /* may be empty in v5 when a topic alias is used */
    uint16_t packet_id; /* 0 for QoS 0 */
    mqtt_props props;
    mqtt_bytes payload;
} mqtt_publish;

/* PUBACK, PUBREC, PUBREL, PUBCOMP. In v5 the reason and properties may be omitted on the wire (reason 0). */
typedef struct mqtt_ack {
    uint16_t packet_id;
    uint8_t reason;
    mqtt_props props;
} mqtt_ack;

typedef struct mqtt_subscription {
    mqtt_bytes filter; /* the full filter as sent, including any $share/group/ prefix */
    uint8_t qos;
    bool no_local;
    bool retain_as_published;
    uint8_t retain_handling; /* 0, 1 or 2 */
} mqtt_subscription;

typedef struct mqtt_subscribe {
    uint16_t packet_id;
    mqtt_props props;
    mqtt_subscription *subs;
    uint32_t count; /* at least 1 */
} mqtt_subscribe;

typedef struct mqtt_unsubscribe {
    uint16_t packet_id;
    mqtt_props props;
    mqtt_bytes *filters;
    uint32_t count; /* at least 1 */
} mqtt_unsubscribe;

/* SUBACK and UNSUBACK (UNSUBACK has no payload in 3.1.1: count is 0 there). */
typedef struct mqtt_suback {
    uint16_t packet_id;
    mqtt_props props;
    uint8_t *reasons;
    uint32_t count;
} mqtt_suback;

/* DISCONNECT and AUTH. */
typedef struct mqtt_reason_only {
    uint8_t reason;
    mqtt_props props;
} mqtt_reason_only;

typedef struct mqtt_packet {
    uint8_t type;  /* enum mqtt_packet_type */
    uint8_t flags; /* low nibble of the fixed header, as received / to send */
    union {
        mqtt_connect connect;
        mqtt_connack connack;
        mqtt_publish publish;
        mqtt_ack ack; /* PUBACK PUBREC PUBREL PUBCOMP */
        mqtt_subscribe subscribe;
        mqtt_unsubscribe unsubscribe;
        mqtt_suback suback; /* SUBACK UNSUBACK */
        mqtt_reason_only disconnect;
        mqtt_reason_only auth;
    } u;
} mqtt_packet;

/* Why decoding failed: the reason code a server would send (0x81 malformed, 0x82 protocol error, 0x84,
 * 0x85, 0x8F, 0x90, 0x94, 0x95, ...), where, and a static human-readable message. */
typedef struct mqtt_error {
    uint8_t reason;
    uint32_t offset;
    const char *message;
} mqtt_error;

/* Caller-supplied allocator for variable-length arrays. Returns NULL when exhausted (decode then fails with
 * MQTT_RC_IMPLEMENTATION_SPECIFIC... or the limit's own code). Memory is never freed by the codec. */
typedef struct mqtt_alloc {
    void *(*alloc)(void *ctx, size_t size);
    void *ctx;
} mqtt_alloc;

/* Limits applied while decoding, checked before anything is allocated. 0 means "protocol maximum". */
typedef struct mqtt_limits {
    uint32_t max_packet_size;     /* whole packet, fixed header included */
    uint32_t max_user_props;      /* per property set */
    uint32_t max_subs_per_packet; /* topic filters in one SUBSCRIBE / UNSUBSCRIBE */
    uint16_t max_topic_levels;    /* '/'-separated levels in a topic name or filter */
} mqtt_limits;

/* ---- framing -------------------------------------------------------------------------------- */

/* The fixed header of one packet. */
typedef struct mqtt_frame {
    uint8_t type;
    uint8_t flags;
    uint8_t header_len; /* 2..5 bytes: type/flags byte + remaining length VBI */
    uint32_t remaining; /* remaining length */
} mqtt_frame;

/*
 * Parses the fixed header at the start of buf[0..len). Checks the per-type fixed-header flags for `version`
 * (pass 0 before CONNECT has been seen: then only CONNECT is accepted) and that header_len + remaining does
 * not exceed max_packet_size (0 = protocol maximum) BEFORE the caller allocates anything. Returns MQTT_OK
 * (whole header parsed; the packet is complete when len >= header_len + remaining), MQTT_NEED_MORE, or
 * MQTT_ERROR. Cost is O(1): at most 5 bytes are ever examined, so re-calling as bytes trickle in is linear.
 */
int mqtt_frame_parse(const uint8_t *buf, size_t len, uint8_t version, uint32_t max_packet_size,
                     mqtt_frame *out, mqtt_error *err);

/* Variable byte integer helpers. decode: returns MQTT_OK / MQTT_NEED_MORE / MQTT_ERROR (more than 4 bytes).
 * encode: writes 1..4 bytes to out (which has room for 4) and returns the count; value < 268435456. */
int mqtt_vbi_decode(const uint8_t *buf, size_t len, uint32_t *value, size_t *used);
size_t mqtt_vbi_encode(uint32_t value, uint8_t out[4]);
size_t mqtt_vbi_size(uint32_t value);

/* ---- decoding ------------------------------------------------------------------------------- */

/*
 * Decodes one whole packet: buf holds exactly header_len + remaining bytes. `version` is the connection's
 * negotiated protocol level (ignored for CONNECT, which carries its own). All strings, topics, filters,
 * properties and flags are validated as a server must; slices in *out point into buf.
 * lim may be NULL (protocol maxima); alloc may be NULL when no array is needed. Exceeding max_user_props or
 * max_subs_per_packet, or an exhausted allocator, fails with 0x83 before anything is allocated.
 * When a CONNECT fails after its protocol level was read, out->u.connect.version holds that level.
 * Rules that need connection state stay with the caller (docs/core-principles.md, section 4): e.g. a
 * Subscription Identifier in a client's PUBLISH (MQTT-3.3.4-6) decodes, the broker must refuse it (0x82).
 */
int mqtt_decode(const uint8_t *buf, size_t len, uint8_t version, const mqtt_limits *lim,
                const mqtt_alloc *alloc, mqtt_packet *out, mqtt_error *err);

/* Decodes a property block (length VBI followed by properties) for packet `type` (use MQTT_CONNECT with
 * will = true for will properties). On success *used is the number of bytes consumed. */
int mqtt_props_decode(const uint8_t *buf, size_t len, uint8_t type, bool will, const mqtt_limits *lim,
                      const mqtt_alloc *alloc, mqtt_props *out, size_t *used, mqtt_error *err);

/* ---- validation (also used by the broker and config for operator-supplied topics) ---------------- */

/* MQTT UTF-8 string rules: well-formed UTF-8, no U+0000, no surrogates (no overlongs). Returns true if ok. */
bool mqtt_utf8_valid(const uint8_t *s, size_t len);
/* Topic name: valid UTF-8, at least 1 byte, no '+' or '#'. */
bool mqtt_topic_name_valid(const uint8_t *s, size_t len);
/* Topic filter: valid UTF-8, at least 1 byte, '+' alone in its level, '#' alone and last.
 * A "$share/" prefix is validated as a shared subscription: group non-empty, without '+', '#' or '/',
 * followed by '/' and a valid non-empty filter. */
bool mqtt_topic_filter_valid(const uint8_t *s, size_t len);
/* If filter is "$share/GROUP/FILTER", sets *group and *inner and returns true. */
bool mqtt_shared_split(mqtt_bytes filter, mqtt_bytes *group, mqtt_bytes *inner);

/* ---- encoding ------------------------------------------------------------------------------- */

/* Exact encoded size of p for `version` (including the fixed header), or 0 if it cannot be encoded. */
size_t mqtt_encoded_size(const mqtt_packet *p, uint8_t version);
/* Encodes p into out[0..cap). Returns the number of bytes written, or 0 if cap is too small. */
size_t mqtt_encode(const mqtt_packet *p, uint8_t version, uint8_t *out, size_t cap);
/* Encodes everything of a PUBLISH except its payload (fixed header whose remaining length counts the
 * payload, topic, packet id, properties) so a shared payload can follow by writev. Returns bytes written,
 * 0 if cap is too small. */
size_t mqtt_encode_publish_head(const mqtt_publish *p, uint8_t version, uint8_t *out, size_t cap);
/* Size of the property block (length VBI included) for these properties; 0-length block is 1 byte. */
size_t mqtt_props_encoded_size(const mqtt_props *props);

/* ---- names ---------------------------------------------------------------------------------- */
const char *mqtt_packet_name(uint8_t type);
const char *mqtt_reason_name(uint8_t reason);
/* Maps a v5 CONNACK reason to the 3.1.1 return code (0 accepted, 1 bad version, 2 id rejected,
 * 3 unavailable, 4 bad user/password, 5 not authorized). */
uint8_t mqtt_connack_code_v311(uint8_t reason_v5);

#endif
