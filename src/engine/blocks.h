/* blocks.h - client addresses blocked for a while (the intruder's address) */
#ifndef MF_BLOCKS_H
#define MF_BLOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct block {
  char addr[48]; /* canonical text (inet_ntop; IPv4-mapped IPv6 as IPv4) */
  int64_t since, until;
  char by[32];       /* "mailfuse" or "ctl:UID" */
  char reason[200];  /* one line */
};

struct blocktab;

struct blocktab *blocktab_new(void);
void blocktab_free(struct blocktab *t);
/* Canonical text of an address; 0, or -1 when text is not an address. */
int block_canon(const char *text, char *out, size_t len);
/* The block of an address (any text form) in force at now, or NULL. */
const struct block *blocktab_get(const struct blocktab *t, const char *addr, int64_t now);
/* Add or extend (a longer until wins); the stored entry, or NULL (bad address, no memory). */
const struct block *blocktab_add(struct blocktab *t, const char *addr, int64_t since, int64_t until,
                                 const char *by, const char *reason);
/* 1 removed, 0 was not blocked. */
int blocktab_del(struct blocktab *t, const char *addr);
size_t blocktab_count(const struct blocktab *t);
/* Iterate: *pos starts at 0. */
const struct block *blocktab_next(const struct blocktab *t, size_t *pos);
/* Drop entries expired at now, copying their addresses to cb (may be NULL). */
size_t blocktab_expire(struct blocktab *t, int64_t now, void (*cb)(void *, const struct block *), void *arg);
/* JSON text of an entry (for the store); caller frees. */
char *block_to_json(const struct block *b);
/* Entry from block_to_json() text; 0 or -1. */
int blocktab_add_json(struct blocktab *t, const char *addr, const char *json, size_t len);

#endif
