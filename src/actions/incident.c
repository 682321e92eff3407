/* incident.c - incident records: trail entries, top lists, JSON both ways */
#include "actions/incident.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/strview.h"

#include "core/conf.h"

static const char *const fx_names[FX__N] = {
    "deny_file", "kick", "suspend_command", "queue_hold", "nft_block", "email", "webhook",
    "release_held", "delete_held", "release_command", "deny_file_remove"};
static const char *const fxs_names[] = {"none", "running", "ok", "retrying", "failed"};

const char *fx_name(enum fx f) { return f < FX__N ? fx_names[f] : "?"; }
const char *fx_state_name(enum fx_state s) { return s <= FXS_FAILED ? fxs_names[s] : "?"; }

static void one_line(char *s) {
  for (; *s; s++)
    if (*s == '\n' || *s == '\r') *s = ' ';
}

void incident_audit(struct incident *in, int64_t at, const char *who, const char *fmt, ...) {
  if (in->naudit == INC_AUDIT_MAX) { /* keep the first entry (the opening), drop the next oldest */
    memmove(&in->audit[1], &in->audit[2], (INC_AUDIT_MAX - 2) * sizeof in->audit[0]);
    in->naudit--;
    in->audit_dropped++;
  }
  struct audit *a = &in->audit[in->naudit++];
  a->at = at;
  str_copy(a->who, sizeof a->who, who);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(a->what, sizeof a->what, fmt, ap);
  va_end(ap);
  one_line(a->what);
  in->updated = at;
  in->dirty = true;
}

void incident_max_domain(struct incident *in, const char *domain, uint64_t n) {
  for (size_t i = 0; i < INC_TOP && in->top[i][0]; i++)
    if (!strcmp(in->top[i], domain)) {
      if (n > in->top_n[i]) incident_add_domain(in, domain, n - in->top_n[i]);
      return;
    }
  incident_add_domain(in, domain, n);
}

void incident_add_domain(struct incident *in, const char *domain, uint64_t n) {
  if (!domain || !*domain) return;
  size_t i, low = 0;
  for (i = 0; i < INC_TOP && in->top[i][0]; i++) {
    if (!strcmp(in->top[i], domain)) break;
    if (in->top_n[i] < in->top_n[low]) low = i;
  }
  if (i == INC_TOP) { /* full: a newcomer replaces the smallest only when it outweighs it */
    if (n <= in->top_n[low]) return;
    i = low;
    in->top_n[i] = 0;
  }
  if (!in->top[i][0]) in->top_n[i] = 0;
  str_copy(in->top[i], sizeof in->top[i], domain);
  in->top_n[i] += n;
  for (; i > 0 && in->top_n[i] > in->top_n[i - 1]; i--) { /* keep most first */
    char d[64];
    uint64_t c = in->top_n[i];
    memcpy(d, in->top[i], sizeof d);
    memcpy(in->top[i], in->top[i - 1], sizeof d);
    memcpy(in->top[i - 1], d, sizeof d);
    in->top_n[i] = in->top_n[i - 1];
    in->top_n[i - 1] = c;
  }
}

/* Add s to a small set of fixed-size strings (full: ignored). */
static void add_to_set(char *set, size_t n, size_t width, const char *s) {
  if (!s || !*s || strlen(s) >= width) return;
  for (size_t i = 0; i < n; i++) {
    char *e = set + i * width;
    if (!strcmp(e, s)) return;
    if (!*e) {
      memcpy(e, s, strlen(s) + 1);
      return;
    }
  }
}

void incident_add_client(struct incident *in, const char *client) {
  add_to_set(&in->clients[0][0], INC_CLIENTS, sizeof in->clients[0], client);
}
void incident_add_sender(struct incident *in, const char *sender) {
  add_to_set(&in->senders[0][0], INC_SENDERS, sizeof in->senders[0], sender);
}
void incident_add_qid(struct incident *in, const char *qid) {
  add_to_set(&in->qids[0][0], INC_QIDS, sizeof in->qids[0], qid);
}

static json_t *set_json(const char *set, size_t n, size_t width) {
  json_t *a = json_array();
  for (size_t i = 0; a && i < n && set[i * width]; i++) json_array_append_new(a, json_string(set + i * width));
  return a;
}

void incident_key(uint64_t id, char out[24]) { snprintf(out, 24, "%020" PRIu64, id); }

json_t *incident_to_json(const struct incident *in) {
  json_t *o = json_object(), *fx = json_object(), *top = json_array(), *cl = json_array(),
         *tr = json_array(), *cnt = json_array();
  if (!o || !fx || !top || !cl || !tr || !cnt) goto fail;
  for (int f = 0; f < FX__N; f++) {
    const struct fx_status *s = &in->fx[f];
    if (s->state == FXS_NONE) continue;
    json_object_set_new(fx, fx_names[f],
                        json_pack("{s:s,s:i,s:I,s:s}", "state", fxs_names[s->state], "attempts",
                                  (int)s->attempts, "at", (json_int_t)s->at, "error", s->err));
  }
  for (int i = 0; i < INC_TOP && in->top[i][0]; i++)
    json_array_append_new(top, json_pack("{s:s,s:I}", "domain", in->top[i], "count",
                                         (json_int_t)in->top_n[i]));
  for (int i = 0; i < INC_CLIENTS && in->clients[i][0]; i++)
    json_array_append_new(cl, json_string(in->clients[i]));
  for (uint32_t i = 0; i < in->naudit; i++)
    json_array_append_new(tr, json_pack("{s:I,s:s,s:s}", "at", (json_int_t)in->audit[i].at, "who",
                                        in->audit[i].who, "what", in->audit[i].what));
  for (int i = 0; i < 6; i++) json_array_append_new(cnt, json_integer(in->counts[i]));
  json_object_set_new(o, "id", json_integer((json_int_t)in->id));
  json_object_set_new(o, "account", json_string(in->account));
  json_object_set_new(o, "opened", json_integer(in->opened));
  json_object_set_new(o, "updated", json_integer(in->updated));
  json_object_set_new(o, "closed", json_integer(in->closed));
  json_object_set_new(o, "level", json_string(conf_action_name((enum action)in->level)));
  json_object_set_new(o, "by", json_string(in->by));
  json_object_set_new(o, "reason", json_string(in->reason));
  json_object_set_new(o, "client", json_string(in->client));
  json_object_set_new(o, "client_blocked", json_boolean(in->client_blocked));
  json_object_set_new(o, "counts", cnt);
  json_object_set_new(o, "refused", json_integer((json_int_t)in->refused));
  json_object_set_new(o, "top_domains", top);
  json_object_set_new(o, "clients", cl);
  json_object_set_new(o, "senders", set_json(&in->senders[0][0], INC_SENDERS, sizeof in->senders[0]));
  json_object_set_new(o, "queue_ids", set_json(&in->qids[0][0], INC_QIDS, sizeof in->qids[0]));
  json_object_set_new(o, "held", json_integer((json_int_t)in->held));
  json_object_set_new(o, "released_held", json_integer((json_int_t)in->released_held));
  json_object_set_new(o, "deleted_held", json_integer((json_int_t)in->deleted_held));
  json_object_set_new(o, "effects", fx);
  json_object_set_new(o, "alerted", json_boolean(in->alerted));
  json_object_set_new(o, "alerted_suspend", json_boolean(in->alerted_suspend));
  json_object_set_new(o, "released_by", json_string(in->released_by));
  json_object_set_new(o, "trail", tr);
  json_object_set_new(o, "trail_dropped", json_integer(in->audit_dropped));
  return o;
fail:
  json_decref(o);
  json_decref(fx);
  json_decref(top);
  json_decref(cl);
  json_decref(tr);
  json_decref(cnt);
  return NULL;
}

static void str_field(const json_t *o, const char *k, char *dst, size_t len) {
  const char *s = json_string_value(json_object_get(o, k));
  str_copy(dst, len, s ? s : "");
}

static int64_t int_field(const json_t *o, const char *k) {
  return (int64_t)json_integer_value(json_object_get(o, k));
}

int incident_from_json(struct incident *in, const json_t *o) {
  memset(in, 0, sizeof *in);
  if (!json_is_object(o) || !json_is_integer(json_object_get(o, "id")) ||
      !json_is_string(json_object_get(o, "account")))
    return -1;
  in->id = (uint64_t)int_field(o, "id");
  str_field(o, "account", in->account, sizeof in->account);
  in->opened = int_field(o, "opened");
  in->updated = int_field(o, "updated");
  in->closed = int_field(o, "closed");
  const char *lvl = json_string_value(json_object_get(o, "level"));
  int a = lvl ? conf_action_parse(lvl) : -1;
  in->level = a == ACT_SUSPEND ? ACT_SUSPEND : ACT_HOLD;
  str_field(o, "by", in->by, sizeof in->by);
  str_field(o, "reason", in->reason, sizeof in->reason);
  str_field(o, "client", in->client, sizeof in->client);
  str_field(o, "released_by", in->released_by, sizeof in->released_by);
  in->client_blocked = json_is_true(json_object_get(o, "client_blocked"));
  in->alerted = json_is_true(json_object_get(o, "alerted"));
  in->alerted_suspend = json_is_true(json_object_get(o, "alerted_suspend"));
  in->refused = (uint64_t)int_field(o, "refused");
  in->held = (uint64_t)int_field(o, "held");
  in->released_held = (uint64_t)int_field(o, "released_held");
  in->deleted_held = (uint64_t)int_field(o, "deleted_held");
  in->audit_dropped = (uint32_t)int_field(o, "trail_dropped");
  const json_t *cnt = json_object_get(o, "counts");
  for (size_t i = 0; i < 6; i++) in->counts[i] = i < json_array_size(cnt) ? (int64_t)json_integer_value(json_array_get(cnt, i)) : -1;
  size_t i;
  const json_t *v;
  json_array_foreach(json_object_get(o, "top_domains"), i, v) {
    const char *d = json_string_value(json_object_get(v, "domain"));
    if (d) incident_add_domain(in, d, (uint64_t)json_integer_value(json_object_get(v, "count")));
  }
  json_array_foreach(json_object_get(o, "clients"), i, v) incident_add_client(in, json_string_value(v));
  json_array_foreach(json_object_get(o, "senders"), i, v) incident_add_sender(in, json_string_value(v));
  json_array_foreach(json_object_get(o, "queue_ids"), i, v) incident_add_qid(in, json_string_value(v));
  for (int f = 0; f < FX__N; f++) {
    const json_t *s = json_object_get(json_object_get(o, "effects"), fx_names[f]);
    if (!s) continue;
    const char *st = json_string_value(json_object_get(s, "state"));
    for (int k = 0; st && k <= FXS_FAILED; k++)
      if (!strcmp(st, fxs_names[k])) in->fx[f].state = (uint8_t)k;
    if (in->fx[f].state == FXS_RUNNING) in->fx[f].state = FXS_RETRY; /* cut short by a restart */
    in->fx[f].attempts = (uint16_t)int_field(s, "attempts");
    in->fx[f].at = int_field(s, "at");
    str_field(s, "error", in->fx[f].err, sizeof in->fx[f].err);
  }
  json_array_foreach(json_object_get(o, "trail"), i, v) {
    if (in->naudit == INC_AUDIT_MAX) break;
    struct audit *a2 = &in->audit[in->naudit++];
    a2->at = int_field(v, "at");
    str_field(v, "who", a2->who, sizeof a2->who);
    str_field(v, "what", a2->what, sizeof a2->what);
  }
  return 0;
}
