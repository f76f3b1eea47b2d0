/* Configuration layer: defaults, parsing, range and cross-key checks, --set overrides,
 * error messages (file, line, key, value, expectation), and the INI round trip.
 *
 * Every fixture is written from the test into a private temporary directory, so the
 * file names that appear in messages are known exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"

#include "launcher/dk_config.h"
#include "tasks/dk_fit_functions.h"

/* ---- fixtures --------------------------------------------------------------------------- */

enum { MAX_FILES = 128 };
static char tmp_dir[64];
static char *created[MAX_FILES];
static int n_created;

static int make_tmp_dir(void **state)
{
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/dk_test_config_XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int remove_tmp_dir(void **state)
{
    (void)state;
    for (int i = n_created - 1; i >= 0; i--) {
        remove(created[i]);
        free(created[i]);
    }
    n_created = 0;
    return rmdir(tmp_dir);
}

/* tmp_dir/name, remembered for removal at the end. */
static const char *tmp_path(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    for (int i = 0; i < n_created; i++)
        if (strcmp(created[i], path) == 0)
            return created[i];
    assert_true(n_created < MAX_FILES);
    created[n_created] = strdup(path);
    return created[n_created++];
}

static const char *write_file(const char *name, const char *text)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static dk_err load_text(dk_config *cfg, const char *name, const char *text, const char *const *overrides, int n)
{
    const char *path = write_file(name, text);
    dk_error_clear();
    return dk_config_load(cfg, path, overrides, n);
}

/* The error is a usage error and its message contains every string in parts. */
static void check_usage(dk_err err, const char *const *parts)
{
    if (err != DK_ERR_USAGE)
        fail_msg("expected DK_ERR_USAGE (2), got %d: %s", err, dk_error_message());
    assert_int_equal(dk_error_code(), DK_ERR_USAGE);
    for (; *parts; parts++)
        if (!strstr(dk_error_message(), *parts))
            fail_msg("the message lacks \"%s\":\n%s", *parts, dk_error_message());
}
#define EXPECT_USAGE(err, ...) check_usage((err), (const char *const[]){__VA_ARGS__, NULL})

static void check_ok(dk_err err)
{
    if (err != DK_OK)
        fail_msg("expected success, got %d: %s", err, dk_error_message());
}

/* One bad assignment in a file: the message names file:line, [section] key = 'value' and
 * the expectation. */
static void expect_bad_value(const char *section, const char *key, const char *value, const char *expected)
{
    char text[512], head[600];
    snprintf(text, sizeof text, "# a comment\n[%s]\n%s = %s\n", section, key, value);
    dk_config cfg;
    dk_err err = load_text(&cfg, "bad.ini", text, NULL, 0);
    snprintf(head, sizeof head, "bad.ini:3: [%s] %s = '%s': expected ", section, key, value);
    EXPECT_USAGE(err, head, expected);
}

/* ---- defaults and a full file ------------------------------------------------------------ */

/* The fields of [model] .. [output] that the defaults and full.ini are checked on: each of
 * the two tests states all of them (zeros included) in one of these, and assert_fields
 * checks them one by one, so both tests check the same fields. */
typedef struct expected_fields {
    int n_widths, widths[4], grid, k;
    double grid_range[2], grid_eps;
    dk_dtype precision;
    unsigned long long seed;
    double noise_scale, scale_base_mu, scale_base_sigma, scale_sp;
    dk_optimizer_kind optimizer;
    long steps;
    double lr;
    dk_lr_kind lr_schedule;
    double lr_min, lr_gamma;
    long lr_step_every, warmup_steps;
    double beta1, beta2, adam_eps, weight_decay;
    long batch, log_every;
    dk_task_kind task;
    const char *function, *csv;
    int target_columns;
    long train_size, test_size;
    int threads;
    const char *run_dir;
} expected_fields;

/* A failure names the field. Doubles are compared exactly: every value is written in the
 * file (or the schema) as it is here. */
static void field_int(const char *name, long long got, long long want)
{
    if (got != want)
        fail_msg("%s = %lld, expected %lld", name, got, want);
}
static void field_double(const char *name, double got, double want)
{
    if (!(got == want))
        fail_msg("%s = %.17g, expected %.17g", name, got, want);
}
static void field_string(const char *name, const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fail_msg("%s = \"%s\", expected \"%s\"", name, got, want);
}
#define ASSERT_FIELD_INT(f) field_int(#f, (long long)c->f, (long long)want->f)
#define ASSERT_FIELD_DOUBLE(f) field_double(#f, c->f, want->f)
#define ASSERT_FIELD_STRING(f) field_string(#f, c->f, want->f)

static void assert_fields(const dk_config *c, const expected_fields *want)
{
    ASSERT_FIELD_INT(n_widths);
    for (int i = 0; i < 4; i++)
        ASSERT_FIELD_INT(widths[i]);
    ASSERT_FIELD_INT(grid);
    ASSERT_FIELD_INT(k);
    ASSERT_FIELD_DOUBLE(grid_range[0]);
    ASSERT_FIELD_DOUBLE(grid_range[1]);
    ASSERT_FIELD_DOUBLE(grid_eps);
    ASSERT_FIELD_INT(precision);
    ASSERT_FIELD_INT(seed);
    ASSERT_FIELD_DOUBLE(noise_scale);
    ASSERT_FIELD_DOUBLE(scale_base_mu);
    ASSERT_FIELD_DOUBLE(scale_base_sigma);
    ASSERT_FIELD_DOUBLE(scale_sp);
    ASSERT_FIELD_INT(optimizer);
    ASSERT_FIELD_INT(steps);
    ASSERT_FIELD_DOUBLE(lr);
    ASSERT_FIELD_INT(lr_schedule);
    ASSERT_FIELD_DOUBLE(lr_min);
    ASSERT_FIELD_DOUBLE(lr_gamma);
    ASSERT_FIELD_INT(lr_step_every);
    ASSERT_FIELD_INT(warmup_steps);
    ASSERT_FIELD_DOUBLE(beta1);
    ASSERT_FIELD_DOUBLE(beta2);
    ASSERT_FIELD_DOUBLE(adam_eps);
    ASSERT_FIELD_DOUBLE(weight_decay);
    ASSERT_FIELD_INT(batch);
    ASSERT_FIELD_INT(log_every);
    ASSERT_FIELD_INT(task);
    ASSERT_FIELD_STRING(function);
    ASSERT_FIELD_STRING(csv);
    ASSERT_FIELD_INT(target_columns);
    ASSERT_FIELD_INT(train_size);
    ASSERT_FIELD_INT(test_size);
    ASSERT_FIELD_INT(threads);
    ASSERT_FIELD_STRING(run_dir);
}

static void test_defaults_equal_documented_values(void **state)
{
    (void)state;
    static const expected_fields documented = {
        .n_widths = 3, .widths = {2, 5, 1, 0}, .grid = 5, .k = 3, .grid_range = {-1.0, 1.0}, .grid_eps = 0.02,
        .precision = DK_F64, .seed = 0, .noise_scale = 0.3, .scale_base_mu = 0.0, .scale_base_sigma = 1.0,
        .scale_sp = 1.0, .optimizer = DK_OPT_ADAM, .steps = 1000, .lr = 0.01, .lr_schedule = DK_LR_CONSTANT,
        .lr_min = 0.0, .lr_gamma = 0.5, .lr_step_every = 1000, .warmup_steps = 0, .beta1 = 0.9, .beta2 = 0.999,
        .adam_eps = 1e-8, .weight_decay = 0.0, .batch = 0, .log_every = 100, .task = DK_TASK_FIT,
        .function = "exp_sin_sq", .csv = "", .target_columns = 1, .train_size = 1000, .test_size = 1000,
        .threads = 1, .run_dir = ""};
    dk_config c;
    dk_config_defaults(&c);
    assert_fields(&c, &documented);
}

static void test_empty_file_gives_defaults_and_run_dir_from_stem(void **state)
{
    (void)state;
    dk_config loaded, defaults;
    check_ok(load_text(&loaded, "poisson.ini", "; nothing set\n", NULL, 0));
    dk_config_defaults(&defaults);
    assert_string_equal(loaded.run_dir, "runs/poisson");
    assert_string_equal(loaded.source_path, created[n_created - 1]);
    memset(loaded.run_dir, 0, sizeof loaded.run_dir);
    memset(loaded.source_path, 0, sizeof loaded.source_path);
    assert_non_null(strstr(loaded.unread_keys, "sets no key")); /* the warning (test_unread_keys_are_noted) */
    memset(loaded.unread_keys, 0, sizeof loaded.unread_keys);
    assert_memory_equal(&loaded, &defaults, sizeof loaded);

    check_ok(load_text(&loaded, "two.dots.cfg", "", NULL, 0));
    assert_string_equal(loaded.run_dir, "runs/two.dots");
    check_ok(load_text(&loaded, "noext", "", NULL, 0));
    assert_string_equal(loaded.run_dir, "runs/noext");
    /* Stems that would name runs/ itself or the directory above it. */
    check_ok(load_text(&loaded, "...ini", "", NULL, 0));
    assert_string_equal(loaded.run_dir, "runs/config");
    check_ok(load_text(&loaded, "..ini", "", NULL, 0));
    assert_string_equal(loaded.run_dir, "runs/config");
}

static const char full_ini[] =
    "; every key, none at its default\n"
    "[model]\n"
    "widths = 2, 7 ,3,1\n"
    "grid = 10\n"
    "k = 2\n"
    "grid_range = -2.5, 4\n"
    "grid_eps = 0.5\n"
    "precision = float32\n"
    "seed = 9223372036854775807\n"
    "noise_scale = 0.1\n"
    "scale_base_mu = -0.25\n"
    "scale_base_sigma = 0\n"
    "scale_sp = 2\n"
    "\n"
    "[train]\n"
    "optimizer = adam\n"
    "steps = 5000\n"
    "lr = 3e-3 ; inline comment\n"
    "lr_schedule = cosine\n"
    "lr_min = 1e-5\n"
    "lr_gamma = 0.25\n"
    "lr_step_every = 77\n"
    "warmup_steps = 100\n"
    "beta1 = 0\n"
    "beta2 = 0.99\n"
    "eps = 1e-12\n"
    "weight_decay = 0.001\n"
    "batch = 256\n"
    "log_every = 10\n"
    "[task]\n"
    "type = fit\n"
    "[fit]\n"
    "function = gaussian\n"
    "csv =\n"
    "target_columns = 1\n"
    "train_size = 4000\n"
    "test_size = 0\n"
    "[dist]\n"
    "threads = 16\n"
    "[output]\n"
    "run_dir = out/full run\n";

static void test_full_file_sets_every_field(void **state)
{
    (void)state;
    static const expected_fields from_full_ini = {
        .n_widths = 4, .widths = {2, 7, 3, 1}, .grid = 10, .k = 2, .grid_range = {-2.5, 4.0}, .grid_eps = 0.5,
        .precision = DK_F32, .seed = 9223372036854775807ULL, .noise_scale = 0.1, .scale_base_mu = -0.25,
        .scale_base_sigma = 0.0, .scale_sp = 2.0, .optimizer = DK_OPT_ADAM, .steps = 5000, .lr = 3e-3,
        .lr_schedule = DK_LR_COSINE, .lr_min = 1e-5, .lr_gamma = 0.25, .lr_step_every = 77, .warmup_steps = 100,
        .beta1 = 0.0, .beta2 = 0.99, .adam_eps = 1e-12, .weight_decay = 0.001, .batch = 256, .log_every = 10,
        .task = DK_TASK_FIT, .function = "gaussian", .csv = "", .target_columns = 1, .train_size = 4000,
        .test_size = 0, .threads = 16, .run_dir = "out/full run"};
    dk_config c;
    check_ok(load_text(&c, "full.ini", full_ini, NULL, 0));
    assert_fields(&c, &from_full_ini);
}

/* The INI dialect: indentation, repeated sections, ';' comments, CRLF and a BOM. */
static void test_dialect_details(void **state)
{
    (void)state;
    dk_config c;
    /* Indented lines are ordinary lines, never continuations of the previous value. */
    check_ok(load_text(&c, "indent.ini", "[model]\n  grid = 7\n\tk = 2\n  [ train ]\n    steps = 3\n", NULL, 0));
    assert_int_equal(c.grid, 7);
    assert_int_equal(c.k, 2);
    assert_int_equal(c.steps, 3);
    /* A section may reappear; its keys merge. */
    check_ok(load_text(&c, "again.ini", "[train]\nlr = 0.5\n[model]\ngrid = 3\n[train]\nsteps = 7\n", NULL, 0));
    assert_true(c.lr == 0.5);
    assert_int_equal(c.steps, 7);
    assert_int_equal(c.grid, 3);
    check_ok(load_text(&c, "crlf.ini", "\xEF\xBB\xBF[model]\r\ngrid = 9 ; nine\r\n# comment\r\nk=1\r\n", NULL, 0));
    assert_int_equal(c.grid, 9);
    assert_int_equal(c.k, 1);
}

/* inih drops whatever follows a header's ']' and reads a CR-only file as one line: either
 * would lose keys without a word. */
static void test_headers_and_line_ends_lose_no_key(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "inline.ini", "[model]\nwidths = 2,5,1\n[train] steps = 5\nlr = 0.5\n", NULL, 0),
                 "inline.ini:3: 'steps = 5' follows the section header [train] on its line",
                 "put each key = value on a line of its own");
    EXPECT_USAGE(load_text(&c, "bracket.ini", "[train]]\nsteps = 5\n", NULL, 0),
                 "bracket.ini:1: ']' follows the section header [train]");
    EXPECT_USAGE(load_text(&c, "cr.ini", "[train]\rsteps = 5\rlr = 0.5\r", NULL, 0),
                 "cr.ini:1: a carriage return (CR) inside the line", "LF (Unix) or CR LF (Windows)");
    /* Longer than the parser's line, still named as a line-ending problem. */
    char text[600] = "[train]\rsteps = 5\r";
    for (int i = 0; i < 40; i++)
        strcat(text, "; comment\r");
    EXPECT_USAGE(load_text(&c, "cr_long.ini", text, NULL, 0), "cr_long.ini:1: a carriage return (CR)");
    /* A comment may follow a header, and a header padded beyond inih's 49-character
     * section names is still the section it names. */
    check_ok(load_text(&c, "header_comment.ini",
                       "[train] ; Adam\nsteps = 5\n[                                                    model   ] "
                       "# padded\ngrid = 4\n",
                       NULL, 0));
    assert_int_equal(c.steps, 5);
    assert_int_equal(c.grid, 4);
}

static void load_written(const dk_config *src, const char *name, dk_config *back);

/* Keys a person set that the configuration never reads are warned of, one line per reason,
 * each key with where it was set; keys it reads, defaults, and the keys of a config.ini
 * distkan wrote (every key, by design) are not. */
static void test_unread_keys_are_noted(void **state)
{
    (void)state;
    static dk_config c;
    const char *text = "[model]\nwidths = 2,6,1\n[pde]\nproblem = heat_nd\ndim = 1\n[lbfgs]\nhistory = 20\n"
                       "[train]\nlr = 0.1\nlr_min = 0.001\n";
    const char *set[] = {"pde.a1=3"};
    check_ok(load_text(&c, "notask.ini", text, set, 1));
    assert_string_equal(c.unread_keys,
                        "[train] lr_min (line 10) set but not used: only lr_schedule = cosine reads it\n"
                        "[lbfgs] history (line 7) set but not used: [train] optimizer = adam runs no L-BFGS "
                        "iteration\n"
                        "[pde] problem (line 4), dim (line 5), a1 (--set) set but not used: [task] type is fit (the "
                        "default), which reads no [pde] key: to solve the PDE, set [task] type = pde\n");
    /* With the task given, the problem's own parameters are told apart from the others. */
    const char *pde[] = {"task.type=pde", "model.widths=2,6,1", "pde.a1=3", "pde.dim=2", "train.optimizer=lbfgs",
                         "train.lr=0.5", "train.batch=7"};
    check_ok(load_text(&c, "pde.ini", "[fit]\ntrain_size = 10\n[lbfgs]\nhistory = 20\n", pde, 7));
    assert_string_equal(c.unread_keys,
                        "[train] lr (--set) set but not used: [train] optimizer = lbfgs runs no Adam step\n"
                        "[train] batch (--set) set but not used: a PDE run takes all its collocation points at every "
                        "step ([pde] interior_points, boundary_points)\n"
                        "[fit] train_size (line 2) set but not used: [task] type = pde reads no [fit] key\n"
                        "[pde] dim (--set), a1 (--set) set but not used: [pde] problem = poisson2d does not read it "
                        "(its parameters: none)\n");
    /* A file that sets nothing runs every default: said, since it is more likely a mistake. */
    check_ok(load_text(&c, "empty.ini", "", NULL, 0));
    assert_string_equal(c.unread_keys, "sets no key (and no --set was given): every setting is its default, so the "
                                       "run fits the built-in function exp_sin_sq\n");
    check_ok(load_text(&c, "headers.ini", "; nothing yet\n[model]\n[train]\n", NULL, 0));
    assert_string_equal(c.unread_keys, "sets no key (and no --set was given): every setting is its default, so the "
                                       "run fits the built-in function exp_sin_sq\n");
    const char *steps[] = {"train.steps=3"};
    check_ok(load_text(&c, "set_only.ini", "", steps, 1));
    assert_string_equal(c.unread_keys, "");
    /* Keys the configuration reads are not noted. */
    check_ok(load_text(&c, "used.ini",
                       "[task]\ntype = pde\n[pde]\nproblem = heat_nd\ndim = 1\ndiffusivity = 0.3\n[model]\n"
                       "widths = 2,6,1\n[train]\noptimizer = adam_then_lbfgs\n[lbfgs]\nhistory = 20\n",
                       NULL, 0));
    assert_string_equal(c.unread_keys, "");
    /* A written configuration lists every key by design: only the overrides count, also
     * where `distkan check` put its own line first. */
    static dk_config back;
    check_ok(load_text(&c, "plain.ini", "[train]\nsteps = 5\n", NULL, 0));
    load_written(&c, "plain_written.ini", &back);
    assert_string_equal(back.unread_keys, "");
    const char *over[] = {"lbfgs.c1=0.01"};
    dk_error_clear();
    check_ok(dk_config_load(&back, tmp_path("plain_written.ini"), over, 1));
    assert_string_equal(back.unread_keys,
                        "[lbfgs] c1 (--set) set but not used: [train] optimizer = adam runs no L-BFGS iteration\n");
    FILE *f = fopen(tmp_path("checked.ini"), "w");
    assert_non_null(f);
    fprintf(f, "# plain.ini is valid; resolved configuration:\n");
    dk_config_write_ini(&c, f);
    assert_int_equal(fclose(f), 0);
    dk_error_clear();
    check_ok(dk_config_load(&back, tmp_path("checked.ini"), NULL, 0));
    assert_string_equal(back.unread_keys, "");
}

/* ---- unknown names and syntax ------------------------------------------------------------ */

static void test_unknown_key_names_file_line_and_key(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "typo.ini", "[model]\nwidths = 2,5,1\nwidht = 3\n", NULL, 0),
                 "typo.ini:3: unknown key 'widht' in section [model]", "did you mean 'widths'?",
                 "known keys: widths, grid, k, grid_range");
    EXPECT_USAGE(load_text(&c, "wrong_section.ini", "[model]\n\nlr = 0.1\n", NULL, 0),
                 "wrong_section.ini:3: unknown key 'lr' in section [model]", "it belongs in section [train]");
    EXPECT_USAGE(load_text(&c, "three_sections.ini", "[model]\nsteps = 5\n", NULL, 0),
                 "unknown key 'steps' in section [model]; it belongs in section [train], [lbfgs] or [grid]");
    EXPECT_USAGE(load_text(&c, "upper.ini", "[train]\nLR = 0.1\n", NULL, 0),
                 "upper.ini:2: unknown key 'LR' in section [train]; did you mean 'lr'?");
}

/* Other INI dialects strip quotes and '#' comments; here a path takes them literally, so
 * a file that holds them is refused rather than creating "out  # note" or "\"out\"". */
static void test_paths_refuse_quotes_and_hash_comments(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "hash.ini", "[output]\nrun_dir = out1   # scratch\n", NULL, 0),
                 "hash.ini:2: [output] run_dir = 'out1   # scratch': '#' after a value does not start a comment");
    EXPECT_USAGE(load_text(&c, "quoted.ini", "[fit]\ncsv = \"data.csv\"\n", NULL, 0),
                 "quoted.ini:2: [fit] csv = '\"data.csv\"': quotes are not removed");
    EXPECT_USAGE(load_text(&c, "squoted.ini", "[checkpoint]\ndir = 'ck'\n", NULL, 0),
                 "squoted.ini:2: [checkpoint] dir = ''ck'': quotes are not removed");
    /* A '#' inside a name, and a path given on purpose with --set, stay as they are, also
     * when the config.ini distkan wrote is read again (a resume from it, predict's search). */
    check_ok(load_text(&c, "inside.ini", "[output]\nrun_dir = runs/#3\n", NULL, 0));
    assert_string_equal(c.run_dir, "runs/#3");
    const char *set[] = {"output.run_dir=a #b", "checkpoint.dir=\"ck\""};
    check_ok(load_text(&c, "set_hash.ini", "[train]\nsteps = 5\n", set, 2));
    assert_string_equal(c.run_dir, "a #b");
    static dk_config back;
    load_written(&c, "set_hash_written.ini", &back);
    assert_string_equal(back.run_dir, "a #b");
    assert_string_equal(back.ckpt_dir, "\"ck\"");
    expect_bad_value("model", "widths", "2,5,1   # two inputs",
                     "(entry 3, '1   # two inputs', is not an integer) (inline comments start with ';', not '#')");
}

static void test_unknown_section_is_reported_at_its_header(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "sec.ini", "[model]\ngrid = 5\n[modle]\nk = 3\n", NULL, 0),
                 "sec.ini:3: unknown section [modle]", "did you mean [model]?",
                 "(known sections: model, train, lbfgs, grid, task, fit, pde, dist, output, checkpoint)");
    /* Even without keys under it. */
    EXPECT_USAGE(load_text(&c, "empty_sec.ini", "[train]\n[optim]\n", NULL, 0), "empty_sec.ini:2: unknown section [optim]");
}

static void test_key_before_any_section(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "nosec.ini", "; top\ngrid = 5\n[model]\n", NULL, 0),
                 "nosec.ini:2: key 'grid' comes before any [section] header", "it belongs in section [model]");
}

static void test_syntax_errors_name_the_line(void **state)
{
    (void)state;
    dk_config c;
    const char *expected = "syntax error, expected key = value or [section]";
    EXPECT_USAGE(load_text(&c, "syn1.ini", "[train]\nlr = 0.1\nfast please\n", NULL, 0), "syn1.ini:3: ", expected);
    EXPECT_USAGE(load_text(&c, "syn2.ini", "[train\nlr = 0.1\n", NULL, 0), "syn2.ini:1: ", expected);
    EXPECT_USAGE(load_text(&c, "syn3.ini", "[train]\n= 0.1\n", NULL, 0), "syn3.ini:2: ", expected);
    /* A syntax error before a bad value is the one reported (inih keeps parsing). */
    EXPECT_USAGE(load_text(&c, "syn4.ini", "[train]\noops\nlr = fast\n", NULL, 0), "syn4.ini:2: ", expected);
}

static void test_key_set_twice_is_an_error(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "twice.ini", "[train]\nlr = 0.1\nsteps = 5\n[model]\n[train]\nlr = 0.2\n", NULL, 0),
                 "twice.ini:6: [train] lr set twice, first at line 2");
}

static void test_overlong_line_is_an_error(void **state)
{
    (void)state;
    char text[400];
    snprintf(text, sizeof text, "[fit]\ncsv = %0250d\n", 7);
    dk_config c;
    EXPECT_USAGE(load_text(&c, "long.ini", text, NULL, 0), "long.ini:2: line is longer than 197 characters",
                 "config.ini and every checkpoint hold each key on one such line too");
}

static void test_missing_or_unreadable_file(void **state)
{
    (void)state;
    dk_config c;
    char path[256];
    snprintf(path, sizeof path, "%s/nope.ini", tmp_dir);
    char expected[400];
    snprintf(expected, sizeof expected, "cannot open config file '%s': No such file or directory", path);
    dk_error_clear();
    EXPECT_USAGE(dk_config_load(&c, path, NULL, 0), expected);
    /* A directory opens but cannot be read. */
    dk_error_clear();
    EXPECT_USAGE(dk_config_load(&c, tmp_dir, NULL, 0), "cannot read config file", tmp_dir);
}

/* ---- values ------------------------------------------------------------------------------ */

static void test_bad_numbers_are_rejected(void **state)
{
    (void)state;
    expect_bad_value("train", "lr", "fast", "a number > 0");
    expect_bad_value("train", "lr", "1e", "a number > 0");
    expect_bad_value("train", "lr", "0.1.2", "a number > 0");
    expect_bad_value("train", "lr", "nan", "a number > 0");
    expect_bad_value("train", "lr", "inf", "a number > 0");
    expect_bad_value("train", "lr", "1e999", "a number > 0");
    expect_bad_value("model", "scale_sp", "-inf", "a finite number");
    expect_bad_value("model", "grid", "12abc", "an integer in [1, 10000]");
    expect_bad_value("model", "grid", "0x10", "an integer in [1, 10000]");
    expect_bad_value("model", "grid", "", "an integer in [1, 10000]");
    expect_bad_value("train", "lr", "", "a number > 0");
    expect_bad_value("train", "steps", "1e3", "an integer in [0, 1000000000] (write integers in plain digits");
    expect_bad_value("train", "steps", "2.0", "an integer in [0, 1000000000]");
    expect_bad_value("train", "steps", "99999999999999999999", "an integer in [0, 1000000000]");
    expect_bad_value("train", "log_every", "99999999999999999999", "an integer >= 1 (at most 9223372036854775807)");
    expect_bad_value("fit", "target_columns", "3000000000", "an integer >= 1 (at most 2147483647)");
    expect_bad_value("train", "lr", "0.1  # the usual", "a number > 0 (inline comments start with ';', not '#')");
}

static void test_out_of_range_values_are_rejected(void **state)
{
    (void)state;
    expect_bad_value("model", "k", "0", "an integer in [1, 7]");
    expect_bad_value("model", "k", "8", "an integer in [1, 7]");
    expect_bad_value("model", "grid", "0", "an integer in [1, 10000]");
    expect_bad_value("model", "grid", "10001", "an integer in [1, 10000]");
    expect_bad_value("train", "lr", "-1", "a number > 0");
    expect_bad_value("train", "lr", "0", "a number > 0");
    expect_bad_value("train", "beta1", "1", "a number in [0, 1)");
    expect_bad_value("train", "beta2", "-0.1", "a number in [0, 1)");
    expect_bad_value("train", "lr_gamma", "0", "a number in (0, 1]");
    /* Underflow reads as 0: the message says why a positive number is refused. */
    expect_bad_value("train", "eps", "1e-400", "a number > 0 (1e-400 is below the smallest double, 2.23e-308, "
                                               "and reads as 0)");
    /* A huge decay would overflow Adam's second moment and freeze the run silently. */
    expect_bad_value("train", "weight_decay", "1e200", "a number in [0, 1000]");
    expect_bad_value("train", "weight_decay", "-1e-3", "a number in [0, 1000]");
    expect_bad_value("pde", "alpha", "1e160", "a number in (0, 1000000]");
    expect_bad_value("model", "grid_eps", "1.5", "a number in [0, 1]");
    expect_bad_value("model", "noise_scale", "-0.1", "a number >= 0");
    expect_bad_value("model", "seed", "-1", "an integer >= 0");
    expect_bad_value("model", "seed", "9223372036854775808", "an integer >= 0 (at most 9223372036854775807)");
    expect_bad_value("train", "steps", "-5", "an integer in [0, 1000000000]");
    expect_bad_value("train", "lr_step_every", "0", "an integer >= 1");
    expect_bad_value("train", "batch", "-1", "an integer >= 0");
    expect_bad_value("dist", "threads", "0", "an integer in [1, 1024]");
    expect_bad_value("dist", "threads", "1025", "an integer in [1, 1024]");
}

static void test_enum_errors_list_allowed_values(void **state)
{
    (void)state;
    expect_bad_value("model", "precision", "float16", "one of: float64, float32");
    expect_bad_value("model", "precision", "Float64", "one of: float64, float32");
    expect_bad_value("train", "optimizer", "sgd", "one of: adam, lbfgs, adam_then_lbfgs");
    expect_bad_value("pde", "sampling", "sobol", "one of: uniform, halton");
    expect_bad_value("pde", "problem", "burgers", "one of: poisson2d, helmholtz2d, poisson_nd, heat_nd");
    expect_bad_value("train", "lr_schedule", "linear", "one of: constant, cosine, step");
    expect_bad_value("task", "type", "classify", "one of: fit, pde");
    expect_bad_value("fit", "function", "no_such_function", "one of: exp_sin_sq");
    /* Every built-in function is listed. */
    for (const dk_fit_function *f = dk_fit_functions; f->name; f++)
        expect_bad_value("fit", "function", "nope", f->name);
}

static void test_malformed_lists_are_rejected(void **state)
{
    (void)state;
    const char *w = "a comma-separated list of 2 to 65 integers, each >= 1";
    expect_bad_value("model", "widths", "2,,1", w);
    expect_bad_value("model", "widths", "2,,1", "(entry 2 is empty)");
    expect_bad_value("model", "widths", "2", "(found 1 entry)");
    expect_bad_value("model", "widths", "2,a,1", "(entry 2, 'a', is not an integer)");
    expect_bad_value("model", "widths", "2,0,1", "(entry 2 is 0)");
    expect_bad_value("model", "widths", "2,5,", "(entry 3 is empty)");
    expect_bad_value("model", "widths", "2,1.5,1", "(entry 2, '1.5', is not an integer)");
    expect_bad_value("model", "widths", "", w);
    char many[400] = "2";
    for (int i = 0; i < 65; i++)
        strcat(many, ",1");
    expect_bad_value("model", "widths", many, "(more than 65 entries)");

    const char *p = "two finite numbers lo,hi with lo < hi";
    expect_bad_value("model", "grid_range", "1,-1", p);
    expect_bad_value("model", "grid_range", "1,1", "(lo is not below hi)");
    expect_bad_value("model", "grid_range", "1", "(found one entry)");
    expect_bad_value("model", "grid_range", "0,1,2", "(found more than two entries)");
    expect_bad_value("model", "grid_range", "-1,inf", p);
    expect_bad_value("model", "grid_range", "a,1", p);
}

static void test_longest_widths_list_is_accepted(void **state)
{
    (void)state;
    char text[400] = "[model]\nwidths = 2";
    for (int i = 0; i < 63; i++)
        strcat(text, ",3");
    strcat(text, ",1\n");
    dk_config c;
    check_ok(load_text(&c, "deep.ini", text, NULL, 0));
    assert_int_equal(c.n_widths, DK_MAX_LAYERS + 1);
    assert_int_equal(c.widths[DK_MAX_LAYERS], 1);
}

/* ---- --set ------------------------------------------------------------------------------- */

static void test_set_overrides_beat_the_file_in_order(void **state)
{
    (void)state;
    dk_config c;
    const char *over[] = {"train.lr=0.5", "model.widths = 2,9,1", "train.lr = 0.25", "fit.function=xy"};
    check_ok(load_text(&c, "over.ini", "[train]\nlr = 0.1\n[model]\nwidths = 2,3,1\n", over, 4));
    assert_true(c.lr == 0.25);
    assert_int_equal(c.widths[1], 9);
    assert_string_equal(c.function, "xy");
    /* Overrides may set output.run_dir, and may set a key the file does not mention. */
    const char *dir[] = {"output.run_dir=elsewhere/r1", "train.steps=7"};
    check_ok(load_text(&c, "over2.ini", "", dir, 2));
    assert_string_equal(c.run_dir, "elsewhere/r1");
    assert_int_equal(c.steps, 7);
    /* Values may contain '.' and '='. */
    const char *csv[] = {"fit.csv=data/a=b.csv", "model.widths=3,1"};
    check_ok(load_text(&c, "over3.ini", "", csv, 2));
    assert_string_equal(c.csv, "data/a=b.csv");
}

static void test_malformed_set_explains_the_form(void **state)
{
    (void)state;
    const char *bad[] = {"trainlr=3", "train.lr", "train.lr 3", ".lr=3", "train.=3", "rl=3.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dk_config c;
        char head[64];
        snprintf(head, sizeof head, "--set %s: expected section.key=value", bad[i]);
        EXPECT_USAGE(load_text(&c, "set.ini", "", &bad[i], 1), head, "e.g. --set train.lr=0.001");
    }
    /* A key without its section: every section that holds it is named. */
    dk_config c;
    const char *bare[] = {"steps=5"};
    EXPECT_USAGE(load_text(&c, "set.ini", "", bare, 1),
                 "--set steps=5: expected section.key=value: 'steps' is a key of section [train], [lbfgs] or [grid] "
                 "(e.g. --set train.steps=5)");
}

static void test_set_unknown_names_and_bad_values(void **state)
{
    (void)state;
    dk_config c;
    const char *key[] = {"train.lrr=1"};
    EXPECT_USAGE(load_text(&c, "set.ini", "", key, 1), "--set train.lrr=1: unknown key 'lrr' in section [train]",
                 "did you mean 'lr'?");
    const char *sec[] = {"modle.grid=3"};
    EXPECT_USAGE(load_text(&c, "set.ini", "", sec, 1), "--set modle.grid=3: unknown section [modle]");
    const char *val[] = {"train.steps=10", "train.steps=-5"};
    EXPECT_USAGE(load_text(&c, "set.ini", "", val, 2),
                 "--set train.steps=-5: [train] steps = '-5': expected an integer in [0, 1000000000]");
    const char *lr[] = {"train.lr=x"};
    EXPECT_USAGE(load_text(&c, "set.ini", "", lr, 1), "--set train.lr=x: [train] lr = 'x': expected a number > 0");
}

static void test_config_set_alone(void **state)
{
    (void)state;
    dk_config c;
    dk_config_defaults(&c);
    check_ok(dk_config_set(&c, "model.grid=9", NULL));
    assert_int_equal(c.grid, 9);
    dk_error_clear();
    EXPECT_USAGE(dk_config_set(&c, "model.grid=x", NULL), "--set model.grid=x: [model] grid = 'x'");
    dk_error_clear();
    EXPECT_USAGE(dk_config_set(&c, "output.run_dir", "--run-dir"), "--run-dir: expected section.key=value");
    assert_int_equal(c.grid, 9); /* a failed assignment changes nothing */
}

/* ---- cross-key rules --------------------------------------------------------------------- */

static void test_cosine_needs_lr_min_below_lr(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "cos.ini", "[train]\nlr = 0.01\nlr_schedule = cosine\nlr_min = 0.01\n", NULL, 0),
                 "cos.ini:4: [train] lr_min = '0.01': expected a number < [train] lr = 0.01 when lr_schedule = cosine");
    const char *over[] = {"train.lr_min=0.5"};
    EXPECT_USAGE(load_text(&c, "cos2.ini", "[train]\nlr_schedule = cosine\n", over, 1),
                 "--set train.lr_min=0.5: [train] lr_min = '0.5': expected a number < [train] lr = 0.01");
    /* Any floor is fine for the other schedules, and the default floor 0 is fine for cosine. */
    check_ok(load_text(&c, "cos3.ini", "[train]\nlr_min = 0.5\n", NULL, 0));
    check_ok(load_text(&c, "cos4.ini", "[train]\nlr_schedule = cosine\n", NULL, 0));
}

static void test_pde_widths_must_match_the_problem(void **state)
{
    (void)state;
    dk_config c;
    check_ok(load_text(&c, "pde.ini", "[task]\ntype = pde\n", NULL, 0));
    assert_string_equal(c.pde_problem, "poisson2d");
    /* heat_nd in 3 space dimensions has 4 inputs (time last). */
    EXPECT_USAGE(load_text(&c, "heat.ini", "[model]\nwidths = 3,8,1\n[task]\ntype = pde\n[pde]\nproblem = heat_nd\ndim = 3\n",
                           NULL, 0),
                 "heat.ini:2: [model] widths = '3,8,1': expected widths that start with 4 and end with 1: [pde] problem "
                 "= heat_nd has 4 inputs");
    const char *over[] = {"model.widths=4,8,1"};
    check_ok(load_text(&c, "heat2.ini", "[task]\ntype = pde\n[pde]\nproblem = heat_nd\ndim = 3\n", over, 1));
    /* A PDE solution is scalar. */
    EXPECT_USAGE(load_text(&c, "two.ini", "[model]\nwidths = 2,5,2\n[task]\ntype = pde\n", NULL, 0),
                 "two.ini:2: [model] widths = '2,5,2': expected widths that start with 2 and end with 1");
    /* Every problem is of second order: degree-1 splines have none (a fit may use them). */
    EXPECT_USAGE(load_text(&c, "lin.ini", "[model]\nk = 1\n[task]\ntype = pde\n", NULL, 0),
                 "lin.ini:2: [model] k = '1': expected k >= 2 for [task] type = pde");
    const char *two[] = {"model.k=2"};
    check_ok(load_text(&c, "quad.ini", "[task]\ntype = pde\n", two, 1));
    check_ok(load_text(&c, "linfit.ini", "[model]\nk = 1\n", NULL, 0));
}

static void test_lbfgs_wolfe_constants_must_be_ordered(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "wolfe.ini", "[lbfgs]\nc1 = 0.5\nc2 = 0.4\n", NULL, 0),
                 "wolfe.ini:3: [lbfgs] c2 = '0.4': expected a number > [lbfgs] c1 = 0.5");
    EXPECT_USAGE(load_text(&c, "wolfe2.ini", "[lbfgs]\nc2 = 1\n", NULL, 0), "wolfe2.ini:2: [lbfgs] c2 = '1'");
    check_ok(load_text(&c, "lb.ini", "[train]\noptimizer = adam_then_lbfgs\n[lbfgs]\nsteps = 7\nhistory = 50\n", NULL, 0));
    assert_int_equal(c.optimizer, DK_OPT_ADAM_THEN_LBFGS);
    assert_int_equal(c.lbfgs_steps, 7);
    assert_int_equal(c.lbfgs_history, 50);
}

static void test_warmup_must_be_shorter_than_the_run(void **state)
{
    (void)state;
    dk_config c;
    EXPECT_USAGE(load_text(&c, "warm.ini", "[train]\nsteps = 100\nwarmup_steps = 100\n", NULL, 0),
                 "warm.ini:3: [train] warmup_steps = '100': expected an integer < [train] steps = 100");
    check_ok(load_text(&c, "warm2.ini", "[train]\nsteps = 0\nwarmup_steps = 100\n", NULL, 0));
}

/* [grid]: sizes increase, [model] grid agrees with the first size, stage lengths cover
 * the run exactly; one value or none spreads them. */
static void test_grid_schedule_rules(void **state)
{
    (void)state;
    dk_config c;
    dk_grid_schedule plan;
    check_ok(load_text(&c, "g0.ini", "", NULL, 0));
    assert_int_equal(c.n_grid_schedule, 0);
    dk_config_grid_schedule(&c, &plan);
    assert_int_equal(plan.n_stages, 1);
    assert_int_equal(plan.updates[0], c.steps);
    assert_int_equal(plan.G[0], c.grid);
    /* No steps: the run's updates split equally (3, 3, 4). */
    check_ok(load_text(&c, "g1.ini", "[train]\nsteps = 10\n[grid]\nschedule = 3, 5,10\n", NULL, 0));
    assert_int_equal(c.grid, 3);
    dk_config_grid_schedule(&c, &plan);
    assert_int_equal(plan.n_stages, 3);
    assert_true(plan.updates[0] == 3 && plan.updates[1] == 3 && plan.updates[2] == 4);
    /* One value for every stage, and adam_then_lbfgs counts both phases. */
    check_ok(load_text(&c, "g2.ini",
                       "[model]\ngrid = 5\n[train]\noptimizer = adam_then_lbfgs\nsteps = 100\n[lbfgs]\nsteps = 300\n"
                       "[grid]\nschedule = 5,10,20,50\nsteps = 100\n",
                       NULL, 0));
    dk_config_grid_schedule(&c, &plan);
    assert_int_equal(plan.n_stages, 4);
    assert_true(plan.updates[0] == 100 && plan.updates[3] == 100);
    assert_true(plan.G[0] == 5 && plan.G[1] == 10 && plan.G[3] == 50);
    check_ok(load_text(&c, "g3.ini", "[train]\noptimizer = lbfgs\n[lbfgs]\nsteps = 30\n[grid]\nschedule = 5,7\nsteps = 10,20\n",
                       NULL, 0));
    dk_config_grid_schedule(&c, &plan);
    assert_int_equal(plan.n_stages, 2);
    assert_true(plan.updates[0] == 10 && plan.updates[1] == 20);
    EXPECT_USAGE(load_text(&c, "g4.ini", "[grid]\nschedule = 5,5,10\n", NULL, 0),
                 "g4.ini:2: [grid] schedule = '5,5,10': expected strictly increasing grid sizes (entry 2, 5, is not "
                 "above 5)");
    EXPECT_USAGE(load_text(&c, "g5.ini", "[model]\ngrid = 10\n[grid]\nschedule = 5,10\n", NULL, 0),
                 "g5.ini:2: [model] grid = '10': expected the first size of [grid] schedule, 5");
    EXPECT_USAGE(load_text(&c, "g6.ini", "[train]\nsteps = 100\n[grid]\nschedule = 5,10\nsteps = 60\n", NULL, 0),
                 "g6.ini:5: [grid] steps = '60': the 2 stages add up to 120 updates but the run has 100 ([train] "
                 "steps = 100 Adam steps)");
    EXPECT_USAGE(load_text(&c, "g7.ini", "[train]\nsteps = 100\n[grid]\nschedule = 5,10,20\nsteps = 50,50\n", NULL, 0),
                 "[grid] steps = '50,50': expected one value or one per stage ([grid] schedule has 3 stages)");
    EXPECT_USAGE(load_text(&c, "g8.ini", "[grid]\nsteps = 50\n", NULL, 0),
                 "g8.ini:2: [grid] steps = '50': expected no value without a [grid] schedule");
    EXPECT_USAGE(load_text(&c, "g9.ini", "[train]\nsteps = 2\n[grid]\nschedule = 3,5,10\n", NULL, 0),
                 "[grid] schedule = '3,5,10': has 3 stages but the run has 2 updates");
    /* --set can clear a schedule again. */
    const char *over[] = {"grid.schedule=", "grid.steps="};
    check_ok(load_text(&c, "g10.ini", "[grid]\nschedule = 5,10\nsteps = 7\n", over, 2));
    assert_int_equal(c.n_grid_schedule, 0);
}

static void test_fit_data_rules(void **state)
{
    (void)state;
    dk_config c;
    /* A built-in function needs samples, and widths that match its dimension. */
    EXPECT_USAGE(load_text(&c, "fit1.ini", "[fit]\ntrain_size = 0\n", NULL, 0),
                 "fit1.ini:2: [fit] train_size = '0': expected an integer >= 1 for a built-in function");
    EXPECT_USAGE(load_text(&c, "fit2.ini", "[model]\nwidths = 3,5,1\n", NULL, 0),
                 "fit2.ini:2: [model] widths = '3,5,1': expected widths that start with 2 and end with 1");
    EXPECT_USAGE(load_text(&c, "fit3.ini", "[fit]\nfunction =\n", NULL, 0),
                 "fit3.ini:2: [fit] function = '': expected a built-in function when [fit] csv is empty",
                 "exp_sin_sq");
    check_ok(load_text(&c, "fit4.ini", "[model]\nwidths = 1,4,1\n[fit]\nfunction = sin_pi\n", NULL, 0));
    /* target_columns is a CSV file's: with a built-in function it is not silently ignored. */
    EXPECT_USAGE(load_text(&c, "fit4b.ini", "[fit]\ntarget_columns = 2\n", NULL, 0),
                 "fit4b.ini:2: [fit] target_columns = '2': expected 1 without [fit] csv");
    /* csv wins over function, which is cleared; train_size 0 means all rows. */
    check_ok(load_text(&c, "fit5.ini", "[model]\nwidths = 4,3,2\n[fit]\ncsv = d.csv\ntarget_columns = 2\ntrain_size = 0\n",
                       NULL, 0));
    assert_string_equal(c.csv, "d.csv");
    assert_string_equal(c.function, "");
    assert_int_equal(c.train_size, 0);
    EXPECT_USAGE(load_text(&c, "fit6.ini", "[fit]\ncsv = d.csv\ntarget_columns = 2\n", NULL, 0),
                 "fit6.ini: [model] widths = '2,5,1': expected the last width to equal [fit] target_columns = 2");
}

/* ---- writing ----------------------------------------------------------------------------- */

static void load_written(const dk_config *src, const char *name, dk_config *back)
{
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    dk_config_write_ini(src, f);
    assert_int_equal(fclose(f), 0);
    dk_error_clear();
    check_ok(dk_config_load(back, path, NULL, 0));
}

/* The same values; where they came from and what their reading warned of aside. */
static void assert_same_config(dk_config a, dk_config b)
{
    memset(a.source_path, 0, sizeof a.source_path);
    memset(b.source_path, 0, sizeof b.source_path);
    memset(a.unread_keys, 0, sizeof a.unread_keys);
    memset(b.unread_keys, 0, sizeof b.unread_keys);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_write_ini_round_trips(void **state)
{
    (void)state;
    static dk_config first, back;
    check_ok(load_text(&first, "rt_full.ini", full_ini, NULL, 0));
    load_written(&first, "rt_full_written.ini", &back);
    assert_same_config(first, back);

    /* Values that need all 17 digits, a huge seed, a CSV source and the default run_dir. */
    const char *over[] = {"train.lr=0.30000000000000004", "model.grid_range=-0.1,0.7", "model.seed=12345678901234567",
                          "fit.csv=data/my data.csv", "model.widths=5,1", "train.eps=4.9406564584124654e-324"};
    check_ok(load_text(&first, "rt_csv.ini", "[model]\nnoise_scale = 0.1\n", over, 6));
    assert_true(first.lr == 0.1 + 0.2);
    load_written(&first, "rt_csv_written.ini", &back);
    assert_same_config(first, back);
    assert_string_equal(back.run_dir, "runs/rt_csv");
}

/* A value whose INI line would be too long to read back is refused before any run can
 * store it (config.ini, checkpoints); the longest that fits is accepted and reads back. */
static void test_values_must_read_back_when_stored(void **state)
{
    (void)state;
    static dk_config c, back;
    char assignment[400], dir[300];
    check_ok(load_text(&c, "store.ini", "[train]\nsteps = 3\n", NULL, 0));
    check_ok(dk_config_check_storable(&c));
    /* "run_dir = " + 187 characters = 197, the parser's limit; one more is refused. */
    memset(dir, 'd', 187);
    dir[187] = '\0';
    snprintf(assignment, sizeof assignment, "output.run_dir=%s", dir);
    check_ok(dk_config_set(&c, assignment, NULL));
    check_ok(dk_config_check_storable(&c));
    char *text = NULL;
    check_ok(dk_config_to_text(&c, &text));
    check_ok(dk_config_load_text(&back, text, "stored"));
    free(text);
    assert_string_equal(back.run_dir, dir);
    snprintf(assignment, sizeof assignment, "output.run_dir=%s/x", dir);
    check_ok(dk_config_set(&c, assignment, NULL));
    dk_error_clear();
    EXPECT_USAGE(dk_config_check_storable(&c), "[output] run_dir: the value is too long to store",
                 "would have 199 characters, more than the 197");
    /* A CSV path in the same way. */
    check_ok(load_text(&c, "store_csv.ini", "[train]\nsteps = 3\n", NULL, 0));
    snprintf(assignment, sizeof assignment, "fit.csv=%s/data.csv", dir);
    check_ok(dk_config_set(&c, assignment, NULL));
    EXPECT_USAGE(dk_config_check_storable(&c), "[fit] csv: the value is too long to store");
    /* The source file's path is only a comment: a long one is shortened, not refused. */
    char label[300];
    memset(label, 'p', sizeof label - 1);
    label[sizeof label - 1] = '\0';
    check_ok(dk_config_load_text(&c, "[train]\nsteps = 3\n", label));
    check_ok(dk_config_check_storable(&c));
}

static void test_control_characters_are_refused(void **state)
{
    (void)state;
    static dk_config c;
    check_ok(load_text(&c, "ctl.ini", "[train]\nsteps = 3\n", NULL, 0));
    /* A newline would make a line of its own in config.ini ("seed = 9" injected). */
    EXPECT_USAGE(dk_config_set(&c, "output.run_dir=runs/a\nseed = 9", NULL),
                 "[output] run_dir: the value contains a control character (byte 0x0A at position 7)");
    EXPECT_USAGE(dk_config_set(&c, "fit.csv=a\x1b[31mb.csv", NULL), "byte 0x1B at position 2");
    check_ok(dk_config_set(&c, "output.run_dir=runs/tab\there", NULL)); /* a tab is ordinary text */
}

static void test_nul_bytes_and_overlong_lines_are_refused(void **state)
{
    (void)state;
    static dk_config c;
    const char *path = tmp_path("nul.ini");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite("[model]\ngrid = 5\0junk\n", 1, 23, f); /* the NUL would silently end the line */
    assert_int_equal(fclose(f), 0);
    dk_error_clear();
    EXPECT_USAGE(dk_config_load(&c, path, NULL, 0), "nul.ini:2: the line contains a NUL byte");
    /* A line far longer than any buffer (a data file given by mistake) is refused without
     * reading it all. */
    static char huge[200000];
    memset(huge, 'a', sizeof huge - 1);
    memcpy(huge, "[model]\n", 8);
    EXPECT_USAGE(load_text(&c, "huge.ini", huge, NULL, 0), "huge.ini:2: line is longer than 197 characters");
}

/* Knots must be finite, distinct and usable in the run's precision. */
static void test_grid_range_must_give_usable_knots(void **state)
{
    (void)state;
    static dk_config c;
    EXPECT_USAGE(load_text(&c, "r1.ini", "[model]\ngrid_range = -1e308,1e308\n", NULL, 0),
                 "r1.ini:2: [model] grid_range = '-1e+308,1e+308': expected a range whose extended knots",
                 "finite in float64");
    EXPECT_USAGE(load_text(&c, "r2.ini", "[model]\ngrid_range = 0,1e-300\n", NULL, 0),
                 "r2.ini:2: [model] grid_range = '0,1e-300': expected a wider range",
                 "the knots, as stored in float64, come 2e-301 apart, below the 1.62261e-102 that k = 3 allows");
    /* The limit falls with the degree (derivatives of order k, dk_bspline_min_spacing). */
    const char *f32k7[] = {"model.precision=float32", "model.k=7"};
    check_ok(load_text(&c, "r2b.ini", "[model]\ngrid_range = 0,2e-4\n", f32k7, 2));
    EXPECT_USAGE(load_text(&c, "r2c.ini", "[model]\ngrid_range = 0,1e-6\n", f32k7, 2),
                 "the knots, as stored in float32, come 2e-07 apart, below the 3.14353e-05 that k = 7 allows");
    /* Just above the limit, (hi - lo)/G = 3.144e-5, but 3 + that rounds in float32 to gaps of
     * 3.123e-5 and 3.147e-5: the knots as stored count (the run trained on the closer ones,
     * then refused its own checkpoint). The same through a schedule's refinement. */
    EXPECT_USAGE(load_text(&c, "r2d.ini", "[model]\ngrid = 5\ngrid_range = 3,3.0001572\n", f32k7, 2),
                 "with G = 5 the knots, as stored in float32, come 3.12328e-05 apart");
    EXPECT_USAGE(load_text(&c, "r2e.ini",
                           "[model]\ngrid = 5\ngrid_range = 3,3.00031437\n[train]\nsteps = 4\n[grid]\nschedule = 5,10\n",
                           f32k7, 2),
                 "with G = 10 the knots, as stored in float32, come 3.12328e-05 apart");
    /* Distinct in float64 but not in float32: 1e6 + 1e-3 spacing rounds away in float. */
    const char *f32[] = {"model.precision=float32"};
    check_ok(load_text(&c, "r3.ini", "[model]\ngrid_range = 1e6,1000000.005\n", NULL, 0));
    EXPECT_USAGE(load_text(&c, "r4.ini", "[model]\ngrid_range = 1e6,1000000.005\n", f32, 1),
                 "r4.ini:2: [model] grid_range", "within 64 roundings of float32 knots");
    EXPECT_USAGE(load_text(&c, "r5.ini", "[model]\ngrid_range = -1e38,1e38\n", f32, 1), "finite in float32");
    /* The finest grid of a schedule is the one that counts. */
    EXPECT_USAGE(load_text(&c, "r6.ini",
                           "[model]\ngrid_range = 0,5e-99\n[train]\nsteps = 4\n[grid]\nschedule = 2,5000\n", NULL, 0),
                 "with G = 5000");
    check_ok(load_text(&c, "r7.ini", "[model]\ngrid_range = 0,5e-99\n[train]\nsteps = 4\n", NULL, 0));
    /* Too wide apart (dk_bspline_max_spacing): the pieces' powers of the spacing overflow.
     * A time axis in seconds at k = 7 in float32: */
    check_ok(load_text(&c, "r8.ini", "[model]\ngrid = 5\ngrid_range = 0,1e5\n", f32k7, 2));
    EXPECT_USAGE(load_text(&c, "r9.ini", "[model]\ngrid = 5\ngrid_range = 0,1e7\n", f32k7, 2),
                 "r9.ini:3: [model] grid_range = '0,10000000': expected a narrower range or a larger [model] grid",
                 "with G = 5 the knots come 2e+06 apart, above the 31811.4 that k = 7 allows in float32",
                 "scale the inputs (to about [-1, 1]) or use float64");
    EXPECT_USAGE(load_text(&c, "r10.ini", "[model]\ngrid = 5\ngrid_range = -1e110,1e110\n", NULL, 0),
                 "come 4e+109 apart, above the 6.16", "that k = 3 allows in float64");
    /* The first grid of a schedule is the widest. */
    EXPECT_USAGE(load_text(&c, "r11.ini", "[model]\ngrid = 2\ngrid_range = 0,1e5\n[train]\nsteps = 4\n"
                           "[grid]\nschedule = 2,50\n", f32k7, 2), "with G = 2 the knots come 50000 apart");
    /* With [model] grid unset, the schedule's first size is the first grid, not grid's
     * default of 5 (whose spacing, 2e6, this range would exceed). */
    check_ok(load_text(&c, "r12.ini", "[model]\ngrid_range = 0,1e7\n[train]\nsteps = 4\n[grid]\nschedule = 400,800\n",
                       f32k7, 2));
    EXPECT_USAGE(load_text(&c, "r13.ini", "[model]\ngrid_range = 0,1e7\n[train]\nsteps = 4\n[grid]\nschedule = 100,800\n",
                           f32k7, 2), "with G = 100 the knots come 100000 apart");
}

static void test_pde_boundary_points_cover_every_face(void **state)
{
    (void)state;
    static dk_config c;
    const char *three[] = {"pde.boundary_points=3"}, *four[] = {"pde.boundary_points=4"};
    EXPECT_USAGE(load_text(&c, "faces.ini", "[task]\ntype = pde\n", three, 1),
                 "--set pde.boundary_points=3: [pde] boundary_points = '3': expected at least 4, one per face");
    check_ok(load_text(&c, "faces.ini", "[task]\ntype = pde\n", four, 1));
    /* heat_nd's final-time face carries no data: 2 dim + 1 faces. */
    const char *heat[] = {"pde.problem=heat_nd", "pde.dim=2", "model.widths=3,4,1", "pde.boundary_points=4"};
    EXPECT_USAGE(load_text(&c, "heat_faces.ini", "[task]\ntype = pde\n", heat, 4), "expected at least 5");
}

static char *capture(void (*write)(FILE *))
{
    captured_text out;
    write(capture_begin(&out));
    return capture_end(&out);
}

static void write_defaults_ini(FILE *f)
{
    dk_config c;
    dk_config_defaults(&c);
    dk_config_write_ini(&c, f);
}

static void test_written_ini_lists_sections_in_schema_order(void **state)
{
    (void)state;
    char *text = capture(write_defaults_ini);
    const char *order[] = {"[model]\nwidths = 2,5,1\ngrid = 5\n", "[train]\noptimizer = adam\n", "[task]\ntype = fit\n",
                           "[fit]\nfunction = exp_sin_sq\ncsv = \n", "[dist]\nthreads = 1\n", "[output]\nrun_dir = \n"};
    const char *at = text;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        const char *hit = strstr(at, order[i]);
        if (!hit)
            fail_msg("\"%s\" missing or out of order in:\n%s", order[i], text);
        at = hit;
    }
    assert_non_null(strstr(text, "eps = 1e-08\n"));
    free(text);
}

static void test_reference_tables_document_every_key(void **state)
{
    (void)state;
    char *text = capture(dk_config_write_reference);
    const char *parts[] = {"[model]\n  widths  ", "2,5,1", "a comma-separated list of 2 to 65 integers, each >= 1",
                           "[train]\n  optimizer  ", "one of: adam", "lr_gamma", "a number in (0, 1]",
                           "csv  ", "(empty)", "function is ignored", "[dist]\n  threads  ", "[output]\n  run_dir  ",
                           "runs/<config file stem>"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        if (!strstr(text, parts[i]))
            fail_msg("reference lacks \"%s\":\n%s", parts[i], text);
    free(text);

    text = capture(dk_config_write_reference_markdown);
    const char *md[] = {"### [model]\n\n| Key | Default | Expected | Meaning |\n|---|---|---|---|\n| `widths` | `2,5,1` |",
                        "### [output]", "| `run_dir` | *(empty)* | a directory path, or empty for runs/&lt;config file stem&gt; |",
                        "| `eps` | `1e-8` | a number &gt; 0 |", "grid_eps \\* uniform"};
    for (size_t i = 0; i < sizeof md / sizeof *md; i++)
        if (!strstr(text, md[i]))
            fail_msg("markdown reference lacks \"%s\":\n%s", md[i], text);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_equal_documented_values),
        cmocka_unit_test(test_empty_file_gives_defaults_and_run_dir_from_stem),
        cmocka_unit_test(test_full_file_sets_every_field),
        cmocka_unit_test(test_dialect_details),
        cmocka_unit_test(test_headers_and_line_ends_lose_no_key),
        cmocka_unit_test(test_unread_keys_are_noted),
        cmocka_unit_test(test_unknown_key_names_file_line_and_key),
        cmocka_unit_test(test_unknown_section_is_reported_at_its_header),
        cmocka_unit_test(test_paths_refuse_quotes_and_hash_comments),
        cmocka_unit_test(test_key_before_any_section),
        cmocka_unit_test(test_syntax_errors_name_the_line),
        cmocka_unit_test(test_key_set_twice_is_an_error),
        cmocka_unit_test(test_overlong_line_is_an_error),
        cmocka_unit_test(test_missing_or_unreadable_file),
        cmocka_unit_test(test_bad_numbers_are_rejected),
        cmocka_unit_test(test_out_of_range_values_are_rejected),
        cmocka_unit_test(test_enum_errors_list_allowed_values),
        cmocka_unit_test(test_malformed_lists_are_rejected),
        cmocka_unit_test(test_longest_widths_list_is_accepted),
        cmocka_unit_test(test_set_overrides_beat_the_file_in_order),
        cmocka_unit_test(test_malformed_set_explains_the_form),
        cmocka_unit_test(test_set_unknown_names_and_bad_values),
        cmocka_unit_test(test_config_set_alone),
        cmocka_unit_test(test_cosine_needs_lr_min_below_lr),
        cmocka_unit_test(test_pde_widths_must_match_the_problem),
        cmocka_unit_test(test_lbfgs_wolfe_constants_must_be_ordered),
        cmocka_unit_test(test_warmup_must_be_shorter_than_the_run),
        cmocka_unit_test(test_fit_data_rules),
        cmocka_unit_test(test_grid_schedule_rules),
        cmocka_unit_test(test_write_ini_round_trips),
        cmocka_unit_test(test_values_must_read_back_when_stored),
        cmocka_unit_test(test_control_characters_are_refused),
        cmocka_unit_test(test_nul_bytes_and_overlong_lines_are_refused),
        cmocka_unit_test(test_grid_range_must_give_usable_knots),
        cmocka_unit_test(test_pde_boundary_points_cover_every_face),
        cmocka_unit_test(test_written_ini_lists_sections_in_schema_order),
        cmocka_unit_test(test_reference_tables_document_every_key),
    };
    return cmocka_run_group_tests(tests, make_tmp_dir, remove_tmp_dir);
}
