/* log.h - leveled key=value logging to stderr or syslog */
#ifndef MF_LOG_H
#define MF_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Select level and destination; facility is a syslog facility name. Returns 0 or -1. */
int log_setup(const char *level, const char *target, const char *facility)
    __attribute__((warn_unused_result));
/* Parse a level name; returns the level or -1. */
int log_level_parse(const char *name);
/* Nonzero when messages of this level are emitted. */
int log_enabled(enum log_level lvl);
/* Emit "event key=value..." (fmt gives the key=value part). */
void log_msg(enum log_level lvl, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Escape untrusted bytes for a log value: printable ASCII only, at most
 * `max` input bytes, quotes added when needed. Returns dst. */
char *log_esc(char *dst, size_t dstlen, const char *src, size_t srclen);

#define LOG_ESC_MAX 512
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
  do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

/* Print a message to stderr and exit(1): start-up and config load only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));


/* A simple per-second cap on lines of one kind, for input from peers. */
struct log_rl {
  int64_t second;
  unsigned lines;
  unsigned suppressed;
};
#define LOG_RL_PER_SECOND 10
/* Nonzero when a line may be written now; counts suppressed lines and
 * reports them when a new second starts. */
int log_rl_allow(struct log_rl *rl, int64_t now, const char *what);

#endif
