/* fuzz_logparse.c - libFuzzer target for logline_split() + logparse().
 * The input is cut into lines at '\n'; each line is copied into a buffer of
 * its exact size (so ASan sees any read past it) and goes through the frame
 * splitter and the parsers with one logtime, as replay does. Every non-empty
 * view must lie inside the line (prog may be the constant "roundcube" or
 * "exim"; service and status may be constant names such as "webmail" and
 * "sent"), results must be in range, and the line must not change. */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sources/logevent.h"
#include "sources/logline.h"

struct range {
  const char *lo, *hi;
};

static void inside(struct strview v, struct range a, struct range b) {
  if (!v.len) return;
  assert(v.p);
  int in_a = v.p >= a.lo && v.p + v.len <= a.hi;
  int in_b = b.lo && v.p >= b.lo && v.p + v.len <= b.hi;
  assert(in_a || in_b);
}

/* A parser may name what the line does not spell: Roundcube's service
 * "webmail", Exim's status "sent" for "=>". A NUL-terminated constant from
 * these lists is fine in those two fields. */
static int constant(struct strview v, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (sv_eq(v, names[i]) && v.p[v.len] == '\0') return 1;
  return 0;
}

static void inside_or_constant(struct strview v, struct range line, struct range prog,
                               const char *const *names, size_t n) {
  if (v.len && !(v.p >= line.lo && v.p < line.hi) && constant(v, names, n)) return;
  inside(v, line, prog);
}

static void check_event(const struct logev *ev, struct range line, struct range prog) {
  static const char *const services[] = {"webmail",    "smtp",  "imap",        "pop3",
                                         "submission", "sieve", "managesieve", "auth"};
  static const char *const statuses[] = {"sent", "deferred", "bounced", "expired"};
  const struct strview *views[] = {&ev->user, &ev->ip,     &ev->lip,   &ev->method, &ev->session,
                                   &ev->qid,  &ev->sender, &ev->rcpt,  &ev->rcpts,  &ev->relay,
                                   &ev->dsn,  &ev->msgid,  &ev->reason};
  for (size_t i = 0; i < sizeof views / sizeof *views; i++) inside(*views[i], line, prog);
  inside_or_constant(ev->service, line, prog, services, sizeof services / sizeof *services);
  inside_or_constant(ev->status, line, prog, statuses, sizeof statuses / sizeof *statuses);
  assert((unsigned)ev->kind < LE__N);
  assert((unsigned)ev->source < LS__N);
  assert(logev_kind_name(ev->kind)[0]);
}

static void one_line(const char *p, size_t len, struct logtime *t) {
  char *copy = malloc(len ? len : 1);
  if (!copy) return;
  memcpy(copy, p, len);
  struct range line = {copy, copy + len}, prog = {NULL, NULL};
  struct logline l;
  int rc = logline_split(copy, len, t, &l);
  if (len > LOG_LINE_MAX) assert(rc == -1);
  if (rc == 0) {
    assert(l.usec < 1000000);
    assert((unsigned)l.kind <= LL_EXIM);
    if (l.kind == LL_ROUNDCUBE || l.kind == LL_EXIM)
      prog = (struct range){l.prog.p, l.prog.p + l.prog.len};
    inside(l.host, line, (struct range){NULL, NULL});
    inside(l.pid, line, (struct range){NULL, NULL});
    inside(l.msg, line, (struct range){NULL, NULL});
    inside(l.prog, line, prog);
    struct logev ev;
    enum logparse_miss miss = LM_NONE;
    if (logparse(&l, &ev, &miss) == 1) {
      check_event(&ev, line, prog);
      assert(ev.ts == l.ts && ev.usec == l.usec);
    } else {
      assert(miss > LM_NONE && miss < LM__N);
      assert(logparse_miss_name(miss)[0]);
    }
  }
  assert(memcmp(copy, p, len) == 0);
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *p = (const char *)data, *end = p + size;
  /* the first byte picks the zone of year-less stamps, so that it is fuzzed too */
  struct logtime t = {0, 0, size ? ((int)data[0] - 128) * 900 : 0, 1795435200};
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
    one_line(p, len, &t);
    p += len + 1;
  }
  return 0;
}
