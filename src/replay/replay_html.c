/* replay_html.c - the replay report as one self-contained HTML page:
 * inline CSS and inline SVG charts, no script and no network asset, so it
 * opens offline and can be mailed around.  Every string from the logs is
 * HTML-escaped (account names and addresses are attacker-controlled). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "replay/replay_facts.h"
#include "replay/replay_run.h"

#define CHART_W 900
#define CHART_H 160
#define CHART_MAX_HOURS (60 * 24)

static void esc(FILE *o, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
      case '<': fputs("&lt;", o); break;
      case '>': fputs("&gt;", o); break;
      case '&': fputs("&amp;", o); break;
      case '"': fputs("&quot;", o); break;
      case '\'': fputs("&#39;", o); break;
      default: fputc(*s, o);
    }
  }
}

static const char *str(json_t *o, const char *k) {
  const char *s = json_string_value(json_object_get(o, k));
  return s ? s : "";
}

static long long num(json_t *o, const char *k) { return json_integer_value(json_object_get(o, k)); }

static int64_t parse_iso(const char *s) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
             &tm.tm_min, &tm.tm_sec) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return (int64_t)timegm(&tm);
}

static const char *action_color(const char *a) {
  if (!strcmp(a, "suspend")) return "#b00020";
  if (!strcmp(a, "hold")) return "#e65100";
  if (!strcmp(a, "throttle")) return "#f9a825";
  return "#1565c0";
}

static unsigned hue_of(const char *s) {
  unsigned h = 5381;
  for (; *s; s++) h = h * 33 + (unsigned char)*s;
  return h % 360;
}

/* Messages per hour as bars, actions as vertical lines, logins as ticks. */
static void chart(FILE *o, json_t *a) {
  json_t *hours = json_object_get(a, "hours"), *h;
  size_t n = json_array_size(hours), i;
  if (!n) return;
  int64_t last = parse_iso(str(json_array_get(hours, n - 1), "hour")) / 3600;
  int64_t first = parse_iso(str(json_array_get(hours, 0), "hour")) / 3600;
  if (last - first >= CHART_MAX_HOURS) first = last - CHART_MAX_HOURS + 1;
  double span = (double)(last - first + 1), bw = CHART_W / span;
  long long max = 1;
  json_array_foreach(hours, i, h) if (num(h, "messages") > max) max = num(h, "messages");
  fprintf(o, "<svg width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n", CHART_W,
          CHART_H + 30, CHART_W, CHART_H + 30);
  fprintf(o, "<rect width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n", CHART_W, CHART_H);
  json_array_foreach(hours, i, h) {
    int64_t hr = parse_iso(str(h, "hour")) / 3600;
    if (hr < first) continue;
    double x = (double)(hr - first) * bw, bh = (double)num(h, "messages") * (CHART_H - 10) / (double)max;
    fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#607d8b\"><title>",
            x, CHART_H - bh, bw > 1.5 ? bw - 0.5 : bw, bh);
    esc(o, str(h, "hour"));
    fprintf(o, ": %lld messages, %lld recipients</title></rect>\n", num(h, "messages"), num(h, "recipients"));
  }
  json_t *marks = json_object_get(a, "actions"), *m;
  json_array_foreach(marks, i, m) {
    double x = (double)(parse_iso(str(m, "at")) / 3600 - first) * bw + bw / 2;
    fprintf(o, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"0\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"><title>",
            x, x, CHART_H, action_color(str(m, "action")));
    esc(o, str(m, "action"));
    fputs(" at ", o);
    esc(o, str(m, "at"));
    fputs(": ", o);
    esc(o, str(m, "reason"));
    fputs("</title></line>\n", o);
  }
  json_t *logins = json_object_get(json_object_get(a, "logins"), "marks"), *l;
  json_array_foreach(logins, i, l) {
    double x = (double)(parse_iso(str(l, "at")) / 3600 - first) * bw + bw / 2;
    fprintf(o, "<path d=\"M%.1f %d l-5 9 h10 z\" fill=\"hsl(%u,70%%,45%%)\" opacity=\"%s\"><title>login %s from ",
            x, CHART_H + 3, hue_of(str(l, "address")), json_is_true(json_object_get(l, "ok")) ? "1" : "0.4",
            json_is_true(json_object_get(l, "ok")) ? "ok" : "FAILED");
    esc(o, str(l, "address"));
    fputs(" at ", o);
    esc(o, str(l, "at"));
    fputs("</title></path>\n", o);
  }
  fprintf(o, "<text x=\"2\" y=\"%d\" font-size=\"11\">", CHART_H + 26);
  esc(o, str(json_array_get(hours, 0), "hour"));
  fprintf(o, "</text><text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"end\">", CHART_W - 2, CHART_H + 26);
  esc(o, str(json_array_get(hours, n - 1), "hour"));
  fprintf(o, " (max %lld/h)</text></svg>\n", max);
}

static void table(FILE *o, json_t *arr, const char *key, const char *title) {
  json_t *it;
  size_t i;
  fprintf(o, "<table><tr><th>%s</th><th>count</th></tr>\n", title);
  json_array_foreach(arr, i, it) {
    fputs("<tr><td>", o);
    esc(o, str(it, key));
    fprintf(o, "</td><td>%lld</td></tr>\n", num(it, "count"));
  }
  fputs("</table>\n", o);
}

static void account(FILE *o, json_t *a) {
  json_t *fa = json_object_get(a, "first_action"), *s = json_object_get(a, "sent"),
         *st = json_object_get(a, "would_have_stopped"), *lg = json_object_get(a, "logins");
  fputs("<section><h2>", o);
  esc(o, str(a, "account"));
  fprintf(o, " <span class=\"act\" style=\"background:%s\">", action_color(str(a, "worst_action")));
  esc(o, str(a, "worst_action"));
  fputs("</span></h2>\n<p>First action: <b>", o);
  esc(o, str(fa, "action"));
  fputs("</b> at ", o);
  esc(o, str(fa, "at"));
  fputs(" &mdash; ", o);
  esc(o, str(fa, "reason"));
  fprintf(o, "</p>\n<p>Sent before: %lld messages, %lld recipients. From then on: %lld messages, "
             "%lld recipients. <b>Would have stopped: %lld messages, %lld recipients.</b> "
             "Logins: %lld ok, %lld failed.</p>\n",
          num(json_object_get(s, "before"), "messages"), num(json_object_get(s, "before"), "recipients"),
          num(json_object_get(s, "from_then_on"), "messages"),
          num(json_object_get(s, "from_then_on"), "recipients"), num(st, "messages"),
          num(st, "recipients"), num(lg, "ok"), num(lg, "failed"));
  chart(o, a);
  fputs("<div class=\"tables\">", o);
  table(o, json_object_get(a, "top_recipient_domains"), "domain", "top recipient domains");
  table(o, json_object_get(a, "client_addresses"), "address", "client addresses");
  fputs("</div></section>\n", o);
}

int replay_report_html(const char *path, struct replay_run *run) {
  FILE *o = fopen(path, "w");
  if (!o) {
    perror(path);
    return -1;
  }
  json_t *f = replay_facts(run), *tot = json_object_get(f, "totals"), *w = json_object_get(f, "window");
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<title>mailfuse replay report</title>\n<style>\n"
        "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:960px}\n"
        "h1{font-size:20px}h2{font-size:16px;margin-bottom:.3em}section{border-top:1px solid #ddd;padding:.5em 0}\n"
        ".act{color:#fff;border-radius:3px;padding:1px 6px;font-size:12px}\n"
        "table{border-collapse:collapse;margin:.5em 1em .5em 0;display:inline-table;vertical-align:top}\n"
        "td,th{border:1px solid #ddd;padding:2px 8px;text-align:left}\n"
        "</style></head><body>\n<h1>mailfuse replay report</h1>\n<p>Config ", o);
  esc(o, str(f, "config"));
  fputs(", window ", o);
  esc(o, str(w, "first"));
  fputs(" .. ", o);
  esc(o, str(w, "last"));
  fprintf(o, ". %lld accounts sent %lld messages; <b>%lld flagged</b>; %lld messages and %lld "
             "recipients would have been stopped.</p>\n<p>Bars: messages per hour. Lines: mailfuse's "
             "actions (hover for the reason). Triangles: logins, one colour per address (faint = failed).</p>\n",
          num(tot, "accounts"), num(tot, "messages"), num(tot, "flagged"), num(tot, "stopped_messages"),
          num(tot, "stopped_recipients"));
  json_t *accts = json_object_get(f, "accounts"), *a;
  size_t i;
  json_array_foreach(accts, i, a) account(o, a);
  fputs("</body></html>\n", o);
  json_decref(f);
  return fclose(o) == 0 ? 0 : -1;
}
