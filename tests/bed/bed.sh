#!/usr/bin/env bash
# bed.sh - throw-away, loopback-only test bed of REAL Postfix + Dovecot for mailfuse's
# integration tests (Debian 12 packages).
#
# Adapted from the "mailbed" recipe (a private Postfix + Dovecot instance whose config,
# queue, logs and sockets all live under one directory), trimmed and kept inside this
# repository so that the project stands alone.
#
#   bed.sh install                       apt-get the packages (skipped when present), start/enable nothing
#   bed.sh up DIR                        private Postfix + Dovecot + sink under DIR
#   bed.sh down DIR [--rm]               stop them (pid files), verify nothing is left
#   bed.sh status DIR                    processes and listeners of the instance
#   bed.sh logs DIR [N]                  last N lines of maillog and dovecot.log
#   bed.sh queue DIR                     Postfix queue as JSON lines (postqueue -j)
#   bed.sh sink-stop DIR                 stop only the smtp-sink: mail to other domains defers
#                                        ("Connection refused") and piles up in the deferred queue
#   bed.sh sink-start DIR                start the smtp-sink again; Postfix retries on its own only
#                                        after minutes: `postqueue -c DIR/postfix-etc -f` (all) or
#                                        `postqueue -c DIR/postfix-etc -i ID` (one) makes it try at once
#   bed.sh kick DIR USER                 close USER's IMAP sessions: runs exactly
#                                        `doveadm -c DIR/dovecot.conf kick USER` (needs root)
#   bed.sh send USER PASS N [opts]       N authenticated messages (send.py --help); --json
#   bed.sh login USER PASS [opts]        good IMAP login(s)        (imap.py --help)
#   bed.sh badlogin USER [opts]          failing IMAP login(s)
#   bed.sh hold USER PASS [opts]         log in and wait for the server to close the session
#                                        (--seconds N, --ready; prints JSON; imap.py --help)
#
# Environment read by `up` (defaults in brackets):
#   POLICY                 check_policy_service target, e.g. inet:127.0.0.1:10040 or
#                          unix:/abs/path.sock; unset/empty = no policy check at all
#   POLICY_STAGES          ["rcpt eod"] any of: client helo sender rcpt data eod
#   POLICY_TIMEOUT         [unset = Postfix default 100s] e.g. 10s
#   POLICY_DEFAULT_ACTION  [unset = Postfix default "451 4.3.5 Server configuration problem"]
#                          e.g. DUNNO to fail open when the policy server is down
#   AUTHPOLICY             Dovecot auth_policy_server_url, e.g. http://127.0.0.1:10080/
#   AUTHPOLICY_NONCE       [bed-nonce] auth_policy_hash_nonce
#   AUTHPOLICY_HEADER      [unset] auth_policy_server_api_header ("X-API-Key: ...")
#   AUTHPOLICY_REJECT_ON_FAIL [no]
#   AUTHPOLICY_ATTRS       [unset = Dovecot default] auth_policy_request_attributes
#   SUBMISSION_PORT [10587] SMTP_PORT [10025] IMAP_PORT [10143] SINK_PORT [10026]
#   USERS                  ["alice:alicepw bob:bobpw carol:carolpw dave:davepw eve:evepw"]
#   NUSERS                 [0] extra users user0001..userNNNN, password userNNNNpw
#   INTERNAL               [lmtp] delivery for @example.edu: lmtp (Dovecot) | discard
#   SINK_DUMP              [0] 1 = smtp-sink dumps every message to DIR/sink/
#   AUTH_FAILURE_DELAY     [2 secs] Dovecot auth_failure_delay
#   TRUSTED_NETWORKS       [127.0.0.0/8] Dovecot login_trusted_networks (lets the client
#                          set the remote IP with IMAP ID x-originating-ip); "" to disable
#   DOVECOT_DEBUG          [0] 1 = auth_debug/mail_debug (logs the policy JSON bodies)
#   PEERNAME_LOOKUP        [no] Postfix smtpd_peername_lookup; "no" = client_name=unknown,
#                          and no PTR query ever leaves for the system resolver
#   BED_VMAIL_USER         [mfbed] system user that owns the Maildirs (created on demand)
#   DENY_FILE              [unset] absolute path of a Dovecot passwd-file of users whose logins
#                          are refused (what mailfuse's denyfile writes); adds, before the normal
#                          passdb:  passdb { driver = passwd-file; deny = yes;
#                                            args = username_format=%n DENY_FILE }
#                          %n is the login without "@domain", so a line "alice" refuses both
#                          "alice" and "alice@example.edu" (the normal passdb also looks up %n).
#                          Created empty (0644) if missing; must be readable by user dovecot.
#                          Dovecot re-reads it when its mtime or size changes (no reload).
#
# send/login/badlogin take their ports from SUBMISSION_PORT/SMTP_PORT/IMAP_PORT, or from
# DIR/bed.env when BED_DIR=DIR is set.
#
# Everything listens on 127.0.0.1 only (checked after `up`); mail for any domain but
# example.edu goes to a local smtp-sink; there is no DNS and no port 25.  Must run as root.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

: "${SUBMISSION_PORT:=10587}" "${SMTP_PORT:=10025}" "${IMAP_PORT:=10143}" "${SINK_PORT:=10026}"
: "${USERS:=alice:alicepw bob:bobpw carol:carolpw dave:davepw eve:evepw}"
: "${NUSERS:=0}" "${INTERNAL:=lmtp}" "${SINK_DUMP:=0}" "${AUTH_FAILURE_DELAY:=2 secs}"
: "${POLICY:=}" "${POLICY_STAGES:=rcpt eod}" "${POLICY_TIMEOUT:=}" "${POLICY_DEFAULT_ACTION:=}"
: "${AUTHPOLICY:=}" "${AUTHPOLICY_NONCE:=bed-nonce}" "${AUTHPOLICY_HEADER:=}"
: "${AUTHPOLICY_REJECT_ON_FAIL:=no}" "${AUTHPOLICY_ATTRS:=}" "${DOVECOT_DEBUG:=0}" "${PEERNAME_LOOKUP:=no}"
: "${DENY_FILE:=}"
TRUSTED_NETWORKS=${TRUSTED_NETWORKS-127.0.0.0/8}
VMAIL_USER=${BED_VMAIL_USER:-mfbed}
DOMAIN=example.edu

die()  { echo "bed: error: $*" >&2; exit 1; }
info() { echo "bed: $*" >&2; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (Postfix's master and Dovecot's master need it; their daemons drop to postfix/dovecot/dovenull/$VMAIL_USER)"; }

# ---------------------------------------------------------------- install
# everything `up` and the clients need; install is skipped when all of it is there
REQUIRED_FILES=(/usr/sbin/postfix /usr/sbin/postqueue /usr/sbin/smtp-sink /usr/lib/postfix/sbin/smtpd
                /usr/sbin/postsuper /usr/sbin/dovecot /usr/bin/doveadm /usr/lib/dovecot/imap /usr/lib/dovecot/lmtp
                /usr/bin/ss /usr/bin/setpriv /usr/bin/script)
installed() {
  local f
  for f in "${REQUIRED_FILES[@]}"; do [ -x "$f" ] || return 1; done
  [ -x /usr/bin/python3 ] || command -v python3 >/dev/null 2>&1
}

cmd_install() {
  need_root
  if installed; then
    ensure_vmail_user
    info "already installed: $(postconf -d -h mail_version 2>/dev/null | sed 's/^/postfix /'), $(dovecot --version 2>/dev/null | sed 's/^/dovecot /')"
    return 0
  fi
  local created_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# mailfuse test bed: do not start services from maintainer scripts\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d; created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # "No configuration": the system gets no /etc/postfix/main.cf (the bed never uses it)
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string bed.$DOMAIN" | debconf-set-selections
  local rc=0
  {
    apt-get update -q &&
    # postfix ships smtp-sink and smtp-source (/usr/sbin) itself; util-linux has setpriv
    # and script(1); iproute2 has ss.  Postfix itself is the submission server.
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        postfix dovecot-core dovecot-imapd dovecot-lmtpd python3 iproute2 util-linux bsdutils
  } || rc=$?
  [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get failed (exit $rc)"
  # the maintainer scripts enable the system units even when they may not start them
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable postfix.service dovecot.service >/dev/null 2>&1 || true
  fi
  ensure_vmail_user
  installed || die "packages installed but some required file is still missing: ${REQUIRED_FILES[*]}"
  info "installed: $(postconf -d -h mail_version 2>/dev/null | sed 's/^/postfix /'), $(dovecot --version 2>/dev/null | sed 's/^/dovecot /')"
}

ensure_vmail_user() {
  getent passwd "$VMAIL_USER" >/dev/null 2>&1 && return 0
  useradd --system --user-group --no-create-home --home-dir /nonexistent \
          --shell /usr/sbin/nologin "$VMAIL_USER"
}

# ---------------------------------------------------------------- helpers
abs_dir() { [ -n "${1:-}" ] || die "missing DIR"; realpath -m -- "$1"; }

alive() {  # running and not a zombie (pid 1 may reap late)
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local st; st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1 || true)
  [ -n "$st" ] && [ "$st" != Z ]
}
wait_gone() { local i; for ((i = 0; i < $2 * 10; i++)); do alive "$1" || return 0; sleep 0.1; done; return 1; }
pid_of() { [ -s "$1" ] && tr -dc '0-9' < "$1" || true; }   # read a pid file ("   123\n")

wait_port() {  # host port seconds -- looks at the listen table, does not connect
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    [ -n "$(ss -Hltn "src $1 and sport = :$2" 2>/dev/null)" ] && return 0
    sleep 0.1
  done
  return 1
}

# processes of the instance in DIR: a Postfix/Dovecot program whose cwd or root is
# below DIR (Postfix daemons chdir to the queue, Dovecot's to base_dir, the mailbox
# home or the login chroot) or whose MAIL_CONFIG is DIR/postfix-etc
instance_pids() {
  local dir=$1 p c r e
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    e=$(readlink "/proc/$p/exe" 2>/dev/null || true)
    case "$e" in /usr/lib/postfix/*|/usr/lib/dovecot/*|/usr/sbin/dovecot|/usr/sbin/postfix) ;; *) continue ;; esac
    c=$(readlink "/proc/$p/cwd" 2>/dev/null || true)
    r=$(readlink "/proc/$p/root" 2>/dev/null || true)
    if [[ "$c" == "$dir"/* || "$r" == "$dir"/* ]] ||
       tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "MAIL_CONFIG=$dir/postfix-etc"; then
      echo "$p"
    fi
  done
}

check_traversable() {  # every ancestor of DIR must be searchable by the daemon users
  local d=$1 u
  for u in postfix dovecot dovenull "$VMAIL_USER"; do
    setpriv --reuid "$u" --regid "$(id -g "$u")" --clear-groups test -x "$d" 2>/dev/null ||
      die "$d is not reachable by user '$u' (an ancestor directory lacks o+x, e.g. /root); use a DIR under /tmp or chmod o+x the ancestors"
  done
}

prepare_deny_file() {  # create it empty if missing; Dovecot's auth process (user dovecot) must read it
  local f=$1
  if [ ! -e "$f" ]; then
    mkdir -p -- "$(dirname -- "$f")" && : > "$f" && chmod 0644 "$f" || die "cannot create DENY_FILE $f"
  fi
  [ -f "$f" ] || die "DENY_FILE $f is not a regular file"
  setpriv --reuid dovecot --regid "$(id -g dovecot)" --clear-groups test -r "$f" 2>/dev/null ||
    die "DENY_FILE $f is not readable by user 'dovecot' (Dovecot's auth process): chmod o+r it and o+x its directories"
}

gen_users() {  # -> "user pass" lines
  local up
  for up in $USERS; do echo "${up%%:*} ${up#*:}"; done
  local i
  for ((i = 1; i <= NUSERS; i++)); do printf 'user%04d user%04dpw\n' "$i" "$i"; done
}

policy_restriction() {
  [ -n "$POLICY" ] || return 0
  local opts=""
  [ -n "$POLICY_TIMEOUT" ] && opts+=", timeout=$POLICY_TIMEOUT"
  [ -n "$POLICY_DEFAULT_ACTION" ] && opts+=", default_action=$POLICY_DEFAULT_ACTION"
  if [ -n "$opts" ]; then echo "check_policy_service { $POLICY$opts },"
  else echo "check_policy_service $POLICY,"; fi
}
stage_on() { [[ " $POLICY_STAGES " == *" $1 "* ]] && policy_restriction || true; }

# ---------------------------------------------------------------- up
cmd_up() {
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  installed || die "Postfix/Dovecot (or a helper tool) missing: run '$0 install' first"
  case "$POLICY" in ""|inet:127.*:*|inet:localhost:*|unix:/*) ;;
    *) die "POLICY must look like inet:127.0.0.1:10040 or unix:/abs/path.sock (loopback only; got '$POLICY')";; esac
  case "$AUTHPOLICY" in ""|http://127.*|http://localhost[:/]*) ;;
    *) die "AUTHPOLICY must be a loopback http URL, e.g. http://127.0.0.1:10080/ (got '$AUTHPOLICY')";; esac
  case "$INTERNAL" in lmtp|discard) ;; *) die "INTERNAL must be lmtp or discard";; esac
  case "$DENY_FILE" in ""|/*) ;; *) die "DENY_FILE must be an absolute path (got '$DENY_FILE')";; esac
  [[ "$DENY_FILE" =~ [[:space:]] ]] && die "DENY_FILE must not contain whitespace (it goes into a Dovecot args line)"
  local st; for st in $POLICY_STAGES; do
    case "$st" in client|helo|sender|rcpt|data|eod) ;; *) die "unknown POLICY_STAGES entry '$st' (client helo sender rcpt data eod)";; esac
  done
  [ ${#dir} -le 60 ] || die "DIR '$dir' is too long (${#dir} chars): unix socket paths below it must stay under 108 bytes; use e.g. /tmp/bed.XXXX"
  mkdir -p "$dir"
  chmod 0755 "$dir"
  if alive "$(pid_of "$dir/postfix-spool/pid/master.pid")" || alive "$(pid_of "$dir/dovecot-run/master.pid")" ||
     alive "$(pid_of "$dir/sink.pid")"; then
    die "an instance is already running in $dir (run: $0 down $dir)"
  fi
  local port
  for port in "$SUBMISSION_PORT" "$SMTP_PORT" "$IMAP_PORT" "$SINK_PORT"; do
    [[ "$port" =~ ^[0-9]+$ ]] || die "bad port '$port'"
    [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] ||
      die "TCP port $port is already in use (another bed instance? pick other *_PORT values)"
  done
  ensure_vmail_user
  check_traversable "$dir"
  local vuid vgid; vuid=$(id -u "$VMAIL_USER"); vgid=$(id -g "$VMAIL_USER")
  local deny_passdb=""
  if [ -n "$DENY_FILE" ]; then
    prepare_deny_file "$DENY_FILE"
    # first passdb: a user found here is refused, whatever the password (deny = yes)
    deny_passdb=$(printf 'passdb {\n  driver = passwd-file\n  deny = yes\n  args = username_format=%%n %s\n}' "$DENY_FILE")
  fi

  mkdir -p "$dir/postfix-etc" "$dir/postfix-spool" "$dir/postfix-data" "$dir/mail" "$dir/dovecot-state" "$dir/sink"
  chown root:root "$dir/postfix-etc" "$dir/postfix-spool"; chmod 0755 "$dir/postfix-etc" "$dir/postfix-spool"
  chown postfix:postfix "$dir/postfix-data"; chmod 0700 "$dir/postfix-data"
  chown "$VMAIL_USER:$VMAIL_USER" "$dir/mail"; chmod 0700 "$dir/mail"
  chown nobody:nogroup "$dir/sink"
  : > "$dir/maillog"; : > "$dir/dovecot.log"   # both daemons append; made here (0644) so `tail -f` works at once
  chmod 0644 "$dir/maillog" "$dir/dovecot.log"

  # users: Dovecot passwd-file (PLAIN scheme; throw-away), Postfix virtual mailbox list
  local users_file="$dir/dovecot-users" vbox="$dir/postfix-etc/vmailbox" u p
  : > "$users_file"; : > "$vbox"; : > "$dir/users.txt"
  while read -r u p; do
    echo "$u:{PLAIN}$p:$vuid:$vgid::$dir/mail/$u::" >> "$users_file"
    echo "$u@$DOMAIN $u/" >> "$vbox"
    echo "$u $p" >> "$dir/users.txt"
  done < <(gen_users)
  chown root:dovecot "$users_file"; chmod 0640 "$users_file"

  # ---------------- Postfix main.cf
  local vtransport="lmtp:unix:$dir/dovecot-run/lmtp-postfix"
  [ "$INTERNAL" = discard ] && vtransport="discard:bed-internal"
  cat > "$dir/postfix-etc/main.cf" <<EOF
# generated by bed.sh $(date -u +%FT%TZ) -- private, loopback-only instance
compatibility_level = 3.6
queue_directory = $dir/postfix-spool
data_directory = $dir/postfix-data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
myhostname = bed.$DOMAIN
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is disabled in the test bed
alias_maps =
alias_database =
biff = no
readme_directory = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP mailfuse-bed
# no DNS at all: no PTR lookups of clients (127.0.0.N would go to the system
# resolver), no MX/A lookups by the smtp client (the relayhost is an IP literal)
smtpd_peername_lookup = $PEERNAME_LOOKUP
smtp_dns_support_level = disabled
# nothing may leave the machine: every non-local domain goes to the loopback sink
relayhost = [127.0.0.1]:$SINK_PORT
default_transport = smtp
relay_transport = smtp
smtp_bind_address = 127.0.0.1
smtp_tls_security_level = none
smtpd_tls_security_level = none
# example.edu mailboxes live in Dovecot (LMTP) or are discarded (INTERNAL=discard)
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$vbox
virtual_alias_maps = inline:{ postmaster@$DOMAIN=alice@$DOMAIN, abuse@$DOMAIN=alice@$DOMAIN }
virtual_transport = $vtransport
# SASL via Dovecot (enabled per service in master.cf)
smtpd_sasl_type = dovecot
smtpd_sasl_path = $dir/dovecot-run/auth-postfix
smtpd_sasl_auth_enable = no
# test clients on 127/8 may present another client IP with XCLIENT
smtpd_authorized_xclient_hosts = 127.0.0.0/8
# restrictions used by master.cf (POLICY=${POLICY:-<unset>} POLICY_STAGES=$POLICY_STAGES)
bed_sub_client_restrictions = $(stage_on client) permit_sasl_authenticated, reject
bed_sub_helo_restrictions = $(stage_on helo)
bed_sub_sender_restrictions = $(stage_on sender)
bed_sub_relay_restrictions = permit_sasl_authenticated, reject
bed_sub_recipient_restrictions = $(stage_on rcpt) permit_sasl_authenticated, reject
bed_sub_data_restrictions = $(stage_on data)
bed_sub_eod_restrictions = $(stage_on eod)
bed_in_relay_restrictions = reject_unauth_destination
bed_in_recipient_restrictions = $(stage_on rcpt) reject_unauth_destination
bed_in_eod_restrictions = $(stage_on eod)
EOF
  sed -i 's/= ,/=/; s/, *$//' "$dir/postfix-etc/main.cf"

  # ---------------- Postfix master.cf (no chroot anywhere, no port 25)
  cat > "$dir/postfix-etc/master.cf" <<EOF
# generated by bed.sh -- service type private unpriv chroot wakeup maxproc command
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=\$bed_sub_client_restrictions
  -o smtpd_helo_restrictions=\$bed_sub_helo_restrictions
  -o smtpd_sender_restrictions=\$bed_sub_sender_restrictions
  -o smtpd_relay_restrictions=\$bed_sub_relay_restrictions
  -o smtpd_recipient_restrictions=\$bed_sub_recipient_restrictions
  -o smtpd_data_restrictions=\$bed_sub_data_restrictions
  -o smtpd_end_of_data_restrictions=\$bed_sub_eod_restrictions
  -o smtpd_policy_service_policy_context=submission
  -o milter_macro_daemon_name=ORIGINATING
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
  -o syslog_name=postfix/inbound
  -o smtpd_relay_restrictions=\$bed_in_relay_restrictions
  -o smtpd_recipient_restrictions=\$bed_in_recipient_restrictions
  -o smtpd_end_of_data_restrictions=\$bed_in_eod_restrictions
  -o smtpd_policy_service_policy_context=inbound
pickup     unix  n - n 60   1 pickup
cleanup    unix  n - n -    0 cleanup
qmgr       unix  n - n 300  1 qmgr
rewrite    unix  - - n -    - trivial-rewrite
bounce     unix  - - n -    0 bounce
defer      unix  - - n -    0 bounce
trace      unix  - - n -    0 bounce
verify     unix  - - n -    1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -    - proxymap
proxywrite unix  - - n -    1 proxymap
smtp       unix  - - n -    - smtp
relay      unix  - - n -    - smtp
showq      unix  n - n -    - showq
error      unix  - - n -    - error
retry      unix  - - n -    - error
discard    unix  - - n -    - discard
lmtp       unix  - - n -    - lmtp
anvil      unix  - - n -    1 anvil
scache     unix  - - n -    1 scache
postlog    unix-dgram n - n - 1 postlogd
EOF

  # ---------------- Dovecot (standalone config, nothing from /etc/dovecot)
  local dbg=no; [ "$DOVECOT_DEBUG" = 1 ] && dbg=yes
  {
    cat <<EOF
# generated by bed.sh $(date -u +%FT%TZ) -- private, loopback-only instance
base_dir = $dir/dovecot-run
state_dir = $dir/dovecot-state
instance_name = mfbed-$(echo "$dir" | md5sum | cut -c1-8)
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = $dir/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes
auth_debug = $dbg
mail_debug = $dbg
verbose_proctitle = yes
auth_failure_delay = $AUTH_FAILURE_DELAY
login_trusted_networks = $TRUSTED_NETWORKS
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = $vuid
first_valid_gid = $vgid
mail_location = maildir:~/Maildir
$deny_passdb
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%n $users_file
}
userdb {
  driver = passwd-file
  args = username_format=%n $users_file
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp-postfix {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0600
    user = postfix
    group = postfix
  }
}
EOF
    if [ -n "$AUTHPOLICY" ]; then
      cat <<EOF
auth_policy_server_url = $AUTHPOLICY
auth_policy_hash_nonce = $AUTHPOLICY_NONCE
auth_policy_reject_on_fail = $AUTHPOLICY_REJECT_ON_FAIL
auth_policy_check_before_auth = yes
auth_policy_check_after_auth = yes
auth_policy_report_after_auth = yes
auth_policy_server_timeout_msecs = 2000
EOF
      [ -n "$AUTHPOLICY_HEADER" ] && echo "auth_policy_server_api_header = $AUTHPOLICY_HEADER"
      [ -n "$AUTHPOLICY_ATTRS" ] && echo "auth_policy_request_attributes = $AUTHPOLICY_ATTRS"
    fi
  } > "$dir/dovecot.conf"

  cat > "$dir/bed.env" <<EOF
BED_DIR=$dir
SUBMISSION_PORT=$SUBMISSION_PORT
SMTP_PORT=$SMTP_PORT
IMAP_PORT=$IMAP_PORT
SINK_PORT=$SINK_PORT
POLICY='$POLICY'
POLICY_STAGES='$POLICY_STAGES'
AUTHPOLICY='$AUTHPOLICY'
INTERNAL=$INTERNAL
DENY_FILE='$DENY_FILE'
SINK_DUMP=$SINK_DUMP
EOF

  # ---------------- start: sink, Dovecot, Postfix
  start_sink "$dir" "$SINK_PORT" "$SINK_DUMP" ||
    { tail "$dir/sink.log" >&2; cmd_down "$dir"; die "smtp-sink did not listen on 127.0.0.1:$SINK_PORT"; }

  # no daemon may keep the caller's stdout/stderr open, or `bed.sh up | tail` and
  # $(bed.sh up) never finish (Dovecot's master and log processes keep stderr)
  /usr/sbin/dovecot -c "$dir/dovecot.conf" < /dev/null > /dev/null 2>> "$dir/dovecot.stderr" ||
    { cat "$dir/dovecot.stderr" >&2; tail -20 "$dir/dovecot.log" >&2 || true; cmd_down "$dir"; die "dovecot failed to start"; }
  wait_port 127.0.0.1 "$IMAP_PORT" 10 ||
    { tail -20 "$dir/dovecot.log" >&2 || true; cmd_down "$dir"; die "dovecot did not listen on 127.0.0.1:$IMAP_PORT"; }

  # Postfix commands print their errors on stderr only when it is a tty (otherwise
  # to syslog/maillog, i.e. nowhere when maillog_file itself is the problem): run
  # them under script(1) so that "postfix: fatal: ..." shows up here
  local pfc; pfc=$(printf '%q ' /usr/sbin/postfix -c "$dir/postfix-etc")
  script -qec "$pfc check" /dev/null < /dev/null 2>&1 | tr -d '\r' | sed 's/^/postfix check: /' >&2 || true
  script -qec "$pfc start" /dev/null < /dev/null 2>&1 | tr -d '\r' | sed 's/^/postfix start: /' >&2 || true
  if ! wait_port 127.0.0.1 "$SUBMISSION_PORT" 10 || ! wait_port 127.0.0.1 "$SMTP_PORT" 5; then
    tail -20 "$dir/maillog" >&2 || true; cmd_down "$dir"; die "postfix did not listen on 127.0.0.1:$SUBMISSION_PORT/$SMTP_PORT"
  fi
  local i
  for ((i = 0; i < 50; i++)); do [ -S "$dir/dovecot-run/auth-postfix" ] && break; sleep 0.1; done
  [ -S "$dir/dovecot-run/auth-postfix" ] || { cmd_down "$dir"; die "dovecot's auth-postfix socket did not appear"; }

  check_listeners "$dir" || { cmd_down "$dir"; die "a listener is bound to a non-loopback address"; }
  info "up: submission 127.0.0.1:$SUBMISSION_PORT (AUTH via Dovecot)  inbound smtp 127.0.0.1:$SMTP_PORT  imap 127.0.0.1:$IMAP_PORT  sink 127.0.0.1:$SINK_PORT"
  info "policy: ${POLICY:-none} (stages: $POLICY_STAGES${POLICY_TIMEOUT:+, timeout $POLICY_TIMEOUT}${POLICY_DEFAULT_ACTION:+, default_action $POLICY_DEFAULT_ACTION})  auth policy: ${AUTHPOLICY:-none}  internal delivery: $INTERNAL"
  info "logs: $dir/maillog  $dir/dovecot.log   users: $dir/users.txt"
}

start_sink() {  # DIR PORT DUMP(0|1): smtp-sink in the background, pid in DIR/sink.pid
  local dir=$1 port=$2 dump=()
  [ "$3" = 1 ] && dump=(-D "$dir/sink/%Y%m%d.dump")
  setsid /usr/sbin/smtp-sink -u nobody -h sink.invalid "${dump[@]}" "127.0.0.1:$port" 256 \
      < /dev/null >> "$dir/sink.log" 2>&1 &
  echo $! > "$dir/sink.pid"
  wait_port 127.0.0.1 "$port" 5
}

# ---------------------------------------------------------------- sink-stop / sink-start
# Stopping the sink makes Postfix defer mail to every domain but example.edu
# ("connect to 127.0.0.1[127.0.0.1]:PORT: Connection refused"), so a backlog
# builds in the deferred queue; after sink-start, `postqueue -c DIR/postfix-etc -f`
# (or -i ID) makes Postfix retry at once instead of after minutes of backoff.
bed_env_get() {  # DIR NAME: a plain value (digits/letters) from DIR/bed.env
  grep -E "^$2=[0-9A-Za-z]*$" "$1/bed.env" 2>/dev/null | tail -1 | cut -d= -f2
}

cmd_sink_stop() {
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  [ -r "$dir/bed.env" ] || die "no bed in $dir (no bed.env)"
  local spid port; spid=$(pid_of "$dir/sink.pid"); port=$(bed_env_get "$dir" SINK_PORT)
  if alive "$spid" && grep -q smtp-sink "/proc/$spid/cmdline" 2>/dev/null; then
    kill -TERM "$spid" 2>/dev/null || true
    wait_gone "$spid" 5 || die "smtp-sink (pid $spid) did not stop"
  else
    info "smtp-sink was not running"
  fi
  rm -f "$dir/sink.pid"
  local i
  for ((i = 0; i < 50; i++)); do [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && break; sleep 0.1; done
  info "sink stopped: mail to other domains now defers (127.0.0.1:$port refuses)"
}

cmd_sink_start() {
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  [ -r "$dir/bed.env" ] || die "no bed in $dir (no bed.env)"
  local port dump; port=$(bed_env_get "$dir" SINK_PORT); dump=$(bed_env_get "$dir" SINK_DUMP)
  [ -n "$port" ] || die "no SINK_PORT in $dir/bed.env"
  if alive "$(pid_of "$dir/sink.pid")"; then info "smtp-sink already running"; return 0; fi
  [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] || die "TCP port $port is taken by another process"
  start_sink "$dir" "$port" "${dump:-0}" || { tail "$dir/sink.log" >&2; die "smtp-sink did not listen on 127.0.0.1:$port"; }
  info "sink started on 127.0.0.1:$port; retry the backlog now with: postqueue -c $dir/postfix-etc -f"
}

cmd_kick() {  # the exact command the README documents
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  [ -n "${2:-}" ] || die "usage: bed.sh kick DIR USER"
  [ -r "$dir/dovecot.conf" ] || die "no bed in $dir (no dovecot.conf)"
  exec /usr/bin/doveadm -c "$dir/dovecot.conf" kick "$2"
}

# every TCP/UDP listener owned by one of our processes must be on 127.0.0.1, and
# there must be at least the four we opened
check_listeners() {
  local dir=$1 pids bad=0 line n=0
  pids=" $(instance_pids "$dir" | tr '\n' ' ') $(pid_of "$dir/sink.pid") "
  while read -r line; do
    local pid; pid=$(grep -o 'pid=[0-9]*' <<<"$line" | head -1 | cut -d= -f2) || true
    [ -n "$pid" ] && [[ "$pids" == *" $pid "* ]] || continue
    local addr; addr=$(awk '{print $5}' <<<"$line")
    echo "  listener $addr  $(grep -o 'users:.*' <<<"$line")" >&2
    n=$((n + 1))
    [[ "$addr" == 127.0.0.1:* ]] || { echo "  ^^^ NOT LOOPBACK" >&2; bad=1; }
  done < <(ss -Hlntup 2>/dev/null)
  [ "$n" -ge 4 ] || { echo "  only $n listener(s) found for the instance (expected 4)" >&2; bad=1; }
  return $bad
}

# ---------------------------------------------------------------- down
cmd_down() {
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  local rm=0; [ "${2:-}" = "--rm" ] && rm=1
  [ -d "$dir" ] || die "no such directory: $dir"
  local mpid dpid spid
  mpid=$(pid_of "$dir/postfix-spool/pid/master.pid")
  if alive "$mpid"; then
    /usr/sbin/postfix -c "$dir/postfix-etc" stop 2>&1 | sed 's/^/postfix: /' >&2 || true
    wait_gone "$mpid" 10 || true
  fi
  dpid=$(pid_of "$dir/dovecot-run/master.pid")
  if alive "$dpid"; then
    kill -TERM "$dpid" 2>/dev/null || true   # what `dovecot stop` does
    wait_gone "$dpid" 10 || true
  fi
  spid=$(pid_of "$dir/sink.pid")
  if alive "$spid" && grep -q smtp-sink "/proc/$spid/cmdline" 2>/dev/null; then
    kill -TERM "$spid" 2>/dev/null || true
    wait_gone "$spid" 5 || true
  fi
  rm -f "$dir/sink.pid"
  # anything of this instance still around (should not happen): TERM, then KILL, by pid
  local left; left=$(instance_pids "$dir" | tr '\n' ' ')
  if [ -n "${left// /}" ]; then
    info "leftover processes: $left -- terminating"
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true; sleep 1
    left=$(instance_pids "$dir" | tr '\n' ' ')
    # shellcheck disable=SC2086
    [ -n "${left// /}" ] && { kill -KILL $left 2>/dev/null || true; sleep 0.2; }
  fi
  left=$(instance_pids "$dir" | tr '\n' ' ')
  [ -z "${left// /}" ] || die "processes still running: $left"
  info "down: no processes left for $dir"
  if [ "$rm" = 1 ]; then rm -rf -- "$dir" && info "removed $dir"; fi
  return 0
}

cmd_status() {
  local dir; dir=$(abs_dir "${1:-}")
  local p
  echo "postfix master: $(pid_of "$dir/postfix-spool/pid/master.pid")  dovecot master: $(pid_of "$dir/dovecot-run/master.pid")  sink: $(pid_of "$dir/sink.pid")"
  for p in $(instance_pids "$dir") $(pid_of "$dir/sink.pid"); do
    ps -o pid=,user=,args= -p "$p" 2>/dev/null || true
  done
  check_listeners "$dir" 2>&1 || true
}

cmd_logs() {
  local dir; dir=$(abs_dir "${1:-}")
  local n=${2:-40}
  echo "== $dir/maillog"; tail -n "$n" "$dir/maillog" 2>/dev/null || true
  echo "== $dir/dovecot.log"; tail -n "$n" "$dir/dovecot.log" 2>/dev/null || true
}

cmd_queue() {  # one JSON object per queued message (queue_name: incoming|active|deferred|hold|...)
  need_root
  local dir; dir=$(abs_dir "${1:-}")
  # as root, postqueue accepts an alternate config dir that /etc/postfix does not list
  /usr/sbin/postqueue -c "$dir/postfix-etc" -j
}

# send/login/badlogin: ports from env, or from $BED_DIR/bed.env
load_env() {
  if [ -n "${BED_DIR:-}" ] && [ -r "$BED_DIR/bed.env" ]; then
    eval "$(grep -E '^(SUBMISSION_PORT|SMTP_PORT|IMAP_PORT)=[0-9]+$' "$BED_DIR/bed.env")"
  fi
  export SUBMISSION_PORT SMTP_PORT IMAP_PORT
}

usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

sub=${1:-}; [ $# -gt 0 ] && shift
case "$sub" in
  install)  cmd_install "$@" ;;
  up)       cmd_up "$@" ;;
  down)     cmd_down "$@" ;;
  status)   cmd_status "$@" ;;
  logs)     cmd_logs "$@" ;;
  queue)    cmd_queue "$@" ;;
  sink-stop)  cmd_sink_stop "$@" ;;
  sink-start) cmd_sink_start "$@" ;;
  kick)     cmd_kick "$@" ;;
  send)     load_env; exec "$PY" "$HERE/send.py" "$@" ;;
  login)    load_env; exec "$PY" "$HERE/imap.py" login "$@" ;;
  badlogin) load_env; exec "$PY" "$HERE/imap.py" badlogin "$@" ;;
  hold)     load_env; exec "$PY" "$HERE/imap.py" hold "$@" ;;
  -h|--help|help|"") usage ;;
  *) usage >&2; exit 2 ;;
esac
