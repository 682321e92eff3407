/* conf.c - load, validate and free the configuration.
 *
 * A config is built completely into a fresh struct conf, checked, and only
 * then handed out; a reload swaps one pointer, so a bad file never leaves a
 * half-applied config.  Every key is looked up in conf_keys[] (conf_schema.c):
 * unknown keys are errors, not silently ignored.  Errors read "file:line: why".
 */
#include "core/conf.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf_internal.h"
#include "core/numparse.h"

int conf_fail(struct conf_err *e, int line, const char *fmt, ...) {
  if (e->buf[0]) return -1;
  int n = snprintf(e->buf, e->len, "%s:%d: ", e->file, line);
  if (n < 0 || (size_t)n >= e->len) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
  va_end(ap);
  return -1;
}

int conf_check_fields(config_setting_t *s, const struct conf_field *f, size_t n,
                      const char *what, struct conf_err *e) {
  if (!config_setting_is_group(s))
    return conf_fail(e, config_setting_source_line(s), "each %s must be a { ... } group", what);
  for (int i = 0; i < config_setting_length(s); i++) {
    config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
    const char *name = config_setting_name(m);
    size_t k = 0;
    while (k < n && strcmp(f[k].name, name) != 0) k++;
    if (k == n)
      return conf_fail(e, config_setting_source_line(m), "unknown %s field '%s'", what, name);
  }
  for (size_t k = 0; k < n; k++)
    if (f[k].required && !config_setting_get_member(s, f[k].name))
      return conf_fail(e, config_setting_source_line(s), "%s lacks required field '%s'", what,
                       f[k].name);
  return 0;
}

static void free_strlist(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int parse_int_text(const char *s, int64_t *out) {
  uint64_t v;
  int neg = s[0] == '-';
  const char *d = s + neg;
  if (d[0] == '0' && d[1]) { /* octal, for modes such as 0600 */
    char *end;
    unsigned long long o = strtoull(d, &end, 8);
    if (*end) return -1;
    v = o;
  } else if (num_parse_u64(d, strlen(d), INT64_MAX, &v) < 0) {
    return -1;
  }
  *out = neg ? -(int64_t)v : (int64_t)v;
  return 0;
}

static int parse_double_text(const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end) return -1;
  *out = v;
  return 0;
}

/* Set a scalar key from its text form (defaults, and string values in files). */
static int set_text(const struct conf_key *k, struct conf *c, const char *text, int line,
                    struct conf_err *e) {
  char *base = (char *)c;
  if (k->choices) {
    size_t tl = strlen(text);
    const char *p = k->choices;
    int ok = 0;
    while (*p && !ok) {
      const char *bar = strchr(p, '|');
      size_t l = bar ? (size_t)(bar - p) : strlen(p);
      ok = l == tl && strncmp(p, text, l) == 0;
      p += l + (bar != NULL);
    }
    if (!ok) return conf_fail(e, line, "%s: '%s' is not one of %s", k->name, text, k->choices);
  }
  switch (k->type) {
    case KT_STR: {
      char **dst = (char **)(base + k->off);
      free(*dst);
      *dst = strdup(text);
      return 0;
    }
    case KT_BOOL: {
      bool *dst = (bool *)(base + k->off);
      if (!strcmp(text, "true") || !strcmp(text, "yes")) *dst = true;
      else if (!strcmp(text, "false") || !strcmp(text, "no")) *dst = false;
      else return conf_fail(e, line, "%s: '%s' is not a boolean", k->name, text);
      return 0;
    }
    case KT_INT: {
      int64_t v;
      if (parse_int_text(text, &v) < 0)
        return conf_fail(e, line, "%s: '%s' is not an integer", k->name, text);
      if (v < k->min || (k->max > 0 && v > k->max))
        return conf_fail(e, line, "%s: %s is out of bounds [%.0f, %.0f]", k->name, text, k->min,
                         k->max);
      *(int64_t *)(base + k->off) = v;
      return 0;
    }
    case KT_NUMBER:
    case KT_SECONDS: {
      double v;
      if (parse_double_text(text, &v) < 0)
        return conf_fail(e, line, "%s: '%s' is not a number%s", k->name, text,
                         k->type == KT_SECONDS ? " of seconds" : "");
      if (v < k->min || (k->max > 0 && v > k->max))
        return conf_fail(e, line, "%s: %s is out of bounds [%g, %g]", k->name, text, k->min,
                         k->max);
      *(double *)(base + k->off) = v;
      return 0;
    }
    case KT_SIZE: {
      uint64_t v;
      if (num_parse_size(text, &v) < 0)
        return conf_fail(e, line, "%s: '%s' is not a size (like 64M)", k->name, text);
      if (v < k->min) return conf_fail(e, line, "%s: %s is too small", k->name, text);
      *(uint64_t *)(base + k->off) = v;
      return 0;
    }
    case KT_STRLIST: {
      char ***dst = (char ***)(base + k->off);
      size_t *cnt = (size_t *)(base + k->count_off);
      free_strlist(*dst, *cnt);
      *dst = NULL;
      *cnt = 0;
      const char *p = text;
      while (*p) {
        const char *comma = strchr(p, ',');
        size_t l = comma ? (size_t)(comma - p) : strlen(p);
        char **nv = realloc(*dst, (*cnt + 1) * sizeof *nv);
        if (!nv) return conf_fail(e, line, "out of memory");
        *dst = nv;
        (*dst)[(*cnt)++] = strndup(p, l);
        p += l + (comma != NULL);
      }
      return 0;
    }
    case KT_SECTION:
      break;
  }
  return conf_fail(e, line, "%s: internal: bad key type", k->name);
}

static int set_from_setting(const struct conf_key *k, struct conf *c, config_setting_t *s,
                            struct conf_err *e) {
  int line = config_setting_source_line(s);
  int t = config_setting_type(s);
  char num[64];
  if (k->type == KT_SECTION) {
    if (t != CONFIG_TYPE_LIST)
      return conf_fail(e, line, "%s must be a list: %s = ( { ... }, ... );", k->name, k->name);
    return k->section(c, s, e);
  }
  if (k->type == KT_STRLIST) {
    if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
      return conf_fail(e, line, "%s must be a list of strings: [ \"a\", \"b\" ]", k->name);
    char ***dst = (char ***)((char *)c + k->off);
    size_t *cnt = (size_t *)((char *)c + k->count_off);
    free_strlist(*dst, *cnt);
    int n = config_setting_length(s);
    *dst = calloc((size_t)n + 1, sizeof **dst);
    *cnt = 0;
    for (int i = 0; i < n; i++) {
      const char *v = config_setting_get_string_elem(s, i);
      if (!v) return conf_fail(e, line, "%s: element %d is not a string", k->name, i + 1);
      (*dst)[(*cnt)++] = strdup(v);
    }
    return 0;
  }
  switch (t) {
    case CONFIG_TYPE_STRING:
      return set_text(k, c, config_setting_get_string(s), line, e);
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
      snprintf(num, sizeof num, "%lld", (long long)config_setting_get_int64(s));
      if (k->type == KT_INT && config_setting_get_format(s) == CONFIG_FORMAT_HEX)
        return conf_fail(e, line, "%s: write the mode in octal as a string: \"0600\"", k->name);
      return set_text(k, c, num, line, e);
    case CONFIG_TYPE_FLOAT:
      if (k->type != KT_SECONDS && k->type != KT_NUMBER)
        return conf_fail(e, line, "%s: a fraction is not allowed here", k->name);
      snprintf(num, sizeof num, "%.17g", config_setting_get_float(s));
      return set_text(k, c, num, line, e);
    case CONFIG_TYPE_BOOL:
      if (k->type != KT_BOOL) return conf_fail(e, line, "%s: not a boolean key", k->name);
      return set_text(k, c, config_setting_get_bool(s) ? "true" : "false", line, e);
    default:
      return conf_fail(e, line, "%s: wrong kind of value", k->name);
  }
}

int conf_parse_tz(const char *s, int *offset) {
  if (!strcmp(s, "local")) {
    *offset = INT32_MIN;
    return 0;
  }
  if (!strcmp(s, "UTC") || !strcmp(s, "Z")) {
    *offset = 0;
    return 0;
  }
  uint64_t hh, mm;
  if ((s[0] != '+' && s[0] != '-') || strlen(s) != 5 || num_parse_u64(s + 1, 2, 14, &hh) < 0 ||
      num_parse_u64(s + 3, 2, 59, &mm) < 0)
    return -1;
  *offset = (s[0] == '-' ? -1 : 1) * (int)(hh * 3600 + mm * 60);
  return 0;
}

static struct conf *new_defaults(struct conf_err *e) {
  struct conf *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  for (size_t i = 0; i < conf_nkeys; i++)
    if (conf_keys[i].type != KT_SECTION && set_text(&conf_keys[i], c, conf_keys[i].def, 0, e) < 0) {
      conf_free(c);
      return NULL;
    }
  return c;
}

static int valid_action_text(const char *a) {
  static const char *const words[] = {"DUNNO", "OK", "DEFER_IF_PERMIT", "DEFER", "REJECT",
                                      "HOLD", "WARN", "INFO", "DEFER_IF_REJECT"};
  size_t wl = strcspn(a, " ");
  for (size_t i = 0; i < sizeof words / sizeof *words; i++)
    if (strlen(words[i]) == wl && strncmp(a, words[i], wl) == 0) return 1;
  return wl == 3 && (a[0] == '4' || a[0] == '5') && isdigit((unsigned char)a[1]) &&
         isdigit((unsigned char)a[2]);
}

/* Cross-key checks and derived values, after all keys are in. */
static int finish(struct conf *c, struct conf_err *e) {
  if (c->nlisten == 0) return conf_fail(e, 0, "listen: at least one listener is needed");
  for (size_t i = 0; i < c->nlisten; i++)
    if (strncmp(c->listen[i], "inet:", 5) != 0 && strncmp(c->listen[i], "unix:/", 6) != 0)
      return conf_fail(e, 0, "listen: '%s' is neither inet:HOST:PORT nor unix:/path",
                       c->listen[i]);
  if (!valid_action_text(c->fail_action) || strchr(c->fail_action, '\n'))
    return conf_fail(e, 0, "fail_action: '%s' is not a Postfix access(5) action",
                     c->fail_action);
  if (c->store_map_size > c->store_map_size_max)
    return conf_fail(e, 0, "store_map_size is larger than store_map_size_max");
  for (size_t i = 0; i < c->nlocal_domains; i++)
    for (char *p = c->local_domains[i]; *p; p++) *p = (char)tolower((unsigned char)*p);
  if (c->nlocal_domains)
    qsort(c->local_domains, c->nlocal_domains, sizeof *c->local_domains, cmp_str);
  free(c->sender_nets);
  c->sender_nets = calloc(c->nsender_account_networks + 1, sizeof *c->sender_nets);
  for (size_t i = 0; i < c->nsender_account_networks; i++)
    if (netmask_parse(c->sender_account_networks[i], &c->sender_nets[i]) < 0)
      return conf_fail(e, 0, "sender_account_networks: '%s' is not an address or CIDR network",
                       c->sender_account_networks[i]);
  c->charge_at_data = strcmp(c->charge_at, "data") == 0;
  if (conf_parse_tz(c->log_timezone, &c->log_tz_offset) < 0)
    return conf_fail(e, 0, "log_timezone: '%s' is not local, UTC or +HHMM", c->log_timezone);
  conf_derive_slots(c);
  if (!(c->score_alert <= c->score_throttle && c->score_throttle <= c->score_hold &&
        c->score_hold <= c->score_suspend))
    return conf_fail(e, 0, "score thresholds must rise: alert <= throttle <= hold <= suspend");
  for (size_t i = 0; i < c->nscore_shadow; i++)
    if (conf_action_parse(c->score_shadow[i]) < 0)
      return conf_fail(e, 0, "score_shadow: '%s' is not alert, throttle, hold or suspend", c->score_shadow[i]);
  if (c->site_country[0] && strlen(c->site_country) != 2)
    return conf_fail(e, 0, "site_country: '%s' is not a two-letter country code", c->site_country);
  return conf_finish_actions(c, e);
}

struct conf *conf_defaults(void) {
  char buf[256] = "";
  struct conf_err e = {"(defaults)", buf, sizeof buf};
  struct conf *c = new_defaults(&e);
  if (c && finish(c, &e) < 0) {
    conf_free(c);
    return NULL;
  }
  return c;
}

/* Build a conf from a parsed libconfig tree; NULL with e set on error. */
static struct conf *conf_from_tree(config_t *cf, struct conf_err *e) {
  struct conf *c = new_defaults(e);
  config_setting_t *root = config_root_setting(cf);
  for (int i = 0; c && i < config_setting_length(root); i++) {
    config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
    const char *name = config_setting_name(s);
    size_t k = 0;
    while (k < conf_nkeys && strcmp(conf_keys[k].name, name) != 0) k++;
    int rc = k == conf_nkeys
                 ? conf_fail(e, config_setting_source_line(s), "unknown key '%s'", name)
                 : set_from_setting(&conf_keys[k], c, s, e);
    if (rc < 0) {
      conf_free(c);
      c = NULL;
    }
  }
  if (c && finish(c, e) < 0) {
    conf_free(c);
    c = NULL;
  }
  return c;
}

static void syntax_error(config_t *cf, const char *file, char *err, size_t errlen) {
  if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
    snprintf(err, errlen, "%s:0: cannot read the file", file);
  else
    snprintf(err, errlen, "%s:%d: %s", config_error_file(cf) ? config_error_file(cf) : file,
             config_error_line(cf), config_error_text(cf));
}

struct conf *conf_load(const char *file, char *err, size_t errlen) {
  err[0] = 0;
  struct conf_err e = {file, err, errlen};
  config_t cf;
  config_init(&cf);
  struct conf *c = NULL;
  if (config_read_file(&cf, file) != CONFIG_TRUE) syntax_error(&cf, file, err, errlen);
  else if ((c = conf_from_tree(&cf, &e))) c->path = strdup(file);
  config_destroy(&cf);
  return c;
}

int conf_peek_control_socket(const char *file, char *out, size_t len) {
  config_t cf;
  config_init(&cf);
  const char *v = NULL;
  int rc = -1;
  if (config_read_file(&cf, file) == CONFIG_TRUE) {
    for (size_t i = 0; i < conf_nkeys; i++)
      if (!strcmp(conf_keys[i].name, "control_socket")) v = conf_keys[i].def;
    (void)config_lookup_string(&cf, "control_socket", &v);
    rc = snprintf(out, len, "%s", v) < (int)len ? 0 : -1;
  }
  config_destroy(&cf);
  return rc;
}

struct conf *conf_load_text(const char *text, const char *name, char *err, size_t errlen) {
  err[0] = 0;
  struct conf_err e = {name, err, errlen};
  config_t cf;
  config_init(&cf);
  /* no @include from text: a config given as text must not read files */
  config_set_include_dir(&cf, "/nonexistent");
  struct conf *c = NULL;
  if (config_read_string(&cf, text) != CONFIG_TRUE) syntax_error(&cf, name, err, errlen);
  else c = conf_from_tree(&cf, &e);
  config_destroy(&cf);
  return c;
}

void conf_free(struct conf *c) {
  if (!c) return;
  for (size_t i = 0; i < conf_nkeys; i++) {
    const struct conf_key *k = &conf_keys[i];
    if (k->type == KT_STR) free(*(char **)((char *)c + k->off));
    if (k->type == KT_STRLIST)
      free_strlist(*(char ***)((char *)c + k->off), *(size_t *)((char *)c + k->count_off));
  }
  free(c->sender_nets);
  free(c->never_nets);
  free(c->webmail_nets);
  conf_free_sections(c);
  free(c->path);
  free(c);
}

int conf_account_name(const struct conf *c, const char *raw, size_t rawlen, char *out, size_t len) {
  size_t o = 0;
  int trunc = 0;
  for (size_t i = 0; i < rawlen; i++) {
    if (o + 1 >= len) {
      trunc = 1;
      break;
    }
    out[o++] = (char)tolower((unsigned char)raw[i]);
  }
  out[o] = 0;
  if (o && *c->account_domain && !memchr(out, '@', o)) { /* once per request: no printf */
    const char *dom = c->account_domain;
    if (o + 1 < len) out[o++] = '@';
    for (; *dom && o + 1 < len; dom++) out[o++] = (char)tolower((unsigned char)*dom);
    if (*dom) trunc = 1; /* the domain did not fit */
    out[o] = 0;
  }
  return trunc ? -1 : 0;
}

bool conf_is_local_domain(const struct conf *c, const char *domain) {
  /* the full domain matches exact entries; ".parent" entries match subdomains */
  if (!c->nlocal_domains) return false;
  for (const char *d = domain; d; d = strchr(d + 1, '.'))
    if (bsearch(&d, c->local_domains, c->nlocal_domains, sizeof *c->local_domains, cmp_str))
      return true;
  return false;
}

int conf_group_of(const struct conf *c, const char *account) {
  const char *at = strrchr(account, '@');
  for (size_t g = 0; g < c->ngroups; g++) {
    const struct group *gr = &c->groups[g];
    if (gr->naccounts && bsearch(&account, gr->accounts, gr->naccounts, sizeof *gr->accounts, cmp_str))
      return (int)g;
    if (at)
      for (size_t d = 0; d < gr->ndomains; d++)
        if (strcmp(at + 1, gr->domains[d]) == 0) return (int)g;
  }
  return -1;
}

static int cmp_exempt(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const struct exemption *)elem)->account);
}

const struct exemption *conf_exemption(const struct conf *c, const char *account, int64_t now) {
  if (!c->nexemptions) return NULL;
  const struct exemption *x =
      bsearch(account, c->exemptions, c->nexemptions, sizeof *c->exemptions, cmp_exempt);
  if (x && x->until && now >= x->until) return NULL;
  return x;
}

const struct limit_set *conf_account_limits(const struct conf *c, int g) {
  if (g >= 0 && c->groups[g].limits.n) return &c->groups[g].limits;
  return &c->limits;
}

static const char *const per_names[] = {"account", "sender_domain", "client_address"};
static const char *const metric_names[] = {"messages", "recipients", "external_recipients",
                                           "throttled"};
static const char *const window_names[] = {"minute", "hour", "day"};
static const char *const action_names[] = {"dunno", "alert", "throttle", "hold", "suspend",
                                           "reject"};

const char *conf_per_name(enum limit_per p) { return per_names[p]; }
const char *conf_metric_name(enum metric m) { return metric_names[m]; }
const char *conf_window_name(enum window_kind w) { return window_names[w]; }
const char *conf_action_name(enum action a) { return action_names[a]; }
int conf_action_parse(const char *s) {
  for (int i = ACT_ALERT; i <= ACT_SUSPEND; i++)
    if (strcmp(s, action_names[i]) == 0) return i;
  return -1;
}

static void print_fields(FILE *out, const char *what, const struct conf_field *f, size_t n) {
  fprintf(out, "\n%s fields:\n", what);
  for (size_t i = 0; i < n; i++)
    fprintf(out, "  %-10s %-45s %s%s\n", f[i].name, f[i].type, f[i].required ? "(required) " : "",
            f[i].doc);
}

void conf_print_keys(FILE *out) {
  static const char *const tn[] = {"string", "bool", "integer", "seconds", "size", "list", "section", "number"};
  for (size_t i = 0; i < conf_nkeys; i++) {
    const struct conf_key *k = &conf_keys[i];
    fprintf(out, "%s (%s%s%s%s)", k->name, tn[k->type], k->choices ? ": " : "",
            k->choices ? k->choices : "", k->reload ? ", reloadable" : ", restart");
    if (k->type != KT_SECTION) fprintf(out, " default \"%s\"", k->def);
    fprintf(out, "\n    %s\n", k->doc);
  }
  print_fields(out, "limit", conf_limit_fields, conf_nlimit_fields);
  print_fields(out, "group", conf_group_fields, conf_ngroup_fields);
  print_fields(out, "exemption", conf_exemption_fields, conf_nexemption_fields);
}
