/* Settings read from the environment (the few that must exist before a config file is
 * read, or that the launcher sets per job). */
#ifndef DK_ENV_H
#define DK_ENV_H

#include <stdbool.h>

#include "dk_error.h"

/* A number of seconds from environment variable `name`: *out = fallback when it is unset
 * or empty; otherwise a finite number, > 0, or >= 0 when allow_zero, else DK_ERR_USAGE
 * naming the variable and its value. */
dk_err dk_env_seconds(const char *name, double fallback, bool allow_zero, double *out);

#endif
