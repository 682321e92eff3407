/* log.c - leveled logging in the "event key=value ..." shape.
 *
 * The level and target are the one process-wide setting (STYLE.md allows
 * it for the logger).  Untrusted text goes through log_esc() first: it is
 * truncated, and anything outside printable ASCII is written as \xNN so a
 * log line can never be split or forged by a peer.
 */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static enum log_level cur_level = LOG_LVL_INFO;
static int use_syslog;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
static const int level_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static const struct {
  const char *name;
  int fac;
} facilities[] = {
    {"mail", LOG_MAIL},     {"daemon", LOG_DAEMON}, {"user", LOG_USER},
    {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
    {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
    {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

int log_level_parse(const char *name) {
  for (size_t i = 0; i < sizeof level_names / sizeof *level_names; i++)
    if (strcmp(name, level_names[i]) == 0) return (int)i;
  return -1;
}

int log_setup(const char *level, const char *target, const char *facility) {
  int lvl = log_level_parse(level);
  if (lvl < 0) return -1;
  int fac = -1;
  for (size_t i = 0; i < sizeof facilities / sizeof *facilities; i++)
    if (strcmp(facility, facilities[i].name) == 0) fac = facilities[i].fac;
  if (fac < 0) return -1;
  if (strcmp(target, "syslog") == 0) {
    if (!use_syslog) openlog("mailfuse", LOG_PID | LOG_NDELAY, fac);
    use_syslog = 1;
  } else if (strcmp(target, "stderr") == 0) {
    if (use_syslog) closelog();
    use_syslog = 0;
  } else {
    return -1;
  }
  cur_level = (enum log_level)lvl;
  return 0;
}

int log_enabled(enum log_level lvl) { return lvl <= cur_level; }

void log_msg(enum log_level lvl, const char *event, const char *fmt, ...) {
  if (lvl > cur_level) return;
  char body[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  if (use_syslog) {
    syslog(level_prio[lvl], "%s %s", event, body);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  fprintf(stderr, "%s.%03ldZ mailfuse[%s] %s %s\n", stamp, ts.tv_nsec / 1000000,
          level_names[lvl], event, body);
}

char *log_esc(char *dst, size_t dstlen, const char *src, size_t srclen) {
  size_t o = 0;
  if (dstlen < 8) {
    if (dstlen) dst[0] = 0;
    return dst;
  }
  int quote = srclen == 0;
  for (size_t i = 0; i < srclen && !quote; i++)
    if (src[i] == ' ' || src[i] == '"' || src[i] == '=') quote = 1;
  if (quote) dst[o++] = '"';
  for (size_t i = 0; i < srclen; i++) {
    unsigned char c = (unsigned char)src[i];
    /* room for the longest escape (4), then "..." + closing quote + NUL (5) */
    if (o + 9 > dstlen) {
      dst[o++] = '.'; dst[o++] = '.'; dst[o++] = '.';
      break;
    }
    if (c == '"' || c == '\\') {
      dst[o++] = '\\';
      dst[o++] = (char)c;
    } else if (c < 0x20 || c >= 0x7f) {
      snprintf(dst + o, dstlen - o, "\\x%02x", c);
      o += 4;
    } else {
      dst[o++] = (char)c;
    }
  }
  if (quote) dst[o++] = '"';
  dst[o] = 0;
  return dst;
}

void fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mailfuse: fatal: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

int log_rl_allow(struct log_rl *rl, int64_t now, const char *what) {
  if (now != rl->second) {
    if (rl->suppressed)
      log_msg(LOG_LVL_WARNING, "log_suppressed", "kind=%s lines=%u", what, rl->suppressed);
    rl->second = now;
    rl->lines = 0;
    rl->suppressed = 0;
  }
  if (rl->lines < LOG_RL_PER_SECOND) {
    rl->lines++;
    return 1;
  }
  rl->suppressed++;
  return 0;
}
