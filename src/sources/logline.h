/* logline.h - a syslog-style line split into time, host, program and message */
#ifndef MF_LOGLINE_H
#define MF_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/strview.h"

#define LOG_LINE_MAX 16384 /* longer lines are counted as unparsed, never read whole */

/* Year inference for year-less stamps ("Nov 23 11:38:48"): at first the
 * year of `now` (the file's date), or the year before when the month is
 * more than one after now's month; then +1 when the month goes back by more
 * than six (Dec -> Jan), and -1 for a straggler that jumps forward by more
 * than six (a Dec 31 line after New Year); smaller steps keep the year. */
struct logtime {
  int year;        /* current inferred year; 0 = take it from `now` at first use */
  int last_month;  /* 1..12 of the last year-less stamp, 0 = none yet */
  int tz_offset;   /* seconds east of UTC for stamps without a zone */
  int64_t now;     /* reference "now" (file mtime or wall clock), for the first year */
};

enum logline_kind {
  LL_SYSLOG,     /* "Mon DD HH:MM:SS host prog[pid]: msg" and ISO-stamped variants */
  LL_NOHOST,     /* Dovecot log_path: "2026-11-23 11:51:40 imap-login: Info: msg" */
  LL_ROUNDCUBE,  /* "[13-Apr-2023 22:00:01 +0900]: <sess> msg" */
  LL_EXIM,       /* "2023-04-13 22:00:01 [+0900] [pid] msg" */
};

struct logline {
  enum logline_kind kind;
  int64_t ts;           /* unix seconds, UTC */
  uint32_t usec;        /* fraction, microseconds */
  struct strview host;  /* empty when the format has none */
  struct strview prog;  /* "postfix/submission/smtpd", "dovecot", "imap-login", "roundcube", "exim" */
  struct strview pid;
  struct strview msg;   /* the rest, after "prog[pid]: " (and Dovecot's "Info: " level) */
};

/* Split one line (no newline) of len bytes. Returns 0 with *out filled
 * (views borrowed from line), or -1 when the time stamp or frame is not
 * recognised. Updates t for year inference. */
int logline_split(const char *line, size_t len, struct logtime *t, struct logline *out);

#endif
