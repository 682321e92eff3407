/* ctl_contain.h - ctl commands about incidents and blocked addresses */
#ifndef MF_CTL_CONTAIN_H
#define MF_CTL_CONTAIN_H

#include <jansson.h>
#include <sys/types.h>

struct daemon;

/* Each returns the reply object ({"ok":...}). by: "ctl:uid=N". */
json_t *ctl_incidents(struct daemon *d, json_t *req);
json_t *ctl_incident(struct daemon *d, json_t *req);
json_t *ctl_block(struct daemon *d, json_t *req, const char *by);
json_t *ctl_unblock(struct daemon *d, json_t *req, const char *by);
json_t *ctl_blocks(struct daemon *d, json_t *req);
/* "held" of a release request: "release", "delete" or absent; -1 if bad. */
int ctl_held_mode(json_t *req);

#endif
