# Config and usage errors: exit code 2 and a message naming file, line, key and what was
# expected; nothing is written to the run directory.
source "$(dirname "$0")/../lib.sh"
printf '[model]\nwidths = 2,5,1\nwidht = 3\n' > unknown_key.ini
expect_failure 2 "unknown_key.ini:3: .*widht" "$DISTKAN" train unknown_key.ini
printf '[train]\nsteps = 10\nlr = fast\n' > bad_number.ini
expect_failure 2 "bad_number.ini:3: .*lr.*fast" "$DISTKAN" train bad_number.ini
printf '[model]\nk = 0\n' > out_of_range.ini
expect_failure 2 "out_of_range.ini:2: .*k" "$DISTKAN" train out_of_range.ini
expect_failure 2 "missing.ini" "$DISTKAN" train missing.ini
printf '[train]\nsteps = 10\n' > ok.ini
expect_failure 2 "train.steps=-5" "$DISTKAN" train ok.ini --set train.steps=-5
# The key's documented range is the problems' own: 1001 is refused by the key, not later.
expect_failure 2 "pde.dim=1001: \[pde\] dim = '1001': expected an integer in \[1, 1000\]" \
    "$DISTKAN" check ok.ini --set task.type=pde --set pde.problem=poisson_nd --set pde.dim=1001
expect_failure 2 "usage" "$DISTKAN" train
expect_failure 2 "unknown command" "$DISTKAN" frobnicate
expect_failure 2 "unknown option" "$DISTKAN" train ok.ini --bogus
# An option's value that is itself an option, and an option given twice (only --set
# repeats), are refused rather than taken silently.
expect_failure 2 "--run-dir needs a value, but is followed by the option '--resume'" \
    "$DISTKAN" train ok.ini --run-dir --resume latest
expect_failure 2 "--out needs a value, but is followed by the option '--derivatives'" \
    "$DISTKAN" predict run points.csv --out --derivatives
[ ! -e ./--derivatives ] || fail "a file called --derivatives was written"
expect_failure 2 "--resume given twice \('latest', then 'auto'\)" "$DISTKAN" train ok.ini --resume latest --resume auto
expect_failure 2 "--run-dir given twice" "$DISTKAN" train ok.ini --run-dir=a --run-dir b
# A newline would be a line of its own in config.ini: said as such, not as a syntax error
# of "the resolved configuration".
expect_failure 2 "--run-dir: the path contains a control character \(byte 0x0A at position 3\)" \
    "$DISTKAN" train ok.ini --run-dir "$(printf 'nl\ndir')"
expect_failure 2 "--out given twice" "$DISTKAN" predict run points.csv --out a.csv --out b.csv
expect_failure 2 "--points given twice" "$DISTKAN" functions run --points 5 --points 7
expect_failure 2 "--derivatives given twice" "$DISTKAN" predict run points.csv --derivatives --derivatives
expect_failure 2 "--version takes no arguments" "$DISTKAN" --version extra
expect_failure 2 "MODEL is an empty path" "$DISTKAN" predict "" points.csv
expect_failure 2 "POINTS.csv is an empty path" "$DISTKAN" predict run ""
expect_failure 2 "inspect takes one checkpoint file or directory \(the path given is empty\)" "$DISTKAN" inspect ""
[ ! -e runs ] && [ ! -e a ] && [ ! -e b ] || fail "a refused command line created a directory"
# A run or checkpoint directory that is a file is named as such, and nothing is created.
touch afile
expect_failure 2 "the run directory 'afile' \(--run-dir, else \[output\] run_dir\) exists and is not a directory" \
    "$DISTKAN" train ok.ini --run-dir afile
expect_failure 2 "the checkpoint directory 'afile' \(\[checkpoint\] dir\) exists and is not a directory" \
    "$DISTKAN" train ok.ini --run-dir fresh --set checkpoint.dir=afile
[ ! -e fresh ] || fail "a refused checkpoint directory left the run directory fresh/"
# Every command's --help prints the usage and exits 0.
for cmd in train check keys inspect predict functions device; do
    "$DISTKAN" "$cmd" --help > help.txt 2>&1 || fail "distkan $cmd --help exited non-zero"
    grep -q "^usage: distkan train" help.txt || fail "distkan $cmd --help printed no usage"
done
echo "ok: option values that are options and repeated options exit 2; every command takes --help"
# --opt=value for every option that takes a value, alike in every command (the model is
# missing: parsed, they get as far as reading it).
expect_failure 1 "nowhere: No such file" "$DISTKAN" functions nowhere --points=5 --range=-1,1 --out=phi.csv
expect_failure 1 "nowhere: No such file" "$DISTKAN" predict nowhere points.csv --out=pred.csv
# An option of another command says so in the --opt=value form too (as in --opt value); an
# empty --resume= needs a value.
expect_failure 2 "--run-dir is an option of train only" "$DISTKAN" check ok.ini --run-dir=x
expect_failure 2 "--resume needs a value" "$DISTKAN" train ok.ini --resume=
# -h or --help as an option's value is a missing value, not a request for help; --set's
# hint is about its section.key=value, not paths.
expect_failure 2 "--out needs a value, but is followed by the option '-h'" "$DISTKAN" predict run points.csv --out -h
expect_failure 2 "--set needs a value, but is followed by the option '-h'" "$DISTKAN" check ok.ini --set -h
expect_failure 2 "--set needs a value, but is followed by the option '--help'" "$DISTKAN" check ok.ini --set --help
[ ! -e ./-h ] || fail "a file called -h was written"
expect_failure 2 "--set needs a value, but is followed by the option '--run-dir=x' \(its value is section.key=value\)$" \
    "$DISTKAN" train ok.ini --set --run-dir=x
expect_failure 2 "--markdown given twice" "$DISTKAN" keys --markdown --markdown
expect_failure 2 "--markdown takes no value" "$DISTKAN" keys --markdown=yes
# A usage error is the error and one line pointing to the command's --help, not the whole
# usage text, for every command.
check_short() {
    expect_failure 2 "$@"
    [ "$(wc -l < err.txt)" -eq 2 ] && ! grep -q "^usage:" err.txt && grep -q "^distkan: see 'distkan $3 --help'" err.txt \
        || { cat err.txt; fail "'${*:2}': not the error and a pointer to distkan $3 --help"; }
}
check_short "--points '1'" "$DISTKAN" functions run --points 1
check_short "predict needs a MODEL" "$DISTKAN" predict run
check_short "unknown option '--bogus'" "$DISTKAN" train ok.ini --bogus
check_short "check needs a CONFIG.ini" "$DISTKAN" check
check_short "inspect takes one checkpoint" "$DISTKAN" inspect a b
check_short "unexpected argument 'x'" "$DISTKAN" keys x
check_short "device takes no arguments" "$DISTKAN" device x
# -- ends the options: what follows is a path even where it starts with -.
"$DISTKAN" check -- ok.ini > resolved.txt || fail "check -- ok.ini failed"
grep -q "^# ok.ini is valid" resolved.txt || fail "check -- ok.ini did not check ok.ini"
expect_failure 1 "cannot open checkpoint -h" "$DISTKAN" inspect -- -h
expect_failure 1 "-odd: No such file" "$DISTKAN" functions --points 3 -- -odd
expect_failure 2 "cannot open config file '--set'" "$DISTKAN" check -- --set
echo "ok: --opt=value everywhere, -h as a value, --markdown once, short usage errors, --"
# Values the INI format cannot carry (config.ini and checkpoints would read them back
# otherwise) are named by key, with what they would read back as.
expect_failure 2 "\[output\] run_dir = 'out ;x' cannot be stored .* reads back as 'out'" \
    "$DISTKAN" train ok.ini --run-dir 'out ;x'
expect_failure 2 "\[output\] run_dir = 'out ;y' cannot be stored" "$DISTKAN" check ok.ini --set 'output.run_dir=out ;y'
# Under mpirun the job exits 2 as well, and rank 0 alone prints the message.
rc=0; run_ranks 2 train unknown_key.ini > out.txt 2> err.txt || rc=$?
[ "$rc" -eq 2 ] || { cat err.txt; fail "mpirun exit $rc, expected 2"; }
[ "$(grep -c 'widht' err.txt)" -eq 1 ] || { cat err.txt; fail "expected the message once"; }
[ ! -e runs ] || fail "a failed config created a run directory"
# One-process commands print once under mpirun: rank 0 alone does them.
run_ranks 2 keys > keys.txt 2> /dev/null || fail "keys under mpirun failed"
[ "$(grep -c '^\[model\]' keys.txt)" -eq 1 ] || fail "keys under mpirun -np 2 printed its table $(grep -c '^\[model\]' keys.txt) times"
echo "config errors exit 2 with file:line messages"
