#include "dk_env.h"

#include <math.h>
#include <stdlib.h>

dk_err dk_env_seconds(const char *name, double fallback, bool allow_zero, double *out)
{
    *out = fallback;
    const char *env = getenv(name);
    if (!env || !env[0])
        return DK_OK;
    char *end = NULL;
    const double v = strtod(env, &end);
    if (end == env || *end || !isfinite(v) || v < 0 || (v == 0 && !allow_zero))
        DK_ERROR(DK_ERR_USAGE, "%s = '%s': expected a number of seconds %s", name, env, allow_zero ? ">= 0" : "> 0");
    *out = v;
    return DK_OK;
}
