/* File-system steps shared by the run files (launcher/) and the checkpoints (checkpoint/). */
#ifndef DK_FS_H
#define DK_FS_H

#include <stdbool.h>

#include "dk_error.h"

/* Makes the entries of dir (a rename, a new file) durable: fsync on the directory. Some
 * file systems refuse fsync on directories (EINVAL: several network and FUSE file
 * systems); there the rename is done all the same, and this returns DK_OK. */
dk_err dk_fsync_dir(const char *dir);

/* dk_fsync_dir of the directory that holds path ("." for a bare name). */
dk_err dk_fsync_dir_of(const char *path);

/* Whether a and b both exist and are the same file or directory (device and inode: two
 * spellings of one path, a symbolic link to it). */
bool dk_same_file(const char *a, const char *b);

#endif
