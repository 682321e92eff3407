/* logevent.h - what a mail log line means, in one shape for every format */
#ifndef MF_LOGEVENT_H
#define MF_LOGEVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/strview.h"
#include "sources/logline.h"

enum logev_kind {
  LE_NONE,        /* a line we know and that carries nothing for us (noise) */
  LE_LOGIN_OK,    /* user, ip, lip, service, method, session */
  LE_LOGIN_FAIL,  /* user (may be empty), ip, service, method, session, attempts, reason */
  LE_SUBMIT,      /* Postfix smtpd "QID: client=..., sasl_username=": qid, ip, user, method */
  LE_MSGID,       /* cleanup "QID: message-id=<..>": qid, msgid */
  LE_QUEUED,      /* qmgr "QID: from=<..>, size=N, nrcpt=N": qid, sender, size, nrcpt */
  LE_DELIVERY,    /* "QID: to=<..>, relay=.., dsn=.., status=..": qid, rcpt, relay, dsn, status */
  LE_REMOVED,     /* qmgr "QID: removed": qid */
  LE_REJECT,      /* "NOQUEUE: reject: RCPT from host[ip]: CODE ...; from=<> to=<>": ip, sender, rcpt, dsn, reason */
  LE_HOLD,        /* postsuper/cleanup hold: qid (reason) */
  LE_RELEASE,     /* postsuper release: qid */
  LE_DELETE,      /* postsuper delete: qid */
  LE_ARRIVAL,     /* Exim "<=": qid (exim message id), sender, ip, user (A=), size, rcpt list in `rcpts` */
  LE__N
};

enum logev_source { LS_POSTFIX, LS_DOVECOT, LS_ROUNDCUBE, LS_EXIM, LS__N };

/* Every field is a view into the line, or into a constant string (service
 * names such as "smtp", statuses such as "sent"), or empty. */
struct logev {
  enum logev_kind kind;
  enum logev_source source;
  int64_t ts;
  uint32_t usec;
  struct strview user, ip, lip, service, method, session, qid, sender, rcpt, rcpts, relay, dsn,
      status, msgid, reason;
  uint32_t nrcpt, attempts;
  uint64_t size;
};

/* Why a line was not understood, for replay's "unparsed by kind" table. */
enum logparse_miss {
  LM_NONE,
  LM_FRAME,         /* time stamp or syslog frame not recognised */
  LM_TOO_LONG,      /* longer than LOG_LINE_MAX */
  LM_POSTFIX,       /* a Postfix line of a shape we do not know */
  LM_DOVECOT,
  LM_ROUNDCUBE,
  LM_EXIM,
  LM_OTHER_PROGRAM, /* a program we do not read (cron, kernel ...) : not an error */
  LM__N
};

/* Parse one framed line. Returns 1 with *ev filled (a known event, or
 * LE_NONE for known noise), or 0 with *miss set. Pure: no state. */
int logparse(const struct logline *l, struct logev *ev, enum logparse_miss *miss);
/* Names, for reports and logs. */
const char *logev_kind_name(enum logev_kind k);
const char *logparse_miss_name(enum logparse_miss m);

#endif
