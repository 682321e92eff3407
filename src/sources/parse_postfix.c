/* parse_postfix.c - Postfix log messages into events.
 *
 * The service is the last part of the program name ("postfix/submission/smtpd"
 * -> "smtpd", "postfix-out/qmgr" -> "qmgr"); a table maps it to a handler.
 * Most messages start with a queue id ("0FC56A78811: ", or the long form
 * "4XYZ...z..." of enable_long_queue_ids), then a fixed shape from Postfix's
 * sources: smtpd "client=", cleanup "message-id=", qmgr "from=/removed",
 * delivery agents "to=..., status=", postsuper "placed on hold" and so on.
 * Rejects share one parser for smtpd, postscreen and cleanup.
 *
 * A handler returns 1 for an event (LE_NONE for a line known as noise), 0
 * for a shape it does not know (then the generic noise words "warning:",
 * "fatal:" ... are tried) or -1 for a known start with a broken rest (a
 * SASL warning we cannot read must not hide as noise): LM_POSTFIX.
 * rsyslog's "message repeated N times: [ msg]" is read as msg, N attempts.
 *
 * Untrusted text (addresses, user names, reasons) stays in views into the
 * line; nothing is written. A user name may hold ", "; a value ends only
 * where ", key=" follows.
 */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/numparse.h"
#include "sources/logparse_internal.h"

#define PF_QID_MIN 6  /* shortest queue id: 5 hex digits of usec + inode */
#define PF_QID_MAX 20 /* longest queue id (long form is about 15) */
#define PF_KEY_MAX 32 /* longest "key" in a "key=value" list */
#define PF_NRCPT_MAX 100000000u
#define PF_SIZE_MAX ((uint64_t)1 << 50)

typedef int (*pf_handler)(struct strview svc, struct strview m, struct logev *ev);

/* --- cursor helpers: advance only on success --- */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_key_char(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
static bool is_alnum(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool starts(struct strview c, const char *lit, size_t n) {
  return c.len >= n && memcmp(c.p, lit, n) == 0;
}
#define STARTS(c, lit) starts((c), lit, sizeof lit - 1)

static bool eat(struct strview *c, const char *lit, size_t n) {
  if (!starts(*c, lit, n)) return false;
  c->p += n;
  c->len -= n;
  return true;
}
#define EAT(c, lit) eat((c), lit, sizeof lit - 1)

static void skip(struct strview *c, size_t n) {
  c->p += n;
  c->len -= n;
}

/* Bytes before the first ch into *out, and past ch; false (c unchanged) when absent. */
static bool upto(struct strview *c, char ch, struct strview *out) {
  const char *q = c->len ? memchr(c->p, ch, c->len) : NULL;
  if (!q) return false;
  *out = (struct strview){c->p, (size_t)(q - c->p)};
  skip(c, (size_t)(q - c->p) + 1);
  return true;
}

/* "name[addr]" then an optional ":port": the address in *ip. The name has no space. */
static bool host_ip(struct strview *c, struct strview *ip) {
  struct strview t = *c, name, addr;
  if (!upto(&t, '[', &name) || memchr(name.p, ' ', name.len) || !upto(&t, ']', &addr)) return false;
  if (t.len && t.p[0] == ':' && t.len > 1 && is_digit(t.p[1])) {
    skip(&t, 1);
    while (t.len && is_digit(t.p[0])) skip(&t, 1);
  }
  *ip = addr;
  *c = t;
  return true;
}

/* "QID: " at the start of *c: short hex id or long id (digit first, a 'z' inside). */
static bool take_qid(struct strview *c, struct strview *qid) {
  size_t n = 0;
  bool hex = true, z = false;
  while (n < c->len && n <= PF_QID_MAX && is_alnum(c->p[n])) {
    char ch = c->p[n++];
    hex = hex && (is_digit(ch) || (ch >= 'A' && ch <= 'F'));
    z = z || ch == 'z';
  }
  if (n < PF_QID_MIN || n > PF_QID_MAX || n + 2 > c->len || c->p[n] != ':' || c->p[n + 1] != ' ')
    return false;
  if (!hex && !(n >= 10 && is_digit(c->p[0]) && z)) return false;
  *qid = (struct strview){c->p, n};
  skip(c, n + 2);
  return true;
}

/* A decimal number at the start of v, up to a space or the end. */
static bool take_u64(struct strview v, uint64_t max, uint64_t *out) {
  size_t n = 0;
  while (n < v.len && is_digit(v.p[n])) n++;
  if (n < v.len && v.p[n] != ' ') return false;
  return num_parse_u64(v.p, n, max, out) == 0;
}

/* Length of a list value at p: up to the next ", key=" (so a value may hold ", "). */
static size_t value_len(const char *p, size_t len) {
  const char *end = p + len, *q = p;
  while (q < end && (q = memchr(q, ',', (size_t)(end - q)))) {
    const char *k = q + 1, *w;
    if (k < end && *k == ' ') {
      w = ++k;
      while (k < end && k - w <= PF_KEY_MAX && is_key_char(*k)) k++;
      if (k > w && k < end && *k == '=') return (size_t)(q - p);
    }
    q++;
  }
  return len;
}

/* Strip one pair of angle brackets. */
static struct strview unangle(struct strview v) {
  if (v.len >= 2 && v.p[0] == '<' && v.p[v.len - 1] == '>')
    return (struct strview){v.p + 1, v.len - 2};
  return v;
}

/* --- "key=value, key=value" lists --- */

struct pf_key {
  const char *name;
  size_t len;
  size_t off; /* of a struct strview in struct logev */
  bool angle; /* an address in <>: keep what is inside */
  bool rest;  /* the value runs to the end of the line ("status=sent (...)") */
};
#define KEY(n, field, angle, rest) \
  { n, sizeof n - 1, offsetof(struct logev, field), angle, rest }

/* Read "k=v[, k=v]..." into the fields the table names; other keys are skipped.
 * False when the list is malformed. */
static bool kv_list(struct strview c, const struct pf_key *keys, size_t nkeys, struct logev *ev) {
  while (c.len) {
    struct strview key;
    if (!upto(&c, '=', &key) || key.len == 0 || key.len > PF_KEY_MAX) return false;
    const struct pf_key *k = NULL;
    for (size_t i = 0; i < nkeys && !k; i++)
      if (keys[i].len == key.len && memcmp(keys[i].name, key.p, key.len) == 0) k = &keys[i];
    size_t vl = k && k->rest ? c.len : value_len(c.p, c.len);
    struct strview v = {c.p, vl};
    if (k) *(struct strview *)((char *)ev + k->off) = k->angle ? unangle(v) : v;
    skip(&c, vl);
    if (c.len && !EAT(&c, ", ")) return false;
  }
  return true;
}

/* --- rejects: smtpd, postscreen, cleanup --- */

/* The ';' that starts the "from=<..> to=<..> proto=.. helo=<..>" trailer, or NULL. */
static const char *trailer_start(struct strview c) {
  const char *end = c.p + c.len, *q = c.p;
  while (q < end && (q = memchr(q, ';', (size_t)(end - q)))) {
    struct strview t = {q + 1, (size_t)(end - q - 1)};
    if (STARTS(t, " from=<") || STARTS(t, " to=<") || STARTS(t, " proto=") || STARTS(t, " helo=<"))
      return q;
    q++;
  }
  return NULL;
}

/* Sender and recipient from the trailer (fields joined by " " in smtpd, ", " in postscreen). */
static void reject_trailer(struct strview t, struct logev *ev) {
  while (t.len) {
    while (t.len && (t.p[0] == ' ' || t.p[0] == ',')) skip(&t, 1);
    struct strview *dst = EAT(&t, "from=") ? &ev->sender : EAT(&t, "to=") ? &ev->rcpt : NULL;
    struct strview val;
    if (t.len && t.p[0] == '<') {
      skip(&t, 1);
      if (!upto(&t, '>', &val)) return;
    } else {
      const char *sp = memchr(t.p, ' ', t.len);
      val = (struct strview){t.p, sp ? (size_t)(sp - t.p) : t.len};
      skip(&t, val.len);
    }
    if (dst) *dst = val;
  }
}

/* "CODE D.S.N " at the start of the reason: dsn into ev, cursor past both. */
static void reject_code(struct strview *c, struct logev *ev) {
  if (c->len >= 4 && is_digit(c->p[0]) && is_digit(c->p[1]) && is_digit(c->p[2]) && c->p[3] == ' ')
    skip(c, 4);
  size_t n = 0;
  while (n < c->len && (is_digit(c->p[n]) || c->p[n] == '.')) n++;
  if (n >= 5 && n < c->len && c->p[n] == ' ' && c->p[1] == '.') {
    ev->dsn = (struct strview){c->p, n};
    skip(c, n + 1);
  }
}

/* The "host[ip]" just before the trailer of cleanup's "header ... from host[ip]; from=<...". */
static void ip_before(struct strview text, struct logev *ev) {
  if (!text.len || text.p[text.len - 1] != ']') return;
  const char *lb = memrchr(text.p, '[', text.len);
  if (lb) ev->ip = (struct strview){lb + 1, (size_t)(text.p + text.len - 1 - lb - 1)};
}

/* "CMD from host[ip]: CODE D.S.N text; from=<a> to=<b> proto=P helo=<h>" (smtpd,
 * postscreen with "[ip]:port"), or cleanup's "header|body ... from host[ip]; from=<a> ...". */
static int pf_reject(struct strview c, struct logev *ev, enum logev_kind kind) {
  struct strview cmd, text;
  const char *tr = trailer_start(c);
  text = (struct strview){c.p, tr ? (size_t)(tr - c.p) : c.len};
  if (tr) reject_trailer((struct strview){tr + 1, (size_t)(c.p + c.len - tr - 1)}, ev);
  ev->kind = kind;
  struct strview t = text;
  if (upto(&t, ' ', &cmd) && EAT(&t, "from ") && host_ip(&t, &ev->ip) && EAT(&t, ": ")) {
    reject_code(&t, ev);
    ev->reason = t;
  } else {
    ip_before(text, ev);
    ev->reason = c; /* cleanup: the whole story, header and reply */
  }
  return 1;
}

/* --- smtpd --- */

/* "client=name[ip][:port][, sasl_method=M, sasl_username=U, sasl_sender=S, ...]" */
static int pf_client(struct strview svc, struct strview c, struct logev *ev) {
  static const struct pf_key keys[] = {KEY("sasl_method", method, false, false),
                                       KEY("sasl_username", user, false, false)};
  if (!host_ip(&c, &ev->ip)) return 0;
  if (c.len && !EAT(&c, ", ")) return 0;
  if (!kv_list(c, keys, sizeof keys / sizeof *keys, ev)) return 0;
  ev->kind = LE_SUBMIT;
  if (STARTS(svc, "smtpd")) ev->service = (struct strview){svc.p, 4}; /* "smtp" */
  return 1;
}

/* SASL reasons that say the server failed, not the client: no failed login. */
static bool server_side(struct strview reason) {
  return STARTS(reason, "Connection lost to authentication server") ||
         STARTS(reason, "Invalid authentication mechanism");
}

/* "host[ip]: SASL MECH authentication failed: REASON[, sasl_username=U]" or "... aborted". */
static int pf_sasl(struct strview svc, struct strview c, struct logev *ev) {
  struct strview ip, mech;
  if (!host_ip(&c, &ip) || !EAT(&c, ": SASL ") || !upto(&c, ' ', &mech)) return 0;
  ev->ip = ip;
  ev->method = mech;
  if (STARTS(svc, "smtpd")) ev->service = (struct strview){svc.p, 4}; /* "smtp" */
  ev->kind = LE_LOGIN_FAIL;
  ev->attempts = 1;
  if (EAT(&c, "authentication aborted")) {
    ev->reason = (struct strview){c.p - 7, 7};
    return 1;
  }
  if (!EAT(&c, "authentication failed:")) return 0;
  if (c.len && c.p[0] == ' ') skip(&c, 1);
  const char *u = c.len ? memmem(c.p, c.len, ", sasl_username=", 16) : NULL;
  ev->reason = (struct strview){c.p, u ? (size_t)(u - c.p) : c.len};
  if (u) ev->user = (struct strview){u + 16, (size_t)(c.p + c.len - u - 16)};
  if (server_side(ev->reason)) ev->kind = LE_NONE;
  return 1;
}

/* Lines that carry nothing for us, by their first words. */
struct pf_word {
  const char *s;
  size_t n;
};
#define W(s) \
  { s, sizeof s - 1 }

static bool any_word(struct strview c, const struct pf_word *w, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (starts(c, w[i].s, w[i].n)) return true;
  return false;
}

static const struct pf_word smtpd_noise[] = {
    W("connect from "),
    W("disconnect from "),
    W("lost connection after "),
    W("timeout after "),
    W("Anonymous TLS connection"),
    W("Trusted TLS connection"),
    W("Untrusted TLS connection"),
    W("Verified TLS connection"),
    W("too many errors after "),
    W("improper command pipelining"),
    W("SSL_accept error"),
    W("TLS handshake"),
    W("discarding EHLO keywords"),
    W("setting up TLS connection"),
    W("TLS connection established"),
};

/* After "QID: " in smtpd. */
static int pf_smtpd_qid(struct strview svc, struct strview c, struct logev *ev) {
  static const struct pf_word noise[] = {
      W("discard: "),      W("milter-discard: "),    W("filter: "),
      W("redirect: "),     W("warning: "),           W("info: "),
      W("proxy-reject: "), W("proxy-accept: "),      W("prepend: "),
      W("replace: "),      W("enabling PIPELINING"),
  };
  if (EAT(&c, "client=")) return pf_client(svc, c, ev);
  if (EAT(&c, "reject: ") || EAT(&c, "milter-reject: ")) return pf_reject(c, ev, LE_REJECT);
  if (EAT(&c, "hold: ") || EAT(&c, "milter-hold: ")) return pf_reject(c, ev, LE_HOLD);
  if (any_word(c, noise, sizeof noise / sizeof *noise)) return 1;
  return 0;
}

static int pf_smtpd(struct strview svc, struct strview c, struct logev *ev) {
  if (take_qid(&c, &ev->qid)) return pf_smtpd_qid(svc, c, ev);
  if (any_word(c, smtpd_noise, sizeof smtpd_noise / sizeof *smtpd_noise)) return 1;
  if (EAT(&c, "NOQUEUE: ")) {
    if (EAT(&c, "reject: ") || EAT(&c, "milter-reject: ")) return pf_reject(c, ev, LE_REJECT);
    return any_word(c, smtpd_noise, sizeof smtpd_noise / sizeof *smtpd_noise) ||
           STARTS(c, "filter: ") || STARTS(c, "warn: ") || STARTS(c, "discard: ") ||
           STARTS(c, "redirect: ") || STARTS(c, "client=");
  }
  if (EAT(&c, "warning: ")) {
    struct strview t = c, ip;
    if (host_ip(&t, &ip) && STARTS(t, ": SASL ")) return pf_sasl(svc, c, ev) == 1 ? 1 : -1;
    return 1; /* any other warning: noise */
  }
  return 0;
}

/* --- cleanup, qmgr, delivery agents, postsuper, postscreen --- */

static int pf_cleanup(struct strview svc, struct strview c, struct logev *ev) {
  static const struct pf_word noise[] = {
      W("resent-message-id="),
      W("discard: "),
      W("milter-discard: "),
      W("warning: "),
      W("info: "),
      W("filter: "),
      W("redirect: "),
      W("replace: "),
      W("prepend: "),
      W("bcc: "),
      W("milter-"),
      W("end-of-message"),
  };
  (void)svc;
  if (!take_qid(&c, &ev->qid)) return 0;
  if (EAT(&c, "message-id=")) {
    ev->kind = LE_MSGID;
    ev->msgid = unangle(c);
    return 1;
  }
  if (EAT(&c, "hold: ") || EAT(&c, "milter-hold: ")) return pf_reject(c, ev, LE_HOLD);
  if (EAT(&c, "reject: ") || EAT(&c, "milter-reject: ")) return pf_reject(c, ev, LE_REJECT);
  return any_word(c, noise, sizeof noise / sizeof *noise);
}

/* "to=<r>[, orig_to=<o>], relay=R, ..., dsn=D.S.N, status=WORD (text)". */
static int pf_delivery(struct strview c, struct logev *ev) {
  static const struct pf_key keys[] = {
      KEY("to", rcpt, true, false), KEY("relay", relay, false, false),
      KEY("dsn", dsn, false, false), KEY("status", status, false, true)};
  if (!kv_list(c, keys, sizeof keys / sizeof *keys, ev) || !ev->status.len) return 0;
  struct strview st = ev->status, word = st;
  for (word.len = 0; word.len < st.len && st.p[word.len] != ' ' && st.p[word.len] != ',';)
    word.len++;
  skip(&st, word.len);
  if (STARTS(st, " (") && st.p[st.len - 1] == ')')
    st = (struct strview){st.p + 2, st.len - 3};
  else if (!EAT(&st, ", "))
    (void)EAT(&st, " ");
  ev->status = word;
  ev->reason = st;
  if (sv_eq(word, "sent") || sv_eq(word, "deferred") || sv_eq(word, "bounced") ||
      sv_eq(word, "expired") || sv_eq(word, "SOFTBOUNCE"))
    ev->kind = LE_DELIVERY;
  else if (!sv_eq(word, "deliverable") && !sv_eq(word, "undeliverable"))
    return 0; /* (un)deliverable: an address verification probe, not mail */
  return 1;
}

/* smtp, lmtp, local, virtual, pipe, discard, error, retry. */
static int pf_agent(struct strview svc, struct strview c, struct logev *ev) {
  static const struct pf_word noise[] = {
      W("connect to "),
      W("Anonymous TLS connection"),
      W("Trusted TLS connection"),
      W("Untrusted TLS connection"),
      W("Verified TLS connection"),
      W("SSL_connect error"),
      W("certificate verification"),
      W("server certificate"),
      W("host "),
      W("TLS connection established"),
  };
  (void)svc;
  if (!take_qid(&c, &ev->qid)) return any_word(c, noise, sizeof noise / sizeof *noise);
  if (STARTS(c, "to=")) return pf_delivery(c, ev);
  return 1; /* "QID: host ... said:", "QID: lost connection with ...": the to= line tells */
}

/* "from=<s>, size=N, nrcpt=N (queue active)", "removed", deferred "to=" lines. */
static int pf_qmgr(struct strview svc, struct strview c, struct logev *ev) {
  struct strview size, nrcpt;
  uint64_t n, sz;
  (void)svc;
  if (!take_qid(&c, &ev->qid)) return 0;
  if (sv_eq(c, "removed")) return ev->kind = LE_REMOVED, 1;
  if (STARTS(c, "to=")) return pf_delivery(c, ev);
  if (STARTS(c, "skipped, still being delivered")) return 1;
  if (!EAT(&c, "from=<")) return 0;
  const char *gt = memmem(c.p, c.len, ">, ", 3);
  if (!gt) return 0;
  ev->sender = (struct strview){c.p, (size_t)(gt - c.p)};
  skip(&c, (size_t)(gt - c.p) + 3);
  if (STARTS(c, "status=expired")) return 1; /* the recipients' own lines say it */
  if (!EAT(&c, "size=") || !upto(&c, ',', &size) || !EAT(&c, " nrcpt=")) return 0;
  nrcpt = c;
  if (!take_u64(size, PF_SIZE_MAX, &sz) || !take_u64(nrcpt, PF_NRCPT_MAX, &n)) return 0;
  ev->size = sz;
  ev->nrcpt = (uint32_t)n;
  ev->kind = LE_QUEUED;
  return 1;
}

static int pf_postsuper(struct strview svc, struct strview c, struct logev *ev) {
  static const struct pf_word noise[] = {
      W("Placed on hold: "), W("Released from hold: "), W("Deleted: "), W("Requeued: "),
      W("Expired: "),
  };
  (void)svc;
  if (!take_qid(&c, &ev->qid)) return any_word(c, noise, sizeof noise / sizeof *noise);
  if (sv_eq(c, "placed on hold"))
    ev->kind = LE_HOLD;
  else if (sv_eq(c, "released from hold"))
    ev->kind = LE_RELEASE;
  else if (sv_eq(c, "removed"))
    ev->kind = LE_DELETE;
  else if (!sv_eq(c, "requeued") && !STARTS(c, "expired"))
    return 0;
  return 1;
}

/* postscreen: only its rejects matter; CONNECT, PASS, DNSBL, PREGREET ... are noise. */
static int pf_postscreen(struct strview svc, struct strview c, struct logev *ev) {
  (void)svc;
  if (EAT(&c, "NOQUEUE: reject: ")) return pf_reject(c, ev, LE_REJECT);
  return 1;
}

static int pf_noise(struct strview svc, struct strview c, struct logev *ev) {
  (void)svc, (void)c, (void)ev;
  return 1;
}

/* --- dispatch --- */

static const struct pf_service {
  const char *name;
  size_t len;
  pf_handler fn;
} services[] = {
#define S(n, f) \
  { n, sizeof n - 1, f }
    S("smtpd", pf_smtpd),     S("postscreen", pf_postscreen),
    S("dnsblog", pf_noise),   S("cleanup", pf_cleanup),
    S("qmgr", pf_qmgr),       S("smtp", pf_agent),
    S("lmtp", pf_agent),      S("local", pf_agent),
    S("virtual", pf_agent),   S("pipe", pf_agent),
    S("discard", pf_agent),   S("error", pf_agent),
    S("retry", pf_agent),     S("tlsproxy", pf_noise),
    S("anvil", pf_noise),     S("postsuper", pf_postsuper),
    S("oqmgr", pf_qmgr),      S("qmqpd", pf_smtpd),
    S("pickup", pf_noise),    S("bounce", pf_noise),
    S("master", pf_noise),    S("postfix-script", pf_noise),
    S("scache", pf_noise),    S("verify", pf_noise),
    S("tlsmgr", pf_noise),    S("postlogd", pf_noise),
    S("proxymap", pf_noise),  S("trivial-rewrite", pf_noise),
    S("flush", pf_noise),     S("showq", pf_noise),
    S("spawn", pf_noise),     S("sendmail", pf_noise),
    S("postdrop", pf_noise),  S("postqueue", pf_noise),
    S("postmap", pf_noise),   S("postalias", pf_noise),
    S("postmulti", pf_noise), S("postlog", pf_noise),
    S("postconf", pf_noise),  S("defer", pf_noise),
    S("trace", pf_noise),
#undef S
};

/* Generic noise any service may log. */
static bool common_noise(struct strview c) {
  static const struct pf_word w[] = {W("warning: "), W("fatal: "), W("panic: "), W("error: "),
                                     W("statistics: ")};
  return any_word(c, w, sizeof w / sizeof *w);
}

static const struct pf_service *find_service(struct strview prog, struct strview *svc) {
  const char *slash = prog.len ? memrchr(prog.p, '/', prog.len) : NULL;
  *svc = slash ? (struct strview){slash + 1, (size_t)(prog.p + prog.len - slash - 1)} : prog;
  for (size_t i = 0; i < sizeof services / sizeof *services; i++)
    if (services[i].len == svc->len && memcmp(services[i].name, svc->p, svc->len) == 0)
      return &services[i];
  return NULL;
}

/* rsyslog's "message repeated N times: [ msg]": msg, and N in *times. */
static struct strview unrepeat(struct strview m, uint32_t *times) {
  struct strview c = m, n;
  uint64_t v;
  *times = 1;
  if (!EAT(&c, "message repeated ") || !upto(&c, ' ', &n) || !EAT(&c, "times: [") ||
      num_parse_u64(n.p, n.len, PF_NRCPT_MAX, &v) < 0 || !c.len || c.p[c.len - 1] != ']')
    return m;
  c.len--;
  if (c.len && c.p[0] == ' ') skip(&c, 1);
  *times = (uint32_t)v;
  return c;
}

int parse_postfix(const struct logline *l, struct logev *ev, enum logparse_miss *miss) {
  struct strview svc;
  uint32_t times;
  struct strview msg = unrepeat(l->msg, &times);
  const struct pf_service *s = find_service(l->prog, &svc);
  ev->kind = LE_NONE;
  int rc = s ? s->fn(svc, msg, ev) : 0;
  if (rc == 1) {
    if (ev->kind == LE_LOGIN_FAIL) ev->attempts = times;
    return 1;
  }
  if (rc == 0 && common_noise(msg)) {
    struct logev keep = {.source = ev->source, .ts = ev->ts, .usec = ev->usec};
    *ev = keep;
    return 1;
  }
  *miss = LM_POSTFIX;
  return 0;
}
