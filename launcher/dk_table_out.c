#include "dk_table_out.h"

#include <errno.h>
#include <string.h>

#include "dk_run_files.h"

dk_err dk_table_out_open(dk_table_out *o, const char *path)
{
    memset(o, 0, sizeof *o);
    if (!path || !strcmp(path, "-")) {
        o->f = stdout;
        o->to_stdout = 1;
        return DK_OK;
    }
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    if (!name[0])
        DK_ERROR(DK_ERR_USAGE, "--out %s: expected a file name, not a directory", path);
    if (strlen(path) >= sizeof o->dir)
        DK_ERROR(DK_ERR_USAGE, "--out %s: the path is too long", path);
    if (slash == path)
        strcpy(o->dir, "/");
    else if (slash)
        snprintf(o->dir, sizeof o->dir, "%.*s", (int)(slash - path), path);
    else
        strcpy(o->dir, ".");
    snprintf(o->name, sizeof o->name, "%s", name);
    const char *const names[] = {o->name};
    DK_CALL(dk_outputs_replaceable(o->dir, names, 1));
    DK_CALL(dk_partial_open(&o->f, o->dir, o->name));
    return DK_OK;
}

dk_err dk_table_out_commit(dk_table_out *o)
{
    if (o->to_stdout) {
        if (fflush(stdout) != 0 || ferror(stdout))
            DK_ERROR(DK_ERR_IO, "cannot write to standard output: %s", strerror(errno));
        return DK_OK;
    }
    FILE *f = o->f;
    o->f = NULL;
    dk_err err = dk_partial_close(f, o->dir, o->name);
    const char *const names[] = {o->name};
    if (err == DK_OK)
        err = dk_partial_commit_set(o->dir, names, 1);
    if (err != DK_OK) {
        dk_partial_discard(o->dir, o->name);
        return dk_error_push(err, __FILE__, __LINE__, __func__);
    }
    return DK_OK;
}

void dk_table_out_discard(dk_table_out *o)
{
    if (o->to_stdout) {
        fflush(stdout);
        return;
    }
    if (o->f)
        fclose(o->f);
    o->f = NULL;
    dk_partial_discard(o->dir, o->name);
}
