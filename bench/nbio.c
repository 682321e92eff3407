/* nbio.c - sending on a non-blocking socket
 *
 * Shared by the load generators and the floor servers: send() until done
 * or EAGAIN, retrying EINTR, with MSG_NOSIGNAL (a peer gone is an error
 * return, never SIGPIPE).
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "nbio.h"

int nbio_send(int fd, const char *buf, size_t len, size_t *off)
{
    while (*off < len) {
        ssize_t w = send(fd, buf + *off, len - *off, MSG_NOSIGNAL);
        if (w > 0) {
            *off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        return -1;
    }
    return 1;
}
