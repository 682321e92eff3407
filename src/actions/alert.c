/* alert.c - the alert of an incident, as e-mail, webhook JSON and log line.
 * One per incident (and one more if a hold becomes a suspension, and one
 * at release); it says what the account did, why mailfuse acted, what it
 * did, and how to undo it. */
#include "actions/alert.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/isotime.h"
#include "core/log.h"

struct buf {
  char *p;
  size_t len, cap;
  bool oom;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (b->p && b->len + (size_t)n < b->cap) {
      b->len += (size_t)n;
      return;
    }
    size_t ncap = (b->cap ? b->cap * 2 : 2048) + (size_t)n;
    char *np = realloc(b->p, ncap);
    if (!np) {
      b->oom = true;
      return;
    }
    b->p = np;
    b->cap = ncap;
  }
}

void alert_release_cmd(const struct incident *in, char *buf, size_t len) {
  snprintf(buf, len, "mailfuse ctl release %s --release-held   (or --delete-held after review)",
           in->account);
}

static const char *count_s(int64_t v, char *buf, size_t len) {
  if (v < 0) return "-";
  snprintf(buf, len, "%lld", (long long)v);
  return buf;
}

char *alert_email(const struct conf *c, const struct incident *in, const char *event,
                  const char *host, int64_t now) {
  struct buf b = {0};
  char t[32], t2[32], rel[400], n[6][24];
  bool released = !strcmp(event, "released");
  const char *what = released ? "released" : in->level == ACT_SUSPEND ? "suspended" : "held";
  bprintf(&b, "From: %s\nTo: ", c->alert_from);
  for (size_t i = 0; i < c->nalert_email; i++)
    bprintf(&b, "%s%s", i ? ", " : "", c->alert_email[i]);
  bprintf(&b, "\nSubject: [mailfuse] %s %s (incident %llu)\n", in->account, what,
          (unsigned long long)in->id);
  bprintf(&b, "Auto-Submitted: auto-generated\nMIME-Version: 1.0\n"
              "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n");
  bprintf(&b, "mailfuse on %s, incident %llu, %s at %s\n\n", host, (unsigned long long)in->id,
          event, iso_time(now, t, sizeof t));
  bprintf(&b, "Account:   %s\nOpened:    %s by %s\nLevel:     %s\nReason:    %s\n", in->account,
          iso_time(in->opened, t2, sizeof t2), in->by, in->level == ACT_SUSPEND ? "suspend" : "hold",
          in->reason);
  if (in->client[0])
    bprintf(&b, "Client:    %s%s\n", in->client, in->client_blocked ? " (blocked)" : "");
  bprintf(&b, "\nWhat it sent (minute / hour / day):\n  messages             %s / %s / %s\n"
              "  external recipients  %s / %s / %s\n",
          count_s(in->counts[0], n[0], 24), count_s(in->counts[1], n[1], 24),
          count_s(in->counts[2], n[2], 24), count_s(in->counts[3], n[3], 24),
          count_s(in->counts[4], n[4], 24), count_s(in->counts[5], n[5], 24));
  if (in->top[0][0]) {
    bprintf(&b, "Top recipient domains:");
    for (int i = 0; i < INC_TOP && in->top[i][0]; i++)
      bprintf(&b, "%s %s (%llu)", i ? "," : "", in->top[i], (unsigned long long)in->top_n[i]);
    bprintf(&b, "\n");
  }
  if (in->clients[0][0]) {
    bprintf(&b, "Client addresses:");
    for (int i = 0; i < INC_CLIENTS && in->clients[i][0]; i++) bprintf(&b, " %s", in->clients[i]);
    bprintf(&b, "\n");
  }
  bprintf(&b, "Refused or held since: %llu\n\nWhat mailfuse did:\n", (unsigned long long)in->refused);
  for (int f = 0; f < FX__N; f++) {
    const struct fx_status *s = &in->fx[f];
    if (s->state == FXS_NONE) continue;
    bprintf(&b, "  %-17s %s%s%s\n", fx_name((enum fx)f), fx_state_name((enum fx_state)s->state),
            s->err[0] ? ": " : "", s->err);
  }
  if (in->held) bprintf(&b, "  %llu queued messages on hold\n", (unsigned long long)in->held);
  if (!released) {
    alert_release_cmd(in, rel, sizeof rel);
    bprintf(&b, "\nTo release, once the password is reset and the mail reviewed:\n  %s\n", rel);
  } else {
    bprintf(&b, "\nReleased by %s.\n", in->released_by);
  }
  bprintf(&b, "Details: mailfuse ctl incident %llu\n", (unsigned long long)in->id);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  return b.p;
}

char *alert_webhook(const struct incident *in, const char *event, const char *host, int64_t now) {
  json_t *o = incident_to_json(in);
  if (!o) return NULL;
  char rel[400];
  alert_release_cmd(in, rel, sizeof rel);
  json_object_del(o, "trail");
  json_object_set_new(o, "event", json_string(event));
  json_object_set_new(o, "host", json_string(host));
  json_object_set_new(o, "time", json_integer(now));
  json_object_set_new(o, "release_command", json_string(rel));
  char *s = json_dumps(o, JSON_COMPACT);
  json_decref(o);
  return s;
}

void alert_log(const struct incident *in, const char *event) {
  char esc[LOG_ESC_MAX], top[200] = "";
  size_t o = 0;
  for (int i = 0; i < INC_TOP && in->top[i][0] && o < sizeof top; i++) {
    int n = snprintf(top + o, sizeof top - o, "%s%s:%llu", i ? "," : "", in->top[i],
                     (unsigned long long)in->top_n[i]);
    if (n < 0) break;
    o += (size_t)n;
  }
  log_warn("incident", "event=%s id=%llu account=%s level=%s client=%s blocked=%s messages_hour=%lld "
           "external_hour=%lld top_domains=%s held=%llu reason=%s",
           event, (unsigned long long)in->id, in->account,
           in->level == ACT_SUSPEND ? "suspend" : "hold", in->client[0] ? in->client : "-",
           in->client_blocked ? "yes" : "no", (long long)in->counts[1], (long long)in->counts[4],
           top[0] ? top : "-", (unsigned long long)in->held,
           log_esc(esc, sizeof esc, in->reason, strlen(in->reason)));
}
