/* policy_codec.c - parser for SMTPD_POLICY_README requests.
 *
 * A request is "name=value\n" lines ended by an empty line.  Names may not
 * hold '=', NUL or control bytes; values may hold anything but NUL and
 * newline.  Unknown names are ignored; a repeated name keeps the last
 * value.  Every limit is checked before anything is used, and a tail that
 * is not yet complete is checked too, so garbage is refused as soon as it
 * is seen rather than after POLICY_REQ_MAX bytes.
 */
#include "sources/policy_codec.h"

#include <string.h>

/* Length of the name before the line's first '=', or 0 when the line has
 * no '=', the name is empty or holds a control byte or a space. */
static size_t name_len(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '=') return i;
    if (ch <= 0x20 || ch == 0x7f) return 0;
  }
  return 0;
}

/* The attributes mailfuse reads; the others (a request has ~26) are
 * skipped. By length first: one or two comparisons a line, inlined. */
#define MATCH(f)                                                  \
  if (memcmp(name, #f, sizeof #f - 1) == 0) {                     \
    req->f = val;                                                 \
    return;                                                       \
  }

static void store_field(struct policy_req *req, const char *name, size_t nlen,
                        struct strview val) {
  switch (nlen) {
    case 4: MATCH(size) break;
    case 6: MATCH(sender) break;
    case 7: MATCH(request) break;
    case 8: MATCH(instance) MATCH(queue_id) break;
    case 9: MATCH(recipient) break;
    case 13: MATCH(protocol_name) MATCH(sasl_username) break;
    case 14: MATCH(protocol_state) MATCH(client_address) MATCH(policy_context) break;
    case 15: MATCH(recipient_count) break;
    default: break;
  }
}
#undef MATCH

static long fail(enum policy_err *err, enum policy_err e) {
  *err = e;
  return -1;
}

long policy_parse(const char *data, size_t len, struct policy_req *req, enum policy_err *err) {
  memset(req, 0, sizeof *req);
  *err = PERR_NONE;
  size_t pos = 0;
  while (pos < len) {
    const char *line = data + pos;
    const char *nl = memchr(line, '\n', len - pos);
    size_t avail = nl ? (size_t)(nl - line) : len - pos;
    if (avail > POLICY_LINE_MAX) return fail(err, PERR_LINE_TOO_LONG);
    if (memchr(line, '\0', avail)) return fail(err, PERR_GARBAGE);
    if (!nl) break; /* incomplete line: need more */
    size_t l = avail;
    if (l && line[l - 1] == '\r') l--; /* tolerate CRLF from hand-made clients */
    pos += avail + 1;
    if (l == 0) {
      if (req->nattrs == 0 || !req->request.len) return fail(err, PERR_GARBAGE);
      if (!(req->request.len == 19 && memcmp(req->request.p, "smtpd_access_policy", 19) == 0))
        return fail(err, PERR_GARBAGE);
      return (long)pos;
    }
    size_t nlen = name_len(line, l);
    if (!nlen) return fail(err, PERR_GARBAGE);
    if (++req->nattrs > POLICY_ATTRS_MAX) return fail(err, PERR_TOO_MANY_ATTRS);
    store_field(req, line, nlen, (struct strview){line + nlen + 1, l - nlen - 1});
  }
  if (len >= POLICY_REQ_MAX) return fail(err, PERR_TOO_LARGE);
  return 0;
}

const char *policy_err_name(enum policy_err e) {
  static const char *const n[] = {"none", "line_too_long", "too_many_attributes", "garbage",
                                  "request_too_large"};
  return n[e];
}
