/* main.c - the mailfuse command: serve, check-config, ctl, config-keys */
#include <stdio.h>
#include <string.h>

#include "core/conf.h"
#include "ctl/ctl_client.h"
#include "daemon.h"
#include "replay/replay.h"

static int usage(void) {
  fputs("usage: mailfuse serve -c FILE           run the policy server\n"
        "       mailfuse check-config FILE       validate a config file\n"
        "       mailfuse ctl [-c FILE] [--json] COMMAND ...   (mailfuse ctl -h)\n"
        "       mailfuse replay [-c FILE] [options] LOG...     (mailfuse replay -h)\n"
        "       mailfuse config-keys             every config key, with its default and doc\n"
        "       mailfuse version\n",
        stderr);
  return 2;
}

static int check_config(const char *path) {
  char err[512];
  struct conf *c = conf_load(path, err, sizeof err);
  if (!c) {
    fprintf(stderr, "%s\n", err);
    return 1;
  }
  printf("%s: ok (%zu limits, %zu groups, %zu exemptions, %zu listeners)\n", path, c->limits.n,
         c->ngroups, c->nexemptions, c->nlisten);
  conf_free(c);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) return usage();
  const char *cmd = argv[1];
  if (!strcmp(cmd, "serve")) {
    if (argc == 4 && !strcmp(argv[2], "-c")) return daemon_run(argv[3]);
    return usage();
  }
  if (!strcmp(cmd, "check-config") && argc == 3) return check_config(argv[2]);
  if (!strcmp(cmd, "ctl")) return ctl_main(argc - 1, argv + 1);
  if (!strcmp(cmd, "replay")) return replay_main(argc - 1, argv + 1);
  if (!strcmp(cmd, "config-keys")) {
    conf_print_keys(stdout);
    return 0;
  }
  if (!strcmp(cmd, "version")) {
    puts("mailfuse " MAILFUSE_VERSION);
    return 0;
  }
  return usage();
}
