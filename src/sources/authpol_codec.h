/* authpol_codec.h - Dovecot auth policy requests (JSON) and replies */
#ifndef MF_AUTHPOL_CODEC_H
#define MF_AUTHPOL_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/strview.h"

#define AUTHPOL_BODY_MAX (1024 * 1024) /* hard cap; auth_max_body is at most this */
#define AUTHPOL_QUERY_MAX 2048         /* the URL's query string */
#define AUTHPOL_VALUE_MAX 2048         /* one string field we keep, decoded */
#define AUTHPOL_ESC_MAX 4096           /* decoded bytes of kept fields that had escapes */
#define AUTHPOL_DEPTH_MAX 8            /* nested objects ("attrs/cos" keys) and arrays */
#define AUTHPOL_KEYS_MAX 256           /* keys at every level together */
#define AUTHPOL_WHY_MAX 96             /* a parse error, for the 400 reply and the log */
#define AUTHPOL_MSG_MAX 160            /* reply text we send (Dovecot shows it to the user) */
#define AUTHPOL_REPLY_MAX (48 + 6 * AUTHPOL_MSG_MAX) /* a whole reply, every byte escaped */

enum authpol_cmd { AP_ALLOW, AP_REPORT };

/* One request. The views point into the body, or into esc[] for values
 * that had JSON escapes: valid while both live; never copy the struct.
 * Absent string fields have len 0. Dovecot sends every attribute as a
 * string and success/policy_reject/tls as booleans. */
struct authpol_req {
  enum authpol_cmd cmd;  /* from the query string: command=allow|report */
  struct strview login;  /* what the client typed (%{requested_username}) */
  struct strview remote; /* client IP (%{rip}; 2.4: %{remote_ip}) */
  struct strview protocol, session_id, device_id, pwhash;
  struct strview fail_type; /* 2.4 report: credentials|account|expired|disabled|internal|policy */
  bool success, policy_reject; /* report only */
  bool tls;                    /* sent by 2.3.19 and 2.4, not by older versions */
  bool has_success, has_policy_reject, has_tls;
  unsigned nkeys;    /* keys seen at every level */
  size_t esc_used;
  char esc[AUTHPOL_ESC_MAX];
};

/* Parse a request: query is the URL's query string (NULL if none), body
 * the JSON object. 0, or -1 with a short reason in why (bad json, unknown
 * command, field of the wrong type, value too long...). Unknown keys and
 * nested objects are skipped; a repeated key: the last one counts. */
int authpol_parse(const char *query, const char *body, size_t len, struct authpol_req *req,
                  char *why, size_t whylen) __attribute__((warn_unused_result));
/* {"status":N,"msg":"..."} with msg JSON-escaped (cut to AUTHPOL_MSG_MAX
 * bytes at a character boundary); returns the length, or -1 if out is too small. */
int authpol_format(int status, const char *msg, char *out, size_t outlen);
/* {"error":"..."} for a refused request; same return as authpol_format(). */
int authpol_format_error(const char *why, char *out, size_t outlen);

#endif
