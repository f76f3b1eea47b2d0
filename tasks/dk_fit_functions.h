/* Built-in target functions for function fitting. Each maps a point of R^dim to R^1. */
#ifndef DK_FIT_FUNCTIONS_H
#define DK_FIT_FUNCTIONS_H

typedef struct dk_fit_function {
    const char *name;        /* config value of [fit] function */
    const char *formula;     /* human-readable, for docs and summaries */
    int dim;                 /* input dimension */
    double (*eval)(const double *x); /* x[0..dim) -> f(x) */
} dk_fit_function;

/* The function with this name, or NULL. */
const dk_fit_function *dk_fit_function_find(const char *name);
/* All built-ins, terminated by an entry whose name is NULL. */
extern const dk_fit_function dk_fit_functions[];

#endif
