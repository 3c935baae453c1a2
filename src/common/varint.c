/* varint.c - see varint.h. */
#include "common/varint.h"

size_t rmq_uvarint_encode(uint8_t *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (uint8_t)v;
    return n;
}

size_t rmq_uvarint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int rmq_uvarint_decode(const uint8_t *p, size_t len, int maxbytes, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < maxbytes; i++) {
        if ((size_t)i >= len) return 0;
        uint8_t b = p[i];
        if (i == 9 && b > 1) return -1; /* overflow of 64 bits */
        if (maxbytes == RMQ_VARINT_MAX32 && i == 4 && b > 0x0f) return -1; /* > 32 bits */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return -1;
}
