/* conf_limits.c - the sections of the config: limits, groups, exemptions.
 *
 * Each entry is checked against its field table (conf_schema.c) so a typo
 * in a field name is an error with its line, not a silently ignored limit.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf_internal.h"
#include "core/numparse.h"

static int pick(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

static char *lower_dup(const char *s) {
  char *d = strdup(s);
  for (char *p = d; p && *p; p++) *p = (char)tolower((unsigned char)*p);
  return d;
}

static int parse_one_limit(config_setting_t *s, struct limit *l, struct conf_err *e) {
  static const char *const pers[] = {"account", "sender_domain", "client_address"};
  static const char *const mets[] = {"messages", "recipients", "external_recipients", "throttled"};
  static const char *const wins[] = {"minute", "hour", "day"};
  const char *name = NULL, *per = NULL, *count = NULL, *win = NULL, *act = NULL, *text = NULL;
  long long max = -1;
  int shadow = 0;
  l->line = config_setting_source_line(s);
  if (conf_check_fields(s, conf_limit_fields, conf_nlimit_fields, "limit", e) < 0) return -1;
  if (!config_setting_lookup_string(s, "name", &name) || !*name)
    return conf_fail(e, l->line, "limit: name must be a non-empty string");
  l->name = strdup(name);
  int ip, im, iw;
  if (!config_setting_lookup_string(s, "per", &per) || (ip = pick(per, pers, 3)) < 0)
    return conf_fail(e, l->line, "limit %s: per must be account, sender_domain or client_address",
                     name);
  l->per = (enum limit_per)ip;
  if (!config_setting_lookup_string(s, "count", &count) || (im = pick(count, mets, 4)) < 0)
    return conf_fail(e, l->line,
                     "limit %s: count must be messages, recipients, external_recipients or "
                     "throttled", name);
  l->metric = (enum metric)im;
  if (!config_setting_lookup_string(s, "window", &win) || (iw = pick(win, wins, 3)) < 0)
    return conf_fail(e, l->line, "limit %s: window must be minute, hour or day", name);
  l->win = (enum window_kind)iw;
  if (!config_setting_lookup_int64(s, "max", &max) || max < 0 || max > 0xffffffffLL)
    return conf_fail(e, l->line, "limit %s: max must be an integer from 0 to 4294967295", name);
  l->max = (uint64_t)max;
  int a;
  if (!config_setting_lookup_string(s, "action", &act) || (a = conf_action_parse(act)) < 0)
    return conf_fail(e, l->line, "limit %s: action must be alert, throttle, hold or suspend",
                     name);
  l->action = (enum action)a;
  config_setting_t *sh = config_setting_get_member(s, "shadow");
  if (sh) {
    if (config_setting_type(sh) != CONFIG_TYPE_BOOL)
      return conf_fail(e, l->line, "limit %s: shadow must be true or false", name);
    shadow = config_setting_get_bool(sh);
  }
  l->shadow = shadow;
  if (config_setting_get_member(s, "text")) {
    if (!config_setting_lookup_string(s, "text", &text) || strchr(text, '\n'))
      return conf_fail(e, l->line, "limit %s: text must be a one-line string", name);
    l->text = strdup(text);
  }
  return 0;
}

static int parse_limit_list(config_setting_t *list, struct limit_set *ls, bool account_only,
                            struct conf_err *e) {
  int n = config_setting_length(list);
  ls->v = calloc((size_t)n + 1, sizeof *ls->v);
  ls->n = 0;
  for (int i = 0; i < n; i++) {
    struct limit *l = &ls->v[ls->n++];
    if (parse_one_limit(config_setting_get_elem(list, (unsigned)i), l, e) < 0) return -1;
    if (account_only && l->per != PER_ACCOUNT)
      return conf_fail(e, l->line, "limit %s: group limits must be per account", l->name);
    for (size_t j = 0; j + 1 < ls->n; j++)
      if (strcmp(ls->v[j].name, l->name) == 0)
        return conf_fail(e, l->line, "limit %s: name already used on line %d", l->name,
                         ls->v[j].line);
  }
  return 0;
}

int conf_parse_limits(struct conf *c, config_setting_t *s, struct conf_err *e) {
  return parse_limit_list(s, &c->limits, false, e);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_members(struct group *g, config_setting_t *m, struct conf_err *e) {
  int line = config_setting_source_line(m);
  if (config_setting_type(m) != CONFIG_TYPE_ARRAY && config_setting_type(m) != CONFIG_TYPE_LIST)
    return conf_fail(e, line, "group %s: members must be a list of strings", g->name);
  int n = config_setting_length(m);
  g->accounts = calloc((size_t)n + 1, sizeof *g->accounts);
  g->domains = calloc((size_t)n + 1, sizeof *g->domains);
  for (int i = 0; i < n; i++) {
    const char *v = config_setting_get_string_elem(m, i);
    if (!v || !*v) return conf_fail(e, line, "group %s: member %d is not a string", g->name, i + 1);
    if (v[0] == '@') {
      if (!v[1]) return conf_fail(e, line, "group %s: '@' needs a domain", g->name);
      g->domains[g->ndomains++] = lower_dup(v + 1);
    } else {
      g->accounts[g->naccounts++] = lower_dup(v);
    }
  }
  if (g->naccounts) qsort(g->accounts, g->naccounts, sizeof *g->accounts, cmp_str);
  return 0;
}

int conf_parse_groups(struct conf *c, config_setting_t *s, struct conf_err *e) {
  int n = config_setting_length(s);
  c->groups = calloc((size_t)n + 1, sizeof *c->groups);
  for (int i = 0; i < n; i++) {
    config_setting_t *gs = config_setting_get_elem(s, (unsigned)i);
    struct group *g = &c->groups[c->ngroups++];
    g->line = config_setting_source_line(gs);
    if (conf_check_fields(gs, conf_group_fields, conf_ngroup_fields, "group", e) < 0) return -1;
    const char *name;
    if (!config_setting_lookup_string(gs, "name", &name) || !*name)
      return conf_fail(e, g->line, "group: name must be a non-empty string");
    g->name = strdup(name);
    for (size_t j = 0; j + 1 < c->ngroups; j++)
      if (strcmp(c->groups[j].name, name) == 0)
        return conf_fail(e, g->line, "group %s: name already used", name);
    if (parse_members(g, config_setting_get_member(gs, "members"), e) < 0) return -1;
    config_setting_t *ls = config_setting_get_member(gs, "limits");
    if (ls) {
      if (config_setting_type(ls) != CONFIG_TYPE_LIST)
        return conf_fail(e, g->line, "group %s: limits must be a list ( { ... } )", name);
      if (parse_limit_list(ls, &g->limits, true, e) < 0) return -1;
    }
  }
  return 0;
}

static int cmp_exempt(const void *a, const void *b) {
  return strcmp(((const struct exemption *)a)->account, ((const struct exemption *)b)->account);
}

int conf_parse_exemptions(struct conf *c, config_setting_t *s, struct conf_err *e) {
  int n = config_setting_length(s);
  c->exemptions = calloc((size_t)n + 1, sizeof *c->exemptions);
  for (int i = 0; i < n; i++) {
    config_setting_t *xs = config_setting_get_elem(s, (unsigned)i);
    struct exemption *x = &c->exemptions[c->nexemptions++];
    x->line = config_setting_source_line(xs);
    if (conf_check_fields(xs, conf_exemption_fields, conf_nexemption_fields, "exemption", e) < 0)
      return -1;
    const char *acct, *until = NULL, *reason = NULL;
    if (!config_setting_lookup_string(xs, "account", &acct) || !*acct)
      return conf_fail(e, x->line, "exemption: account must be a non-empty string");
    x->account = lower_dup(acct);
    if (config_setting_get_member(xs, "until") &&
        (!config_setting_lookup_string(xs, "until", &until) ||
         num_parse_date(until, &x->until) < 0))
      return conf_fail(e, x->line,
                       "exemption %s: until must be \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\"",
                       acct);
    if (config_setting_lookup_string(xs, "reason", &reason)) x->reason = strdup(reason);
  }
  if (c->nexemptions) qsort(c->exemptions, c->nexemptions, sizeof *c->exemptions, cmp_exempt);
  for (size_t i = 1; i < c->nexemptions; i++)
    if (strcmp(c->exemptions[i - 1].account, c->exemptions[i].account) == 0)
      return conf_fail(e, c->exemptions[i].line, "exemption %s: listed twice",
                       c->exemptions[i].account);
  return 0;
}

void conf_free_limit_set(struct limit_set *ls) {
  for (size_t i = 0; i < ls->n; i++) {
    free(ls->v[i].name);
    free(ls->v[i].text);
  }
  free(ls->v);
  ls->v = NULL;
  ls->n = 0;
}

void conf_free_sections(struct conf *c) {
  conf_free_limit_set(&c->limits);
  for (size_t g = 0; g < c->ngroups; g++) {
    struct group *gr = &c->groups[g];
    free(gr->name);
    for (size_t i = 0; i < gr->naccounts; i++) free(gr->accounts[i]);
    for (size_t i = 0; i < gr->ndomains; i++) free(gr->domains[i]);
    free(gr->accounts);
    free(gr->domains);
    conf_free_limit_set(&gr->limits);
  }
  free(c->groups);
  for (size_t i = 0; i < c->nexemptions; i++) {
    free(c->exemptions[i].account);
    free(c->exemptions[i].reason);
  }
  free(c->exemptions);
}

static void add_slots(uint16_t *mask, const struct limit_set *ls) {
  for (size_t i = 0; i < ls->n; i++)
    mask[ls->v[i].per] |= (uint16_t)(1u << (ls->v[i].metric * WIN__N + ls->v[i].win));
}

void conf_derive_slots(struct conf *c) {
  memset(c->slot_mask, 0, sizeof c->slot_mask);
  add_slots(c->slot_mask, &c->limits);
  for (size_t g = 0; g < c->ngroups; g++) add_slots(c->slot_mask, &c->groups[g].limits);
  /* accounts always keep messages and recipients per window for `ctl show`
   * and, later, the risk profile; cheap next to what they explain */
  c->slot_mask[PER_ACCOUNT] |= (uint16_t)((1u << (MET_MESSAGES * WIN__N + WIN_MINUTE)) |
                                          (1u << (MET_MESSAGES * WIN__N + WIN_HOUR)) |
                                          (1u << (MET_MESSAGES * WIN__N + WIN_DAY)));
}
