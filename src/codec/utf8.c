/*
 * utf8.c - the MQTT UTF-8 string rules (1.5.4 in 5.0, 1.5.3 in 3.1.1).
 */
#include "codec/mqtt_internal.h"

/*
 * Length of the well-formed sequence starting at s[0] (which is >= 0x80) with at most `left` bytes
 * available, or 0 if it is ill-formed: a stray continuation byte, an overlong form, a surrogate
 * (U+D800..U+DFFF), a code point above U+10FFFF, or a sequence cut short. Follows Unicode table 3-7.
 */
static size_t utf8_sequence_len(const uint8_t *s, size_t left)
{
    uint8_t b0 = s[0], lo = 0x80, hi = 0xBF;
    size_t n;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        n = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        n = 3;
        if (b0 == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (b0 == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        n = 4;
        if (b0 == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (b0 == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0; /* 0x80..0xC1 (continuation or overlong 2-byte lead) or 0xF5..0xFF */
    }
    if (left < n || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

/* True if s[0..len) is well-formed UTF-8 without U+0000. One pass, each byte looked at a bounded number of
 * times. The control characters and non-characters the spec says SHOULD NOT appear are accepted (MAY). */
bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (s[i] == 0)
            return false;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_sequence_len(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}
