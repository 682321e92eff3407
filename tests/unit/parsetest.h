/* parsetest.h - helpers shared by the per-format log parser tests */
#ifndef MF_PARSETEST_H
#define MF_PARSETEST_H

#include "testutil.h"

#include "sources/logparse_internal.h"

typedef int (*parse_fn)(const struct logline *, struct logev *, enum logparse_miss *);

/* Fail unless the view equals want (NULL: empty). */
static inline void want_sv(const char *name, const char *field, struct strview got, const char *want) {
  if (!want) want = "";
  if (!sv_eq(got, want))
    fail_msg("%s: %s is [%.*s], want [%s]", name, field, (int)got.len, got.p ? got.p : "", want);
}

/* A framed line built by hand, as logline_split would leave it. */
static inline struct logline mkline_of(enum logline_kind kind, const char *prog, const char *msg) {
  struct logline l;
  memset(&l, 0, sizeof l);
  l.kind = kind;
  l.ts = 1795000000;
  l.prog = (struct strview){prog, strlen(prog)};
  l.msg = (struct strview){msg, strlen(msg)};
  return l;
}

/* A raw line through logline_split + logparse: it must parse to kind. */
static inline struct logev parse_raw(const char *line, int kind, enum logev_source source) {
  struct logtime t = {.now = 1795000000};
  struct logline l;
  struct logev ev;
  enum logparse_miss miss;
  if (logline_split(line, strlen(line), &t, &l) < 0) fail_msg("not split: %s", line);
  if (logparse(&l, &ev, &miss) != 1) fail_msg("miss %s: %s", logparse_miss_name(miss), line);
  if ((int)ev.kind != kind) fail_msg("kind %s: %s", logev_kind_name(ev.kind), line);
  assert_int_equal(ev.source, source);
  return ev;
}

/* Every prefix of msg (in a buffer of exactly its size, so ASan sees any
 * read past it) must parse or miss cleanly. */
static inline void parse_prefixes(parse_fn parse, struct logline base, const char *msg) {
  size_t n = strlen(msg);
  for (size_t k = 0; k <= n; k++) {
    char *buf = malloc(k ? k : 1);
    memcpy(buf, msg, k);
    struct logline l = base;
    l.msg = (struct strview){buf, k};
    struct logev ev;
    enum logparse_miss miss;
    memset(&ev, 0, sizeof ev);
    int rc = parse(&l, &ev, &miss);
    assert_true(rc == 0 || rc == 1);
    free(buf);
  }
}

#endif
