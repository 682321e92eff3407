/* conf_schema.c - the one table that describes every configuration key.
 *
 * The loader, `mailfuse config-keys` (and so README's key list) and the
 * schema unit test all read this table, so a key cannot exist without a
 * type, a default, bounds and a line of documentation.
 */
#include <stddef.h>

#include "core/conf_internal.h"

#define OFF(f) offsetof(struct conf, f)
#define NOCOUNT 0

const struct conf_key conf_keys[] = {
    {"listen", KT_STRLIST, "inet:127.0.0.1:10040,unix:/run/mailfuse/policy.sock", 0, 0, NULL,
     false, OFF(listen), OFF(nlisten), NULL,
     "Policy listeners for Postfix: \"inet:HOST:PORT\" or \"unix:/path\", any number."},
    {"control_socket", KT_STR, "/run/mailfuse/ctl.sock", 0, 0, NULL, false, OFF(control_socket),
     NOCOUNT, NULL, "Unix socket of `mailfuse ctl`; only root and mailfuse's own user may use it."},
    {"control_socket_mode", KT_INT, "0600", 0, 0777, NULL, false, OFF(control_socket_mode),
     NOCOUNT, NULL, "File mode of the control socket (octal); peer uid is checked as well."},
    {"state_dir", KT_STR, "/var/lib/mailfuse", 0, 0, NULL, false, OFF(state_dir), NOCOUNT, NULL,
     "Directory of the durable state (the LMDB files)."},
    {"store", KT_STR, "lmdb", 0, 0, "lmdb", false, OFF(store), NOCOUNT, NULL,
     "State backend. Only lmdb exists so far; the interface is ready for redis."},
    {"store_map_size", KT_SIZE, "64M", 1048576, 0, NULL, false, OFF(store_map_size), NOCOUNT,
     NULL, "Initial LMDB map size; it doubles as needed up to store_map_size_max."},
    {"store_map_size_max", KT_SIZE, "4G", 1048576, 0, NULL, false, OFF(store_map_size_max),
     NOCOUNT, NULL, "Cap of the LMDB map. When full, counting goes on in memory and errors are counted."},
    {"flush_interval", KT_SECONDS, "1", 0.01, 60, NULL, true, OFF(flush_interval), NOCOUNT, NULL,
     "Counters are written in one batch this often (seconds): the most a kill -9 can lose. "
     "Suspensions are written before their reply, always."},
    {"profile_flush_interval", KT_SECONDS, "60", 1, 3600, NULL, true, OFF(profile_flush_interval),
     NOCOUNT, NULL,
     "Learned profiles (score = true) are written this often (seconds) and at shutdown: a crash "
     "forgets at most this much learning. A risky login or failed logins are written with the "
     "next flush_interval, like counters."},
    {"idle_expiry", KT_SECONDS, "90000", 60, 31536000, NULL, true, OFF(idle_expiry), NOCOUNT,
     NULL, "Keys with no activity for this long (seconds) and empty windows are dropped."},
    {"local_domains", KT_STRLIST, "", 0, 0, NULL, true, OFF(local_domains), OFF(nlocal_domains),
     NULL, "Our domains; recipients elsewhere are external. \".example.edu\" matches subdomains."},
    {"account_domain", KT_STR, "", 0, 0, NULL, true, OFF(account_domain), NOCOUNT, NULL,
     "Domain added to logins without one, so that \"dave\" and \"dave@example.edu\" are one "
     "account (Dovecot accepts both when username_format=%n). Empty: names are kept as they are."},
    {"sender_account_networks", KT_STRLIST, "", 0, 0, NULL, true, OFF(sender_account_networks),
     OFF(nsender_account_networks), NULL,
     "Client networks (CIDR) whose unauthenticated submissions (webmail without SASL, web "
     "forms) are charged to the envelope sender as account."},
    {"shadow", KT_BOOL, "false", 0, 0, NULL, true, OFF(shadow), NOCOUNT, NULL,
     "Global shadow mode: decide, log and count, but answer DUNNO (manual suspensions still apply)."},
    {"fail_action", KT_STR, "DUNNO", 0, 0, NULL, true, OFF(fail_action), NOCOUNT, NULL,
     "Answer given when mailfuse has an internal error (fail open by default)."},
    {"charge_at", KT_STR, "end-of-message", 0, 0, "end-of-message|data", true, OFF(charge_at),
     NOCOUNT, NULL,
     "Stage at which a message is charged once with its accepted recipient_count."},
    {"decision_log_limit", KT_INT, "20", 0, 1000000, NULL, true, OFF(decision_log_limit), NOCOUNT,
     NULL, "Most decision lines per account per minute (0: all); the next line says how many were held back."},
    {"log_level", KT_STR, "info", 0, 0, "error|warning|info|debug", true, OFF(log_level), NOCOUNT,
     NULL, "Least severe level logged."},
    {"log_target", KT_STR, "stderr", 0, 0, "stderr|syslog", true, OFF(log_target), NOCOUNT, NULL,
     "Where log lines go."},
    {"syslog_facility", KT_STR, "mail", 0, 0,
     "mail|daemon|user|local0|local1|local2|local3|local4|local5|local6|local7", true,
     OFF(syslog_facility), NOCOUNT, NULL, "Facility when log_target is syslog."},
    {"client_idle_timeout", KT_SECONDS, "600", 1, 86400, NULL, true, OFF(client_idle_timeout),
     NOCOUNT, NULL,
     "Close policy connections idle this long (Postfix closes its own after 300 s)."},
    {"max_connections", KT_INT, "4096", 1, 1000000, NULL, false, OFF(max_connections), NOCOUNT,
     NULL, "Most simultaneous connections to the policy server, and to the auth policy server; "
     "more are refused and counted."},
    {"log_files", KT_STRLIST, "", 0, 0, NULL, false, OFF(log_files), OFF(nlog_files), NULL,
     "Mail logs to follow live (Postfix, Dovecot, Roundcube, Exim; rotation and truncation are "
     "followed, the read position survives restarts)."},
    {"journal", KT_BOOL, "false", 0, 0, NULL, false, OFF(journal), NOCOUNT, NULL,
     "Also read the systemd journal (or journal_directory)."},
    {"journal_directory", KT_STR, "", 0, 0, NULL, false, OFF(journal_directory), NOCOUNT, NULL,
     "Read journal files from this directory instead of the system journal."},
    {"log_timezone", KT_STR, "local", 0, 0, NULL, true, OFF(log_timezone), NOCOUNT, NULL,
     "Zone of log stamps that carry none (classic syslog): \"local\", \"UTC\" or \"+HHMM\"/\"-HHMM\"."},
    {"tail_from", KT_STR, "end", 0, 0, "end|beginning", false, OFF(tail_from), NOCOUNT, NULL,
     "Where to start a log file (or the journal) never read before; `mailfuse replay` is for the past."},
    {"tail_interval", KT_SECONDS, "0.5", 0.05, 60, NULL, false, OFF(tail_interval), NOCOUNT, NULL,
     "How often the logs are polled for new lines (seconds)."},
    {"score", KT_BOOL, "false", 0, 0, NULL, false, OFF(score), NOCOUNT, NULL,
     "Learn each account's normal and judge mail by a risk score (see README, \"Risk score\")."},
    {"score_alert", KT_NUMBER, "3", 0, 100, NULL, true, OFF(score_alert), NOCOUNT, NULL,
     "Score at which a message is logged as an alert."},
    {"score_throttle", KT_NUMBER, "5", 0, 100, NULL, true, OFF(score_throttle), NOCOUNT, NULL,
     "Score at which mail is deferred (450 4.7.1)."},
    {"score_hold", KT_NUMBER, "8", 0, 100, NULL, true, OFF(score_hold), NOCOUNT, NULL,
     "Score at which mail is held (only with unusual origin evidence)."},
    {"score_suspend", KT_NUMBER, "11", 0, 100, NULL, true, OFF(score_suspend), NOCOUNT, NULL,
     "Score at which the account is suspended (only with unusual origin evidence)."},
    {"score_shadow", KT_STRLIST, "", 0, 0, NULL, true, OFF(score_shadow), OFF(nscore_shadow), NULL,
     "Score thresholds in shadow mode (decided, logged, counted, not applied), e.g. [ \"hold\", \"suspend\" ]."},
    {"freemail_file", KT_STR, "", 0, 0, NULL, false, OFF(freemail_file), NOCOUNT, NULL,
     "Extra free-mail domains, one per line, added to the built-in list (data/freemail.txt)."},
    {"site_country", KT_STR, "", 0, 0, NULL, true, OFF(site_country), NOCOUNT, NULL,
     "Two-letter country code of the site; recipients in other country-code domains are foreign. "
     "Empty: every country-code domain counts as foreign."},
    {"throttle_text", KT_STR,
     "mailfuse: {account} is sending too much mail ({limit}: {max} {count} per {window}), "
     "try again later",
     0, 0, NULL, true, OFF(throttle_text), NOCOUNT, NULL,
     "Text of a throttle (450 4.7.1). {account} {limit} {max} {count} {window} are replaced."},
    {"hold_text", KT_STR, "mailfuse: held for review ({limit}: {max} {count} per {window})", 0,
     0, NULL, true, OFF(hold_text), NOCOUNT, NULL, "Reason recorded with a HOLD."},
    {"suspend_text", KT_STR,
     "mailfuse: account {account} is suspended ({limit}), contact your mail administrator", 0, 0,
     NULL, true, OFF(suspend_text), NOCOUNT, NULL, "Text of the reject (5.7.1) that suspends."},
    {"suspended_text", KT_STR,
     "mailfuse: account {account} is suspended, contact your mail administrator", 0, 0, NULL,
     true, OFF(suspended_text), NOCOUNT, NULL,
     "Text of the reject (5.7.1) for every later request of a suspended account."},
    {"blocked_text", KT_STR,
     "mailfuse: your address is blocked after misuse of an account, contact your mail administrator",
     0, 0, NULL, true, OFF(blocked_text), NOCOUNT, NULL,
     "Text of the reject (5.7.1) for requests from a blocked client address."},
    {"dovecot_deny_file", KT_STR, "", 0, 0, NULL, true, OFF(dovecot_deny_file), NOCOUNT, NULL,
     "Passwd-file of suspended accounts, rewritten atomically on every change, for a Dovecot "
     "passdb with deny=yes (IMAP, POP3, SMTP AUTH and webmail refuse them). Empty: not kept."},
    {"kick_command", KT_STRLIST, "", 0, 0, NULL, true, OFF(kick_command), OFF(nkick_command), NULL,
     "Program and arguments that close a suspended account's open sessions, e.g. [ "
     "\"/usr/bin/doveadm\", \"kick\", \"%a\" ]. %a account, %n its name without "
     "account_domain, %r reason, %i incident. Run without a shell."},
    {"suspend_command", KT_STRLIST, "", 0, 0, NULL, true, OFF(suspend_command),
     OFF(nsuspend_command), NULL,
     "Hook run on each suspension (disable in LDAP, force a password reset...); same "
     "placeholders as kick_command; no shell; exit status logged."},
    {"release_command", KT_STRLIST, "", 0, 0, NULL, true, OFF(release_command),
     OFF(nrelease_command), NULL, "Hook run when a suspension is released; same placeholders."},
    {"command_timeout", KT_SECONDS, "30", 1, 3600, NULL, true, OFF(command_timeout), NOCOUNT,
     NULL, "Most seconds any program run by mailfuse may take; it is killed after that."},
    {"hold_queue", KT_BOOL, "true", 0, 0, NULL, true, OFF(hold_queue), NOCOUNT, NULL,
     "On hold or suspend, put the account's mail already in the Postfix queue on hold "
     "(postqueue -j, postsuper -h)."},
    {"postqueue_command", KT_STR, "/usr/sbin/postqueue", 0, 0, NULL, true,
     OFF(postqueue_command), NOCOUNT, NULL, "Path of Postfix's postqueue."},
    {"postsuper_command", KT_STR, "/usr/sbin/postsuper", 0, 0, NULL, true,
     OFF(postsuper_command), NOCOUNT, NULL, "Path of Postfix's postsuper (mailfuse must run as root to use it)."},
    {"postfix_config_dir", KT_STR, "", 0, 0, NULL, true, OFF(postfix_config_dir), NOCOUNT, NULL,
     "Postfix instance to act on (passed as -c DIR); empty: the default instance."},
    {"block_time", KT_SECONDS, "3600", 0, 31536000, NULL, true, OFF(block_time), NOCOUNT, NULL,
     "How long the client address that tripped a suspension is blocked (0: never block). "
     "Loopback, sender_account_networks and never_block are never blocked."},
    {"never_block", KT_STRLIST, "", 0, 0, NULL, true, OFF(never_block), OFF(nnever_block), NULL,
     "Networks (CIDR) never blocked: the site's own networks, the webmail servers."},
    {"nft_set", KT_STR, "", 0, 0, NULL, true, OFF(nft_set), NOCOUNT, NULL,
     "nftables set for blocked IPv4 addresses, \"FAMILY TABLE SET\" (type ipv4_addr, flags "
     "timeout), e.g. \"inet mailfuse blocked4\". Empty: addresses are blocked in mailfuse only."},
    {"nft_set6", KT_STR, "", 0, 0, NULL, true, OFF(nft_set6), NOCOUNT, NULL,
     "The same for IPv6 addresses (type ipv6_addr)."},
    {"nft_command", KT_STR, "/usr/sbin/nft", 0, 0, NULL, true, OFF(nft_command), NOCOUNT, NULL,
     "Path of nft."},
    {"alert_email", KT_STRLIST, "", 0, 0, NULL, true, OFF(alert_email), OFF(nalert_email), NULL,
     "Who gets an e-mail per incident (through sendmail_command)."},
    {"alert_from", KT_STR, "mailfuse", 0, 0, NULL, true, OFF(alert_from), NOCOUNT, NULL,
     "Envelope and header sender of alert e-mails."},
    {"sendmail_command", KT_STRLIST, "/usr/sbin/sendmail,-i", 0, 0, NULL, true,
     OFF(sendmail_command), OFF(nsendmail_command), NULL,
     "Local sendmail for alerts; \"-f FROM -- RECIPIENTS\" are added."},
    {"webhook_url", KT_STR, "", 0, 0, NULL, true, OFF(webhook_url), NOCOUNT, NULL,
     "http(s) URL that gets one JSON POST per incident (and per release). Empty: none."},
    {"webhook_headers", KT_STRLIST, "", 0, 0, NULL, true, OFF(webhook_headers),
     OFF(nwebhook_headers), NULL, "Extra request headers, e.g. [ \"Authorization: Bearer X\" ]."},
    {"webhook_timeout", KT_SECONDS, "10", 0.1, 300, NULL, true, OFF(webhook_timeout), NOCOUNT,
     NULL, "Seconds one webhook attempt may take."},
    {"webhook_retries", KT_INT, "8", 0, 1000, NULL, true, OFF(webhook_retries), NOCOUNT, NULL,
     "Attempts after the first failed webhook (backoff doubles from retry_interval to 10 minutes)."},
    {"effect_retries", KT_INT, "20", 0, 100000, NULL, true, OFF(effect_retries), NOCOUNT, NULL,
     "Attempts after a failed effect (queue hold, kick, hook, nft, e-mail). The deny file is "
     "retried until it is written."},
    {"retry_interval", KT_SECONDS, "10", 0.1, 3600, NULL, true, OFF(retry_interval), NOCOUNT,
     NULL, "Delay before the first retry of a failed effect; it doubles, up to 10 minutes."},
    {"auth_listen", KT_STRLIST, "", 0, 0, NULL, false, OFF(auth_listen), OFF(nauth_listen), NULL,
     "Dovecot auth policy listeners (HTTP): \"inet:127.0.0.1:10080\" or \"unix:/path\". "
     "Empty: the auth policy server is off."},
    {"auth_api_header", KT_STR, "", 0, 0, NULL, true, OFF(auth_api_header), NOCOUNT, NULL,
     "The exact header Dovecot sends (auth_policy_server_api_header), e.g. \"X-API-Key: "
     "secret\"; requests without it are refused. Empty: not checked."},
    {"auth_max_body", KT_SIZE, "16K", 1024, 1048576, NULL, false, OFF(auth_max_body), NOCOUNT,
     NULL, "Largest auth policy request body accepted."},
    {"geoip_city_db", KT_STR, "", 0, 0, NULL, false, OFF(geoip_city_db), NOCOUNT, NULL,
     "MaxMind DB (GeoLite2-City or -Country layout) for the country of a login; a City "
     "database also gives its location (faster-than-travel). Empty: networks stand in."},
    {"geoip_asn_db", KT_STR, "", 0, 0, NULL, false, OFF(geoip_asn_db), NOCOUNT, NULL,
     "MaxMind DB (GeoLite2-ASN layout) for the network operator (ASN) of a login."},
    {"hosting_networks_file", KT_STR, "", 0, 0, NULL, false, OFF(hosting_networks_file), NOCOUNT,
     NULL, "More hosting/VPN/anonymising networks, lines \"AS64500 # note\" or \"CIDR # note\", "
     "added to the built-in list (data/hosting_asns.txt)."},
    {"webmail_networks", KT_STRLIST, "", 0, 0, NULL, true, OFF(webmail_networks),
     OFF(nwebmail_networks), NULL,
     "Addresses of the webmail servers: never blocked, never learned as a user's network, and "
     "mailfuse warns when logins keep arriving from them (Dovecot is not given the user's address)."},
    {"login_delay_failures", KT_INT, "5", 1, 1000000, NULL, true, OFF(login_delay_failures),
     NOCOUNT, NULL, "Failed logins from one address in an hour after which its logins are delayed."},
    {"login_reject_failures", KT_INT, "20", 1, 1000000, NULL, true, OFF(login_reject_failures),
     NOCOUNT, NULL, "Failed logins from one address in an hour after which its logins are refused."},
    {"login_spray_accounts", KT_INT, "10", 2, 32, NULL, true, OFF(login_spray_accounts), NOCOUNT,
     NULL, "Accounts failed from one address in an hour that make it a password sprayer: it is "
     "blocked for block_time, and a success from it marks the account at risk."},
    {"login_account_failures", KT_INT, "30", 1, 1000000, NULL, true, OFF(login_account_failures),
     NOCOUNT, NULL, "Failed logins of one account (from anywhere) in an hour after which its logins "
     "are delayed (targeted guessing; never refused, so the owner is not locked out)."},
    {"login_network_failures", KT_INT, "100", 1, 1000000, NULL, true, OFF(login_network_failures),
     NOCOUNT, NULL, "Failed logins from one /24 (IPv6 /64) in an hour after which its logins are delayed."},
    {"login_delay", KT_INT, "2", 1, 30, NULL, true, OFF(login_delay), NOCOUNT, NULL,
     "Seconds Dovecot waits before answering a delayed login."},
    {"login_suspend_risk", KT_NUMBER, "0", 0, 100, NULL, true, OFF(login_suspend_risk), NOCOUNT,
     NULL, "Suspend an account at once when a successful login carries at least this risk (e.g. 5: "
     "a login from a password sprayer). 0: never; the risk then only weighs on its mail."},
    {"limits", KT_SECTION, "", 0, 0, NULL, true, 0, 0, conf_parse_limits,
     "List of limits for everyone (fields below). Group limits replace the per-account ones."},
    {"groups", KT_SECTION, "", 0, 0, NULL, true, 0, 0, conf_parse_groups,
     "Groups of accounts with their own per-account limits; the first matching group wins."},
    {"exemptions", KT_SECTION, "", 0, 0, NULL, true, 0, 0, conf_parse_exemptions,
     "Accounts exempt from all limits (still counted), with an optional expiry."},
};
const size_t conf_nkeys = sizeof conf_keys / sizeof *conf_keys;

const struct conf_field conf_limit_fields[] = {
    {"name", "string", true, "Unique name, shown in logs, replies and ctl."},
    {"per", "account|sender_domain|client_address", true, "What is counted."},
    {"count", "messages|recipients|external_recipients|throttled", true,
     "The quantity; throttled counts messages mailfuse deferred (escalation)."},
    {"window", "minute|hour|day", true, "Sliding window length."},
    {"max", "integer", true, "Allowed per window; the next one triggers the action."},
    {"action", "alert|throttle|hold|suspend", true, "What happens past max."},
    {"shadow", "bool", false, "Decide, log and count, but answer DUNNO (default false)."},
    {"text", "string", false, "Reply text for this limit (same placeholders as throttle_text)."},
};
const size_t conf_nlimit_fields = sizeof conf_limit_fields / sizeof *conf_limit_fields;

const struct conf_field conf_group_fields[] = {
    {"name", "string", true, "Group name."},
    {"members", "list of strings", true, "Accounts, or \"@domain\" for every account of a domain."},
    {"limits", "list of limits", false, "Per-account limits of this group (per must be account)."},
};
const size_t conf_ngroup_fields = sizeof conf_group_fields / sizeof *conf_group_fields;

const struct conf_field conf_exemption_fields[] = {
    {"account", "string", true, "Exempt account."},
    {"until", "date", false, "Expiry, \"YYYY-MM-DD\" or \"YYYY-MM-DDTHH:MM:SSZ\" (UTC)."},
    {"reason", "string", false, "Why; shown by ctl show."},
};
const size_t conf_nexemption_fields = sizeof conf_exemption_fields / sizeof *conf_exemption_fields;
