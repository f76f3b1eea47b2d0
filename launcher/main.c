/* The distkan command line.
 *
 *   distkan train CONFIG.ini [--set section.key=value ...] [--run-dir DIR] [--resume latest|auto|CKPT]
 *   distkan check CONFIG.ini [--set ...]     validate a configuration and print it resolved
 *   distkan inspect CKPT|DIR                 summarise and verify checkpoints
 *   distkan predict MODEL POINTS.csv [--derivatives] [--out FILE]
 *                                            run a trained model on points
 *   distkan functions MODEL [--points N] [--range LO,HI] [--out FILE]
 *                                            tabulate its learned edge functions
 *   distkan keys [--markdown]                 every config key with default and meaning
 *   distkan device                           where `device = auto` would run this process
 *   distkan --help | --version
 *
 * Exit codes (README's list): 0 success (also a run stopped by SIGTERM/SIGUSR1 after its
 * checkpoint), 1 runtime failure or invalid checkpoint, 2 usage or configuration error,
 * 143 (128 + SIGTERM) when a second SIGTERM ends a run at once without a checkpoint or a
 * SIGTERM arrives before its handler is installed, 138 (128 + SIGUSR1) for a SIGUSR1 then.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/dk_crc32c.h"
#include "../common/dk_device.h"
#include "../common/dk_env.h"
#include "../common/dk_error.h"
#include "../dist/dk_comm.h"
#include "../dist/dk_deadline.h"
#include "dk_config.h"
#include "dk_functions.h"
#include "dk_inspect.h"
#include "dk_predict.h"
#include "dk_signals.h"
#include "dk_train.h"

enum { MAX_OVERRIDES = 256 };

typedef struct cli {
    const char *command; /* train, check, keys, inspect, predict, functions, device */
    const char *config_path; /* or the checkpoint of inspect */
    const char *run_dir;
    const char *resume;
    const char *overrides[MAX_OVERRIDES];
    int n_overrides;
    int markdown;
    dk_predict_options predict;
    dk_functions_options functions;
} cli;

static const char usage_text[] =
    "usage: distkan train CONFIG.ini [--set section.key=value ...] [--run-dir DIR] [--resume latest|auto|CKPT]\n"
    "       distkan check CONFIG.ini [--set section.key=value ...]\n"
    "       distkan inspect CKPT|DIR\n"
    "       distkan predict MODEL POINTS.csv [--derivatives] [--out FILE]\n"
    "       distkan functions MODEL [--points N] [--range LO,HI] [--out FILE]\n"
    "       distkan keys [--markdown]\n"
    "       distkan device\n"
    "       distkan --help | --version\n"
    "\n"
    "  train   train the model the config describes; run it under mpirun for several ranks:\n"
    "          mpirun -np 4 distkan train examples/fit.ini\n"
    "  check   parse and validate the config, print every key as it would be used\n"
    "  keys    list every config key with its default and meaning\n"
    "  inspect summarise a checkpoint and verify its checksums (exit 0 valid, 1 invalid);\n"
    "          for a checkpoint or run directory, one line per checkpoint\n"
    "  predict run a trained model on the points of a CSV file (a header, then one column per\n"
    "          input, optionally followed by one per output as targets: their RMSE is\n"
    "          printed); writes the points and the outputs as CSV, with --derivatives also\n"
    "          every output's first and second derivative along each input\n"
    "  functions tabulate every learned edge function phi (layer,input,output,x,phi,base,\n"
    "          spline,mask) at N points (default 101) of its input's grid range or LO..HI\n"
    "  MODEL   of predict and functions: a checkpoint file, or a checkpoint or run directory\n"
    "          (its newest valid checkpoint; a run writes one at its end). Both need no MPI\n"
    "          and write CSV to standard output, or to --out FILE (whole or not at all)\n"
    "  device  print where [dist] device = auto would put this process: 'cuda N NAME' (N GPUs\n"
    "          visible, the first one's name) or 'cpu: REASON'\n"
    "\n"
    "  --set section.key=value   override a config key (repeatable; applied after the file)\n"
    "  --run-dir DIR             where results go (default: [output] run_dir, or runs/<config name>)\n"
    "  --resume latest|auto|CKPT continue from the newest valid checkpoint of the checkpoint\n"
    "                            directory, or from the file CKPT; auto: as latest if the\n"
    "                            directory holds a checkpoint, else start a new run (for\n"
    "                            job scripts that are requeued)\n"
    "  an option's value follows it or an '=' (--out FILE, --out=FILE); -- ends the options\n"
    "  (a path after it may start with -)\n"
    "\n"
    "  SIGTERM or SIGUSR1 make train write a checkpoint at the next step and exit 0; a second\n"
    "  SIGTERM (2 s or more after the first: DISTKAN_SIGNAL_REPEAT_S) exits at once.\n";

/* Before MPI starts, only the process that will be rank 0 should talk: launchers tell a
 * process its rank through the environment. */
static int probably_rank0(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v)
            return strcmp(v, "0") == 0;
    }
    return 1;
}

/* The commands, as bits: an option lists those that take it. */
enum {
    CMD_TRAIN = 1 << 0,
    CMD_CHECK = 1 << 1,
    CMD_INSPECT = 1 << 2,
    CMD_PREDICT = 1 << 3,
    CMD_FUNCTIONS = 1 << 4,
    CMD_KEYS = 1 << 5,
    CMD_DEVICE = 1 << 6
};

static const struct {
    const char *name;
    unsigned bit;
} commands[] = {{"train", CMD_TRAIN},         {"check", CMD_CHECK}, {"inspect", CMD_INSPECT}, {"predict", CMD_PREDICT},
                {"functions", CMD_FUNCTIONS}, {"keys", CMD_KEYS},   {"device", CMD_DEVICE}};

/* The bit of the command called name, or 0. */
static unsigned find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (!strcmp(name, commands[i].name))
            return commands[i].bit;
    return 0;
}

typedef enum { OPT_SET, OPT_RUN_DIR, OPT_RESUME, OPT_DERIVATIVES, OPT_OUT, OPT_POINTS, OPT_RANGE, OPT_MARKDOWN } opt_id;

/* value: what the option's value is (NULL: a flag); path: the value names a file, which
 * ./ can make look unlike an option. */
static const struct option_spec {
    opt_id id;
    const char *name;
    unsigned commands;
    const char *value;
    int path;
} option_specs[] = {
    {OPT_SET, "--set", CMD_TRAIN | CMD_CHECK, "section.key=value", 0},
    {OPT_RUN_DIR, "--run-dir", CMD_TRAIN, "DIR", 1},
    {OPT_RESUME, "--resume", CMD_TRAIN, "latest|auto|CKPT", 1},
    {OPT_DERIVATIVES, "--derivatives", CMD_PREDICT, NULL, 0},
    {OPT_OUT, "--out", CMD_PREDICT | CMD_FUNCTIONS, "FILE", 1},
    {OPT_POINTS, "--points", CMD_FUNCTIONS, "N", 0},
    {OPT_RANGE, "--range", CMD_FUNCTIONS, "LO,HI", 0},
    {OPT_MARKDOWN, "--markdown", CMD_KEYS, NULL, 0},
};
typedef struct option_spec option_spec;

/* The option named by a's first n characters, or NULL. */
static const option_spec *find_option(const char *a, size_t n)
{
    for (size_t i = 0; i < sizeof option_specs / sizeof *option_specs; i++)
        if (strlen(option_specs[i].name) == n && !strncmp(a, option_specs[i].name, n))
            return &option_specs[i];
    return NULL;
}

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* Whether argv asks for help: a --help or -h where an option may stand, not an option's
 * value (`--out -h` is an --out without a file, not a request for help) nor a path after
 * `--`. */
static int wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (is_help(argv[i]))
            return 1;
        const option_spec *o = find_option(argv[i], strlen(argv[i]));
        if (o && o->value)
            i++;
    }
    return 0;
}

/* Stores the value v of option `name` in *slot, once: a second --out (or --run-dir, ...)
 * would silently win over the first, so it is an error. Only --set repeats. */
static dk_err set_once(const char **slot, const char *name, const char *v)
{
    if (*slot && !strcmp(v, name)) /* a flag */
        DK_ERROR(DK_ERR_USAGE, "%s given twice: give it once", name);
    if (*slot)
        DK_ERROR(DK_ERR_USAGE, "%s given twice ('%s', then '%s'): give it once", name, *slot, v);
    *slot = v;
    return DK_OK;
}

/* The value of option o at argv[*i], which is argv[*i + 1] (then *i moves past it), in *v;
 * a usage error if it is missing or is itself an option: `--out --derivatives` would write
 * a file called --derivatives and no derivatives, and `--out -h` one called -h. */
static dk_err next_value(int argc, char **argv, int *i, const option_spec *o, const char **v)
{
    if (*i + 1 >= argc)
        DK_ERROR(DK_ERR_USAGE, "%s needs a value (%s)", o->name, o->value);
    *v = argv[++*i];
    if (((*v)[0] == '-' && (*v)[1] == '-') || !strcmp(*v, "-h")) {
        if (o->path)
            DK_ERROR(DK_ERR_USAGE,
                     "%s needs a value, but is followed by the option '%s' (a path that starts with - can be given "
                     "as ./%s, or as %s=%s)",
                     o->name, *v, *v, o->name, *v);
        DK_ERROR(DK_ERR_USAGE, "%s needs a value, but is followed by the option '%s' (its value is %s)", o->name, *v,
                 o->value);
    }
    return DK_OK;
}

/* "train", "predict and functions": the commands of the bits, for messages. */
static const char *command_names(unsigned bits, char *buf, size_t capacity)
{
    const char *names[sizeof commands / sizeof *commands];
    int n = 0;
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (bits & commands[i].bit)
            names[n++] = commands[i].name;
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        const size_t used = strlen(buf);
        snprintf(buf + used, capacity - used, "%s%s", i == 0 ? "" : i == n - 1 ? " and " : ", ", names[i]);
    }
    return buf;
}

/* s past any blanks: a value may be quoted with spaces around it (strtol and strtod skip
 * leading ones themselves), on either side alike. */
static const char *skip_blanks(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return s;
}

/* A whole-string integer in [lo, hi], or -1. */
static long parse_count(const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    const long v = strtol(s, &end, 10);
    return (errno || end == s || *skip_blanks(end) || v < lo || v > hi) ? -1 : v;
}

/* "LO,HI": two whole finite numbers with LO < HI. */
static int parse_range(const char *s, double *lo, double *hi)
{
    /* strtod's ERANGE also flags subnormal results, which are fine; overflow gives inf. */
    char *end = NULL;
    *lo = strtod(s, &end);
    if (end == s || *skip_blanks(end) != ',')
        return 0;
    const char *second = skip_blanks(end) + 1;
    *hi = strtod(second, &end);
    return end != second && !*skip_blanks(end) && isfinite(*lo) && isfinite(*hi) && *lo < *hi;
}

/* What has been given of the options that may be given once, for set_once. */
typedef struct seen {
    const char *out, *points, *range, *derivatives, *markdown;
} seen;

static dk_err apply_option(cli *c, seen *s, const option_spec *o, const char *v)
{
    switch (o->id) {
    case OPT_SET:
        if (c->n_overrides >= MAX_OVERRIDES)
            DK_ERROR(DK_ERR_USAGE, "too many --set options (the limit is %d)", MAX_OVERRIDES);
        c->overrides[c->n_overrides++] = v;
        return DK_OK;
    case OPT_RUN_DIR:
        if (!v[0])
            DK_ERROR(DK_ERR_USAGE, "--run-dir needs a non-empty directory");
        return set_once(&c->run_dir, o->name, v);
    case OPT_RESUME:
        if (!v[0])
            DK_ERROR(DK_ERR_USAGE, "--resume needs a value: 'latest', 'auto' or a checkpoint path");
        return set_once(&c->resume, o->name, v);
    case OPT_DERIVATIVES:
        c->predict.derivatives = 1;
        return set_once(&s->derivatives, o->name, o->name);
    case OPT_MARKDOWN:
        c->markdown = 1;
        return set_once(&s->markdown, o->name, o->name);
    case OPT_OUT:
        if (!v[0])
            DK_ERROR(DK_ERR_USAGE, "--out needs a file name (or - for standard output)");
        DK_CALL(set_once(&s->out, o->name, v));
        c->predict.out = c->functions.out = v;
        return DK_OK;
    case OPT_POINTS:
        DK_CALL(set_once(&s->points, o->name, v));
        c->functions.points = parse_count(v, 2, DK_FUNCTIONS_MAX_POINTS);
        if (c->functions.points < 0)
            DK_ERROR(DK_ERR_USAGE, "--points '%s': expected an integer from 2 to 1000000", v);
        return DK_OK;
    case OPT_RANGE:
        DK_CALL(set_once(&s->range, o->name, v));
        if (!parse_range(v, &c->functions.lo, &c->functions.hi))
            DK_ERROR(DK_ERR_USAGE, "--range '%s': expected LO,HI, two finite numbers with LO < HI", v);
        c->functions.has_range = 1;
        return DK_OK;
    }
    DK_ERROR(DK_ERR_INTERNAL, "option %s has no handler", o->name);
}

/* The command's positional arguments, once the options are parsed. */
static dk_err take_positional(cli *c, unsigned cmd, const char **positional, int n)
{
    switch (cmd) {
    case CMD_TRAIN:
    case CMD_CHECK:
        if (n == 0)
            DK_ERROR(DK_ERR_USAGE, "%s needs a CONFIG.ini file", c->command);
        c->config_path = positional[0];
        return DK_OK;
    case CMD_INSPECT:
        if (n == 0 || !positional[0][0])
            DK_ERROR(DK_ERR_USAGE, "inspect takes one checkpoint file or directory%s",
                     n ? " (the path given is empty)" : "");
        c->config_path = positional[0];
        return DK_OK;
    case CMD_PREDICT:
    case CMD_FUNCTIONS: {
        const int predict = cmd == CMD_PREDICT;
        if (n < (predict ? 2 : 1))
            DK_ERROR(DK_ERR_USAGE, "%s",
                     predict ? "predict needs a MODEL (checkpoint file or directory) and a POINTS.csv file"
                             : "functions needs a MODEL (checkpoint file or directory)");
        if (!positional[0][0] || (predict && !positional[1][0]))
            DK_ERROR(DK_ERR_USAGE, "%s is an empty path", !positional[0][0] ? "MODEL" : "POINTS.csv");
        c->predict.model = c->functions.model = positional[0];
        c->predict.points = predict ? positional[1] : NULL;
        return DK_OK;
    }
    default:
        return DK_OK;
    }
}

/* Every command alike: options in either form (`--out FILE`, `--out=FILE`), anywhere
 * among the positional arguments; `--` ends the options, so that a path may start with -. */
static dk_err parse_cli(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof *c);
    c->functions.points = DK_FUNCTIONS_DEFAULT_POINTS;
    if (argc < 2)
        DK_ERROR(DK_ERR_USAGE, "no command given");
    c->command = argv[1];
    const unsigned cmd = find_command(c->command);
    if (!cmd)
        DK_ERROR(DK_ERR_USAGE,
                 "unknown command '%s' (expected train, check, keys, inspect, predict, functions, device, --help or "
                 "--version)",
                 c->command);
    int max_positional = cmd == CMD_PREDICT ? 2 : 0;
    if (cmd & (CMD_TRAIN | CMD_CHECK | CMD_INSPECT | CMD_FUNCTIONS))
        max_positional = 1;
    const char *positional[2] = {NULL, NULL};
    int n_positional = 0, options_ended = 0;
    seen s = {0};
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (cmd == CMD_DEVICE)
            DK_ERROR(DK_ERR_USAGE, "device takes no arguments");
        if (!options_ended && !strcmp(a, "--")) {
            options_ended = 1;
            continue;
        }
        if (options_ended || a[0] != '-' || !a[1]) {
            if (n_positional == max_positional && cmd == CMD_INSPECT)
                DK_ERROR(DK_ERR_USAGE, "inspect takes one checkpoint file or directory");
            if (n_positional == max_positional)
                DK_ERROR(DK_ERR_USAGE, "unexpected argument '%s'", a);
            positional[n_positional++] = a;
            continue;
        }
        const char *eq = a[1] == '-' ? strchr(a, '=') : NULL;
        const option_spec *o = find_option(a, eq ? (size_t)(eq - a) : strlen(a));
        if (!o)
            DK_ERROR(DK_ERR_USAGE, "unknown option '%s'", a);
        if (!(o->commands & cmd)) {
            char names[64];
            DK_ERROR(DK_ERR_USAGE, "unknown option '%s' for %s: %s is an option of %s only", o->name, c->command,
                     o->name, command_names(o->commands, names, sizeof names));
        }
        if (!o->value && eq)
            DK_ERROR(DK_ERR_USAGE, "%s takes no value (given '%s')", o->name, a);
        const char *v = eq ? eq + 1 : NULL;
        if (o->value && !eq)
            DK_CALL(next_value(argc, argv, &i, o, &v));
        DK_CALL(apply_option(c, &s, o, v));
    }
    return take_positional(c, cmd, positional, n_positional);
}

static dk_err load_config(const cli *c, dk_config *cfg)
{
    DK_CALL(dk_config_load(cfg, c->config_path, c->overrides, c->n_overrides));
    if (c->run_dir) {
        if (strlen(c->run_dir) >= sizeof cfg->run_dir)
            DK_ERROR(DK_ERR_USAGE, "--run-dir: the path is longer than %zu characters", sizeof cfg->run_dir - 1);
        /* Like every value (dk_config.h): a newline would be a line of its own in config.ini. */
        for (const unsigned char *p = (const unsigned char *)c->run_dir; *p; p++)
            if (dk_config_is_control(*p) && *p != '\t')
                DK_ERROR(DK_ERR_USAGE, "--run-dir: the path contains a control character (byte 0x%02X at position %d)",
                         *p, (int)((const char *)p - c->run_dir) + 1);
        strcpy(cfg->run_dir, c->run_dir);
    }
    DK_CALL(dk_config_require_run_dir(cfg));
    DK_CALL(dk_config_check_storable(cfg));
    return DK_OK;
}

/* Every rank parsed the config itself: an edit of the file while the job started, or
 * options that differ between ranks (an MPMD launch), would otherwise show only as a
 * mismatch at the end of training or as an MPI error. Compares a checksum of each rank's
 * resolved configuration and --resume option with rank 0's (ranks that disagree on
 * resuming would otherwise issue different collectives and stop with no message). */
static dk_err check_same_config(dk_comm *comm, const dk_config *cfg, const char *resume, int *report)
{
    char *text = NULL;
    dk_err err = dk_config_to_text(cfg, &text);
    uint32_t mine = err == DK_OK ? dk_crc32c(text, strlen(text)) : 0;
    if (resume)
        mine = dk_crc32c_update(mine, resume, strlen(resume) + 1);
    uint32_t root = mine;
    free(text);
    DK_CALL(dk_comm_agree(comm, err, report));
    DK_CALL(dk_comm_broadcast(comm, &root, sizeof root, 0, DK_MEM_HOST));
    if (mine != root)
        err = dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__,
                           "%s: this rank's resolved configuration or --resume option differs from rank 0's "
                           "(was the file changed while the job started, or were the ranks given different "
                           "options?)",
                           cfg->source_path);
    DK_CALL(dk_comm_agree(comm, err, report));
    return DK_OK;
}

static int exit_code_for(dk_err err) { return err == DK_ERR_USAGE ? 2 : 1; }

/* MPI start-up and the first agreement wait for every process of the job. One that ran
 * another command (an MPMD launch: 'distkan check' beside 'distkan train', or a rank-guarded
 * script) never starts MPI, and the others would wait for it forever; after
 * DISTKAN_STARTUP_TIMEOUT_S seconds (default 600, 0: no limit) they stop with a message
 * instead. Called on the deadline's helper thread while the main one is blocked in MPI:
 * nothing but exiting can end the wait. */
static void startup_expired(void *ctx)
{
    fprintf(stderr,
            "distkan: error: MPI start-up did not complete within %g s (DISTKAN_STARTUP_TIMEOUT_S): every process of "
            "the job must run the same 'distkan train' command (did an MPMD launch start another command beside it?), "
            "and the launcher must start every rank\n",
            *(const double *)ctx);
    fflush(stderr);
    _exit(2);
}

static int run_train(const cli *c, int argc, char **argv)
{
    /* A stop signal that arrives while MPI starts (a job preempted right after launch, a
     * USR1 forwarded by mpirun) is kept for the first step boundary instead of killing the
     * rank with the signal's default action: the handlers are installed before MPI starts
     * (dk_signals_install below), and dk_train_run installs them again once MPI is up, in
     * case its start-up replaced them. */
    static double timeout_s; /* the deadline's callback reads it */
    dk_deadline *startup = NULL;
    double watch_s = 0, unused = 0;
    /* Every timing variable is checked here, once, and reported by one rank: a bad
     * DISTKAN_SIGNAL_REPEAT_S would otherwise be reported by every rank, and a typo in
     * DISTKAN_COMM_TIMEOUT, which only GPU runs read, would surface only on a GPU job. */
    if (dk_env_seconds("DISTKAN_SIGNAL_REPEAT_S", 0.0, true, &unused) != DK_OK ||
        dk_env_seconds("DISTKAN_COMM_TIMEOUT", 1.0, false, &unused) != DK_OK ||
        dk_env_seconds("DISTKAN_MPI_TIMEOUT", DK_COMM_WATCH_DEFAULT_S, true, &watch_s) != DK_OK ||
        dk_env_seconds("DISTKAN_STARTUP_TIMEOUT_S", 600.0, true, &timeout_s) != DK_OK ||
        dk_signals_install() != DK_OK ||
        (timeout_s > 0 && dk_deadline_start(&startup, timeout_s, startup_expired, &timeout_s) != DK_OK)) {
        if (probably_rank0())
            fprintf(stderr, "distkan: error: %s\n", dk_error_message());
        return exit_code_for(dk_error_code());
    }
    dk_comm *comm = NULL;
    if (dk_comm_init(&argc, &argv, &comm) != DK_OK) {
        dk_deadline_stop(&startup);
        fprintf(stderr, "distkan: error: %s\n", dk_error_message());
        return 1;
    }
    int rank = dk_comm_rank(comm), world = dk_comm_size(comm);
    static dk_config cfg; /* large (paths): keep it off the stack */
    dk_err err = load_config(c, &cfg);
    int report = 0;
    dk_err agreed = dk_comm_agree(comm, err, &report);
    dk_deadline_stop(&startup); /* every rank has reached this first collective */
    /* From here on a stuck rank is found by the time its peers wait for it in a collective. */
    if (dk_comm_watch_start(comm, watch_s) != DK_OK) {
        fprintf(stderr, "distkan: rank %d: warning: %s\n", rank, dk_error_message());
        dk_error_clear();
    }
    if (agreed == DK_OK)
        agreed = check_same_config(comm, &cfg, c->resume, &report);
    const char *resume = c->resume;
    if (agreed == DK_OK && resume && !strcmp(resume, "auto"))
        agreed = dk_train_resume_resolve_auto(comm, &cfg, &resume, &report);
    if (agreed == DK_OK) {
        agreed = dk_train_run(&cfg, comm, resume, c->resume, &report);
    }
    if (agreed != DK_OK && report) {
        if (world > 1 && dk_error_is_agreed())
            fprintf(stderr, "distkan: error (every rank stopped here): %s\n", dk_error_message());
        else if (world > 1)
            fprintf(stderr, "distkan: rank %d: error: %s\n", rank, dk_error_message());
        else
            fprintf(stderr, "distkan: error: %s\n", dk_error_message());
    }
    dk_comm_finalize(&comm);
    return agreed == DK_OK ? 0 : exit_code_for(agreed);
}

static int run_check(const cli *c)
{
    static dk_config cfg;
    if (load_config(c, &cfg) != DK_OK) {
        fprintf(stderr, "distkan: error: %s\n", dk_error_message());
        return exit_code_for(dk_error_code());
    }
    dk_config_print_unread(&cfg, stderr, "distkan: ");
    dk_config_write_path_comment(stdout, "", c->config_path, " is valid; resolved configuration:");
    dk_config_write_ini(&cfg, stdout);
    return 0;
}

/* `distkan device`: the placement a single process would get (no MPI needed). */
static int print_device(void)
{
    dk_device_choice ch;
    if (dk_device_choose(DK_DEVICE_AUTO, 0, 1, &ch) == DK_OK && ch.kind == DK_DEVICE_CUDA &&
        dk_device_activate(&ch) == DK_OK) {
        printf("cuda %d %s\n", ch.visible, ch.name);
        return 0;
    }
    printf("cpu: %s\n", ch.why);
    return 0;
}

/* The commands that print to standard output succeed only if it was written: `distkan
 * check x.ini > resolved.ini` on a full disk must not leave a truncated file behind an
 * exit status of 0. (predict and functions check their tables themselves; train's output
 * is progress, its results are files.) */
static int stdout_checked(int rc)
{
    errno = 0;
    const int flush_failed = fflush(stdout) != 0;
    if (!flush_failed && !ferror(stdout))
        return rc;
    if (flush_failed && errno)
        fprintf(stderr, "distkan: error: cannot write to standard output: %s\n", strerror(errno));
    else
        fprintf(stderr, "distkan: error: a write to standard output failed\n");
    return rc ? rc : 1;
}

/* A command line distkan cannot run: the error, and where the usage is (the whole text
 * would bury the one line that matters). Returns the exit code. */
static int usage_failed(const char *command, dk_err err)
{
    if (probably_rank0()) {
        /* The cause alone: the frames of the parser tell a user nothing. */
        const char *message = dk_error_message();
        fprintf(stderr, "distkan: error: %.*s\n", (int)strcspn(message, "\n"), message);
        const int known = command && find_command(command);
        fprintf(stderr, "distkan: see 'distkan %s%s--help' for the usage\n", known ? command : "", known ? " " : "");
    }
    return exit_code_for(err);
}

int main(int argc, char **argv)
{
    /* A write beyond the file size limit (ulimit -f) then fails with EFBIG, which every
     * writer reports and cleans up after (no partial table, the earlier file kept),
     * instead of killing the process half-way through a file. */
    signal(SIGXFSZ, SIG_IGN);
    /* The report commands' output, into a file or pipe, in one write at the end where it
     * fits in 1 MiB: a write that fails mid-way (a full disk) loses its errno to stdio, and
     * stdout_checked could then only say that some write failed, not why. Train's progress
     * keeps the usual buffering. */
    static char report_buffer[1 << 20];
    if (!(argc >= 2 && !strcmp(argv[1], "train")) && !isatty(STDOUT_FILENO))
        setvbuf(stdout, report_buffer, _IOFBF, sizeof report_buffer);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        if (probably_rank0())
            fputs(usage_text, stdout);
        return stdout_checked(0);
    }
    if (argc >= 2 && !strcmp(argv[1], "--version")) {
        if (argc > 2)
            return usage_failed(argv[1],
                                dk_error_set(DK_ERR_USAGE, __FILE__, __LINE__, "--version takes no arguments"));
        if (probably_rank0())
            printf("distkan %s\n", DISTKAN_VERSION);
        return stdout_checked(0);
    }
    /* `distkan predict --help` and the like: the one usage text covers every command. */
    if (wants_help(argc, argv)) {
        if (probably_rank0())
            fputs(usage_text, stdout);
        return stdout_checked(0);
    }
    cli c;
    const dk_err parsed = parse_cli(argc, argv, &c);
    if (parsed != DK_OK)
        return usage_failed(argc >= 2 ? argv[1] : NULL, parsed);
    /* Every command but train is the work of one process: started under mpirun, the other
     * ranks leave at once, rather than print everything again or race rank 0 for the
     * same output file. */
    if (strcmp(c.command, "train") != 0 && !probably_rank0())
        return 0;
    if (!strcmp(c.command, "keys")) {
        if (c.markdown)
            dk_config_write_reference_markdown(stdout);
        else
            dk_config_write_reference(stdout);
        return stdout_checked(0);
    }
    if (!strcmp(c.command, "check"))
        return stdout_checked(run_check(&c));
    if (!strcmp(c.command, "inspect")) {
        bool all_valid = false;
        const dk_err err = dk_inspect(c.config_path, stdout, &all_valid);
        if (err != DK_OK)
            fprintf(stderr, "distkan: error: %s\n", dk_error_message());
        return stdout_checked(err != DK_OK ? exit_code_for(err) : all_valid ? 0 : 1);
    }
    if (!strcmp(c.command, "device"))
        return stdout_checked(print_device());
    if (!strcmp(c.command, "predict") || !strcmp(c.command, "functions")) {
        const dk_err err = !strcmp(c.command, "predict") ? dk_predict(&c.predict, stderr)
                                                          : dk_functions(&c.functions, stderr);
        if (err != DK_OK)
            fprintf(stderr, "distkan: error: %s\n", dk_error_message());
        return err == DK_OK ? 0 : exit_code_for(err);
    }
    return run_train(&c, argc, argv);
}
