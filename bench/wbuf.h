/* wbuf.h - building requests in a fixed buffer, fast
 *
 * Hand-rolled instead of snprintf, and inline in this header: the load
 * generators build more than 100,000 requests a second on one core with
 * some forty of these calls each.  Nothing allocates; what does not fit is
 * cut (strings) or left out (numbers), which the callers' buffer sizes
 * rule out.
 */
#ifndef BENCH_WBUF_H
#define BENCH_WBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A cursor into caller-owned memory: p is the next byte, end the limit. */
struct wbuf {
    char *p;
    char *end;
};

static inline size_t wbuf_room(const struct wbuf *b)
{
    return (size_t)(b->end - b->p);
}

/* Appends s, cut at the end of the buffer. */
static inline void wbuf_str(struct wbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (wbuf_room(b) < n)
        n = wbuf_room(b);
    memcpy(b->p, s, n);
    b->p += n;
}

/* Appends s[0..n) whole, or nothing if it does not fit. */
static inline void wbuf_mem(struct wbuf *b, const char *s, size_t n)
{
    if (wbuf_room(b) < n)
        return;
    memcpy(b->p, s, n);
    b->p += n;
}

/* Pads the n reversed digits in tmp[24] to width, appends them whole or not at all. */
static inline void wbuf_digits(struct wbuf *b, char *tmp, unsigned n, unsigned width)
{
    while (n < width && n < 24)
        tmp[n++] = '0';
    if (wbuf_room(b) < n)
        return;
    while (n)
        *b->p++ = tmp[--n];
}

/* Appends v in decimal, zero-padded to width digits.  (Two loops, not
 * one with a base argument: dividing by a variable costs ten times
 * dividing by a constant, at every digit.) */
static inline void wbuf_u(struct wbuf *b, uint64_t v, unsigned width)
{
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    wbuf_digits(b, tmp, n, width);
}

/* Appends v in hex, zero-padded to width digits. */
static inline void wbuf_x(struct wbuf *b, uint64_t v, unsigned width, bool upper)
{
    const char *dig = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    unsigned n = 0;
    do {
        tmp[n++] = dig[v & 15];
        v >>= 4;
    } while (v);
    wbuf_digits(b, tmp, n, width);
}

/* Appends the address 10.a.b.c made of the low 24 bits of ip. */
static inline void wbuf_ip10(struct wbuf *b, uint32_t ip)
{
    wbuf_str(b, "10.");
    wbuf_u(b, (ip >> 16) & 255, 0);
    wbuf_str(b, ".");
    wbuf_u(b, (ip >> 8) & 255, 0);
    wbuf_str(b, ".");
    wbuf_u(b, ip & 255, 0);
}

#endif
