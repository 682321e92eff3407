/* listeners.c - evconnlisteners for the policy, auth policy and control sockets.
 *
 * A unix socket path left by a dead process is removed, but one that still
 * answers is refused: two mailfuse processes must not share a socket.
 */
#include "sources/listeners.h"

#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct cbarg {
  listener_accept_fn cb;
  void *arg;
};

struct listener_set {
  struct event_base *base;
  struct event *resume; /* re-enables accepting after a pause */
  struct evconnlistener **v;
  char **paths; /* unix paths to unlink, NULL for inet */
  size_t n;
  struct cbarg cb; /* shared by all listeners of the set */
};

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg) {
  struct cbarg *c = arg;
  c->cb(fd, sa, salen, c->arg);
}

#define ACCEPT_PAUSE_MS 100

static void on_resume(evutil_socket_t fd, short what, void *arg) {
  struct listener_set *ls = arg;
  for (size_t i = 0; i < ls->n; i++)
    if (ls->v[i]) evconnlistener_enable(ls->v[i]);
}

/* accept() failed (out of descriptors, most likely): stop accepting for a
 * moment instead of spinning on a socket that stays readable. */
static void on_accept_error(struct evconnlistener *l, void *arg) {
  /* libevent hands us the listener's argument: the cbarg inside the set */
  struct listener_set *ls = (struct listener_set *)((char *)arg - offsetof(struct listener_set, cb));
  int err = EVUTIL_SOCKET_ERROR();
  static int64_t last_log;
  int64_t now = (int64_t)time(NULL);
  if (now != last_log) {
    log_warn("accept_paused", "error=\"%s\" pause_ms=%d", evutil_socket_error_to_string(err),
             ACCEPT_PAUSE_MS);
    last_log = now;
  }
  for (size_t i = 0; i < ls->n; i++)
    if (ls->v[i]) evconnlistener_disable(ls->v[i]);
  struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
  event_add(ls->resume, &tv);
}

static int prepare_unix(const char *path, struct sockaddr_un *sun, char *err, size_t errlen) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof sun->sun_path) {
    snprintf(err, errlen, "unix socket path too long: %s", path);
    return -1;
  }
  strcpy(sun->sun_path, path); /* length checked above */
  char dir[sizeof sun->sun_path];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash != dir) {
    *slash = 0;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
      snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
      return -1;
    }
  }
  struct stat st;
  if (lstat(path, &st) == 0) {
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
  }
  return 0;
}

/* "HOST:PORT" ("[v6]:PORT"), and port 0 (any free port, for tests) too,
 * which evutil_parse_sockaddr_port() refuses. 0 or -1. */
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

static struct evconnlistener *open_one(struct event_base *base, const char *spec, int mode,
                                       struct cbarg *cb, char **path_out, char *err,
                                       size_t errlen) {
  unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
  struct evconnlistener *l = NULL;
  if (strncmp(spec, "unix:", 5) == 0) {
    struct sockaddr_un sun;
    if (prepare_unix(spec + 5, &sun, err, errlen) < 0) return NULL;
    l = evconnlistener_new_bind(base, on_accept, cb, flags, 4096, (struct sockaddr *)&sun,
                                sizeof sun);
    if (l) {
      chmod(spec + 5, (mode_t)mode);
      *path_out = strdup(spec + 5);
    }
  } else if (strncmp(spec, "inet:", 5) == 0) {
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (parse_inet(spec + 5, &ss, &sl) < 0) {
      snprintf(err, errlen, "cannot parse listener address '%s'", spec);
      return NULL;
    }
    l = evconnlistener_new_bind(base, on_accept, cb, flags, 4096, (struct sockaddr *)&ss, sl);
  } else {
    snprintf(err, errlen, "listener '%s' is neither inet:HOST:PORT nor unix:/path", spec);
    return NULL;
  }
  if (!l) snprintf(err, errlen, "cannot listen on %s: %s", spec, strerror(errno));
  return l;
}

struct listener_set *listeners_open(struct event_base *base, char *const *specs, size_t n,
                                    int mode, listener_accept_fn cb, void *arg, char *err,
                                    size_t errlen) {
  struct listener_set *ls = calloc(1, sizeof *ls);
  if (ls) {
    ls->v = calloc(n + 1, sizeof *ls->v);
    ls->paths = calloc(n + 1, sizeof *ls->paths);
  }
  if (!ls || !ls->v || !ls->paths) {
    listeners_close(ls);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ls->cb = (struct cbarg){cb, arg};
  ls->base = base;
  if (!(ls->resume = evtimer_new(base, on_resume, ls))) {
    listeners_close(ls);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    ls->v[i] = open_one(base, specs[i], mode, &ls->cb, &ls->paths[i], err, errlen);
    ls->n = i + 1;
    if (!ls->v[i]) {
      listeners_close(ls);
      return NULL;
    }
    evconnlistener_set_error_cb(ls->v[i], on_accept_error);
  }
  return ls;
}

int listeners_port(const struct listener_set *ls) {
  for (size_t i = 0; ls && i < ls->n; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (ls->paths[i] || !ls->v[i] ||
        getsockname(evconnlistener_get_fd(ls->v[i]), (struct sockaddr *)&ss, &sl) < 0)
      continue;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
  }
  return -1;
}

void listeners_close(struct listener_set *ls) {
  if (!ls) return;
  for (size_t i = 0; i < ls->n; i++) {
    if (ls->v[i]) evconnlistener_free(ls->v[i]);
    if (ls->paths[i]) {
      unlink(ls->paths[i]);
      free(ls->paths[i]);
    }
  }
  if (ls->resume) event_free(ls->resume);
  free(ls->v);
  free(ls->paths);
  free(ls);
}
