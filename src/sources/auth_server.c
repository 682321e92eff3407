/* auth_server.c - Dovecot's authentication policy server: HTTP/1.1 on raw libevent events.
 *
 * Dovecot (auth_policy_server_url = http://127.0.0.1:PORT/) keeps up to
 * 100 HTTP/1.1 keep-alive connections and POSTs to the URL's path with
 * ?command=allow (before and after the password check) or ?command=report
 * (at the end); see authpol_codec.c for the body. Each request waits for
 * our answer (2 s timeout in Dovecot), so the decision is synchronous: the
 * decide callback runs on the event loop and must not block.
 *
 * Why not libevent's evhttp: measured with bench/run_auth_bench.sh, evhttp
 * alone (a decide callback that did nothing) reached 43% of a minimal
 * epoll server at 64 connections: per request it allocates the request,
 * two header lists and buffers, and re-arms its events with epoll_ctl.
 * This module does what policy_server.c does for Postfix: one persistent
 * read event per connection, never re-armed; the connection's own input
 * buffer; the head parsed in place (http_req.c, strict, no allocation);
 * the answers to one read written with one send(), and a write event only
 * when the socket buffer is full. A request costs one read(), one send()
 * and no malloc.
 *
 * A connection: requests are answered in order (pipelining), each once its
 * head and its Content-Length body are in. While output waits for the
 * socket, nothing more is read (so input and output stay bounded). After
 * an answer that closes (the client's "Connection: close", HTTP/1.0, or an
 * error that leaves the framing unknown) the output is flushed, the write
 * side shut, and the input read and dropped until the client closes or
 * AUTH_LINGER_S passes: the client reads our answer instead of a reset.
 *
 * Answers: 200 {"status":N,"msg":"..."}; 401 when auth_api_header is set
 * and the header is missing or wrong; 400 {"error":"..."} for a request we
 * cannot parse; 405 (Allow: POST) for anything but POST; 411 for a POST
 * without Content-Length or with Transfer-Encoding; 413 over
 * auth_max_body; 431 for a head over HTTP_HEAD_MAX. Dovecot treats every
 * non-2xx as a failed request and applies auth_policy_reject_on_fail
 * (default: allow). Each refusal is counted and logged at a capped rate;
 * a peer's bad input never ends the process. Connections past
 * max_connections are closed at once (counted); one idle or sending too
 * slowly for AUTH_TIMEOUT_S is closed (counted).
 *
 * Dovecot's client speaks HTTP over TCP only (http_url_parse takes http
 * and https URLs); "unix:/path" listeners work too (mode 0660) for a local
 * proxy in front.
 */
#include "sources/auth_server.h"

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/conf.h"
#include "core/log.h"
#include "sources/http_req.h"
#include "sources/listeners.h"

/* Idle keep-alive and slow-request limit. Dovecot drops idle connections
 * after 10 s (max_idle_time), so it is always the one that closes: a
 * request never races our close. */
#define AUTH_TIMEOUT_S 60
#define AUTH_LINGER_S 2              /* reading a closed connection's rest, at most */
#define AUTH_LINGER_MAX (2 * AUTHPOL_BODY_MAX) /* bytes dropped while lingering, at most */
#define AUTH_UNIX_MODE 0660
#define AUTH_IN_FIRST 4096           /* a Dovecot request is about 450 bytes */
#define AUTH_IN_KEEP (16 * 1024)     /* a larger input buffer is freed once empty */
#define AUTH_IN_MAX (HTTP_HEAD_MAX + AUTHPOL_BODY_MAX) /* one request, head and body */
#define AUTH_BATCH 16384             /* answers to one read, sent with one send() */
#define AUTH_HEAD_OUT 256            /* our status line and headers, at most */
#define AUTH_ANSWER_MAX (AUTH_HEAD_OUT + AUTHPOL_REPLY_MAX + sizeof CONTINUE - 1)

static const char CONTINUE[] = "HTTP/1.1 100 Continue\r\n\r\n";

struct aconn {
  struct auth_server *s;
  int fd;
  struct event *rd, *wr;
  char *in;          /* bytes read, not yet answered */
  size_t in_len, in_cap;
  size_t need;       /* bytes the first request in `in` needs (head + body), 0 unknown */
  char *out;         /* answers the socket did not take yet */
  size_t out_len, out_off;
  time_t req_start;  /* monotonic second the request in progress began, 0 none */
  size_t lingered;   /* bytes dropped while lingering */
  bool closing;      /* an answer that closes is queued: read no more requests */
  bool lingering;    /* write side shut, reading to EOF before close */
  bool continued;    /* "100 Continue" sent for the request in progress */
  struct aconn *prev, *next;
};

struct auth_server {
  struct event_base *base;
  struct listener_set *ls;
  int port; /* of the first inet listener, -1 if none */
  auth_decide_fn decide;
  void *arg;
  char *hdr_name, *hdr_value; /* api header to require; NULL = none */
  struct http_api api;        /* views of the two */
  size_t max_body;
  size_t max_conns;
  const struct timeval *idle_tv; /* AUTH_TIMEOUT_S as a libevent common timeout */
  struct aconn *conns;
  struct auth_server_stats st;
  struct log_rl rl;
  time_t date_sec; /* second of `date` */
  char date[40];   /* "Date" header value, made once a second */
};

/* An answer being built: the replies to one read. */
struct batch {
  size_t len;
  char buf[AUTH_BATCH];
};

static void put(struct batch *b, const char *s, size_t n) {
  if (n > sizeof b->buf - b->len) abort(); /* process_some() leaves room for one answer */
  memcpy(b->buf + b->len, s, n);
  b->len += n;
}
#define PUT(b, lit) put((b), (lit), sizeof(lit) - 1)

static time_t mono_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return ts.tv_sec + 1; /* never 0: 0 means "no request in progress" */
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
  s->api.name = sv_mk(name, name ? strlen(name) : 0);
  s->api.value = sv_mk(value, value ? strlen(value) : 0);
}

void auth_server_set_conf(struct auth_server *s, const struct conf *c) {
  set_api_header(s, c->auth_api_header);
  s->max_body = c->auth_max_body < AUTHPOL_BODY_MAX ? (size_t)c->auth_max_body : AUTHPOL_BODY_MAX;
}

/* ----------------------------------------------------------- connections */

static void conn_free(struct aconn *c) {
  struct auth_server *s = c->s;
  if (c->rd) event_free(c->rd);
  if (c->wr) event_free(c->wr);
  close(c->fd);
  free(c->in);
  free(c->out);
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->st.conns_current--;
  free(c);
}

static void count_refusal(struct aconn *c, int code, const char *why) {
  struct auth_server *s = c->s;
  if (code == 401) s->st.unauthorized++;
  else s->st.bad_requests++;
  if (!log_rl_allow(&s->rl, (int64_t)time(NULL), "auth_input")) return;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char addr[64] = "unix";
  unsigned port = 0;
  if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) == 0 && ss.ss_family != AF_UNIX) {
    void *a = &((struct sockaddr_in *)&ss)->sin_addr;
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) {
      a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
      port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    if (!evutil_inet_ntop(ss.ss_family, a, addr, sizeof addr)) snprintf(addr, sizeof addr, "?");
  }
  log_warn("auth_input", "status=%d error=\"%s\" peer=%s port=%u", code, why, addr, port);
}

/* ------------------------------------------------------------- answering */

static const char *status_line(int code) {
  switch (code) {
    case 200: return "HTTP/1.1 200 OK\r\n";
    case 400: return "HTTP/1.1 400 Bad Request\r\n";
    case 401: return "HTTP/1.1 401 Unauthorized\r\n";
    case 405: return "HTTP/1.1 405 Method Not Allowed\r\nAllow: POST\r\n";
    case 411: return "HTTP/1.1 411 Length Required\r\n";
    case 413: return "HTTP/1.1 413 Content Too Large\r\n";
    case 417: return "HTTP/1.1 417 Expectation Failed\r\n";
    case 431: return "HTTP/1.1 431 Request Header Fields Too Large\r\n";
    case 505: return "HTTP/1.1 505 HTTP Version Not Supported\r\n";
    default: return "HTTP/1.1 500 Internal Server Error\r\n";
  }
}

/* "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7), remade once a second. */
static const char *http_date(struct auth_server *s) {
  static const char days[] = "SunMonTueWedThuFriSat", months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  struct timeval tv;
  struct tm tm;
  if (event_base_gettimeofday_cached(s->base, &tv) < 0) tv.tv_sec = time(NULL);
  if (tv.tv_sec == s->date_sec && s->date[0]) return s->date;
  s->date_sec = tv.tv_sec;
  if (!gmtime_r(&s->date_sec, &tm)) return "Thu, 01 Jan 1970 00:00:00 GMT";
  snprintf(s->date, sizeof s->date, "%.3s, %02d %.3s %04d %02d:%02d:%02d GMT", days + 3 * tm.tm_wday,
           tm.tm_mday, months + 3 * tm.tm_mon, tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
           tm.tm_sec);
  return s->date;
}

/* How to send an answer back. */
struct answer {
  int code;
  bool close;   /* Connection: close, and close after it */
  bool keep_10; /* Connection: keep-alive (to an HTTP/1.0 client that asked) */
  bool no_body; /* the answer to HEAD: headers only */
};

/* The framing of an answer to r (NULL: the head could not be parsed). */
static struct answer answer_to(const struct http_req *r, int code) {
  struct answer a = {code, true, false, false};
  if (r) {
    a.close = !r->keep_alive;
    a.keep_10 = r->keep_alive && r->minor == 0;
    a.no_body = sv_eq(r->method, "HEAD");
  }
  return a;
}

/* One whole answer, JSON body body[0..len), into b; counted as a request. */
static void put_answer(struct aconn *c, struct batch *b, const struct answer *a, const char *body,
                       size_t len) {
  char num[24], *d = num + sizeof num; /* the length's digits, right to left */
  const char *line = status_line(a->code), *date = http_date(c->s);
  size_t v = len;
  do *--d = (char)('0' + v % 10); while ((v /= 10) && d > num);
  c->s->st.requests++;
  put(b, line, strlen(line));
  PUT(b, "Date: ");
  put(b, date, strlen(date));
  PUT(b, "\r\nContent-Type: application/json\r\nContent-Length: ");
  put(b, d, (size_t)(num + sizeof num - d));
  if (a->close) PUT(b, "\r\nConnection: close");
  else if (a->keep_10) PUT(b, "\r\nConnection: keep-alive");
  PUT(b, "\r\n\r\n");
  if (!a->no_body) put(b, body, len);
  if (a->close) c->closing = true;
}

/* An error answer {"error":why}; counted and logged (500 is ours, not the peer's). */
static void put_refusal(struct aconn *c, struct batch *b, struct answer a, const char *why) {
  char out[AUTHPOL_REPLY_MAX];
  if (a.code == 500) log_error("auth_internal", "error=\"%s\"", why);
  else count_refusal(c, a.code, why);
  int n = authpol_format_error(why, out, sizeof out);
  if (n < 0) n = snprintf(out, sizeof out, "{}");
  put_answer(c, b, &a, out, (size_t)n);
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

/* An authorized POST: parse, decide; the HTTP status, the JSON (or why)
 * in out, its length in *outn. */
static int handle_post(struct auth_server *s, const struct http_req *r, const char *body,
                       char *out, size_t outlen, size_t *outn) {
  char query[AUTHPOL_QUERY_MAX + 2]; /* one byte more than allowed: "query too long" */
  char why[AUTHPOL_WHY_MAX];
  struct authpol_req req; /* about 4 KiB: fine on the loop's stack */
  size_t qn = r->query.len < sizeof query - 1 ? r->query.len : sizeof query - 1;
  memcpy(query, r->query.p ? r->query.p : "", qn);
  query[qn] = 0;
  if (authpol_parse(r->has_query ? query : NULL, body, (size_t)r->length, &req, why, sizeof why) < 0) {
    snprintf(out, outlen, "%s", why);
    return 400;
  }
  int n = run_decide(s, &req, out, outlen);
  if (n < 0) {
    snprintf(out, outlen, "reply too long");
    return 500;
  }
  *outn = (size_t)n;
  return 200;
}

/* A whole request (head r, body at body): answer it into b. */
static void answer(struct aconn *c, const struct http_req *r, const char *body, struct batch *b) {
  struct auth_server *s = c->s;
  char out[AUTHPOL_REPLY_MAX];
  if (!r->post) {
    put_refusal(c, b, answer_to(r, 405), "method not allowed: POST only");
    return;
  }
  if (!r->api_ok) {
    snprintf(out, sizeof out, "missing or wrong %s header", s->hdr_name);
    put_refusal(c, b, answer_to(r, 401), out);
    return;
  }
  size_t n = 0;
  struct answer a = answer_to(r, handle_post(s, r, body, out, sizeof out, &n));
  if (a.code != 200) put_refusal(c, b, a, out);
  else put_answer(c, b, &a, out, n);
}

/* The request at p (avail bytes): answered into b and its length returned,
 * or 0 when more bytes are needed (c->need set when known). */
static size_t one_request(struct aconn *c, const char *p, size_t avail, struct batch *b) {
  struct auth_server *s = c->s;
  struct http_req r;
  enum http_err e;
  long h = http_req_parse(p, avail, s->hdr_name ? &s->api : NULL, &r, &e);
  if (h == 0) return 0;
  /* the framing of what follows is unknown or not wanted: answer and close */
  if (h < 0) {
    put_refusal(c, b, answer_to(NULL, http_err_status(e)), http_err_text(e));
    return avail;
  }
  if (r.post && !r.has_length) {
    put_refusal(c, b, answer_to(NULL, 411), "POST without Content-Length");
    return avail;
  }
  if (r.length > s->max_body) {
    char why[AUTHPOL_WHY_MAX];
    snprintf(why, sizeof why, "body over auth_max_body (%zu bytes)", s->max_body);
    put_refusal(c, b, answer_to(NULL, 413), why);
    return avail;
  }
  size_t total = (size_t)h + (size_t)r.length;
  if (avail < total) {
    c->need = total;
    if (r.expect_continue && !c->continued) {
      PUT(b, CONTINUE);
      c->continued = true;
    }
    return 0;
  }
  answer(c, &r, p + h, b);
  return total;
}

/* Drop the first n input bytes; give back a large buffer once it is empty. */
static void consume(struct aconn *c, size_t n) {
  if (n == 0) return; /* c->in may be NULL */
  memmove(c->in, c->in + n, c->in_len - n);
  c->in_len -= n;
  if (c->in_len == 0 && c->in_cap > AUTH_IN_KEEP) {
    free(c->in);
    c->in = NULL;
    c->in_cap = 0;
  }
}

/* Answer the complete requests in the input, as many as one batch holds.
 * Returns true when the batch filled up (more may be waiting). */
static bool process_some(struct aconn *c, struct batch *b) {
  size_t pos = 0;
  bool full = false;
  while (!c->closing && pos < c->in_len) {
    if (b->len + AUTH_ANSWER_MAX > sizeof b->buf) {
      full = true;
      break;
    }
    if (pos == 0 && c->need > c->in_len) break; /* the body is still coming */
    size_t used = one_request(c, c->in + pos, c->in_len - pos, b);
    if (used == 0) break;
    pos += used;
    c->need = 0;
    c->continued = false;
    c->req_start = 0;
  }
  consume(c, pos); /* an incomplete request now starts the buffer: c->need counts from there */
  return full;
}

/* Send b; what the socket does not take waits in c->out. -1: the peer is gone. */
static int send_batch(struct aconn *c, const struct batch *b) {
  size_t off = 0;
  while (off < b->len) {
    ssize_t w = send(c->fd, b->buf + off, b->len - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return -1;
  }
  if (off == b->len) return 0;
  if (!(c->out = malloc(b->len - off))) return -1;
  memcpy(c->out, b->buf + off, b->len - off);
  c->out_len = b->len - off;
  c->out_off = 0;
  return 0;
}

static void start_lingering(struct aconn *c) {
  struct timeval tv = {AUTH_LINGER_S, 0};
  shutdown(c->fd, SHUT_WR);
  c->lingering = true;
  c->in_len = 0;
  c->req_start = mono_now(); /* now: when lingering began */
  event_add(c->rd, &tv);
}

/* Answer what can be answered, send it; set the events for what comes
 * next. -1 when the connection must be closed. */
static int conn_run(struct aconn *c) {
  bool more = true;
  while (more && !c->out) {
    struct batch b;
    b.len = 0;
    more = process_some(c, &b);
    if (send_batch(c, &b) < 0) return -1;
  }
  if (c->out) { /* the socket is full: read nothing until it takes the rest */
    event_del(c->rd);
    event_add(c->wr, c->s->idle_tv);
    return 0;
  }
  if (c->closing) {
    start_lingering(c);
    return 0;
  }
  if (!c->in_len) return 0;
  time_t now = mono_now(); /* part of a request is in: it must complete in time */
  if (!c->req_start) c->req_start = now;
  else if (now - c->req_start > AUTH_TIMEOUT_S) {
    c->s->st.timeouts++;
    return -1;
  }
  return 0;
}

/* Room for the next read(); -1 if the input cannot grow (out of memory). */
static int grow_input(struct aconn *c) {
  if (c->in_len < c->in_cap) return 0;
  size_t want = c->in_cap ? c->in_cap * 2 : AUTH_IN_FIRST;
  if (c->need > want) want = c->need;
  if (want > AUTH_IN_MAX) want = AUTH_IN_MAX;
  if (want <= c->in_cap) return -1; /* cannot happen: a request fits in AUTH_IN_MAX */
  char *n = realloc(c->in, want);
  if (!n) return -1;
  c->in = n;
  c->in_cap = want;
  return 0;
}

/* Read and drop until EOF: -1 when it is time to close (EOF, or too much,
 * or too long: each read re-arms the timer, so a trickle is cut here). */
static int linger_read(struct aconn *c) {
  char junk[4096];
  ssize_t n = recv(c->fd, junk, sizeof junk, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) return -1;
  c->lingered += (size_t)n;
  return c->lingered > AUTH_LINGER_MAX || mono_now() - c->req_start > AUTH_LINGER_S ? -1 : 0;
}

/* Read what there is and answer it; -1 to close. */
static int conn_read(struct aconn *c) {
  if (c->lingering) return linger_read(c);
  if (grow_input(c) < 0) {
    log_error("auth_internal", "error=\"out of memory\" what=input_buffer");
    return -1;
  }
  ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) return -1; /* closed (mid-request or not: Dovecot closes idle ones) */
  c->in_len += (size_t)n;
  return conn_run(c);
}

static void on_read(evutil_socket_t fd, short what, void *arg) {
  struct aconn *c = arg;
  if (what & EV_TIMEOUT) {
    if (!c->lingering) c->s->st.timeouts++;
    conn_free(c);
    return;
  }
  if (conn_read(c) < 0) conn_free(c);
}

/* The socket takes more: send the rest, then read again. -1 to close. */
static int conn_write(struct aconn *c) {
  ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
  if (w < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (w <= 0) return -1;
  c->out_off += (size_t)w;
  if (c->out_off < c->out_len) return 0;
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  event_del(c->wr);
  if (!c->closing && event_add(c->rd, c->s->idle_tv) < 0) return -1;
  return conn_run(c); /* requests read before the socket filled up */
}

static void on_write(evutil_socket_t fd, short what, void *arg) {
  struct aconn *c = arg;
  if (what & EV_TIMEOUT) {
    c->s->st.timeouts++;
    conn_free(c);
    return;
  }
  if (conn_write(c) < 0) conn_free(c);
}

static void on_accept(evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
  struct auth_server *s = arg;
  if (s->st.conns_current >= s->max_conns) {
    s->st.conns_refused++;
    if (log_rl_allow(&s->rl, (int64_t)time(NULL), "auth_input"))
      log_warn("auth_input", "error=connections_refused max_connections=%zu", s->max_conns);
    close(fd);
    return;
  }
  if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
    int one = 1; /* one small answer per request: never wait for Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  struct aconn *c = calloc(1, sizeof *c);
  if (c) {
    c->fd = fd;
    c->rd = event_new(s->base, fd, EV_READ | EV_PERSIST, on_read, c);
    c->wr = event_new(s->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
  }
  if (!c || !c->rd || !c->wr || evutil_make_socket_nonblocking(fd) < 0 ||
      event_add(c->rd, s->idle_tv) < 0) {
    if (c && c->rd) event_free(c->rd);
    if (c && c->wr) event_free(c->wr);
    free(c);
    close(fd);
    log_error("auth_internal", "error=\"cannot set up a connection\"");
    return;
  }
  c->s = s;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->st.conns_current++;
  s->st.conns_total++;
}

/* ------------------------------------------------------------ lifecycle */

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
  s->max_conns = c->max_connections > 0 ? (size_t)c->max_connections : 1;
  /* all connections share one timeout: libevent keeps them in a list, not its heap */
  struct timeval idle = {AUTH_TIMEOUT_S, 0};
  if (!(s->idle_tv = event_base_init_common_timeout(base, &idle))) {
    snprintf(err, errlen, "out of memory");
    free(s);
    return NULL;
  }
  auth_server_set_conf(s, c);
  s->ls = listeners_open(base, c->auth_listen, c->nauth_listen, AUTH_UNIX_MODE, on_accept, s, err,
                         errlen);
  if (!s->ls) {
    auth_server_free(s);
    return NULL;
  }
  s->port = listeners_port(s->ls);
  return s;
}

int auth_server_port(const struct auth_server *s) { return s->port; }

void auth_server_stop_listening(struct auth_server *s) {
  listeners_close(s->ls);
  s->ls = NULL;
}

void auth_server_get_stats(const struct auth_server *s, struct auth_server_stats *out) {
  *out = s->st;
}

void auth_server_free(struct auth_server *s) {
  if (!s) return;
  listeners_close(s->ls);
  while (s->conns) conn_free(s->conns);
  free(s->hdr_name);
  free(s->hdr_value);
  free(s);
}
