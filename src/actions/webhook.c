/* webhook.c - one HTTP(S) POST of a JSON body (libcurl), for alerts.
 *
 * A fresh easy handle per call: alerts are rare, and nothing is shared
 * between threads except what curl_global_init set up.  The whole request
 * (name lookup, connect, TLS, upload, answer) is bounded by one timeout;
 * CURLOPT_NOSIGNAL keeps curl's resolver from using SIGALRM in a threaded
 * daemon.  Only http and https are allowed, also for redirects, which are
 * not followed anyway: a 3xx is a failure the operator should see.  The
 * answer's body is read and thrown away.  Headers come from the config
 * and must not carry CR or LF (no smuggled extra headers).  Proxies come
 * from the usual environment variables, as curl does by default.
 */
#include "actions/webhook.h"

#include <curl/curl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define WEBHOOK_HEADER_MAX 1024 /* one "Name: value" line */

#ifndef MAILFUSE_VERSION
#define MAILFUSE_VERSION "dev"
#endif

int webhook_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void webhook_global_cleanup(void) {
  curl_global_cleanup();
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static size_t discard(char *data, size_t size, size_t n, void *arg) {
  return size * n;
}

static bool url_allowed(const char *url) {
  return url && (strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
}

static bool header_ok(const char *h) {
  size_t n = h ? strnlen(h, WEBHOOK_HEADER_MAX + 1) : 0;
  return n > 0 && n <= WEBHOOK_HEADER_MAX && !strpbrk(h, "\r\n") && strchr(h, ':') != NULL;
}

/* The request's header list, or NULL (out of memory). Caller frees with
 * curl_slist_free_all(). */
static struct curl_slist *header_list(const char *const *headers, size_t nheaders) {
  /* "Expect:" stops curl from waiting for a 100-continue on large bodies */
  static const char *const fixed[] = {"Content-Type: application/json", "Expect:"};
  struct curl_slist *l = NULL;
  for (size_t i = 0; i < 2 + nheaders; i++) {
    struct curl_slist *t = curl_slist_append(l, i < 2 ? fixed[i] : headers[i - 2]);
    if (!t) {
      curl_slist_free_all(l);
      return NULL;
    }
    l = t;
  }
  return l;
}

static void set_options(CURL *c, const char *url, struct curl_slist *hl, const char *body,
                        size_t len, double timeout, char *curl_err) {
  long ms = (long)ceil(timeout * 1000);
  curl_easy_setopt(c, CURLOPT_URL, url);
#if LIBCURL_VERSION_NUM >= 0x075500
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms > 0 ? ms : 1L);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "mailfuse/" MAILFUSE_VERSION);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
}

/* Turn curl's result into 0 or -1 with err. */
static int outcome(CURL *c, CURLcode rc, const char *curl_err, double timeout, char *err,
                   size_t errlen) {
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    set_err(err, errlen, "timed out after %g s", timeout);
    return -1;
  }
  long oserr = 0;
  if (rc == CURLE_COULDNT_CONNECT &&
      curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr) {
    char eb[128];
    set_err(err, errlen, "connect: %s", strerror_r((int)oserr, eb, sizeof eb));
    return -1;
  }
  if (rc != CURLE_OK) {
    set_err(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
    return -1;
  }
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (code >= 200 && code < 300) return 0;
  set_err(err, errlen, "HTTP %ld", code);
  return -1;
}

int webhook_post(const char *url, const char *const *headers, size_t nheaders, const char *body,
                 size_t len, double timeout, char *err, size_t errlen) {
  if (err && errlen) err[0] = '\0';
  if (!url_allowed(url)) {
    set_err(err, errlen, "url must start with http:// or https://");
    return -1;
  }
  if (!(timeout > 0)) {
    set_err(err, errlen, "bad timeout %g", timeout);
    return -1;
  }
  for (size_t i = 0; i < nheaders; i++) {
    if (!header_ok(headers[i])) {
      set_err(err, errlen, "bad header %zu: want one \"Name: value\" line", i + 1);
      return -1;
    }
  }
  CURL *c = curl_easy_init();
  struct curl_slist *hl = c ? header_list(headers, nheaders) : NULL;
  if (!hl) {
    set_err(err, errlen, "out of memory");
    curl_easy_cleanup(c);
    return -1;
  }
  char curl_err[CURL_ERROR_SIZE] = "";
  set_options(c, url, hl, body ? body : "", body ? len : 0, timeout, curl_err);
  int rc = outcome(c, curl_easy_perform(c), curl_err, timeout, err, errlen);
  curl_easy_cleanup(c);
  curl_slist_free_all(hl);
  return rc;
}
