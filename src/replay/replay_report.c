/* replay_report.c - the replay's facts as text and as JSON.
 * The JSON (replay_facts) is the one source for the JSON file and the HTML page. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/isotime.h"
#include "replay/replay_facts.h"
#include "replay/replay_run.h"


static json_t *topk_json(const struct topk *t, const char *name) {
  json_t *a = json_array();
  for (size_t i = 0; t && i < t->n && i < 10; i++)
    json_array_append_new(a, json_pack("{s:s,s:I}", name, t->items[i].key, "count",
                                       (json_int_t)t->items[i].count));
  return a;
}

static json_t *decisions_json(const struct acct_stats *a) {
  json_t *o = json_object();
  for (int i = 0; i < ACT__N; i++)
    if (a->decisions[i]) json_object_set_new(o, conf_action_name((enum action)i), json_integer((json_int_t)a->decisions[i]));
  return o;
}

/* The first hold or suspend: what got out before it (null if never). */
static json_t *containment_json(const struct acct_stats *a) {
  char ts[32];
  if (!a->contained_ts) return json_null();
  return json_pack("{s:s,s:s,s:I,s:I}", "action", conf_action_name(a->contained_action), "at",
                   iso_time(a->contained_ts, ts, sizeof ts), "messages_before",
                   (json_int_t)a->msgs_before_containment, "recipients_before",
                   (json_int_t)a->rcpts_before_containment);
}

static json_t *acct_json(const struct acct_stats *a) {
  char ts[32];
  json_t *marks = json_array(), *logins = json_array(), *hours = json_array();
  for (size_t i = 0; i < a->nmarks; i++)
    json_array_append_new(marks, json_pack("{s:s,s:s,s:s}", "at", iso_time(a->marks[i].ts, ts, sizeof ts),
                                           "action", conf_action_name(a->marks[i].action), "reason",
                                           a->marks[i].reason));
  for (size_t i = 0; i < a->nlogins; i++)
    json_array_append_new(logins, json_pack("{s:s,s:s,s:b}", "at", iso_time(a->logins[i].ts, ts, sizeof ts),
                                            "address", a->logins[i].ip, "ok", a->logins[i].ok));
  for (size_t i = 0; i < a->nhours; i++)
    json_array_append_new(hours, json_pack("{s:s,s:i,s:i}", "hour",
                                           iso_time(a->hours[i].hour * 3600, ts, sizeof ts),
                                           "messages", a->hours[i].msgs, "recipients", a->hours[i].rcpts));
  char first[32];
  return json_pack(
      "{s:s,s:{s:s,s:s,s:s},s:s,s:{s:{s:I,s:I},s:{s:I,s:I}},s:{s:I,s:I},s:{s:I,s:I,s:o},"
      "s:o,s:o,s:o,s:o,s:o,s:o}",
      "account", a->account, "first_action", "action", conf_action_name(a->first_action), "at",
      iso_time(a->first_action_ts, first, sizeof first), "reason",
      a->nmarks ? a->marks[0].reason : "", "worst_action", conf_action_name(a->worst_action), "sent",
      "before", "messages", (json_int_t)a->msgs_before, "recipients", (json_int_t)a->rcpts_before,
      "from_then_on", "messages", (json_int_t)(a->msgs - a->msgs_before), "recipients",
      (json_int_t)(a->rcpts - a->rcpts_before), "would_have_stopped", "messages",
      (json_int_t)a->stopped_msgs, "recipients", (json_int_t)a->stopped_rcpts, "logins", "ok",
      (json_int_t)a->logins_ok, "failed", (json_int_t)a->logins_fail, "marks", logins, "actions",
      marks, "hours", hours, "top_recipient_domains", topk_json(a->domains, "domain"),
      "client_addresses", topk_json(a->clients, "address"), "decisions", decisions_json(a),
      "containment", containment_json(a));
}

json_t *replay_facts(struct replay_run *run) {
  char a[32], b[32];
  size_t n;
  struct acct_stats **fl = replay_stats_flagged(run->stats, &n);
  json_t *accts = json_array(), *unp = json_object(), *inputs = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(accts, acct_json(fl[i]));
  for (int m = LM_FRAME; m < LM__N; m++)
    if (m != LM_OTHER_PROGRAM && run->unparsed[m])
      json_object_set_new(unp, logparse_miss_name((enum logparse_miss)m), json_integer((json_int_t)run->unparsed[m]));
  for (int i = 0; i < run->ninputs; i++) json_array_append_new(inputs, json_string(run->inputs[i]));
  uint64_t accounts, msgs, smsgs, srcpts;
  replay_stats_totals(run->stats, &accounts, &msgs, &smsgs, &srcpts);
  return json_pack(
      "{s:s,s:o,s:{s:s,s:s},s:{s:I,s:I,s:I,s:I,s:I,s:o},s:{s:I,s:I,s:I,s:I,s:I},s:{s:f,s:I},s:o}",
      "config", run->config, "inputs", inputs, "window", "first", iso_time(run->first_ts, a, sizeof a),
      "last", iso_time(run->last_ts, b, sizeof b), "lines", "read", (json_int_t)run->lines,
      "parsed", (json_int_t)run->parsed, "events", (json_int_t)run->events, "other_programs",
      (json_int_t)run->not_ours, "outside_window", (json_int_t)run->outside, "unparsed", unp,
      "totals", "accounts", (json_int_t)accounts, "messages", (json_int_t)msgs, "flagged",
      (json_int_t)n, "stopped_messages", (json_int_t)smsgs, "stopped_recipients",
      (json_int_t)srcpts, "speed", "seconds", run->seconds, "lines_per_second",
      (json_int_t)(run->seconds > 0 ? (double)run->lines / run->seconds : 0), "accounts", accts);
}

static void text_account(FILE *out, json_t *a) {
  json_t *fa = json_object_get(a, "first_action");
  fprintf(out, "\n%s: %s at %s (%s); worst: %s\n", json_string_value(json_object_get(a, "account")),
          json_string_value(json_object_get(fa, "action")), json_string_value(json_object_get(fa, "at")),
          json_string_value(json_object_get(fa, "reason")),
          json_string_value(json_object_get(a, "worst_action")));
  json_t *s = json_object_get(a, "sent"), *st = json_object_get(a, "would_have_stopped");
  fprintf(out, "  sent before: %lld messages, %lld recipients; from then on: %lld messages, %lld recipients\n",
          json_integer_value(json_object_get(json_object_get(s, "before"), "messages")),
          json_integer_value(json_object_get(json_object_get(s, "before"), "recipients")),
          json_integer_value(json_object_get(json_object_get(s, "from_then_on"), "messages")),
          json_integer_value(json_object_get(json_object_get(s, "from_then_on"), "recipients")));
  fprintf(out, "  would have stopped: %lld messages, %lld recipients\n",
          json_integer_value(json_object_get(st, "messages")),
          json_integer_value(json_object_get(st, "recipients")));
  const char *lists[][2] = {{"top_recipient_domains", "domain"}, {"client_addresses", "address"}};
  for (int l = 0; l < 2; l++) {
    json_t *arr = json_object_get(a, lists[l][0]), *it;
    size_t i;
    fprintf(out, "  %s:", lists[l][0]);
    json_array_foreach(arr, i, it) {
      if (i == 5) break;
      fprintf(out, " %s (%lld)", json_string_value(json_object_get(it, lists[l][1])),
              json_integer_value(json_object_get(it, "count")));
    }
    fputc('\n', out);
  }
}

void replay_report_text(FILE *out, struct replay_run *run) {
  json_t *f = replay_facts(run);
  json_t *lines = json_object_get(f, "lines"), *tot = json_object_get(f, "totals"), *w = json_object_get(f, "window");
  fprintf(out, "mailfuse replay: config %s, %d input(s), %s .. %s\n", run->config, run->ninputs,
          json_string_value(json_object_get(w, "first")), json_string_value(json_object_get(w, "last")));
  json_t *accts = json_object_get(f, "accounts"), *a;
  size_t i;
  fprintf(out, "accounts mailfuse would have acted on: %zu\n", json_array_size(accts));
  json_array_foreach(accts, i, a) text_account(out, a);
  fprintf(out, "\ntotals: %lld accounts sent %lld messages; %lld flagged; %lld messages and %lld "
               "recipients would have been stopped\n",
          json_integer_value(json_object_get(tot, "accounts")), json_integer_value(json_object_get(tot, "messages")),
          json_integer_value(json_object_get(tot, "flagged")),
          json_integer_value(json_object_get(tot, "stopped_messages")),
          json_integer_value(json_object_get(tot, "stopped_recipients")));
  fprintf(out, "lines: %lld read, %lld parsed (%lld events), %lld from programs mailfuse does not read, "
               "%lld outside --since/--until; %.2f s\n",
          json_integer_value(json_object_get(lines, "read")), json_integer_value(json_object_get(lines, "parsed")),
          json_integer_value(json_object_get(lines, "events")),
          json_integer_value(json_object_get(lines, "other_programs")),
          json_integer_value(json_object_get(lines, "outside_window")), run->seconds);
  json_t *unp = json_object_get(lines, "unparsed"), *v;
  const char *k;
  fprintf(out, "unparsed lines by kind:%s", json_object_size(unp) ? "" : " none");
  json_object_foreach(unp, k, v) fprintf(out, " %s %lld", k, json_integer_value(v));
  fprintf(out, "%s\n", json_object_size(unp) ? " (--unparsed FILE writes them out)" : "");
  json_decref(f);
}

int replay_report_json(const char *path, struct replay_run *run) {
  json_t *f = replay_facts(run);
  int rc = json_dump_file(f, path, JSON_INDENT(1));
  json_decref(f);
  if (rc < 0) fprintf(stderr, "mailfuse replay: cannot write %s\n", path);
  return rc;
}
