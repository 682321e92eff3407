/* logparse.c - turn a framed log line into an event, by program.
 *
 * The program decides the parser: "postfix..." (any instance, any service
 * path), Dovecot's syslog ident and its log_path sub-programs, "roundcube",
 * "exim"/"exim4". Dovecot log_path lines carry the sub-program as prog
 * ("imap-login", "auth", "auth(user,ip,...)<session>"), so the name is
 * compared up to the first '(' or '<'. Every other program is a miss of
 * kind LM_OTHER_PROGRAM, which is not an error.
 *
 * Pure: no state; ev is cleared, then source, ts and usec are set before the
 * per-format parser runs.
 */
#include <stdbool.h>
#include <string.h>

#include "sources/logparse_internal.h"

typedef int (*parse_fn)(const struct logline *, struct logev *, enum logparse_miss *);

struct prog_entry {
  const char *name;
  enum logev_source source;
  parse_fn parse;
  bool nohost_only; /* a Dovecot sub-program that is only a program in log_path files */
};

static const struct prog_entry progs[] = {
    {"dovecot", LS_DOVECOT, parse_dovecot, false},
    {"imap-login", LS_DOVECOT, parse_dovecot, false},
    {"pop3-login", LS_DOVECOT, parse_dovecot, false},
    {"submission-login", LS_DOVECOT, parse_dovecot, false},
    {"managesieve-login", LS_DOVECOT, parse_dovecot, false},
    {"auth", LS_DOVECOT, parse_dovecot, false},
    {"auth-worker", LS_DOVECOT, parse_dovecot, false},
    {"dovecot-auth", LS_DOVECOT, parse_dovecot, false}, /* Dovecot 1.x */
    {"roundcube", LS_ROUNDCUBE, parse_roundcube, false},
    {"exim", LS_EXIM, parse_exim, false},
    {"exim4", LS_EXIM, parse_exim, false},
    /* the rest of a Dovecot log_path file: its parser calls them noise */
    {"master", LS_DOVECOT, parse_dovecot, true},
    {"imap", LS_DOVECOT, parse_dovecot, true},
    {"pop3", LS_DOVECOT, parse_dovecot, true},
    {"lmtp", LS_DOVECOT, parse_dovecot, true},
    {"lda", LS_DOVECOT, parse_dovecot, true},
    {"submission", LS_DOVECOT, parse_dovecot, true},
    {"managesieve", LS_DOVECOT, parse_dovecot, true},
    {"config", LS_DOVECOT, parse_dovecot, true},
    {"log", LS_DOVECOT, parse_dovecot, true},
    {"anvil", LS_DOVECOT, parse_dovecot, true},
    {"stats", LS_DOVECOT, parse_dovecot, true},
    {"indexer", LS_DOVECOT, parse_dovecot, true},
    {"indexer-worker", LS_DOVECOT, parse_dovecot, true},
    {"doveadm", LS_DOVECOT, parse_dovecot, true},
    {"dict", LS_DOVECOT, parse_dovecot, true},
    {"quota-status", LS_DOVECOT, parse_dovecot, true},
    {"replicator", LS_DOVECOT, parse_dovecot, true},
    {"aggregator", LS_DOVECOT, parse_dovecot, true},
    {"director", LS_DOVECOT, parse_dovecot, true},
    {"deliver", LS_DOVECOT, parse_dovecot, true},
    {"ssl-params", LS_DOVECOT, parse_dovecot, true},
    {"imap-hibernate", LS_DOVECOT, parse_dovecot, true},
    {"imap-urlauth", LS_DOVECOT, parse_dovecot, true},
    {"imap-urlauth-worker", LS_DOVECOT, parse_dovecot, true},
    {"dns-client", LS_DOVECOT, parse_dovecot, true},
    {"health-check", LS_DOVECOT, parse_dovecot, true},
};

/* The program name without Dovecot's "(user,...)<session>" decoration. */
static size_t prog_name_len(struct strview prog) {
  for (size_t i = 0; i < prog.len; i++)
    if (prog.p[i] == '(' || prog.p[i] == '<') return i;
  return prog.len;
}

static bool is_postfix(struct strview prog) {
  return prog.len >= 7 && memcmp(prog.p, "postfix", 7) == 0 &&
         (prog.len == 7 || prog.p[7] == '/' || prog.p[7] == '-');
}

static const struct prog_entry *find_prog(const struct logline *l) {
  size_t n = prog_name_len(l->prog);
  for (size_t i = 0; i < sizeof progs / sizeof *progs; i++) {
    const struct prog_entry *e = &progs[i];
    if (strlen(e->name) == n && memcmp(e->name, l->prog.p, n) == 0 &&
        (!e->nohost_only || l->kind == LL_NOHOST))
      return e;
  }
  return NULL;
}

int logparse(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  memset(ev, 0, sizeof *ev);
  ev->ts = l->ts;
  ev->usec = l->usec;
  *miss = LM_NONE;
  if (is_postfix(l->prog)) {
    ev->source = LS_POSTFIX;
    return parse_postfix(l, ev, miss);
  }
  const struct prog_entry *e = find_prog(l);
  if (!e) {
    *miss = LM_OTHER_PROGRAM;
    return 0;
  }
  ev->source = e->source;
  return e->parse(l, ev, miss);
}

const char *logev_kind_name(enum logev_kind k) {
  static const char *const names[LE__N] = {
      [LE_NONE] = "none",         [LE_LOGIN_OK] = "login_ok", [LE_LOGIN_FAIL] = "login_fail",
      [LE_SUBMIT] = "submit",     [LE_MSGID] = "msgid",       [LE_QUEUED] = "queued",
      [LE_DELIVERY] = "delivery", [LE_REMOVED] = "removed",   [LE_REJECT] = "reject",
      [LE_HOLD] = "hold",         [LE_RELEASE] = "release",   [LE_DELETE] = "delete",
      [LE_ARRIVAL] = "arrival",
  };
  return (unsigned)k < LE__N && names[k] ? names[k] : "unknown";
}

const char *logparse_miss_name(enum logparse_miss m) {
  static const char *const names[LM__N] = {
      [LM_NONE] = "none",         [LM_FRAME] = "frame",
      [LM_TOO_LONG] = "too_long", [LM_POSTFIX] = "postfix",
      [LM_DOVECOT] = "dovecot",   [LM_ROUNDCUBE] = "roundcube",
      [LM_EXIM] = "exim",         [LM_OTHER_PROGRAM] = "other_program",
  };
  return (unsigned)m < LM__N && names[m] ? names[m] : "unknown";
}
