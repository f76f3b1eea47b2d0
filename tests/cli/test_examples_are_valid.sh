# Every configuration in examples/ is accepted by `distkan check` (a renamed key or a
# changed rule must not leave a broken example behind).
source "$(dirname "$0")/../lib.sh"
n=0
for cfg in "$SOURCE_DIR"/examples/*.ini; do
    "$DISTKAN" check "$cfg" > check.txt 2> err.txt || { cat err.txt; fail "distkan check rejects $cfg"; }
    n=$((n + 1))
done
[ "$n" -ge 4 ] || fail "expected at least 4 examples, found $n"
echo "all $n examples are valid"
