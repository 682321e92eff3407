/* contain.h - containment: incidents, and their effects on every door.
 *
 * Called on the loop thread by the sources (after each verdict) and by ctl
 * (suspend, release, block, unblock). Slow effects run on three runner
 * threads (doors: deny file, kick, hooks, nft; queue: postqueue/postsuper;
 * notify: e-mail, webhook); failures are retried with backoff and never
 * lift a suspension, which the engine enforces on the SMTP path by itself. */
#ifndef MF_CONTAIN_H
#define MF_CONTAIN_H

#include <jansson.h>
#include <stdint.h>

#include "actions/incident.h"
#include "engine/engine.h"
#include "store/store.h"

struct daemon;
struct contain;

enum held_mode { HELD_KEEP, HELD_RELEASE, HELD_DELETE };

/* Load the incidents from the store, start the runners, write the deny file
 * once from the suspensions in force. NULL with err. */
struct contain *contain_new(struct daemon *d, char *err, size_t errlen);
/* Let queued effects finish (each is time-limited) and queue nothing new. NULL ok. */
void contain_stop(struct contain *c);
void contain_free(struct contain *c);

/* After each verdict of a live source; qid: the Postfix queue id when known. */
void contain_verdict(struct contain *c, const struct event *ev, const struct verdict *v,
                     const char *qid, int64_t now);
/* A person suspended an account (the engine already has it). */
void contain_suspended(struct contain *c, const char *account, const char *by, const char *reason,
                       int64_t now);
/* A person released an account (the engine already did): close its
 * incident, lift the doors, and release, delete or keep its held mail.
 * msg gets a one-line summary. Returns the incident id or 0 when none. */
uint64_t contain_released(struct contain *c, const char *account, const char *by,
                          enum held_mode mode, int64_t now, char *msg, size_t len);
/* A block was added (until) or removed (until 0) by a person. */
void contain_block_changed(struct contain *c, const char *addr, int64_t until, int64_t now);
/* Every second: blocks that expired, alerts whose effects have settled. */
void contain_tick(struct contain *c, int64_t now);
/* Changed incidents into b (at each flush). 0 or -1. */
int contain_collect(struct contain *c, struct store_batch *b);

/* For ctl. */
json_t *contain_status_json(const struct contain *c);
json_t *contain_list_json(const struct contain *c, size_t max, bool open_only);
const struct incident *contain_incident(const struct contain *c, uint64_t id);
const struct incident *contain_open_incident(const struct contain *c, const char *account);

#endif
