/*
 * topic.c - topic names, topic filters and shared subscriptions ($share/{group}/{filter}), section 4.7-4.8.
 */
#include <string.h>

#include "codec/mqtt_internal.h"

static const char share_prefix[] = "$share/";
#define SHARE_PREFIX_LEN (sizeof(share_prefix) - 1)

uint32_t mqtt_topic_levels(const uint8_t *s, size_t len)
{
    uint32_t levels = 1;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/')
            levels++;
    return levels;
}

bool mqtt_topic_name_valid(const uint8_t *s, size_t len)
{
    if (len == 0 || !mqtt_utf8_valid(s, len))
        return false;
    return memchr(s, '+', len) == NULL && memchr(s, '#', len) == NULL;
}

/* Filter rules without the $share handling: '+' occupies a whole level, '#' a whole level and the last. */
static bool topic_plain_filter_valid(const uint8_t *s, size_t len)
{
    if (len == 0 || !mqtt_utf8_valid(s, len))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '+' && s[i] != '#')
            continue;
        bool starts_level = i == 0 || s[i - 1] == '/';
        bool ends_level = i + 1 == len || s[i + 1] == '/';
        if (!starts_level || !ends_level)
            return false;
        if (s[i] == '#' && i + 1 != len)
            return false;
    }
    return true;
}

static bool topic_is_shared(const uint8_t *s, size_t len)
{
    return len >= SHARE_PREFIX_LEN && memcmp(s, share_prefix, SHARE_PREFIX_LEN) == 0;
}

/* Splits "$share/GROUP/FILTER" at the first '/' after the prefix. Group and filter are not validated. */
bool mqtt_shared_split(mqtt_bytes filter, mqtt_bytes *group, mqtt_bytes *inner)
{
    if (!topic_is_shared(filter.data, filter.len))
        return false;
    const uint8_t *g = filter.data + SHARE_PREFIX_LEN;
    size_t rest = filter.len - SHARE_PREFIX_LEN;
    const uint8_t *slash = memchr(g, '/', rest);
    if (!slash || slash == g)
        return false;
    group->data = g;
    group->len = (uint32_t)(slash - g);
    inner->len = (uint32_t)(rest - group->len - 1);
    inner->data = inner->len ? slash + 1 : NULL;
    return true;
}

/* A filter starting "$share/" must be a well-formed shared subscription: the group is non-empty and holds
 * no '+' or '#' (nor '/', by construction of the split), and the inner filter is a valid non-empty filter. */
bool mqtt_topic_filter_valid(const uint8_t *s, size_t len)
{
    if (!topic_is_shared(s, len))
        return topic_plain_filter_valid(s, len);
    mqtt_bytes whole = {s, (uint32_t)len}, group, inner;
    if (len > UINT32_MAX || !mqtt_shared_split(whole, &group, &inner))
        return false;
    if (!mqtt_utf8_valid(group.data, group.len))
        return false;
    if (memchr(group.data, '+', group.len) || memchr(group.data, '#', group.len))
        return false;
    return topic_plain_filter_valid(inner.data, inner.len);
}
