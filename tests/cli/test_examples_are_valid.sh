# Every configuration in examples/ is accepted by `distkan check` (a renamed key or a
# changed rule must not leave a broken example behind), and reads every key it sets.
source "$(dirname "$0")/../lib.sh"
n=0
for cfg in "$SOURCE_DIR"/examples/*.ini; do
    "$DISTKAN" check "$cfg" > check.txt 2> err.txt || { cat err.txt; fail "distkan check rejects $cfg"; }
    [ ! -s err.txt ] || { cat err.txt; fail "distkan check warns about $cfg"; }
    n=$((n + 1))
done
[ "$n" -ge 4 ] || fail "expected at least 4 examples, found $n"
echo "all $n examples are valid"

# A PDE configuration without its [task] type trains the built-in function; the run says
# so first thing, with the keys it does not read and where they were set.
printf '[model]\nwidths = 2,6,1\n[pde]\nproblem = heat_nd\ndim = 1\n[train]\nsteps = 2\n' > notask.ini
"$DISTKAN" check notask.ini > check.txt 2> err.txt || fail "check refused notask.ini"
grep -q "^distkan: warning: notask.ini: \[pde\] problem (line 4), dim (line 5) set but not used: \[task\] type is fit (the default), which reads no \[pde\] key: to solve the PDE, set \[task\] type = pde$" err.txt ||
    { cat err.txt; fail "check did not warn of the unread [pde] keys"; }
"$DISTKAN" train notask.ini --run-dir run > out.txt 2> err.txt || { cat err.txt; fail "train notask.ini failed"; }
sed -n 2p out.txt | grep -q "^warning: notask.ini: \[pde\] problem (line 4), dim (line 5) set but not used" ||
    { cat out.txt; fail "train's header does not warn of the unread [pde] keys"; }
echo "ok: keys the configuration does not read are warned of by check and train"

# `check`'s output is itself a configuration that reads back, whatever the file's name: a
# long path is shortened in its comment lines (they too must fit inih's line), and a line
# end in the name is shown as '?', where it would start a line of its own. A name with a
# line end gives no default run directory (runs/<name> could not be stored): an error
# naming the remedy, and with [output] run_dir set, a valid configuration.
long=$(printf 'd%.0s' $(seq 120))
mkdir -p "$long/$long" && cp "$SOURCE_DIR/examples/fit_exp_sin_sq.ini" "$long/$long/c.ini"
"$DISTKAN" check "$long/$long/c.ini" > long_check.ini || fail "check of a long path failed"
"$DISTKAN" check long_check.ini > /dev/null || fail "check's output for a long path does not read back"
newline_name=$(printf 'new\nline.ini')
cp "$SOURCE_DIR/examples/fit_exp_sin_sq.ini" "$newline_name"
expect_failure 2 "the file name holds a line end or other control character, which the default run directory runs/<name> cannot: set \[output\] run_dir, or give --run-dir" \
    "$DISTKAN" check "$newline_name"
"$DISTKAN" check "$newline_name" --set output.run_dir=nl_run > nl_check.ini || fail "check with run_dir set failed"
head -n 1 nl_check.ini | grep -qx '# new?line.ini is valid; resolved configuration:' || fail "check's first line: $(head -n 1 nl_check.ini)"
"$DISTKAN" check nl_check.ini > /dev/null || fail "check's output for a name with a line end does not read back"
echo "ok: check's output reads back for a long path and a name with a line end"
