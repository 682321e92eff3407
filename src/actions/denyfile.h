/* denyfile.h - the suspended accounts as a Dovecot passwd-file for a deny passdb */
#ifndef MF_DENYFILE_H
#define MF_DENYFILE_H

#include <stddef.h>

#define DENYFILE_NAME_MAX 512 /* longer account names are skipped */

/* Write path atomically (temp file in the same directory, fsync, rename,
 * fsync of the directory) listing accounts, one name a line, for a Dovecot
 * passdb { driver = passwd-file; deny = yes; args = <path> }.
 * When an account is "name@" + account_domain (domain compared
 * case-insensitively; NULL or "": never), the bare "name" is listed too
 * (Dovecot may know either form). Each name is also listed lowercased when
 * that differs (Dovecot lowercases logins by default, auth_username_format =
 * %Lu). Names are listed once. Accounts that are empty, start with '#', are
 * longer than DENYFILE_NAME_MAX or hold ':', whitespace or control
 * characters are skipped and counted in *skipped (may be NULL). An existing
 * file keeps its mode and owner (new: 0644), and every new version gets a
 * later mtime than the one it replaces, as Dovecot notices a change only by
 * mtime seconds or size (so calls for one path must not run at once).
 * Returns 0, or -1 with err set;
 * the old file is then left as it was, unless only the last step (fsync of
 * the directory) failed. */
int denyfile_write(const char *path, const char *const *accounts, size_t n,
                   const char *account_domain, size_t *skipped, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif
