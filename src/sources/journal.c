/* journal.c - the systemd journal as a log source (libsystemd).
 *
 * Each entry becomes a framed line (time, host, SYSLOG_IDENTIFIER, pid,
 * MESSAGE) and goes through the same parsers as a file line.  The cursor of
 * the last entry handed out is what the daemon stores, so a restart resumes
 * right after it.  Polled by the daemon's timer; sd_journal_process() picks
 * up appended and rotated journal files.
 */
#include "sources/journal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

struct journal {
  sd_journal *j;
  char *cursor;
};

struct journal *journal_open(const char *directory, const char *cursor, bool from_end, char *err,
                             size_t errlen) {
  struct journal *jr = calloc(1, sizeof *jr);
  if (!jr) return NULL;
  int r = directory && *directory ? sd_journal_open_directory(&jr->j, directory, 0)
                                  : sd_journal_open(&jr->j, SD_JOURNAL_LOCAL_ONLY);
  if (r < 0) {
    snprintf(err, errlen, "journal %s: %s", directory && *directory ? directory : "(system)", strerror(-r));
    free(jr);
    return NULL;
  }
  (void)sd_journal_get_fd(jr->j); /* sets up change notification for sd_journal_process() */
  if (cursor && *cursor && sd_journal_seek_cursor(jr->j, cursor) == 0 && sd_journal_next(jr->j) > 0 &&
      sd_journal_test_cursor(jr->j, cursor) > 0) {
    jr->cursor = strdup(cursor); /* positioned on the last entry we had: next() moves past it */
  } else if (from_end) {
    sd_journal_seek_tail(jr->j);
    sd_journal_previous(jr->j); /* on the last entry: the next one is new */
  } else {
    sd_journal_seek_head(jr->j);
  }
  return jr;
}

void journal_close(struct journal *jr) {
  if (!jr) return;
  sd_journal_close(jr->j);
  free(jr->cursor);
  free(jr);
}

static struct strview field(sd_journal *j, const char *name) {
  const void *data;
  size_t len, nl = strlen(name);
  if (sd_journal_get_data(j, name, &data, &len) < 0 || len <= nl + 1) return SV_NULL;
  return (struct strview){(const char *)data + nl + 1, len - nl - 1};
}

int journal_poll(struct journal *jr, size_t max, journal_entry_fn entry, void *arg) {
  sd_journal_process(jr->j);
  int n = 0;
  while ((size_t)n < max) {
    int r = sd_journal_next(jr->j);
    if (r < 0) return -1;
    if (r == 0) break;
    uint64_t usec = 0;
    sd_journal_get_realtime_usec(jr->j, &usec);
    /* sd_journal_get_data() reuses one buffer per call: copy what we keep */
    char prog[128], pid[24], host[128];
    struct strview v = field(jr->j, "SYSLOG_IDENTIFIER");
    (void)sv_copy(prog, sizeof prog, v);
    v = field(jr->j, "_PID");
    if (!v.len) v = field(jr->j, "SYSLOG_PID");
    (void)sv_copy(pid, sizeof pid, v);
    (void)sv_copy(host, sizeof host, field(jr->j, "_HOSTNAME"));
    struct strview msg = field(jr->j, "MESSAGE");
    struct logline l = {LL_SYSLOG, (int64_t)(usec / 1000000), (uint32_t)(usec % 1000000),
                        {host, strlen(host)}, {prog, strlen(prog)}, {pid, strlen(pid)},
                        msg.len > LOG_LINE_MAX ? (struct strview){msg.p, LOG_LINE_MAX} : msg};
    entry(arg, &l);
    n++;
  }
  char *c = NULL;
  if (n > 0 && sd_journal_get_cursor(jr->j, &c) >= 0) { /* of the last entry handed out */
    free(jr->cursor);
    jr->cursor = c;
  }
  return n;
}

const char *journal_cursor(const struct journal *jr) { return jr->cursor; }
