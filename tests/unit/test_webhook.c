/* test_webhook.c - webhook_post against a small HTTP receiver on 127.0.0.1
 * in a thread of the test: 2xx is success and the exact body and headers
 * arrive, other statuses and refused or silent servers are failures within
 * the timeout, non-HTTP URLs and header injection are refused. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include "actions/webhook.h"

#define REQ_MAX (4 << 20)

/* One connection, one request; answers `status`, or never when it is 0. */
struct receiver {
  int lfd, port, status;
  char *req; /* the request as received, NUL-terminated */
  size_t req_len;
  bool got_body; /* all Content-Length bytes arrived */
  pthread_t th;
};

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int listen_local(int *port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(fd, 4), 0);
  socklen_t sl = sizeof sa;
  assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
  *port = ntohs(sa.sin_port);
  return fd;
}

/* Read with a 5 s limit so a broken test cannot hang; <= 0 ends it. */
static ssize_t read_some(int fd, char *buf, size_t len) {
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  if (poll(&pf, 1, 5000) <= 0) return -1;
  return read(fd, buf, len);
}

/* True once the headers and Content-Length bytes of body are in. */
static bool request_complete(struct receiver *rc) {
  const char *end = strstr(rc->req, "\r\n\r\n");
  if (!end) return false;
  const char *cl = strcasestr(rc->req, "\r\nContent-Length:");
  size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
  return rc->req_len - (size_t)(end + 4 - rc->req) >= want;
}

static void *serve(void *arg) {
  struct receiver *rc = arg;
  struct pollfd pf = {.fd = rc->lfd, .events = POLLIN};
  if (poll(&pf, 1, 5000) <= 0) return NULL;
  int fd = accept4(rc->lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return NULL;
  ssize_t n;
  while (!rc->got_body && rc->req_len < REQ_MAX &&
         (n = read_some(fd, rc->req + rc->req_len, REQ_MAX - rc->req_len)) > 0) {
    rc->req_len += (size_t)n;
    rc->req[rc->req_len] = '\0';
    rc->got_body = request_complete(rc);
  }
  if (rc->status) {
    char ans[128];
    int len = snprintf(ans, sizeof ans,
                       "HTTP/1.1 %d Whatever\r\nContent-Length: 2\r\nLocation: http://127.0.0.1:1/"
                       "\r\nConnection: close\r\n\r\nok",
                       rc->status);
    assert_int_equal(write(fd, ans, (size_t)len), len);
  } else {
    char sink[256];
    while (read_some(fd, sink, sizeof sink) > 0) { /* silent until the client gives up */
    }
  }
  close(fd);
  return NULL;
}

static struct receiver *receiver_start(int status) {
  struct receiver *rc = calloc(1, sizeof *rc);
  assert_non_null(rc);
  rc->req = malloc(REQ_MAX + 1);
  assert_non_null(rc->req);
  rc->req[0] = '\0';
  rc->status = status;
  rc->lfd = listen_local(&rc->port);
  assert_int_equal(pthread_create(&rc->th, NULL, serve, rc), 0);
  return rc;
}

/* Wait for the receiver to finish; then rc->req can be read. */
static void receiver_join(struct receiver *rc) {
  pthread_join(rc->th, NULL);
  close(rc->lfd);
  rc->lfd = -1;
}

static void receiver_free(struct receiver *rc) {
  free(rc->req);
  free(rc);
}

static const char *body_of(struct receiver *rc) {
  const char *end = strstr(rc->req, "\r\n\r\n");
  assert_non_null(end);
  return end + 4;
}

static const char *json = "{\"event\":\"suspend\",\"account\":\"alice@example.edu\"}";

static void test_status_decides(void **state) {
  static const struct {
    int status, want_rc;
    const char *want_err;
  } cases[] = {
      {200, 0, ""},          {204, 0, ""},          {500, -1, "HTTP 500"},
      {503, -1, "HTTP 503"}, {404, -1, "HTTP 404"}, {302, -1, "HTTP 302"}, /* not followed */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct receiver *rc = receiver_start(cases[i].status);
    char url[64], err[256] = "junk";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rc->port);
    int got = webhook_post(url, NULL, 0, json, strlen(json), 5, err, sizeof err);
    receiver_join(rc);
    assert_int_equal(got, cases[i].want_rc);
    assert_string_equal(err, cases[i].want_err);
    assert_true(rc->got_body); /* the body was sent in every case */
    receiver_free(rc);
  }
}

static void test_exact_body_and_headers_arrive(void **state) {
  const char *headers[] = {"X-Mailfuse-Token: s3cret", "X-Tenant: edu"};
  struct receiver *rc = receiver_start(200);
  char url[64], err[256] = "junk";
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook?x=1", rc->port);
  assert_int_equal(webhook_post(url, headers, 2, json, strlen(json), 5, err, sizeof err), 0);
  receiver_join(rc);
  assert_string_equal(err, "");
  assert_true(rc->got_body);
  assert_true(strncmp(rc->req, "POST /hook?x=1 HTTP/1.1\r\n", 25) == 0);
  assert_non_null(strstr(rc->req, "\r\nContent-Type: application/json\r\n"));
  assert_non_null(strstr(rc->req, "\r\nX-Mailfuse-Token: s3cret\r\n"));
  assert_non_null(strstr(rc->req, "\r\nX-Tenant: edu\r\n"));
  assert_string_equal(body_of(rc), json);
  receiver_free(rc);
}

static void test_large_body_no_expect_wait(void **state) {
  /* curl would wait a second for "100 Continue" on a big body; we said no */
  size_t n = 2 << 20;
  char *big = malloc(n + 1);
  assert_non_null(big);
  for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
  big[n] = '\0';
  struct receiver *rc = receiver_start(200);
  char url[64], err[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/", rc->port);
  double t0 = now_mono();
  assert_int_equal(webhook_post(url, NULL, 0, big, n, 5, err, sizeof err), 0);
  assert_true(now_mono() - t0 < 0.9);
  receiver_join(rc);
  assert_null(strcasestr(rc->req, "\r\nExpect:"));
  assert_string_equal(body_of(rc), big);
  receiver_free(rc);
  free(big);
}

static void test_closed_port(void **state) {
  int port;
  close(listen_local(&port)); /* a port nobody listens on now */
  char url[64], err[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", port);
  assert_int_equal(webhook_post(url, NULL, 0, json, strlen(json), 5, err, sizeof err), -1);
  assert_string_equal(err, "connect: Connection refused");
}

static void test_silent_server_times_out(void **state) {
  struct receiver *rc = receiver_start(0);
  char url[64], err[256];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", rc->port);
  double t0 = now_mono();
  assert_int_equal(webhook_post(url, NULL, 0, json, strlen(json), 1, err, sizeof err), -1);
  double took = now_mono() - t0;
  assert_true(took >= 0.9 && took < 2.0);
  assert_string_equal(err, "timed out after 1 s");
  receiver_join(rc); /* it sees the client hang up */
  assert_true(rc->got_body);
  receiver_free(rc);
}

static void test_refused_before_sending(void **state) {
  static const char *bad_urls[] = {
      "ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "127.0.0.1:80/x",
      "httpx://127.0.0.1/", "", "dict://127.0.0.1:11211/stats",
  };
  char err[256];
  for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++) {
    assert_int_equal(webhook_post(bad_urls[i], NULL, 0, json, strlen(json), 1, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "http://"));
  }
  assert_int_equal(webhook_post(NULL, NULL, 0, json, strlen(json), 1, err, sizeof err), -1);

  static const char *bad_headers[][1] = {
      {"X-A: 1\r\nX-Injected: 2"}, {"X-A: 1\n"}, {"no colon"}, {""},
  };
  for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
    assert_int_equal(webhook_post("http://127.0.0.1:1/", bad_headers[i], 1, json, strlen(json), 1,
                                  err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "bad header"));
  }
  assert_int_equal(webhook_post("http://127.0.0.1:1/", NULL, 0, json, strlen(json), 0, err,
                                sizeof err),
                   -1);
}

int main(void) {
  /* the receiver is local: a proxy from the environment must not get in between */
  const char *proxies[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  for (size_t i = 0; i < sizeof proxies / sizeof proxies[0]; i++) unsetenv(proxies[i]);
  if (webhook_global_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_status_decides),
      cmocka_unit_test(test_exact_body_and_headers_arrive),
      cmocka_unit_test(test_large_body_no_expect_wait),
      cmocka_unit_test(test_closed_port),
      cmocka_unit_test(test_silent_server_times_out),
      cmocka_unit_test(test_refused_before_sending),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  webhook_global_cleanup();
  return rc;
}
