/* incident.h - one incident: an account's fuse tripped; what it did, what
 * mailfuse did about it (each effect with its state), who released it.
 * The records are the audit trail; they live in the store's incidents table. */
#ifndef MF_INCIDENT_H
#define MF_INCIDENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine/keytab.h"

/* Effects mailfuse carries out, each tracked on its own. */
enum fx {
  FX_DENY,         /* Dovecot deny file lists the account */
  FX_KICK,         /* open IMAP/POP3 sessions closed */
  FX_HOOK,         /* suspend_command */
  FX_HOLD,         /* queued mail put on hold */
  FX_NFT,          /* client address in the nftables set */
  FX_EMAIL,        /* alert e-mail */
  FX_WEBHOOK,      /* alert webhook */
  FX_RELEASE_HELD, /* held mail back to delivery */
  FX_DELETE_HELD,  /* held mail deleted */
  FX_RELEASE_HOOK, /* release_command */
  FX_DENY_REMOVE,  /* deny file no longer lists the account */
  FX__N
};

enum fx_state { FXS_NONE, FXS_RUNNING, FXS_OK, FXS_RETRY, FXS_FAILED };

struct fx_status {
  uint8_t state;
  uint16_t attempts;
  int64_t at; /* last change */
  char err[160];
};

#define INC_TOP 5
#define INC_CLIENTS 4
#define INC_AUDIT_MAX 48
#define INC_SENDERS 4
#define INC_QIDS 32

struct audit {
  int64_t at;
  char who[24];
  char what[168];
};

struct incident {
  uint64_t id;
  char account[KEY_MAX + 1];
  int64_t opened, updated, closed; /* closed 0: open */
  uint8_t level;                   /* ACT_HOLD or ACT_SUSPEND */
  char by[24];                     /* "mailfuse" or "ctl:UID" */
  char reason[400];
  char client[48];                 /* the address that tripped it ("" unknown) */
  bool client_blocked;
  int64_t counts[6]; /* messages minute/hour/day, external recipients minute/hour/day; -1 not kept */
  uint64_t refused;  /* later requests refused or held */
  char top[INC_TOP][64];
  uint64_t top_n[INC_TOP];
  char clients[INC_CLIENTS][48];
  char senders[INC_SENDERS][128]; /* envelope senders it used: how its queued mail is found */
  char qids[INC_QIDS][20];        /* queue ids of its last messages before the fuse tripped */
  uint64_t held, released_held, deleted_held;
  struct fx_status fx[FX__N];
  bool alerted, alerted_suspend, dirty;
  char released_by[24];
  struct audit audit[INC_AUDIT_MAX];
  uint32_t naudit, audit_dropped;
};

const char *fx_name(enum fx f);
const char *fx_state_name(enum fx_state s);
/* Append to the trail (the oldest entries after the first are dropped when full). */
void incident_audit(struct incident *in, int64_t at, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Count a recipient domain / client address seen for the incident. */
void incident_add_domain(struct incident *in, const char *domain, uint64_t n);
/* The same for a count from another view of the same messages (the queue):
 * the larger of the two counts stands, they are not added. */
void incident_max_domain(struct incident *in, const char *domain, uint64_t n);
void incident_add_client(struct incident *in, const char *client);
void incident_add_sender(struct incident *in, const char *sender);
void incident_add_qid(struct incident *in, const char *qid);
/* JSON both ways (the store keeps the compact text). NULL / -1 on bad data. */
json_t *incident_to_json(const struct incident *in);
int incident_from_json(struct incident *in, const json_t *o);
/* Store key of an id: 20 digits, so that keys sort by id. */
void incident_key(uint64_t id, char out[24]);

#endif
