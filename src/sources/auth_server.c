/* auth_server.c - Dovecot's authentication policy server, over libevent's evhttp.
 *
 * Dovecot (auth_policy_server_url = http://127.0.0.1:PORT/) keeps up to
 * 100 HTTP/1.1 keep-alive connections and POSTs to the URL's path with
 * ?command=allow (before and after the password check) or ?command=report
 * (at the end); see authpol_codec.c for the body. Each request waits for
 * our answer (2 s timeout in Dovecot), so the decision is synchronous: the
 * decide callback runs on the event loop and must not block.
 *
 * Answers: 200 {"status":N,"msg":"..."}; 401 when auth_api_header is set
 * and the header is missing or wrong; 400 {"error":"..."} for a request we
 * cannot parse; 413 over auth_max_body; 405 for anything but POST. Dovecot
 * treats every non-2xx as a failed request and applies
 * auth_policy_reject_on_fail (default: allow). Each refusal is counted and
 * logged at a capped rate; a peer's bad input never ends the process.
 *
 * Dovecot's client speaks HTTP over TCP only (http_url_parse takes http
 * and https URLs); "unix:/path" listeners work too (mode 0660) for a local
 * proxy in front. evhttp bounds the header size, the body size and the
 * time a connection may sit idle or half-sent (AUTH_TIMEOUT_S).
 */
#include "sources/auth_server.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"

#define AUTH_HEADERS_MAX 8192 /* request line + headers; Dovecot sends about 250 bytes */
/* Idle keep-alive and slow-request limit. Dovecot drops idle connections
 * after 10 s (max_idle_time), so it is always the one that closes: a
 * request never races our close. */
#define AUTH_TIMEOUT_S 60
#define AUTH_BACKLOG 1024
#define AUTH_UNIX_MODE 0660

struct auth_server {
  struct event_base *base;
  struct evhttp *http;
  struct evhttp_bound_socket **socks;
  char **paths; /* unix socket paths to unlink, NULL for inet */
  size_t nsocks;
  int port; /* of the first inet listener, -1 if none */
  auth_decide_fn decide;
  void *arg;
  char *hdr_name, *hdr_value; /* api header to require; NULL = none */
  size_t max_body;
  struct auth_server_stats st;
  struct log_rl rl;
};

/* ------------------------------------------------------------- listening */

/* A unix socket path: refuse one that still answers (another process),
 * remove one left by a dead process. */
static int unix_prepare(const char *path, struct sockaddr_un *sun, char *err, size_t errlen) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n >= sizeof sun->sun_path) {
    snprintf(err, errlen, "unix socket path too long: %s", path);
    return -1;
  }
  memcpy(sun->sun_path, path, n + 1);
  struct stat st;
  if (lstat(path, &st) < 0) return 0;
  if (!S_ISSOCK(st.st_mode)) {
    snprintf(err, errlen, "%s exists and is not a socket", path);
    return -1;
  }
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int alive = fd >= 0 && connect(fd, (struct sockaddr *)sun, sizeof *sun) == 0;
  if (fd >= 0) close(fd);
  if (alive) {
    snprintf(err, errlen, "%s is in use by another process", path);
    return -1;
  }
  unlink(path);
  return 0;
}

static int port_of(evutil_socket_t fd) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  return -1;
}

/* "HOST:PORT" ("[v6]:PORT"); port 0 (any free port, for tests) too, which
 * evutil_parse_sockaddr_port() refuses. 0 or -1. */
static int parse_inet(const char *hp, struct sockaddr_storage *ss, int *sl) {
  if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)ss, sl) == 0) return 0;
  const char *colon = strrchr(hp, ':');
  char host[128];
  if (!colon || strcmp(colon, ":0") != 0 || (size_t)(colon - hp) >= sizeof host) return -1;
  memcpy(host, hp, (size_t)(colon - hp));
  host[colon - hp] = 0;
  if (strchr(host, ':') && host[0] != '[') return -1; /* "::1:0" is ambiguous */
  return evutil_parse_sockaddr_port(host, (struct sockaddr *)ss, sl);
}

/* One listener for spec, handed to evhttp; paths[i] set for unix sockets. */
static int listen_one(struct auth_server *s, const char *spec, size_t i, char *err,
                      size_t errlen) {
  unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
  struct sockaddr_storage ss;
  struct sockaddr_un sun;
  struct sockaddr *sa = (struct sockaddr *)&ss;
  int sl = sizeof ss;
  bool is_unix = strncmp(spec, "unix:", 5) == 0;
  if (is_unix) {
    if (unix_prepare(spec + 5, &sun, err, errlen) < 0) return -1;
    sa = (struct sockaddr *)&sun;
    sl = sizeof sun;
  } else if (strncmp(spec, "inet:", 5) != 0 ||
             parse_inet(spec + 5, &ss, &sl) < 0) {
    snprintf(err, errlen, "auth_listen '%s' is neither inet:HOST:PORT nor unix:/path", spec);
    return -1;
  }
  struct evconnlistener *l = evconnlistener_new_bind(s->base, NULL, NULL, flags, AUTH_BACKLOG,
                                                     sa, sl);
  if (!l) {
    snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
    return -1;
  }
  if (is_unix) {
    chmod(spec + 5, AUTH_UNIX_MODE);
    s->paths[i] = strdup(spec + 5);
  } else if (s->port < 0) {
    s->port = port_of(evconnlistener_get_fd(l));
  }
  if (!(s->socks[i] = evhttp_bind_listener(s->http, l))) {
    evconnlistener_free(l);
    snprintf(err, errlen, "cannot serve HTTP on %s", spec);
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------- settings */

static char *dup_trimmed(const char *p, size_t n) {
  while (n && (*p == ' ' || *p == '\t')) p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, p, n);
    d[n] = 0;
  }
  return d;
}

/* "Name: value" as Dovecot's auth_policy_server_api_header; a value
 * without ':' is sent by Dovecot as "X-API-Key: value". */
static void set_api_header(struct auth_server *s, const char *h) {
  char *name = NULL, *value = NULL;
  const char *colon = h ? strchr(h, ':') : NULL;
  if (h && *h) {
    name = colon ? dup_trimmed(h, (size_t)(colon - h)) : strdup("X-API-Key");
    value = colon ? dup_trimmed(colon + 1, strlen(colon + 1)) : dup_trimmed(h, strlen(h));
    if (!name || !value) { /* out of memory: keep the old header */
      free(name);
      free(value);
      log_error("auth_conf", "error=\"out of memory\" what=auth_api_header");
      return;
    }
  }
  free(s->hdr_name);
  free(s->hdr_value);
  s->hdr_name = name;
  s->hdr_value = value;
}

void auth_server_set_conf(struct auth_server *s, const struct conf *c) {
  set_api_header(s, c->auth_api_header);
  s->max_body = c->auth_max_body < AUTHPOL_BODY_MAX ? (size_t)c->auth_max_body : AUTHPOL_BODY_MAX;
  /* evhttp applies it to new connections; on_request checks it for all */
  evhttp_set_max_body_size(s->http, (ev_ssize_t)s->max_body);
}

/* -------------------------------------------------------------- requests */

/* a[0..la) equals the string b, without an early exit: the header is a secret. */
static bool same_secret(const char *a, size_t la, const char *b) {
  size_t lb = strlen(b);
  unsigned char d = la != lb;
  for (size_t i = 0; i < la && i < lb; i++) d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* The api header is there with the right value (white space around it
 * is not part of it: Dovecot sends "X-API-Key:  value"). */
static bool authorized(const struct auth_server *s, struct evhttp_request *r) {
  if (!s->hdr_name) return true;
  const char *v = evhttp_find_header(evhttp_request_get_input_headers(r), s->hdr_name);
  if (!v) return false;
  while (*v == ' ' || *v == '\t') v++;
  size_t n = strlen(v);
  while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
  return same_secret(v, n, s->hdr_value);
}

static void count_refusal(struct auth_server *s, struct evhttp_request *r, int code,
                          const char *why) {
  if (code == 401) s->st.unauthorized++;
  else s->st.bad_requests++;
  if (!log_rl_allow(&s->rl, (int64_t)time(NULL), "auth_input")) return;
  char *addr = NULL;
  ev_uint16_t port = 0;
  struct evhttp_connection *evcon = evhttp_request_get_connection(r);
  if (evcon) evhttp_connection_get_peer(evcon, &addr, &port);
  char esc[LOG_ESC_MAX];
  log_esc(esc, sizeof esc, addr ? addr : "", addr ? strlen(addr) : 0);
  log_warn("auth_input", "status=%d error=\"%s\" peer=%s port=%u", code, why, esc,
           (unsigned)port);
}

/* Run one well-formed request through decide; the reply body into out. */
static int run_decide(struct auth_server *s, const struct authpol_req *req, char *out,
                      size_t outlen) {
  struct authpol_verdict v = {0, ""};
  s->decide(s->arg, req, &v);
  if (req->cmd == AP_REPORT) {
    s->st.report_requests++;
    return authpol_format(0, "", out, outlen);
  }
  s->st.allow_requests++;
  if (v.status < 0) s->st.decided_reject++;
  else if (v.status > 0) s->st.decided_delay++;
  else s->st.decided_allow++;
  v.msg[sizeof v.msg - 1] = 0;
  return authpol_format(v.status, v.msg, out, outlen);
}

/* A POST that passed the header checks: parse, decide, reply into out. */
static int handle_post(struct auth_server *s, struct evhttp_request *r, char *why, size_t whylen,
                       char *out, size_t outlen) {
  struct evbuffer *in = evhttp_request_get_input_buffer(r);
  size_t len = evbuffer_get_length(in);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r);
  const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
  struct authpol_req req; /* about 4 KiB: fine on the loop's stack */
  if (!body) {
    snprintf(why, whylen, "out of memory");
    return 500;
  }
  if (authpol_parse(uri ? evhttp_uri_get_query(uri) : NULL, body, len, &req, why, whylen) < 0)
    return 400;
  if (run_decide(s, &req, out, outlen) < 0) {
    snprintf(why, whylen, "reply too long");
    return 500;
  }
  return 200;
}

/* Check and answer one request: the HTTP status, the JSON body in out. */
static int handle(struct auth_server *s, struct evhttp_request *r, char *out, size_t outlen) {
  char why[AUTHPOL_WHY_MAX];
  int code;
  size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(r));
  if (evhttp_request_get_command(r) != EVHTTP_REQ_POST) {
    code = 405;
    snprintf(why, sizeof why, "method not allowed: POST only");
  } else if (!authorized(s, r)) {
    code = 401;
    snprintf(why, sizeof why, "missing or wrong %s header", s->hdr_name);
  } else if (len > s->max_body) {
    /* evhttp refuses a larger body itself; this catches a limit lowered
     * by a reload on a connection opened before */
    code = 413;
    snprintf(why, sizeof why, "body over auth_max_body (%zu bytes)", s->max_body);
  } else {
    code = handle_post(s, r, why, sizeof why, out, outlen);
  }
  if (code == 200) return code;
  if (code != 500) count_refusal(s, r, code, why);
  else log_error("auth_internal", "error=\"%s\"", why);
  if (authpol_format_error(why, out, outlen) < 0) snprintf(out, outlen, "{}");
  return code;
}

static const char *reason_of(int code) {
  switch (code) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    default: return "Internal Server Error";
  }
}

/* evhttp callback: one complete request (headers and body read). */
static void on_request(struct evhttp_request *r, void *arg) {
  struct auth_server *s = arg;
  char out[AUTHPOL_REPLY_MAX];
  s->st.requests++;
  int code = handle(s, r, out, sizeof out);
  struct evkeyvalq *h = evhttp_request_get_output_headers(r);
  evhttp_add_header(h, "Content-Type", "application/json");
  if (code == 405) evhttp_add_header(h, "Allow", "POST");
  evbuffer_add(evhttp_request_get_output_buffer(r), out, strlen(out));
  evhttp_send_reply(r, code, reason_of(code), NULL);
}

/* ------------------------------------------------------------ lifecycle */

static int setup_http(struct auth_server *s, const struct conf *c) {
  if (!(s->http = evhttp_new(s->base))) return -1;
  /* every method reaches on_request, so that a wrong one is counted */
  evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                          EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                          EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
  evhttp_set_max_headers_size(s->http, AUTH_HEADERS_MAX);
  /* a body over the limit is read and dropped before the 413 (then close):
   * the client gets the answer instead of a reset */
  evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
  evhttp_set_timeout(s->http, AUTH_TIMEOUT_S);
  evhttp_set_default_content_type(s->http, "application/json");
  evhttp_set_gencb(s->http, on_request, s);
  auth_server_set_conf(s, c);
  s->socks = calloc(c->nauth_listen + 1, sizeof *s->socks);
  s->paths = calloc(c->nauth_listen + 1, sizeof *s->paths);
  return s->socks && s->paths ? 0 : -1;
}

struct auth_server *auth_server_new(struct event_base *base, const struct conf *c,
                                    auth_decide_fn decide, void *arg, char *err, size_t errlen) {
  struct auth_server *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->base = base;
  s->decide = decide;
  s->arg = arg;
  s->port = -1;
  if (setup_http(s, c) < 0) {
    snprintf(err, errlen, "out of memory");
    auth_server_free(s);
    return NULL;
  }
  for (size_t i = 0; i < c->nauth_listen; i++) {
    s->nsocks = i + 1;
    if (listen_one(s, c->auth_listen[i], i, err, errlen) < 0) {
      auth_server_free(s);
      return NULL;
    }
  }
  return s;
}

int auth_server_port(const struct auth_server *s) { return s->port; }

void auth_server_stop_listening(struct auth_server *s) {
  for (size_t i = 0; i < s->nsocks; i++) {
    if (s->socks[i]) evhttp_del_accept_socket(s->http, s->socks[i]); /* closes the socket */
    s->socks[i] = NULL;
    if (s->paths[i]) unlink(s->paths[i]);
    free(s->paths[i]);
    s->paths[i] = NULL;
  }
}

void auth_server_get_stats(const struct auth_server *s, struct auth_server_stats *out) {
  *out = s->st;
}

void auth_server_free(struct auth_server *s) {
  if (!s) return;
  if (s->socks && s->paths) auth_server_stop_listening(s);
  if (s->http) evhttp_free(s->http);
  free(s->socks);
  free(s->paths);
  free(s->hdr_name);
  free(s->hdr_value);
  free(s);
}
