/* conf.h - the validated configuration of one mailfuse process */
#ifndef MF_CONF_H
#define MF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/netaddr.h"

enum limit_per { PER_ACCOUNT, PER_SENDER_DOMAIN, PER_CLIENT, PER__N };
enum metric { MET_MESSAGES, MET_RECIPIENTS, MET_EXTERNAL, MET_THROTTLED, MET__N };
enum window_kind { WIN_MINUTE, WIN_HOUR, WIN_DAY, WIN__N };
/* Ordered by severity: a verdict keeps the highest one. */
enum action { ACT_DUNNO, ACT_ALERT, ACT_THROTTLE, ACT_HOLD, ACT_SUSPEND, ACT_REJECT, ACT__N };

struct limit {
  char *name;
  enum limit_per per;
  enum metric metric;
  enum window_kind win;
  uint64_t max;
  enum action action;
  bool shadow;
  char *text; /* reply text template, NULL = the global one for the action */
  int line;
};

struct limit_set {
  struct limit *v;
  size_t n;
};

struct group {
  char *name;
  char **accounts; /* sorted, lowercased exact accounts */
  size_t naccounts;
  char **domains;  /* lowercased, without '@': members "@domain" */
  size_t ndomains;
  struct limit_set limits; /* replace the global per-account limits */
  int line;
};

struct exemption {
  char *account;
  int64_t until; /* unix seconds; 0 = no expiry */
  char *reason;
  int line;
};

struct conf {
  char *path;
  /* scalar keys; described in conf_schema.c */
  char **listen;
  size_t nlisten;
  char *control_socket;
  int64_t control_socket_mode;
  char *state_dir;
  char *store;
  uint64_t store_map_size;
  uint64_t store_map_size_max;
  double flush_interval;
  double profile_flush_interval;
  double idle_expiry;
  char **local_domains; /* sorted, lowercased; ".x" means x's subdomains */
  size_t nlocal_domains;
  char *account_domain;
  char **sender_account_networks;
  size_t nsender_account_networks;
  struct netmask *sender_nets; /* parsed from the above */
  bool shadow;
  char *fail_action;
  char *charge_at;
  int64_t decision_log_limit;
  char *log_level;
  char *log_target;
  char *syslog_facility;
  double client_idle_timeout;
  int64_t max_connections;
  char **log_files;
  size_t nlog_files;
  bool journal;
  char *journal_directory;
  char *log_timezone;
  int log_tz_offset; /* derived from log_timezone; INT32_MIN = local time */
  char *tail_from;
  double tail_interval;
  bool score;
  double score_alert, score_throttle, score_hold, score_suspend;
  char **score_shadow;
  size_t nscore_shadow;
  char *freemail_file;
  char *site_country;
  char *throttle_text;
  char *hold_text;
  char *suspend_text;
  char *suspended_text;
  char *blocked_text;
  /* containment (actions/contain.c) */
  char *dovecot_deny_file;
  char **kick_command;
  size_t nkick_command;
  char **suspend_command;
  size_t nsuspend_command;
  char **release_command;
  size_t nrelease_command;
  double command_timeout;
  bool hold_queue;
  char *postqueue_command;
  char *postsuper_command;
  char *postfix_config_dir;
  double block_time;
  char **never_block;
  size_t nnever_block;
  struct netmask *never_nets; /* parsed from the above, plus loopback */
  size_t nnever_nets;
  char *nft_set;
  char *nft_set6;
  char *nft_command;
  char **alert_email;
  size_t nalert_email;
  char *alert_from;
  char **sendmail_command;
  size_t nsendmail_command;
  char *webhook_url;
  char **webhook_headers;
  size_t nwebhook_headers;
  double webhook_timeout;
  int64_t webhook_retries;
  int64_t effect_retries;
  double retry_interval;
  /* Dovecot auth policy (sources/auth_server.c) */
  char **auth_listen;
  size_t nauth_listen;
  char *auth_api_header;
  uint64_t auth_max_body;
  /* login guard (engine/login_guard.c) */
  char *geoip_city_db;
  char *geoip_asn_db;
  char *hosting_networks_file;
  char **webmail_networks;
  size_t nwebmail_networks;
  struct netmask *webmail_nets;
  int64_t login_delay_failures;
  int64_t login_reject_failures;
  int64_t login_spray_accounts;
  int64_t login_account_failures;
  int64_t login_network_failures;
  int64_t login_delay;
  double login_suspend_risk;
  /* sections */
  struct limit_set limits;
  struct group *groups;
  size_t ngroups;
  struct exemption *exemptions; /* sorted by account */
  size_t nexemptions;
  /* derived: which (metric, window) counters each key kind keeps */
  uint16_t slot_mask[PER__N];
  bool charge_at_data;
};

/* Load and validate FILE. On error returns NULL and writes "file:line: why"
 * to err. Caller frees with conf_free(). */
struct conf *conf_load(const char *file, char *err, size_t errlen);
/* Same as conf_load() from text in memory (name is used in errors). */
struct conf *conf_load_text(const char *text, const char *name, char *err, size_t errlen);
/* The control_socket of a file that may not validate (ctl must work while
 * a broken config waits to be fixed). Writes the default when the key is
 * absent; 0, or -1 when the file cannot be read or parsed at all. */
int conf_peek_control_socket(const char *file, char *out, size_t len);
/* "local" (INT32_MIN), "UTC" or "+HHMM" into seconds east of UTC; 0 or -1. */
int conf_parse_tz(const char *s, int *offset);
/* Built-in defaults only (no file). Caller frees with conf_free(). */
struct conf *conf_defaults(void);
void conf_free(struct conf *c);

/* The account for a login or sender: lowercased, with "@account_domain"
 * added to a bare name (so "dave" and "dave@example.edu" are one account).
 * Writes at most len bytes; returns 0, or -1 if it had to truncate. */
int conf_account_name(const struct conf *c, const char *raw, size_t rawlen, char *out, size_t len);
/* True if the (lowercased) recipient domain is one of ours. */
bool conf_is_local_domain(const struct conf *c, const char *domain);
/* Group index of an account (lowercased), or -1 for the default limits. */
int conf_group_of(const struct conf *c, const char *account);
/* The exemption of an account valid at `now`, or NULL. */
const struct exemption *conf_exemption(const struct conf *c, const char *account, int64_t now);
/* Limits that apply to the account key for group g (-1 = default). */
const struct limit_set *conf_account_limits(const struct conf *c, int g);

/* Names for the enums, and parsers from names (-1 if unknown). */
const char *conf_per_name(enum limit_per p);
const char *conf_metric_name(enum metric m);
const char *conf_window_name(enum window_kind w);
const char *conf_action_name(enum action a);
int conf_action_parse(const char *s);

/* Print every key with type, default and doc (the one place keys are described). */
void conf_print_keys(FILE *out);

#endif
