/* test_auth_server.c - the Dovecot auth policy HTTP server, driven over
 * real sockets: the server listens on 127.0.0.1 (ephemeral port) and a unix
 * socket in /tmp, the test speaks HTTP/1.1 keep-alive to it and turns the
 * event loop itself between reads (one thread, every wait bounded). */
#include <errno.h>
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
}

static struct conf *auth_conf(const char *sock, int max_body, const char *extra) {
  char text[1024];
  snprintf(text, sizeof text,
           BASE_CONF "auth_listen = [ \"inet:127.0.0.1:0\", \"unix:%s\" ];\n"
                     "auth_max_body = %d;\n%s",
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

/* Length of a complete response at the start of buf, or 0. */
static size_t complete(const char *buf, size_t len, size_t *hlen) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (!end) return 0;
  *hlen = (size_t)(end - buf) + 4;
  const char *cl = strcasestr(buf, "\r\nContent-Length:");
  size_t blen = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
  return len >= *hlen + blen ? *hlen + blen : 0;
}

/* Send raw bytes, turn the loop until one whole response (or a close) came back. */
static void roundtrip(struct fixture *f, int fd, const char *req, size_t len, struct reply *r) {
  memset(r, 0, sizeof *r);
  assert_int_equal(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
  char buf[8192];
  size_t got = 0, hlen = 0, total = 0;
  for (int64_t t0 = now_ms(); now_ms() - t0 < WAIT_MS && !total;) {
    event_base_loop(f->base, EVLOOP_NONBLOCK);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 1) != 1) continue;
    ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
    if (n <= 0) {
      r->status = -1;
      return;
    }
    got += (size_t)n;
    buf[got] = 0;
    total = complete(buf, got, &hlen);
  }
  assert_true(total > 0);
  assert_int_equal(total, got); /* nothing more than one response */
  snprintf(r->head, sizeof r->head, "%.*s", (int)hlen, buf);
  snprintf(r->body, sizeof r->body, "%.*s", (int)(total - hlen), buf + hlen);
  assert_true(sscanf(buf, "HTTP/1.1 %d ", &r->status) == 1);
}

/* A POST like Dovecot's, with the api header given (NULL: none). */
static void post(struct fixture *f, int fd, const char *target, const char *hdr, const char *body,
                 struct reply *r) {
  static char req[65536];
  int n = snprintf(req, sizeof req,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "User-Agent: dovecot/auth-policy-client\r\n"
                   "Content-Length: %zu\r\nConnection: Keep-Alive\r\n"
                   "Content-Type: application/json\r\n%s%s\r\n%s",
                   target, strlen(body), hdr ? hdr : "", hdr ? "\r\n" : "", body);
  assert_true(n > 0 && (size_t)n < sizeof req);
  roundtrip(f, fd, req, (size_t)n, r);
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

/* A body over auth_max_body: evhttp's own 413 (then it closes), or ours
 * (JSON, counted) on a connection opened before a reload lowered the limit. */
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
  post(f, old, "/?command=allow", KEY, ALLOW_BODY, &r); /* kept alive */
  assert_int_equal(r.status, 200);
  close(old);
  fd = connect_tcp(f->port); /* a new connection gets the new limit from evhttp */
  post(f, fd, "/?command=allow", KEY, body, &r);
  assert_int_equal(r.status, 413);
  close(fd);
  assert_int_equal(f->seen.calls, 2);
  struct auth_server_stats st;
  auth_server_get_stats(f->s, &st);
  assert_int_equal(st.bad_requests, 1); /* evhttp's own refusals are not seen */
}

/* Headers past the limit: refused by evhttp, nothing decided, server fine. */
static void test_huge_headers(void **state) {
  struct fixture *f = *state;
  static char hdr[12000];
  snprintf(hdr, sizeof hdr, KEY "\r\nX-Junk: ");
  memset(hdr + strlen(hdr), 'j', 10000);
  int fd = connect_tcp(f->port);
  struct reply r;
  post(f, fd, "/?command=allow", hdr, ALLOW_BODY, &r);
  assert_true(r.status == -1 || r.status >= 400);
  close(fd);
  assert_int_equal(f->seen.calls, 0);
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

/* A listener spec that cannot work fails cleanly. */
static void test_bad_listener(void **state) {
  struct event_base *base = event_base_new();
  static const char *specs[] = {"inet:256.1.1.1:80", "inet:nohost:80", "inet:127.0.0.1:x",
                                "inet:192.0.2.1:80" /* not ours: EADDRNOTAVAIL */,
                                "unix:/proc/version" /* not a socket */,
                                "unix:/nonexistent-mf-dir/auth.sock"};
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
      cmocka_unit_test(test_bad_listener),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
