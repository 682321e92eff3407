/* policy_codec.h - the Postfix policy delegation protocol: parse and reply */
#ifndef MF_POLICY_CODEC_H
#define MF_POLICY_CODEC_H

#include <stddef.h>

#include "core/strview.h"

#define POLICY_LINE_MAX 4096  /* one name=value line (ccert subjects can be long) */
#define POLICY_ATTRS_MAX 128  /* Postfix 3.12 sends about 35 */
#define POLICY_REQ_MAX 32768  /* a whole request */

enum policy_err {
  PERR_NONE,
  PERR_LINE_TOO_LONG,
  PERR_TOO_MANY_ATTRS,
  PERR_GARBAGE,
  PERR_TOO_LARGE,
};

/* The attributes mailfuse uses; views point into the parsed buffer. */
struct policy_req {
  struct strview request, protocol_state, protocol_name, sasl_username, sender, recipient,
      recipient_count, instance, client_address, queue_id, size, policy_context;
  unsigned nattrs;
};

/* Parse one request at the start of data[0..len). Returns the bytes it
 * used (> 0) with *req filled, 0 when more data is needed, or -1 with *err
 * set. Never reads past len; views are borrowed from data. */
long policy_parse(const char *data, size_t len, struct policy_req *req, enum policy_err *err);
/* Name of an error, for logs. */
const char *policy_err_name(enum policy_err e);

#endif
