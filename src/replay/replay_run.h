/* replay_run.h - the facts of one replay run, shared by the report writers */
#ifndef MF_REPLAY_RUN_H
#define MF_REPLAY_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "replay/replay_stats.h"
#include "sources/logevent.h"

struct replay_run {
  const char *config;
  int ninputs;
  char **inputs;
  uint64_t lines, parsed, events, not_ours, outside, bytes;
  uint64_t unparsed[LM__N];
  int64_t first_ts, last_ts, since, until;
  double seconds;
  struct replay_stats *stats;
};

/* Text summary to out. */
void replay_report_text(FILE *out, struct replay_run *run);
/* JSON facts to path; 0 or -1 (message on stderr). */
int replay_report_json(const char *path, struct replay_run *run);
/* One self-contained HTML page to path; 0 or -1. */
int replay_report_html(const char *path, struct replay_run *run);

#endif
