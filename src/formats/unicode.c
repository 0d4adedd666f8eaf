/* UTF-8 decoding/encoding for the tokenizers and lookups in the generated Unicode tables
 * (unicode_classes.c, unicode_maps.c; see unicode.h). */
#include "formats/unicode.h"

int tn_utf8_decode(const char *str, size_t n, uint32_t *cp) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte (RFC 3629 table) */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0; /* no overlong forms */
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (n < (size_t)len || s[1] < lo || s[1] > hi) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (s[i] & 0x3F);
    }
    *cp = v;
    return len;
}

int tn_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

int tn_utf8_incomplete_tail(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    /* The lead byte of an unfinished sequence is at most 3 bytes from the end. */
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = s[n - k];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte: look further back */
        int len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (len <= (int)k) return 0; /* ASCII, invalid lead, or the sequence is complete */
        if (k >= 2) {
            /* the second byte must be allowed for this lead byte, or it never completes */
            unsigned char b = s[n - k + 1];
            unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
            unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
            if (b < lo || b > hi) return 0;
        }
        return (int)k;
    }
    return 0;
}

uint8_t tn_ucd_flags(uint32_t cp) {
    int lo = 0, hi = tn_ucd_n_ranges - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < tn_ucd_ranges[mid].first)
            hi = mid - 1;
        else if (cp > tn_ucd_ranges[mid].last)
            lo = mid + 1;
        else
            return tn_ucd_ranges[mid].flags;
    }
    return 0;
}

static const tn_ucd_map *find_map(const tn_ucd_map *m, int n, uint32_t cp) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (cp < m[mid].cp)
            hi = mid - 1;
        else if (cp > m[mid].cp)
            lo = mid + 1;
        else
            return &m[mid];
    }
    return 0;
}

static int apply_map(const tn_ucd_map *e, uint32_t cp, uint32_t out[3]) {
    if (!e) {
        out[0] = cp;
        return 1;
    }
    for (int i = 0; i < e->n; i++)
        out[i] = e->to[i];
    return e->n;
}

int tn_ucd_strip_accents(uint32_t cp, uint32_t out[3]) {
    /* Hangul syllables decompose arithmetically (Unicode 3.12); jamo are not marks. */
    if (cp >= 0xAC00 && cp <= 0xD7A3) {
        uint32_t s = cp - 0xAC00, t = s % 28;
        out[0] = 0x1100 + s / (21 * 28);
        out[1] = 0x1161 + (s % (21 * 28)) / 28;
        if (!t) return 2;
        out[2] = 0x11A7 + t;
        return 3;
    }
    if (tn_ucd_flags(cp) & TN_UCD_MN) return 0;
    return apply_map(find_map(tn_ucd_strip, tn_ucd_n_strip, cp), cp, out);
}

int tn_ucd_tolower(uint32_t cp, uint32_t out[3]) {
    if (cp < 0x80) {
        out[0] = cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
        return 1;
    }
    return apply_map(find_map(tn_ucd_lower, tn_ucd_n_lower, cp), cp, out);
}
