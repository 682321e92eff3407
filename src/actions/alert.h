/* alert.h - what people are told about an incident: e-mail text, webhook JSON, log line */
#ifndef MF_ALERT_H
#define MF_ALERT_H

#include "actions/incident.h"
#include "core/conf.h"

/* "incident" (opened), "escalated" (hold became suspend), "released". */
/* The whole e-mail (headers and body) for sendmail -t style input; caller frees. */
char *alert_email(const struct conf *c, const struct incident *in, const char *event,
                  const char *host, int64_t now);
/* The webhook body (compact JSON); caller frees. */
char *alert_webhook(const struct incident *in, const char *event, const char *host, int64_t now);
/* One summary line to the log (syslog when log_target is syslog). */
void alert_log(const struct incident *in, const char *event);
/* The exact commands that release the account. */
void alert_release_cmd(const struct incident *in, char *buf, size_t len);

#endif
