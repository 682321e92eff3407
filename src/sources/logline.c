/* logline.c - split one mail log line into time, host, program and message.
 *
 * Frames, tried in this order on the first byte (one pass, no allocation):
 *   <PRI>1 ISO host app procid msgid SD msg            RFC 5424 on the wire
 *   <PRI>... any frame below                           RFC 3164 on the wire
 *   [DD-Mon-YYYY HH:MM:SS +ZZZZ]: msg                  Roundcube log file
 *   Mon DD HH:MM:SS[.f] host prog[pid]: msg            classic syslog, year inferred
 *   YYYY-MM-DDTHH:MM:SS[.f][zone] host prog[pid]: msg  rsyslog RFC 3339, journalctl short-iso
 *   <either stamp> prog: Level: msg                    no host: Dovecot log_path file
 *   YYYY-MM-DD HH:MM:SS[.f][ +ZZZZ][ [pid]] msg        Exim mainlog
 *   @4000000064380a71........ prog: Level: msg          daemontools multilog (TAI64N)
 * When no stamp starts the line, a docker/compose "name-1  | " prefix is
 * skipped, and last "host prog[pid]: YYYY-MM-DD HH:MM:SS msg" (a syslog
 * that dropped its stamp, Exim's own stamp left in the message) is tried.
 *
 * After a "YYYY-MM-DD HH:MM:SS" stamp (space, not 'T') the line is Exim's
 * unless its first word is a "prog:" (Dovecot log_path) or it is followed
 * by a "prog[pid]:" word after a host (a syslog with that stamp template).
 *
 * Invariants: the line is never written; host, pid and msg point into it;
 * prog does too except for Roundcube and Exim files, where it is a string
 * constant. Stamps without a zone use t->tz_offset; year-less stamps infer
 * the year in t. Errors: -1, and *out holds nothing useful.
 */
#include "sources/logline.h"

#include <stdbool.h>
#include <string.h>

#define LOGLINE_TAG_MAX 256    /* longest program name, "prog[pid]" included */
#define LOGLINE_PID_MAX 32     /* longest pid / RFC 5424 procid */
#define LOGLINE_PREFIX_MAX 128 /* longest docker/compose container name */
#define LOGLINE_SD_MAX 4096    /* longest RFC 5424 structured data */

/* A parsed time stamp before it becomes unix time. */
struct stamp {
  int year, mon, day, hour, min, sec;
  uint32_t usec;
  int off;       /* seconds east of UTC, when has_zone */
  bool has_year; /* false: classic syslog, year inferred */
  bool has_zone;
};

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_alnum(char c) { return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z'); }

/* n decimal digits at p (p + n <= end checked by the caller), or -1. */
static int digits(const char *p, int n) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!is_digit(p[i])) return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

/* "Jan".."Dec" -> 1..12, else 0. */
static int month_of(const char *p) {
  static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
  for (int i = 0; i < 12; i++)
    if (p[0] == names[3 * i] && p[1] == names[3 * i + 1] && p[2] == names[3 * i + 2]) return i + 1;
  return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/* Year and month (1..12) of unix time t. */
static void civil_of(int64_t t, int *year, int *mon) {
  int64_t z = (t >= 0 ? t / 86400 : (t - 86399) / 86400) + 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  int m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *year = (int)(yoe + era * 400 + (m <= 2));
  *mon = m;
}

/* "HH:MM:SS[.frac]" (0-9 fraction digits, kept to microseconds); end of it or NULL. */
static const char *parse_hms(const char *p, const char *end, struct stamp *s) {
  if (end - p < 8 || p[2] != ':' || p[5] != ':') return NULL;
  s->hour = digits(p, 2);
  s->min = digits(p + 3, 2);
  s->sec = digits(p + 6, 2);
  if (s->hour < 0 || s->hour > 23 || s->min < 0 || s->min > 59 || s->sec < 0 || s->sec > 60)
    return NULL;
  p += 8;
  s->usec = 0;
  if (p < end && *p == '.') {
    const char *f = ++p;
    uint32_t scale = 100000;
    for (; p < end && is_digit(*p) && p - f < 9; p++, scale /= 10)
      s->usec += (uint32_t)(*p - '0') * scale;
    if (p == f) return NULL;
  }
  return p;
}

/* Zone right after the time: "Z", "+HH:MM", "+HHMM" or "+HH"; end of it (p if none) or NULL. */
static const char *parse_zone(const char *p, const char *end, struct stamp *s) {
  if (p < end && (*p == 'Z' || *p == 'z')) {
    s->has_zone = true;
    s->off = 0;
    return p + 1;
  }
  if (p >= end || (*p != '+' && *p != '-')) return p;
  int sign = *p == '-' ? -1 : 1;
  if (end - p < 3) return NULL;
  int h = digits(p + 1, 2), m = 0;
  const char *q = p + 3;
  if (end - q >= 3 && *q == ':')
    m = digits(q + 1, 2), q += 3;
  else if (end - q >= 2 && is_digit(*q))
    m = digits(q, 2), q += 2;
  if (h < 0 || h > 23 || m < 0 || m > 59) return NULL;
  s->has_zone = true;
  s->off = sign * (h * 3600 + m * 60);
  return q;
}

/* "Mon DD HH:MM:SS[.frac]" with the day space-padded, zero-padded or bare. */
static const char *parse_bsd(const char *p, const char *end, struct stamp *s) {
  if (end - p < 15 || p[3] != ' ' || !(s->mon = month_of(p))) return NULL;
  p += 4;
  if (*p == ' ') p++;
  int d = is_digit(p[0]) ? p[0] - '0' : -1;
  if (d < 0) return NULL;
  if (is_digit(p[1])) d = d * 10 + (p[1] - '0'), p++;
  if (p[1] != ' ' || d < 1 || d > 31) return NULL;
  s->day = d;
  s->has_year = false;
  s->has_zone = false;
  return parse_hms(p + 2, end, s);
}

/* "YYYY-MM-DD" + sep + "HH:MM:SS[.frac]" + zone; *sep gets 'T' or ' '. */
static const char *parse_iso(const char *p, const char *end, struct stamp *s, char *sep) {
  if (end - p < 19 || p[4] != '-' || p[7] != '-' || (p[10] != 'T' && p[10] != ' ')) return NULL;
  s->year = digits(p, 4);
  s->mon = digits(p + 5, 2);
  s->day = digits(p + 8, 2);
  if (s->year < 0 || s->mon < 1 || s->mon > 12 || s->day < 1 || s->day > 31) return NULL;
  *sep = p[10];
  s->has_year = true;
  s->has_zone = false;
  p = parse_hms(p + 11, end, s);
  return p ? parse_zone(p, end, s) : NULL;
}

/* Roundcube "[DD-Mon-YYYY HH:MM:SS +ZZZZ]" (zone optional); end after ']' or NULL. */
static const char *parse_roundcube(const char *p, const char *end, struct stamp *s) {
  if (end - p < 22 || p[0] != '[' || p[3] != '-' || p[7] != '-' || p[12] != ' ') return NULL;
  s->day = digits(p + 1, 2);
  s->mon = month_of(p + 4);
  s->year = digits(p + 8, 4);
  if (s->day < 1 || s->day > 31 || !s->mon || s->year < 0) return NULL;
  s->has_year = true;
  s->has_zone = false;
  p = parse_hms(p + 13, end, s);
  if (p && p < end && *p == ' ') p = parse_zone(p + 1, end, s);
  return p && p < end && *p == ']' ? p + 1 : NULL;
}

/* Year of a year-less stamp of month mon. The first one takes the year of
 * t->now, or the one before when mon is more than a month after now's month
 * (a log written last year). Then the year moves on when the month goes
 * back by more than half a year (Dec -> Jan); a smaller step back is a late
 * line near a month's end and keeps the year; a jump forward by more than
 * half a year is a late December line after New Year and takes year - 1. */
static int infer_year(struct logtime *t, int mon) {
  if (t->last_month == 0) {
    if (t->year == 0) {
      int ny, nm;
      civil_of(t->now + t->tz_offset, &ny, &nm);
      t->year = mon > nm + 1 ? ny - 1 : ny;
    }
    t->last_month = mon;
    return t->year;
  }
  if (mon < t->last_month - 6) {
    t->year++;
    t->last_month = mon;
  } else if (mon > t->last_month + 6) {
    return t->year - 1;
  } else if (mon > t->last_month) {
    t->last_month = mon;
  }
  return t->year;
}

static void stamp_time(struct stamp *s, struct logtime *t, struct logline *out) {
  int64_t year = s->has_year ? s->year : infer_year(t, s->mon);
  int64_t secs =
      days_from_civil(year, s->mon, s->day) * 86400 + s->hour * 3600 + s->min * 60 + s->sec;
  out->ts = secs - (s->has_zone ? s->off : t->tz_offset);
  out->usec = s->usec;
}

/* "prog[pid]: msg" or "prog: msg" at p; fills prog, pid, msg. 0 or -1. */
static int split_tag(const char *p, const char *end, struct logline *out) {
  const char *q = p;
  while (q < end && *q != '[' && *q != ':' && *q != ' ') q++;
  if (q == p || q == end || *q == ' ' || q - p > LOGLINE_TAG_MAX) return -1;
  out->prog = (struct strview){p, (size_t)(q - p)};
  out->pid = SV_NULL;
  if (*q == '[') {
    const char *rb = memchr(q, ']', (size_t)(end - q));
    if (!rb || rb - q - 1 > LOGLINE_PID_MAX) return -1;
    out->pid = (struct strview){q + 1, (size_t)(rb - q - 1)};
    q = rb + 1;
    if (q == end || *q != ':') return -1;
  }
  q++;
  if (q < end && *q == ' ') q++;
  out->msg = (struct strview){q, (size_t)(end - q)};
  return 0;
}

/* Skip Dovecot's log_path level ("Info: " ...), which a file line always has. */
static struct strview strip_level(struct strview m) {
  static const struct {
    const char *s;
    size_t n;
  } lv[] = {{"Info: ", 6},  {"Warning: ", 9}, {"Error: ", 7},
            {"Fatal: ", 7}, {"Panic: ", 7},   {"Debug: ", 7}};
  for (size_t i = 0; i < sizeof lv / sizeof *lv; i++)
    if (m.len >= lv[i].n && memcmp(m.p, lv[i].s, lv[i].n) == 0)
      return (struct strview){m.p + lv[i].n, m.len - lv[i].n};
  return m;
}

/* A host-less "prog: Level: msg" line (prog = word up to its last ':', which may
 * hold "(user,ip,...)<session>"); "prog[pid]:" works too. */
static int split_nohost(const char *p, const char *sp, const char *end, struct logline *out) {
  out->kind = LL_NOHOST;
  out->host = SV_NULL;
  if (sp - p > LOGLINE_TAG_MAX) return -1;
  if (sp - p >= 4 && sp[-2] == ']' && memchr(p, '[', (size_t)(sp - p))) {
    if (split_tag(p, end, out) < 0) return -1;
  } else {
    out->prog = (struct strview){p, (size_t)(sp - 1 - p)};
    out->pid = SV_NULL;
    const char *m = sp < end ? sp + 1 : sp;
    out->msg = (struct strview){m, (size_t)(end - m)};
  }
  out->msg = strip_level(out->msg);
  return 0;
}

/* A word that can be a syslog tag or a host-less program: "name[pid]:" / "name:". */
static bool looks_like_prog(const char *p, const char *sp) {
  return sp - p >= 2 && is_lower(*p) && sp[-1] == ':';
}

/* "host prog[pid]: msg" (or host-less "prog: msg") after a syslog-style stamp. */
static int split_syslog(const char *p, const char *end, struct logline *out) {
  const char *sp = memchr(p, ' ', (size_t)(end - p));
  if (!sp) sp = end;
  if (looks_like_prog(p, sp)) return split_nohost(p, sp, end, out);
  if (sp == p || sp == end) return -1;
  out->kind = LL_SYSLOG;
  out->host = (struct strview){p, (size_t)(sp - p)};
  return split_tag(sp + 1, end, out);
}

/* Exim message ids: 6-6-2 ("1gsu1C-003dCu-Hb") or, since 4.97, 6-11-4. */
static bool is_exim_id(const char *p, const char *end) {
  size_t n = (size_t)(end - p), second;
  if (n == 16)
    second = 13;
  else if (n == 23)
    second = 18;
  else
    return false;
  for (size_t i = 0; i < n; i++)
    if ((i == 6 || i == second) ? p[i] != '-' : !is_alnum(p[i])) return false;
  return true;
}

/* Exim: after "YYYY-MM-DD HH:MM:SS", optional " +ZZZZ", optional " [pid]", then msg. */
static int split_exim(const char *p, const char *end, struct logline *out) {
  out->kind = LL_EXIM;
  out->host = SV_NULL;
  out->pid = SV_NULL;
  out->prog = (struct strview){"exim", 4};
  if (p < end && *p == '[') {
    const char *rb = memchr(p, ']', (size_t)(end - p));
    if (!rb || rb - p - 1 > LOGLINE_PID_MAX) return -1;
    out->pid = (struct strview){p + 1, (size_t)(rb - p - 1)};
    p = rb + 1;
    if (p < end && *p == ' ') p++;
  }
  out->msg = (struct strview){p, (size_t)(end - p)};
  return 0;
}

/* After a "YYYY-MM-DD HH:MM:SS" stamp and its space: Dovecot log_path, syslog or Exim. */
static int split_iso_space(const char *p, const char *end, struct stamp *s, struct logline *out) {
  if (end - p >= 6 && (*p == '+' || *p == '-') && is_digit(p[1]) && p[5] == ' ') {
    const char *z = parse_zone(p, end, s); /* Exim's log_timezone */
    if (!z || z != p + 5) return -1;
    return split_exim(p + 6, end, out);
  }
  const char *sp = memchr(p, ' ', (size_t)(end - p));
  if (!sp) sp = end;
  if (looks_like_prog(p, sp)) return split_nohost(p, sp, end, out);
  if (sp < end && !is_exim_id(p, sp)) {
    const char *sp2 = memchr(sp + 1, ' ', (size_t)(end - sp - 1));
    if (looks_like_prog(sp + 1, sp2 ? sp2 : end)) return split_syslog(p, end, out);
  }
  return split_exim(p, end, out);
}

/* Skip one RFC 5424 field and its space; the field or NULL. "-" gives an empty view. */
static const char *field5424(const char *p, const char *end, struct strview *f) {
  const char *sp = memchr(p, ' ', (size_t)(end - p));
  if (!sp || sp == p) return NULL;
  *f = (sp - p == 1 && *p == '-') ? SV_NULL : (struct strview){p, (size_t)(sp - p)};
  return sp + 1;
}

/* Structured data: "-" or "[id k="v\]"]..."; end of it or NULL. */
static const char *skip_sd(const char *p, const char *end) {
  if (p < end && *p == '-') return p + 1;
  const char *start = p;
  while (p < end && *p == '[') {
    for (p++; p < end && *p != ']'; p++)
      if (*p == '\\' && p + 1 < end) p++;
    if (p == end || p - start > LOGLINE_SD_MAX) return NULL;
    p++;
  }
  return p == start ? NULL : p;
}

/* "<PRI>1 " already skipped: ISO host app procid msgid SD [BOM]msg. */
static int split_5424(const char *p, const char *end, struct logtime *t, struct logline *out) {
  struct stamp s;
  char sep;
  struct strview msgid;
  p = parse_iso(p, end, &s, &sep);
  if (!p || sep != 'T' || p == end || *p != ' ') return -1;
  stamp_time(&s, t, out);
  out->kind = LL_SYSLOG;
  if (!(p = field5424(p + 1, end, &out->host)) || !(p = field5424(p, end, &out->prog)) ||
      !(p = field5424(p, end, &out->pid)) || !(p = field5424(p, end, &msgid)))
    return -1;
  if (out->prog.len > LOGLINE_TAG_MAX || out->pid.len > LOGLINE_PID_MAX) return -1;
  if (!(p = skip_sd(p, end))) return -1;
  if (p < end && *p == ' ') p++;
  if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;
  out->msg = (struct strview){p, (size_t)(end - p)};
  return 0;
}

static int hexval(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "@" + 24 hex digits: 2^62 + 10 + unix seconds (djb's TAI64 label, leap
 * seconds ignored as multilog does), then nanoseconds. */
static int split_tai64n(const char *p, const char *end, struct logline *out) {
  uint64_t v[2] = {0, 0};
  if (end - p < 26 || p[25] != ' ') return -1;
  for (int i = 0; i < 24; i++) {
    int h = hexval(p[1 + i]);
    if (h < 0) return -1;
    v[i >= 16] = v[i >= 16] * 16 + (uint64_t)h;
  }
  const uint64_t base = ((uint64_t)1 << 62) + 10;
  if (v[0] < base || v[0] - base > INT64_MAX / 2 || v[1] > 999999999) return -1;
  if (split_syslog(p + 26, end, out) < 0) return -1;
  out->ts = (int64_t)(v[0] - base);
  out->usec = (uint32_t)(v[1] / 1000);
  return 0;
}

/* A line starting with a stamp (no PRI, no container prefix). */
static int split_framed(const char *p, const char *end, struct logtime *t, struct logline *out) {
  struct stamp s;
  const char *q;
  char sep = 'T';
  if (p < end && *p == '@') return split_tai64n(p, end, out);
  if (p < end && *p == '[') {
    if (!(q = parse_roundcube(p, end, &s)) || end - q < 1 || *q != ':') return -1;
    q += (end - q >= 2 && q[1] == ' ') ? 2 : 1;
    stamp_time(&s, t, out);
    out->kind = LL_ROUNDCUBE;
    out->host = out->pid = SV_NULL;
    out->prog = (struct strview){"roundcube", 9};
    out->msg = (struct strview){q, (size_t)(end - q)};
    return 0;
  }
  q = (p < end && is_digit(*p)) ? parse_iso(p, end, &s, &sep) : parse_bsd(p, end, &s);
  if (!q || q == end || *q != ' ') return -1;
  q++;
  int rc = sep == ' ' ? split_iso_space(q, end, &s, out) : split_syslog(q, end, out);
  if (rc == 0) stamp_time(&s, t, out); /* after the split: Exim's zone comes late */
  return rc;
}

/* "name-1  | " of docker compose logs; the rest of the line, or NULL. */
static const char *skip_container(const char *p, const char *end) {
  const char *q = p;
  while (q < end && q - p <= LOGLINE_PREFIX_MAX &&
         (is_alnum(*q) || *q == '-' || *q == '_' || *q == '.'))
    q++;
  if (q == p || q == end || *q != ' ') return NULL;
  while (q < end && *q == ' ') q++;
  if (q == end || *q != '|') return NULL;
  q++;
  return q < end && *q == ' ' ? q + 1 : q;
}

/* "host prog[pid]: YYYY-MM-DD HH:MM:SS[ +ZZZZ] msg": the stamp comes from the message. */
static int split_stampless(const char *p, const char *end, struct logtime *t, struct logline *out) {
  struct stamp s;
  char sep;
  if (split_syslog(p, end, out) < 0 || out->kind != LL_SYSLOG) return -1;
  const char *m = out->msg.p, *q = parse_iso(m, end, &s, &sep);
  if (!q || q == end || *q != ' ') return -1;
  q++;
  if (!s.has_zone && end - q >= 6 && (*q == '+' || *q == '-') && q[5] == ' ') {
    const char *z = parse_zone(q, end, &s);
    if (z == q + 5) q = z + 1;
  }
  out->msg = (struct strview){q, (size_t)(end - q)};
  stamp_time(&s, t, out);
  return 0;
}

/* "<PRI>" then "1 " (RFC 5424) or any other frame; -1 when not a PRI. */
static int split_pri(const char *p, const char *end, struct logtime *t, struct logline *out) {
  const char *q = p + 1;
  while (q < end && q - p <= 4 && is_digit(*q)) q++;
  if (q == p + 1 || q == end || *q != '>') return -1;
  q++;
  if (end - q >= 2 && q[0] == '1' && q[1] == ' ') return split_5424(q + 2, end, t, out);
  return split_framed(q, end, t, out);
}

int logline_split(const char *line, size_t len, struct logtime *t, struct logline *out) {
  if (len > LOG_LINE_MAX) return -1;
  const char *end = line + len;
  if (len && end[-1] == '\r') end--;
  if (line < end && *line == '<') return split_pri(line, end, t, out);
  if (split_framed(line, end, t, out) == 0) return 0;
  const char *rest = skip_container(line, end);
  if (rest && rest < end && *rest == '<') return split_pri(rest, end, t, out);
  if (rest && split_framed(rest, end, t, out) == 0) return 0;
  return split_stampless(line, end, t, out);
}
