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
