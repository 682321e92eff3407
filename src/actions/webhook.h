/* webhook.h - one HTTP(S) POST of a JSON body (libcurl), for alerts */
#ifndef MF_WEBHOOK_H
#define MF_WEBHOOK_H

#include <stddef.h>

int webhook_global_init(void);   /* curl_global_init; once, before any thread; 0 or -1 */
void webhook_global_cleanup(void);

/* POST body to url (http:// or https:// only; no redirects followed;
 * CURLOPT_NOSIGNAL), Content-Type: application/json, plus headers ("Name: value").
 * Waits at most timeout seconds in all. 0 when the server answered 2xx; else -1 with
 * err set: "HTTP 503", "connect: Connection refused" (curl's message), "timed out after 10 s".
 * Blocks: call it from a runner job, never on the event loop. Thread-safe. */
int webhook_post(const char *url, const char *const *headers, size_t nheaders, const char *body,
                 size_t len, double timeout, char *err, size_t errlen);

#endif
