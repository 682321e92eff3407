/* hostport.c - "HOST:PORT" and "[V6]:PORT" split for the benchmark tools
 *
 * The last ':' separates the port, so a bracketed IPv6 address works.
 * Nothing is resolved here: the callers hand both parts to getaddrinfo().
 */
#include <string.h>

#include "hostport.h"

const char *hostport_split(const char *hp, char *host, size_t cap)
{
    const char *colon = strrchr(hp, ':');
    if (!colon || (size_t)(colon - hp) >= cap)
        return NULL;
    size_t n = (size_t)(colon - hp);
    if (n >= 2 && hp[0] == '[' && hp[n - 1] == ']') {
        memcpy(host, hp + 1, n - 2);
        host[n - 2] = '\0';
    } else {
        memcpy(host, hp, n);
        host[n] = '\0';
    }
    return colon + 1;
}
