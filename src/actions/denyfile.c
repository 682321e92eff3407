/* denyfile.c - write the suspended accounts as a Dovecot passwd-file for a
 * passdb with deny = yes, so that a suspended account cannot log in over IMAP
 * or POP3 either.
 *
 * Format: one comment line, then one user name per line and nothing else
 * (passwd-file lines are "user[:password[:...]]"; a deny passdb needs only
 * the user; Dovecot skips lines starting with '#').  Names are written once
 * each; a duplicate would make Dovecot log "exists more than once".
 *
 * The file is replaced atomically: a temp file beside it, fsync, rename,
 * fsync of the directory.  On any error the old file stays as it was and the
 * temp file is removed.
 *
 * Why the mtime is pushed forward: Dovecot (auth/db-passwd-file.c) re-reads
 * the file when its st_mtime, in whole seconds, or its size differs from the
 * copy it holds, and stats it at most once a second.  Two versions of equal
 * size written within one second would look the same to it and the second
 * would never be read.  So every new version gets an mtime later than the
 * one it replaces (ahead of the clock by at most one second per extra write
 * within a second).
 */
#include "actions/denyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/strmap.h"

#define DENYFILE_HEADER                                                          \
  "# written by mailfuse: accounts suspended from IMAP/POP3 (Dovecot passdb deny = yes); " \
  "edits are overwritten\n"

struct out {
  FILE *f;
  struct strmap *seen;
  int oom;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (err && errlen) vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

static bool name_ok(const char *a) {
  size_t n = strlen(a);
  if (n == 0 || n > DENYFILE_NAME_MAX || a[0] == '#') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)a[i];
    if (c <= 0x20 || c == 0x7f || c == ':') return false; /* 0x20: space; below: controls */
  }
  return true;
}

/* Write name[0..len) once, as given and lowercased when that differs. */
static void put_name(struct out *o, const char *name, size_t len) {
  char buf[DENYFILE_NAME_MAX + 1];
  memcpy(buf, name, len);
  buf[len] = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1)
      for (size_t i = 0; i < len; i++)
        if (buf[i] >= 'A' && buf[i] <= 'Z') buf[i] = (char)(buf[i] - 'A' + 'a');
    if (strmap_get(o->seen, buf)) continue;
    if (strmap_set(o->seen, buf, (void *)1) < 0) o->oom = 1;
    fprintf(o->f, "%s\n", buf);
  }
}

static void put_account(struct out *o, const char *acct, const char *domain) {
  size_t n = strlen(acct);
  put_name(o, acct, n);
  if (!domain || !*domain) return;
  size_t dn = strlen(domain);
  const char *at = strrchr(acct, '@');
  if (at && at > acct && (size_t)(acct + n - at - 1) == dn && strcasecmp(at + 1, domain) == 0)
    put_name(o, acct, (size_t)(at - acct));
}

/* The temp file gets the old file's mode and owner, and a later mtime. */
static int match_old(int fd, const struct stat *old, bool have_old) {
  if (fchmod(fd, have_old ? old->st_mode & 07777 : 0644) < 0) return -1;
  if (have_old && geteuid() == 0 && fchown(fd, old->st_uid, old->st_gid) < 0) return -1;
  struct stat now;
  if (!have_old || fstat(fd, &now) < 0 || now.st_mtime > old->st_mtime) return 0;
  struct timespec ts[2] = {{0, UTIME_OMIT}, {old->st_mtime + 1, 0}};
  return futimens(fd, ts);
}

static int write_body(FILE *f, const char *const *accounts, size_t n, const char *domain,
                      size_t *skipped) {
  struct out o = {f, strmap_new(), 0};
  if (!o.seen) return -1;
  fputs(DENYFILE_HEADER, f);
  for (size_t i = 0; i < n; i++) {
    if (!accounts[i] || !name_ok(accounts[i])) {
      if (skipped) (*skipped)++;
      continue;
    }
    put_account(&o, accounts[i], domain);
  }
  strmap_free(o.seen);
  if (o.oom) errno = ENOMEM;
  return o.oom ? -1 : 0;
}

static int sync_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else if ((size_t)(slash - path) >= sizeof dir) return errno = ENAMETOOLONG, -1;
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

/* Fill the temp file fd (closed here, also on error). */
static int fill_temp(int fd, const char *path, const char *const *accounts, size_t n,
                     const char *domain, size_t *skipped, char *err, size_t errlen) {
  struct stat old;
  bool have_old = stat(path, &old) == 0;
  FILE *f = fdopen(fd, "w");
  if (!f) {
    set_err(err, errlen, "fdopen: %s", strerror(errno));
    close(fd);
    return -1;
  }
  const char *what = NULL;
  if (write_body(f, accounts, n, domain, skipped) < 0 || fflush(f) != 0 || ferror(f))
    what = "write";
  else if (match_old(fd, &old, have_old) < 0)
    what = "set mode, owner or mtime of";
  else if (fsync(fd) < 0)
    what = "fsync";
  int e = errno;
  if (fclose(f) != 0 && !what) {
    what = "close";
    e = errno;
  }
  if (what) set_err(err, errlen, "%s temp file for %s: %s", what, path, strerror(e));
  return what ? -1 : 0;
}

int denyfile_write(const char *path, const char *const *accounts, size_t n,
                   const char *account_domain, size_t *skipped, char *err, size_t errlen) {
  char tmp[4096];
  if (skipped) *skipped = 0;
  /* mkstemp's template: it replaces the six X with a unique suffix */
  if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= (int)sizeof tmp) {
    set_err(err, errlen, "path too long: %.200s", path);
    return -1;
  }
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    set_err(err, errlen, "create %s: %s", tmp, strerror(errno));
    return -1;
  }
  if (fill_temp(fd, path, accounts, n, account_domain, skipped, err, errlen) < 0) {
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path) < 0) {
    set_err(err, errlen, "rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (sync_dir(path) < 0) {
    set_err(err, errlen, "fsync of the directory of %s: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}
