/* postqueue.h - pick an account's messages out of `postqueue -j` output */
#ifndef MF_POSTQUEUE_H
#define MF_POSTQUEUE_H

#include <stddef.h>
#include <stdint.h>

#define PQ_LINE_MAX (1024 * 1024) /* longer lines are skipped and counted as bad */
#define PQ_QID_MAX 32             /* longest queue id taken ([0-9A-Za-z]+; Postfix: 10-17) */
#define PQ_DOMAIN_MAX 255         /* recipient domains longer than this are not counted */
#define PQ_DOMAINS_MAX 65536      /* distinct domains counted; later new ones are not */

struct pq_select;

/* Messages match when their sender equals (case-insensitively, ASCII) one of
 * senders, or their queue id is one of qids. An empty sender in senders is
 * ignored (it would match every bounce). Copies the lists. Caller frees with
 * pq_select_free(); NULL when out of memory. */
struct pq_select *pq_select_new(const char *const *senders, size_t nsenders,
                                const char *const *qids, size_t nqids);
/* Feed the next chunk of output (any size, any split). */
void pq_select_feed(struct pq_select *s, const char *data, size_t len);
/* The output ended: a last line without newline is taken. */
void pq_select_end(struct pq_select *s);

/* lines: non-empty lines; bad_lines: lines skipped (bad JSON, no valid
 * queue_id/queue_name/sender, longer than PQ_LINE_MAX); matched: distinct
 * matching messages (a queue id listed twice counts once); already_held: of
 * those, the ones already in the hold queue; recipients: of the matching ones. */
struct pq_summary {
  uint64_t lines, bad_lines, matched, already_held, recipients;
};
void pq_select_summary(const struct pq_select *s, struct pq_summary *out);

/* Matching messages not yet in the hold queue, as "ID\n" lines for
 * `postsuper -h -` stdin (NUL-terminated text; length in *len; "" when none).
 * Every ID is [0-9A-Za-z]{1,PQ_QID_MAX}. Borrowed until the next feed or free.
 * NULL when memory ran out during the feed (the list would be incomplete). */
const char *pq_select_ids(const struct pq_select *s, size_t *len);
/* How many IDs pq_select_ids() lists. */
size_t pq_select_nids(const struct pq_select *s);
/* The same for the matching messages already in the hold queue, what a
 * release (`postsuper -H -`) or a delete after review acts on. */
const char *pq_select_held_ids(const struct pq_select *s, size_t *len);
/* How many IDs pq_select_held_ids() lists. */
size_t pq_select_nheld(const struct pq_select *s);

/* Top k recipient domains (lowercased) of the matching messages, most first
 * (ties by name): fills domains[i] (pointers valid until pq_select_free())
 * and counts[i]; returns how many (0 also when out of memory). */
size_t pq_select_top_domains(const struct pq_select *s, size_t k, const char **domains,
                             uint64_t *counts);
/* pq_select_free(NULL) is a no-op. */
void pq_select_free(struct pq_select *s);

#endif
