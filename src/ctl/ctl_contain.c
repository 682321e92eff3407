/* ctl_contain.c - `ctl incidents`, `incident ID`, `block`, `unblock`, `blocks` */
#include "ctl/ctl_contain.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "actions/contain.h"
#include "core/isotime.h"
#include "core/log.h"
#include "daemon.h"

static json_t *error_reply(const char *msg) { return json_pack("{s:b,s:s}", "ok", 0, "error", msg); }

static json_t *iso(int64_t t) {
  char buf[ISO_TIME_MAX];
  return json_string(t ? iso_time(t, buf, sizeof buf) : "");
}

/* Unix times of a record as ISO text, for people (--json keeps both). */
static void add_times(json_t *o, const char *const *keys, size_t n) {
  for (size_t i = 0; i < n; i++) {
    json_t *v = json_object_get(o, keys[i]);
    if (json_is_integer(v)) json_object_set_new(o, keys[i], iso((int64_t)json_integer_value(v)));
  }
}

json_t *ctl_incidents(struct daemon *d, json_t *req) {
  bool open_only = json_is_true(json_object_get(req, "open"));
  json_t *a = contain_list_json(d->contain, 100, open_only);
  static const char *const t[] = {"opened", "closed"};
  size_t i;
  json_t *v;
  json_array_foreach(a, i, v) add_times(v, t, 2);
  return json_pack("{s:b,s:o}", "ok", 1, "incidents", a);
}

json_t *ctl_incident(struct daemon *d, json_t *req) {
  json_int_t id = json_integer_value(json_object_get(req, "id"));
  const struct incident *in = id > 0 ? contain_incident(d->contain, (uint64_t)id) : NULL;
  if (!in) return error_reply("no such incident in memory (the last 1000 and all open ones are)");
  json_t *o = incident_to_json(in);
  if (!o) return error_reply("out of memory");
  static const char *const t[] = {"opened", "updated", "closed"};
  add_times(o, t, 3);
  size_t i;
  json_t *v;
  static const char *const at[] = {"at"};
  json_array_foreach(json_object_get(o, "trail"), i, v) add_times(v, at, 1);
  const char *k;
  json_object_foreach(json_object_get(o, "effects"), k, v) add_times(v, at, 1);
  return json_pack("{s:b,s:o}", "ok", 1, "incident", o);
}

int ctl_held_mode(json_t *req) {
  const char *h = json_string_value(json_object_get(req, "held"));
  if (!h) return HELD_KEEP;
  if (!strcmp(h, "release")) return HELD_RELEASE;
  if (!strcmp(h, "delete")) return HELD_DELETE;
  return -1;
}

json_t *ctl_block(struct daemon *d, json_t *req, const char *by) {
  const char *addr = json_string_value(json_object_get(req, "addr"));
  const char *reason = json_string_value(json_object_get(req, "reason"));
  json_t *jf = json_object_get(req, "for");
  json_int_t secs = jf ? json_integer_value(jf) : (json_int_t)d->conf->block_time;
  char canon[48];
  if (!addr || block_canon(addr, canon, sizeof canon) < 0) return error_reply("block needs an IP address");
  if (secs <= 0) return error_reply("--for needs a positive number of seconds");
  struct netaddr a;
  if (netaddr_parse(canon, strlen(canon), &a) == 0 &&
      netmask_list_contains(d->conf->never_nets, d->conf->nnever_nets, &a))
    return error_reply("that address is in never_block (or loopback, or sender_account_networks)");
  int64_t now = daemon_now();
  const struct block *b = engine_block(d->engine, canon, now, now + secs, by, reason ? reason : "by hand");
  if (!b) return error_reply("out of memory");
  log_warn("block", "addr=%s until=+%llds by=%s", canon, (long long)secs, by);
  daemon_persist_block(d, canon);
  contain_block_changed(d->contain, canon, b->until, now);
  return json_pack("{s:b,s:s,s:o}", "ok", 1, "addr", canon, "until", iso(b->until));
}

json_t *ctl_unblock(struct daemon *d, json_t *req, const char *by) {
  const char *addr = json_string_value(json_object_get(req, "addr"));
  char canon[48];
  if (!addr || block_canon(addr, canon, sizeof canon) < 0) return error_reply("unblock needs an IP address");
  if (!engine_unblock(d->engine, canon)) return error_reply("that address is not blocked");
  log_warn("unblock", "addr=%s by=%s", canon, by);
  daemon_persist_block(d, canon);
  contain_block_changed(d->contain, canon, 0, daemon_now());
  return json_pack("{s:b,s:s,s:s}", "ok", 1, "addr", canon, "state", "unblocked");
}

json_t *ctl_blocks(struct daemon *d, json_t *req) {
  json_t *a = json_array();
  size_t pos = 0;
  const struct block *b;
  int64_t now = daemon_now();
  while ((b = blocktab_next(engine_blocks(d->engine), &pos)))
    if (b->until > now)
      json_array_append_new(a, json_pack("{s:s,s:o,s:o,s:s,s:s}", "addr", b->addr, "since",
                                         iso(b->since), "until", iso(b->until), "by", b->by,
                                         "reason", b->reason));
  return json_pack("{s:b,s:o}", "ok", 1, "blocks", a);
}
