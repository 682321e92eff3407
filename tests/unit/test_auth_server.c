/* test_auth_server.c - the Dovecot auth policy HTTP server, driven over
 * real sockets: the server listens on 127.0.0.1 (ephemeral port) and a unix
 * socket in /tmp, the test speaks HTTP/1.1 keep-alive to it and turns the
 * event loop itself between sends and reads (one thread, non-blocking
 * client sockets, every wait bounded by WAIT_MS). */
#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "testutil.h"

#include "sources/auth_server.h"

#define WAIT_MS 3000 /* longest wait for one reply */
#define KEY "X-API-Key: s3cret"

struct seen {
  unsigned calls;
  enum authpol_cmd cmd;
  char login[64], remote[64], protocol[16], session_id[32], fail_type[16];
  bool success, has_success, tls;
};

struct fixture {
  struct event_base *base;
  struct conf *conf;
  struct auth_server *s;
  int port;
  char sock[64];
  struct authpol_verdict next; /* what decide answers */
  bool echo;                   /* instead: delay N for login "seqN" (order checks) */
  struct seen seen;
};

static void copy_sv(char *dst, size_t cap, struct strview v) {
  snprintf(dst, cap, "%.*s", (int)v.len, v.p ? v.p : "");
}

static void test_decide(void *arg, const struct authpol_req *req, struct authpol_verdict *out) {
  struct fixture *f = arg;
  assert_int_equal(out->status, 0);
  assert_string_equal(out->msg, "");
  f->seen.calls++;
  f->seen.cmd = req->cmd;
  copy_sv(f->seen.login, sizeof f->seen.login, req->login);
  copy_sv(f->seen.remote, sizeof f->seen.remote, req->remote);
  copy_sv(f->seen.protocol, sizeof f->seen.protocol, req->protocol);
  copy_sv(f->seen.session_id, sizeof f->seen.session_id, req->session_id);
  copy_sv(f->seen.fail_type, sizeof f->seen.fail_type, req->fail_type);
  f->seen.success = req->success;
  f->seen.has_success = req->has_success;
  f->seen.tls = req->tls;
  *out = f->next;
  if (f->echo) out->status = atoi(f->seen.login + 3);
}

/* 64 connections at most (max_connections) */
static struct conf *auth_conf(const char *sock, int max_body, const char *extra) {
  char text[1024];
  snprintf(text, sizeof text,
           BASE_CONF "auth_listen = [ \"inet:127.0.0.1:0\", \"unix:%s\" ];\n"
                     "auth_max_body = %d;\nmax_connections = 64;\n%s",
           sock, max_body, extra);
  return conf_from_text(text);
}

static int setup(void **state) {
  struct fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  snprintf(f->sock, sizeof f->sock, "/tmp/mf-auth-test-%ld.sock", (long)getpid());
  f->conf = auth_conf(f->sock, 2048, "auth_api_header = \"" KEY "\";\n");
  assert_non_null(f->base = event_base_new());
  char err[256];
  f->s = auth_server_new(f->base, f->conf, test_decide, f, err, sizeof err);
  if (!f->s) fail_msg("auth_server_new: %s", err);
  f->port = auth_server_port(f->s);
  assert_true(f->port > 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fixture *f = *state;
  auth_server_free(f->s);
  assert_int_equal(access(f->sock, F_OK), -1); /* the socket file is gone */
  event_base_free(f->base);
  conf_free(f->conf);
  free(f);
  return 0;
}

static int connect_tcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int connect_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
  if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct reply {
  int status;       /* HTTP status, 0 if none, -1 if the server closed */
  char head[2048];  /* status line and headers */
  char body[2048];
};

/* What came back on one connection. */
struct conv {
  size_t len;
  bool closed; /* the server closed (EOF or reset) */
  char buf[1 << 20];
};
static struct conv cv;

/* Length of a complete response at the start of buf, or 0. A 100
 * Continue is a response of its own (no body). */
static size_t complete(const char *buf, size_t len, size_t *hlen) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return 0;
  *hlen = (size_t)(end - buf) + 4;
  const char *cl = memmem(buf, *hlen, "\r\nContent-Length:", 17);
  size_t blen = cl ? strtoul(cl + 17, NULL, 10) : 0;
  return len >= *hlen + blen ? *hlen + blen : 0;
}

/* The n-th complete response in cv into r; false if there is none. */
static bool nth_reply(size_t n, struct reply *r) {
  size_t off = 0, hlen = 0, total;
  memset(r, 0, sizeof *r);
  for (size_t i = 0;; i++) {
    if (!(total = complete(cv.buf + off, cv.len - off, &hlen))) return false;
    if (i == n) break;
    off += total;
  }
  snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, cv.buf + off);
  snprintf(r->body, sizeof r->body, "%.*s", (int)(total - hlen), cv.buf + off + hlen);
  assert_true(sscanf(r->head, "HTTP/1.1 %d ", &r->status) == 1);
  return true;
}

static size_t count_replies(void) {
  size_t n = 0, off = 0, hlen, total;
  while ((total = complete(cv.buf + off, cv.len - off, &hlen))) off += total, n++;
  return n;
}

/* Take what the socket has; false when nothing came. */
static bool drain_socket(int fd) {
  bool got = false;
  while (!cv.closed && cv.len < sizeof cv.buf) {
    ssize_t n = recv(fd, cv.buf + cv.len, sizeof cv.buf - cv.len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) cv.closed = true;
    else cv.len += (size_t)n;
    got = true;
  }
  return got;
}

/* Send req in pieces of chunk bytes (0: as much as the socket takes),
 * turning the loop after each and collecting the answers in cv, until
 * want responses are in (SIZE_MAX: until the server closes), the server
 * closed, or WAIT_MS passed. Returns the number of complete responses. */
static size_t exchange(struct fixture *f, int fd, const char *req, size_t len, size_t chunk,
                       size_t want) {
  size_t sent = 0;
  cv.len = 0;
  cv.closed = false;
  for (int64_t t0 = now_ms(); now_ms() - t0 < WAIT_MS;) {
    bool busy = false;
    if (sent < len) {
      size_t n = chunk && chunk < len - sent ? chunk : len - sent;
      ssize_t w = send(fd, req + sent, n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) sent += (size_t)w, busy = true;
      else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) sent = len; /* server gone */
    }
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    busy |= drain_socket(fd);
    if (cv.closed || (sent == len && want != SIZE_MAX && count_replies() >= want)) break;
    if (!busy) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      (void)poll(&p, 1, 1);
    }
  }
  return count_replies();
}

/* Send raw bytes; exactly one whole response comes back (or a close). */
static void roundtrip(struct fixture *f, int fd, const char *req, size_t len, struct reply *r) {
  size_t n = exchange(f, fd, req, len, 0, 1);
  if (n == 0 && cv.closed) {
    memset(r, 0, sizeof *r);
    r->status = -1;
    return;
  }
  assert_int_equal(n, 1);
  assert_true(nth_reply(0, r));
  size_t hlen;
  assert_int_equal(complete(cv.buf, cv.len, &hlen), cv.len); /* nothing more than one response */
}

/* After an answer that closes: the server closes, unasked, within WAIT_MS. */
static void assert_closed(struct fixture *f, int fd) {
  for (int64_t t0 = now_ms(); !cv.closed && now_ms() - t0 < WAIT_MS;) {
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    if (!drain_socket(fd)) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      (void)poll(&p, 1, 1);
    }
  }
  assert_true(cv.closed);
}

/* A Dovecot-like request into buf; hdr: the api header line (NULL: none). */
static size_t make_post(char *buf, size_t cap, const char *target, const char *hdr,
                        const char *body) {
  int n = snprintf(buf, cap,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "User-Agent: dovecot/auth-policy-client\r\n"
                   "Content-Length: %zu\r\nConnection: Keep-Alive\r\n"
                   "Content-Type: application/json\r\n%s%s\r\n%s",
                   target, strlen(body), hdr ? hdr : "", hdr ? "\r\n" : "", body);
  assert_true(n > 0 && (size_t)n < cap);
  return (size_t)n;
}

/* A POST like Dovecot's, with the api header given (NULL: none). */
static void post(struct fixture *f, int fd, const char *target, const char *hdr, const char *body,
                 struct reply *r) {
  static char req[65536];
  roundtrip(f, fd, req, make_post(req, sizeof req, target, hdr, body), r);
}

#define ALLOW_BODY                                                                            \
  "{\"device_id\":\"\",\"login\":\"alice\",\"protocol\":\"imap\",\"pwhash\":\"0c5e\","        \
  "\"remote\":\"127.0.0.1\",\"session_id\":\"SoOGN/Bg2Op/AAAB\",\"tls\":false}"
#define REPORT_BODY                                                                           \
  "{\"device_id\":\"\",\"fail_type\":\"credentials\",\"login\":\"alice\",\"protocol\":\"smtp\"," \
  "\"pwhash\":\"05cb\",\"remote\":\"203.0.113.9\",\"session_id\":\"\",\"success\":false,"        \
  "\"policy_reject\":false,\"tls\":true}"

/* The request Dovecot 2.3.19 sent, byte for byte (tests/authpolicy/raw-allow.http). */
static void test_raw_capture(void **state) {
  struct fixture *f = *state;
  char path[1024];
  static char raw[4096];
  snprintf(path, sizeof path, "%s/tests/authpolicy/raw-allow.http", getenv("MAILFUSE_SRCDIR"));
  FILE *fp = fopen(path, "rb");
  assert_non_null(fp);
  size_t n = fread(raw, 1, sizeof raw, fp);
  fclose(fp);
  int fd = connect_tcp(f->port);
  assert_true(fd >= 0);
  struct reply r;
  roundtrip(f, fd, raw, n, &r);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"status\":0,\"msg\":\"\"}");
  assert_non_null(strcasestr(r.head, "\r\nContent-Type: application/json\r\n"));
  assert_null(strcasestr(r.head, "Connection: close"));
  assert_int_equal(f->seen.calls, 1);
  assert_int_equal(f->seen.cmd, AP_ALLOW);
  assert_string_equal(f->seen.login, "alice");
  assert_string_equal(f->seen.session_id, "/zMY/+9gaO1/AAAB");
  assert_string_equal(f->seen.protocol, "imap");
  close(fd);
}

/* Allow, delay and reject, and a report, all on one keep-alive connection. */
static void test_verdicts_keepalive(void **state) {
  struct fixture *f = *state;
  int fd = connect_tcp(f->port);
  assert_true(fd >= 0);
  struct reply r;
  static const struct {
    int status;
    const char *msg, *want;
  } v[] = {
      {0, "", "{\"status\":0,\"msg\":\"\"}"},
      {3, "slow down", "{\"status\":3,\"msg\":\"slow down\"}"},
      {-1, "blocked by test policy", "{\"status\":-1,\"msg\":\"blocked by test policy\"}"},
      {-1, "say \"no\"", "{\"status\":-1,\"msg\":\"say \\\"no\\\"\"}"},
  };
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
      f->next.status = v[i].status;
      snprintf(f->next.msg, sizeof f->next.msg, "%s", v[i].msg);
      post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r);
      assert_int_equal(r.status, 200);
      assert_string_equal(r.body, v[i].want);
    }
    /* a report's verdict is not sent: Dovecot ignores it */
    f->next.status = -1;
    post(f, fd, "/some/path?command=report", KEY, REPORT_BODY, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"status\":0,\"msg\":\"\"}");
    assert_int_equal(f->seen.cmd, AP_REPORT);
    assert_string_equal(f->seen.fail_type, "credentials");
    assert_string_equal(f->seen.remote, "203.0.113.9");
    assert_true(f->seen.has_success && !f->seen.success && f->seen.tls);
  }
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.requests, 15);
  assert_int_equal(st.allow_requests, 12);
  assert_int_equal(st.report_requests, 3);
  assert_int_equal(st.decided_allow, 3);
  assert_int_equal(st.decided_delay, 3);
  assert_int_equal(st.decided_reject, 6);
  assert_int_equal(st.bad_requests + st.unauthorized, 0);
  close(fd);
}

/* Missing or wrong api header: 401, counted, the connection stays usable. */
static void test_unauthorized(void **state) {
  struct fixture *f = *state;
  int fd = connect_tcp(f->port);
  assert_true(fd >= 0);
  struct reply r;
  post(f, fd, "/?command=allow", NULL, ALLOW_BODY, &r);
  assert_int_equal(r.status, 401);
  post(f, fd, "/?command=allow", "X-API-Key: s3cre", ALLOW_BODY, &r);
  assert_int_equal(r.status, 401);
  post(f, fd, "/?command=allow", "X-API-Key: s3cretX", ALLOW_BODY, &r);
  assert_int_equal(r.status, 401);
  post(f, fd, "/?command=allow", "Authorization: s3cret", ALLOW_BODY, &r);
  assert_int_equal(r.status, 401);
  assert_int_equal(f->seen.calls, 0);
  /* header names are case-insensitive; white space around the value is not part of it */
  post(f, fd, "/?command=allow", "x-api-key:\t s3cret  ", ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.unauthorized, 4);
  assert_int_equal(st.allow_requests, 1);
  close(fd);
}

/* Garbage, bad commands and wrong methods: 400/405 with a JSON error, counted. */
static void test_bad_requests(void **state) {
  struct fixture *f = *state;
  int fd = connect_tcp(f->port);
  assert_true(fd >= 0);
  struct reply r;
  post(f, fd, "/?command=allow", KEY, "this is not json", &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.body, "{\"error\":\"bad json at byte 0: want an object\"}");
  post(f, fd, "/?command=reset", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.body, "{\"error\":\"unknown command\"}");
  post(f, fd, "/", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 400);
  post(f, fd, "/?command=allow", KEY, "{\"login\":7}", &r);
  assert_int_equal(r.status, 400);
  assert_string_equal(r.body, "{\"error\":\"field login: want a string\"}");
  post(f, fd, "/?command=allow", KEY, "", &r);
  assert_int_equal(r.status, 400);
  const char get[] = "GET /?command=allow HTTP/1.1\r\nHost: x\r\n" KEY "\r\n\r\n";
  roundtrip(f, fd, get, sizeof get - 1, &r);
  assert_int_equal(r.status, 405);
  assert_non_null(strcasestr(r.head, "\r\nAllow: POST\r\n"));
  assert_int_equal(f->seen.calls, 0);
  post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r); /* still alive */
  assert_int_equal(r.status, 200);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.bad_requests, 6);
  assert_int_equal(st.requests, 7);
  close(fd);
}

/* A body over auth_max_body: 413 (JSON, counted), then the server closes;
 * a reload's lower limit holds on connections opened before it too. */
static void test_too_large(void **state) {
  struct fixture *f = *state;
  char body[3001];
  memset(body, ' ', sizeof body - 1);
  body[sizeof body - 1] = 0;
  memcpy(body, ALLOW_BODY, sizeof ALLOW_BODY - 1);
  int fd = connect_tcp(f->port), old = connect_tcp(f->port);
  assert_true(fd >= 0 && old >= 0);
  struct reply r;
  post(f, fd, "/?command=allow", KEY, body, &r);
  assert_int_equal(r.status, 413);
  assert_non_null(strcasestr(r.head, "\r\nConnection: close\r\n"));
  assert_string_equal(r.body, "{\"error\":\"body over auth_max_body (2048 bytes)\"}");
  assert_closed(f, fd);
  close(fd);
  body[2048] = 0; /* exactly the limit is fine */
  post(f, old, "/?command=allow", KEY, body, &r);
  assert_int_equal(r.status, 200);
  struct conf *c = auth_conf(f->sock, 1024, "auth_api_header = \"" KEY "\";\n");
  auth_server_set_conf(f->s, c);
  conf_free(c);
  body[1500] = 0;
  post(f, old, "/?command=allow", KEY, body, &r);
  assert_int_equal(r.status, 413);
  assert_string_equal(r.body, "{\"error\":\"body over auth_max_body (1024 bytes)\"}");
  assert_closed(f, old);
  close(old);
  fd = connect_tcp(f->port);
  post(f, fd, "/?command=allow", KEY, body, &r);
  assert_int_equal(r.status, 413);
  close(fd);
  /* a large body under a raised limit, then small ones: the input buffer grows and shrinks */
  c = auth_conf(f->sock, 65536, "auth_api_header = \"" KEY "\";\n");
  auth_server_set_conf(f->s, c);
  conf_free(c);
  static char big[40001];
  memset(big, ' ', sizeof big - 1);
  memcpy(big, ALLOW_BODY, sizeof ALLOW_BODY - 1);
  fd = connect_tcp(f->port);
  post(f, fd, "/?command=allow", KEY, big, &r);
  assert_int_equal(r.status, 200);
  post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  close(fd);
  assert_int_equal(f->seen.calls, 3);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.bad_requests, 3);
  assert_int_equal(st.requests, 6);
}

/* Headers past the limit: 431, counted, closed; nothing decided, server fine. */
static void test_huge_headers(void **state) {
  struct fixture *f = *state;
  static char hdr[12000];
  snprintf(hdr, sizeof hdr, KEY "\r\nX-Junk: ");
  memset(hdr + strlen(hdr), 'j', 10000);
  int fd = connect_tcp(f->port);
  struct reply r;
  post(f, fd, "/?command=allow", hdr, ALLOW_BODY, &r);
  assert_int_equal(r.status, 431);
  assert_non_null(strcasestr(r.head, "\r\nConnection: close\r\n"));
  assert_closed(f, fd);
  close(fd);
  assert_int_equal(f->seen.calls, 0);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.bad_requests, 1);
  fd = connect_tcp(f->port);
  post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  close(fd);
}

static void test_unix_socket(void **state) {
  struct fixture *f = *state;
  int fd = connect_unix(f->sock);
  assert_true(fd >= 0);
  struct reply r;
  for (int i = 0; i < 3; i++) {
    post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r);
    assert_int_equal(r.status, 200);
  }
  close(fd);
  assert_int_equal(f->seen.calls, 3);
}

/* After stop_listening: no new connections, open ones still served. */
static void test_stop_listening(void **state) {
  struct fixture *f = *state;
  int fd = connect_tcp(f->port);
  assert_true(fd >= 0);
  struct reply r;
  post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  auth_server_stop_listening(f->s);
  assert_int_equal(connect_tcp(f->port), -1);
  assert_int_equal(connect_unix(f->sock), -1);
  assert_int_equal(access(f->sock, F_OK), -1);
  post(f, fd, "/?command=report", KEY, REPORT_BODY, &r);
  assert_int_equal(r.status, 200);
  close(fd);
}

/* A reload swaps the api header, or turns the check off. */
static void test_set_conf(void **state) {
  struct fixture *f = *state;
  int fd = connect_tcp(f->port);
  struct reply r;
  struct conf *c = auth_conf(f->sock, 2048, "auth_api_header = \"Authorization: Basic dTpw\";\n");
  auth_server_set_conf(f->s, c);
  conf_free(c);
  post(f, fd, "/?command=allow", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 401);
  post(f, fd, "/?command=allow", "Authorization:  Basic dTpw", ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  c = auth_conf(f->sock, 2048, ""); /* empty: not checked */
  auth_server_set_conf(f->s, c);
  conf_free(c);
  post(f, fd, "/?command=allow", NULL, ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  close(fd);
}

/* Requests sent together are answered in order, one answer each, past
 * one batch of answers (16 KiB) too; a refusal in the middle (401) does
 * not disturb the others, and the connection stays open. */
static void test_pipelining(void **state) {
  struct fixture *f = *state;
  static char req[300 * 512];
  size_t len = 0;
  f->echo = true;
  for (int i = 1; i <= 300; i++) {
    char body[128];
    snprintf(body, sizeof body, "{\"login\":\"seq%d\",\"remote\":\"192.0.2.1\"}", i);
    len += make_post(req + len, sizeof req - len, "/?command=allow", i == 150 ? "X-API-Key: no" : KEY,
                     body);
  }
  int fd = connect_tcp(f->port);
  assert_true(fd >= 0);
  assert_int_equal(exchange(f, fd, req, len, 0, 300), 300);
  for (size_t i = 0; i < 300; i++) {
    struct reply r;
    char want[64];
    assert_true(nth_reply(i, &r));
    assert_int_equal(r.status, i == 149 ? 401 : 200);
    snprintf(want, sizeof want, "{\"status\":%zu,\"msg\":\"\"}", i + 1);
    if (i != 149) assert_string_equal(r.body, want);
  }
  assert_false(cv.closed);
  assert_int_equal(f->seen.calls, 299);
  close(fd);
}

/* The server's end of our connection fd (same process), or -1. */
static int server_end(int fd) {
  struct sockaddr_storage mine, peer, a, b;
  socklen_t l1 = sizeof mine, l2 = sizeof peer;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&mine, &l1), 0);
  assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &l2), 0);
  for (int s = 3; s < 1024; s++) {
    socklen_t la = sizeof a, lb = sizeof b;
    if (s != fd && getsockname(s, (struct sockaddr *)&a, &la) == 0 && la == l2 &&
        memcmp(&a, &peer, la) == 0 && getpeername(s, (struct sockaddr *)&b, &lb) == 0 &&
        lb == l1 && memcmp(&b, &mine, lb) == 0)
      return s;
  }
  return -1;
}

/* A client that sends without reading: the server stops reading while its
 * answers wait, and every request is answered, in order, once the client reads. */
static void test_slow_reader(void **state) {
  struct fixture *f = *state;
  enum { N = 4000 };
  static char req[N * 160];
  size_t len = 0, sent = 0;
  f->echo = true;
  for (int i = 1; i <= N; i++) {
    char body[64];
    snprintf(body, sizeof body, "{\"login\":\"seq%d\"}", i);
    int n = snprintf(req + len, sizeof req - len,
                     "POST /?command=allow HTTP/1.1\r\nHost: x\r\n" KEY
                     "\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(body), body);
    assert_true(n > 0 && (size_t)n < sizeof req - len);
    len += (size_t)n;
  }
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;
  assert_true(fd >= 0);
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  int srv = -1; /* loopback send buffers grow to megabytes: keep the server's small */
  for (int64_t t0 = now_ms(); srv < 0 && now_ms() - t0 < WAIT_MS;) {
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    srv = server_end(fd);
  }
  assert_true(srv >= 0);
  setsockopt(srv, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  for (int idle = 0; idle < 200 && sent < len;) { /* send, never read, until both sides are full */
    ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w > 0) sent += (size_t)w, idle = 0;
    else idle++;
    event_base_loop(f->base, EVLOOP_NONBLOCK);
  }
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_true(st.requests < N); /* it stopped: answers are waiting for the client */
  assert_int_equal(exchange(f, fd, req + sent, len - sent, 0, N), N);
  for (size_t i = 0; i < N; i += 97) {
    struct reply r;
    char want[64];
    assert_true(nth_reply(i, &r));
    snprintf(want, sizeof want, "{\"status\":%zu,\"msg\":\"\"}", i + 1);
    assert_string_equal(r.body, want);
  }
  close(fd);
}

/* The same requests arriving a byte (or 7 bytes) at a time. */
static void test_split_reads(void **state) {
  struct fixture *f = *state;
  char req[2048];
  size_t len = make_post(req, sizeof req, "/?command=allow", KEY, "{\"login\":\"seq7\"}");
  len += make_post(req + len, sizeof req - len, "/?command=allow", KEY, "{\"login\":\"seq8\"}");
  f->echo = true;
  int fds[2] = {connect_tcp(f->port), connect_unix(f->sock)};
  for (int k = 0; k < 2; k++) {
    assert_true(fds[k] >= 0);
    assert_int_equal(exchange(f, fds[k], req, len, k ? 7 : 1, 2), 2);
    struct reply r;
    assert_true(nth_reply(0, &r));
    assert_string_equal(r.body, "{\"status\":7,\"msg\":\"\"}");
    assert_true(nth_reply(1, &r));
    assert_string_equal(r.body, "{\"status\":8,\"msg\":\"\"}");
    close(fds[k]);
  }
  assert_int_equal(f->seen.calls, 4);
}

/* "Connection: close": answered with it, then closed; what came after is not answered. */
static void test_connection_close(void **state) {
  struct fixture *f = *state;
  static const char body[] = "{\"login\":\"seq2\"}";
  char req[2048];
  size_t len = make_post(req, sizeof req, "/?command=allow", KEY, "{\"login\":\"seq1\"}");
  len += (size_t)snprintf(req + len, sizeof req - len,
                          "POST /?command=allow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" KEY
                          "\r\nContent-Length: %zu\r\n\r\n%s",
                          sizeof body - 1, body);
  len += make_post(req + len, sizeof req - len, "/?command=allow", KEY, "{\"login\":\"seq3\"}");
  f->echo = true;
  int fd = connect_tcp(f->port);
  assert_int_equal(exchange(f, fd, req, len, 0, SIZE_MAX), 2);
  assert_true(cv.closed);
  struct reply r;
  assert_true(nth_reply(0, &r));
  assert_null(strcasestr(r.head, "Connection:"));
  assert_true(nth_reply(1, &r));
  assert_string_equal(r.body, "{\"status\":2,\"msg\":\"\"}");
  assert_non_null(strcasestr(r.head, "\r\nConnection: close\r\n"));
  assert_int_equal(f->seen.calls, 2);
  close(fd);
}

/* HTTP/1.0 closes after the answer unless the client asked for keep-alive. */
static void test_http10(void **state) {
  struct fixture *f = *state;
  char req[1024];
  struct reply r;
  int n = snprintf(req, sizeof req, "POST /?command=allow HTTP/1.0\r\nContent-Length: %zu\r\n" KEY
                   "\r\n\r\n%s", sizeof ALLOW_BODY - 1, ALLOW_BODY);
  int fd = connect_tcp(f->port);
  roundtrip(f, fd, req, (size_t)n, &r);
  assert_int_equal(r.status, 200);
  assert_non_null(strcasestr(r.head, "\r\nConnection: close\r\n"));
  assert_closed(f, fd);
  close(fd);
  n = snprintf(req, sizeof req, "POST /?command=allow HTTP/1.0\r\nConnection: Keep-Alive\r\n"
               "Content-Length: %zu\r\n" KEY "\r\n\r\n%s", sizeof ALLOW_BODY - 1, ALLOW_BODY);
  fd = connect_tcp(f->port);
  for (int i = 0; i < 3; i++) {
    roundtrip(f, fd, req, (size_t)n, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strcasestr(r.head, "\r\nConnection: keep-alive\r\n"));
    assert_false(cv.closed);
  }
  close(fd);
  assert_int_equal(f->seen.calls, 4);
}

/* Turn the loop until needle is in what came back (cv, not reset). */
static void wait_bytes(struct fixture *f, int fd, const char *needle) {
  for (int64_t t0 = now_ms(); now_ms() - t0 < WAIT_MS;) {
    if (memmem(cv.buf, cv.len, needle, strlen(needle))) return;
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    if (!drain_socket(fd)) {
      struct pollfd p = {.fd = fd, .events = POLLIN};
      (void)poll(&p, 1, 1);
    }
  }
  fail_msg("no \"%s\" in the answer", needle);
}

/* Anything but POST: 405 with Allow: POST, counted, the body (if any)
 * skipped, the connection kept; the answer to HEAD has no body. */
static void test_methods(void **state) {
  struct fixture *f = *state;
  static const char *const reqs[] = {
      "PUT /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "post /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
      "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
      "DELETE http://127.0.0.1/?command=allow HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  int fd = connect_tcp(f->port);
  struct reply r;
  for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
    roundtrip(f, fd, reqs[i], strlen(reqs[i]), &r);
    assert_int_equal(r.status, 405);
    assert_non_null(strcasestr(r.head, "\r\nAllow: POST\r\n"));
    assert_string_equal(r.body, "{\"error\":\"method not allowed: POST only\"}");
  }
  char req[2048];
  int n = snprintf(req, sizeof req, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  n += (int)make_post(req + n, sizeof req - (size_t)n, "/?command=allow", KEY, ALLOW_BODY);
  (void)exchange(f, fd, req, (size_t)n, 0, 1);
  wait_bytes(f, fd, "{\"status\":0,\"msg\":\"\"}");
  const char *end = memmem(cv.buf, cv.len, "\r\n\r\n", 4);
  assert_true(strncmp(cv.buf, "HTTP/1.1 405 ", 13) == 0 && end);
  assert_true(strncmp(end + 4, "HTTP/1.1 200 OK\r\n", 17) == 0); /* no body after the HEAD answer */
  assert_int_equal(f->seen.calls, 1);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.bad_requests, 5);
  assert_int_equal(st.requests, 6);
  close(fd);
}

/* Requests whose framing we refuse: the status, the JSON error, then close. */
static void test_framing_errors(void **state) {
  struct fixture *f = *state;
  static const struct {
    const char *req;
    int status;
  } t[] = {
      {"POST /?command=allow HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" KEY
       "\r\n\r\n5\r\n{}   \r\n0\r\n\r\n", 411},
      {"POST /?command=allow HTTP/1.1\r\nHost: x\r\n" KEY "\r\n\r\n", 411},
      {"POST /?command=allow HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n", 400},
      {"POST /?command=allow HTTP/1.1\r\nHost : x\r\nContent-Length: 0\r\n\r\n", 400},
      {"POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400},
      {"POST /?command=allow HTTP/1.1\r\nHost: x\r\nContent-Length: -2\r\n\r\n{}", 400},
      {"POST /?command=allow HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400}, /* no Host */
      {"POST /?command=allow HTTP/1.1\nHost: x\r\n\r\n", 400},                 /* bare LF */
      {"POST /?command=allow HTTP/2.0\r\nHost: x\r\n\r\n", 505},
      {"POST /?command=allow HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417},
      {"POST /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    int fd = connect_tcp(f->port);
    struct reply r;
    roundtrip(f, fd, t[i].req, strlen(t[i].req), &r);
    if (r.status != t[i].status) fail_msg("request %zu: status %d, want %d", i, r.status, t[i].status);
    assert_non_null(strcasestr(r.head, "\r\nConnection: close\r\n"));
    assert_true(strncmp(r.body, "{\"error\":\"", 10) == 0);
    assert_closed(f, fd);
    close(fd);
  }
  assert_int_equal(f->seen.calls, 0);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.bad_requests, sizeof t / sizeof t[0]);
}

/* "Expect: 100-continue": the interim answer once the head is in, then the real one. */
static void test_expect_continue(void **state) {
  struct fixture *f = *state;
  char head[512];
  int n = snprintf(head, sizeof head, "POST /?command=allow HTTP/1.1\r\nHost: x\r\n" KEY
                   "\r\nExpect: 100-continue\r\nContent-Length: %zu\r\n\r\n", sizeof ALLOW_BODY - 1);
  int fd = connect_tcp(f->port);
  struct reply r;
  roundtrip(f, fd, head, (size_t)n, &r);
  assert_int_equal(r.status, 100);
  roundtrip(f, fd, ALLOW_BODY, sizeof ALLOW_BODY - 1, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(f->seen.calls, 1);
  close(fd);
}

/* Past max_connections a new connection is closed at once, and counted. */
static void test_max_connections(void **state) {
  struct fixture *f = *state;
  int fds[64];
  struct auth_server_stats st;
  for (int i = 0; i < 64; i++) assert_true((fds[i] = connect_tcp(f->port)) >= 0);
  for (int64_t t0 = now_ms(); now_ms() - t0 < WAIT_MS;) {
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    auth_server_get_stats(f->s, &st);
    if (st.conns_current == 64) break;
  }
  assert_int_equal(st.conns_current, 64);
  int extra = connect_tcp(f->port);
  assert_true(extra >= 0);
  cv.len = 0;
  cv.closed = false;
  assert_closed(f, extra);
  close(extra);
  struct reply r;
  post(f, fds[63], "/?command=allow", KEY, ALLOW_BODY, &r);
  assert_int_equal(r.status, 200);
  for (int i = 0; i < 64; i++) close(fds[i]);
  for (int64_t t0 = now_ms(); now_ms() - t0 < WAIT_MS && st.conns_current;) {
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    auth_server_get_stats(f->s, &st);
  }
  assert_int_equal(st.conns_current, 0);
  assert_int_equal(st.conns_refused, 1);
  assert_int_equal(st.conns_total, 64);
}

/* A listener spec that cannot work fails cleanly. */
static void test_bad_listener(void **state) {
  struct event_base *base = event_base_new();
  static const char *specs[] = {"inet:256.1.1.1:80", "inet:nohost:80", "inet:127.0.0.1:x",
                                "inet:192.0.2.1:80" /* not ours: EADDRNOTAVAIL */,
                                "unix:/proc/version" /* not a socket */,
                                "unix:/proc/mf-none/auth.sock" /* no directory, none can be made */};
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    char text[512], err[256] = "";
    snprintf(text, sizeof text, BASE_CONF "auth_listen = [ \"%s\" ];\n", specs[i]);
    struct conf *c = conf_from_text(text);
    assert_null(auth_server_new(base, c, test_decide, NULL, err, sizeof err));
    assert_true(err[0] != 0);
    conf_free(c);
  }
  event_base_free(base);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_raw_capture, setup, teardown),
      cmocka_unit_test_setup_teardown(test_verdicts_keepalive, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unauthorized, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
      cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
      cmocka_unit_test_setup_teardown(test_huge_headers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_unix_socket, setup, teardown),
      cmocka_unit_test_setup_teardown(test_stop_listening, setup, teardown),
      cmocka_unit_test_setup_teardown(test_set_conf, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelining, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
      cmocka_unit_test_setup_teardown(test_split_reads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
      cmocka_unit_test_setup_teardown(test_methods, setup, teardown),
      cmocka_unit_test_setup_teardown(test_framing_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_connections, setup, teardown),
      cmocka_unit_test(test_bad_listener),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
