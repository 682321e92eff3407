/* conf_internal.h - shared by conf.c, conf_schema.c and conf_limits.c only */
#ifndef MF_CONF_INTERNAL_H
#define MF_CONF_INTERNAL_H

#include <libconfig.h>

#include "core/conf.h"

enum ktype { KT_STR, KT_BOOL, KT_INT, KT_SECONDS, KT_SIZE, KT_STRLIST, KT_SECTION, KT_NUMBER };

struct conf_err {
  const char *file;
  char *buf;
  size_t len;
};

struct conf_key {
  const char *name;
  enum ktype type;
  const char *def;     /* default as text; lists comma-separated */
  double min, max;     /* bounds for numbers; max 0 = none */
  const char *choices; /* "a|b|c" for enumerated strings, or NULL */
  bool reload;         /* takes effect on SIGHUP */
  size_t off;          /* offset in struct conf (not for sections) */
  size_t count_off;    /* offset of the size_t count for lists */
  int (*section)(struct conf *, config_setting_t *, struct conf_err *);
  const char *doc;
};

/* A field of a section entry (limit, group, exemption): for docs and checks. */
struct conf_field {
  const char *name;
  const char *type;
  bool required;
  const char *doc;
};

extern const struct conf_key conf_keys[];
extern const size_t conf_nkeys;
extern const struct conf_field conf_limit_fields[], conf_group_fields[],
    conf_exemption_fields[];
extern const size_t conf_nlimit_fields, conf_ngroup_fields, conf_nexemption_fields;

/* Record "file:line: why" (first error wins); always returns -1. */
int conf_fail(struct conf_err *e, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Check that every member of group setting s names a known field. 0 or -1. */
int conf_check_fields(config_setting_t *s, const struct conf_field *f, size_t n,
                      const char *what, struct conf_err *e);

int conf_parse_limits(struct conf *, config_setting_t *, struct conf_err *);
int conf_parse_groups(struct conf *, config_setting_t *, struct conf_err *);
int conf_parse_exemptions(struct conf *, config_setting_t *, struct conf_err *);
void conf_free_limit_set(struct limit_set *ls);
void conf_free_sections(struct conf *c);
/* Fill the derived slot masks from all limits. */
void conf_derive_slots(struct conf *c);
/* Check the containment and auth keys; fill never_nets. 0 or -1. */
int conf_finish_actions(struct conf *c, struct conf_err *e);

#endif
