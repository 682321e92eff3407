/* ctl_client.c - `mailfuse ctl [-c FILE | -s SOCKET] [--json] COMMAND ...`
 *
 * Sends one JSON request line to the control socket and prints the reply,
 * as text or (--json) as the JSON itself.  Exit status 0 when the daemon
 * answered ok, 1 otherwise.
 */
#include "ctl/ctl_client.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/conf.h"
#include "ctl/ctl_render.h"
#include "ctl/ctl_server.h"

static int usage(void) {
  fputs("usage: mailfuse ctl [-c FILE | -s SOCKET] [--json] COMMAND\n"
        "  status                     uptime, requests, decisions, errors, store\n"
        "  list                       suspended and throttled accounts\n"
        "  show ACCOUNT               counters per window, limits, state\n"
        "  explain ACCOUNT            learned profile, current risk score and its reasons\n"
        "  suspend ACCOUNT --reason TEXT\n"
        "  release ACCOUNT [--release-held | --delete-held]\n"
        "                             lift the suspension, close the incident; its held mail\n"
        "                             goes back to delivery, is deleted, or stays on hold\n"
        "  incidents [--open]         the last 100 incidents (or the open ones)\n"
        "  incident ID                one incident: what happened, what was done, its trail\n"
        "  block ADDR [--for SECONDS] [--reason TEXT]\n"
        "  unblock ADDR\n"
        "  blocks                     blocked client addresses\n",
        stderr);
  return 2;
}

static json_t *build_request(int argc, char **argv) {
  const char *cmd = argv[0];
  if (!strcmp(cmd, "status") || !strcmp(cmd, "list"))
    return argc == 1 ? json_pack("{s:s}", "cmd", cmd) : NULL;
  if (!strcmp(cmd, "show") || !strcmp(cmd, "explain"))
    return argc == 2 ? json_pack("{s:s,s:s}", "cmd", cmd, "account", argv[1]) : NULL;
  if (!strcmp(cmd, "release") && (argc == 2 || argc == 3)) {
    json_t *r = json_pack("{s:s,s:s}", "cmd", cmd, "account", argv[1]);
    if (argc == 3 && !strcmp(argv[2], "--release-held")) json_object_set_new(r, "held", json_string("release"));
    else if (argc == 3 && !strcmp(argv[2], "--delete-held")) json_object_set_new(r, "held", json_string("delete"));
    else if (argc == 3) {
      json_decref(r);
      return NULL;
    }
    return r;
  }
  if (!strcmp(cmd, "incidents") && (argc == 1 || (argc == 2 && !strcmp(argv[1], "--open"))))
    return json_pack("{s:s,s:b}", "cmd", cmd, "open", argc == 2);
  if (!strcmp(cmd, "incident") && argc == 2) {
    char *end;
    long long id = strtoll(argv[1], &end, 10);
    return *end || id <= 0 ? NULL : json_pack("{s:s,s:I}", "cmd", cmd, "id", (json_int_t)id);
  }
  if (!strcmp(cmd, "blocks")) return argc == 1 ? json_pack("{s:s}", "cmd", cmd) : NULL;
  if (!strcmp(cmd, "unblock")) return argc == 2 ? json_pack("{s:s,s:s}", "cmd", cmd, "addr", argv[1]) : NULL;
  if (!strcmp(cmd, "block") && argc >= 2) {
    json_t *r = json_pack("{s:s,s:s}", "cmd", cmd, "addr", argv[1]);
    for (int i = 2; r && i + 1 < argc; i += 2) {
      char *end;
      if (!strcmp(argv[i], "--for")) {
        long long s = strtoll(argv[i + 1], &end, 10);
        if (*end || s <= 0) break;
        json_object_set_new(r, "for", json_integer(s));
      } else if (!strcmp(argv[i], "--reason")) {
        json_object_set_new(r, "reason", json_string(argv[i + 1]));
      } else {
        break;
      }
      if (i + 2 == argc) return r;
    }
    if (argc == 2) return r;
    json_decref(r);
    return NULL;
  }
  if (!strcmp(cmd, "suspend") && argc == 4 && !strcmp(argv[2], "--reason"))
    return json_pack("{s:s,s:s,s:s}", "cmd", cmd, "account", argv[1], "reason", argv[3]);
  return NULL;
}

static int connect_to(const char *path) {
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sun.sun_path) return -1;
  memcpy(sun.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

/* Send the request and read the one-line reply (30 s at most). */
static json_t *exchange(int fd, json_t *req) {
  char *txt = json_dumps(req, JSON_COMPACT);
  size_t len = txt ? strlen(txt) : 0;
  int ok = txt && write(fd, txt, len) == (ssize_t)len && write(fd, "\n", 1) == 1;
  free(txt);
  if (!ok) return NULL;
  char *buf = malloc(CTL_REQUEST_MAX * 16);
  size_t have = 0, cap = CTL_REQUEST_MAX * 16;
  struct pollfd p = {fd, POLLIN, 0};
  while (buf && have < cap - 1 && poll(&p, 1, 30000) > 0) {
    ssize_t n = read(fd, buf + have, cap - 1 - have);
    if (n <= 0) break;
    have += (size_t)n;
    if (memchr(buf, '\n', have)) break;
  }
  json_t *reply = buf && have ? json_loadb(buf, have, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
  free(buf);
  return reply;
}

int ctl_main(int argc, char **argv) {
  const char *conf_path = NULL, *sock = NULL;
  int as_json = 0, i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (!strcmp(argv[i], "--json")) as_json = 1;
    else if (!strcmp(argv[i], "-c") && i + 1 < argc) conf_path = argv[++i];
    else if (!strcmp(argv[i], "-s") && i + 1 < argc) sock = argv[++i];
    else return usage();
  }
  /* --json may also follow the command */
  int n = 0;
  char *args[8];
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--json")) as_json = 1;
    else if (n < 8) args[n++] = argv[i];
    else return usage();
  }
  json_t *req = n ? build_request(n, args) : NULL;
  if (!req) return usage();
  struct conf *c = NULL;
  char err[512], peek[512];
  if (!sock) {
    c = conf_path ? conf_load(conf_path, err, sizeof err) : conf_defaults();
    if (c) {
      sock = c->control_socket;
    } else if (conf_path && conf_peek_control_socket(conf_path, peek, sizeof peek) == 0) {
      /* the daemon still runs on the last good config: reach it anyway */
      fprintf(stderr, "mailfuse ctl: warning: %s\n", err);
      sock = peek;
    } else {
      fprintf(stderr, "mailfuse ctl: %s\n", err);
      json_decref(req);
      return 1;
    }
  }
  int fd = connect_to(sock);
  json_t *reply = NULL;
  if (fd < 0)
    fprintf(stderr, "mailfuse ctl: cannot connect to %s: %s (is mailfuse serve running?)\n", sock,
            strerror(errno));
  else if (!(reply = exchange(fd, req)))
    fprintf(stderr, "mailfuse ctl: no valid reply from %s\n", sock);
  if (fd >= 0) close(fd);
  json_decref(req);
  conf_free(c);
  if (!reply) return 1;
  int ok = json_is_true(json_object_get(reply, "ok"));
  if (as_json) {
    json_dumpf(reply, stdout, JSON_INDENT(2));
    fputc('\n', stdout);
  } else if (ok) {
    ctl_render_text(stdout, reply);
  } else {
    fprintf(stderr, "mailfuse ctl: %s\n", json_string_value(json_object_get(reply, "error")));
  }
  json_decref(reply);
  return ok ? 0 : 1;
}
