# The README's configuration reference is the one the binary prints: every key appears
# with its current default, expectation and meaning.
source "$(dirname "$0")/../lib.sh"
"$DISTKAN" keys --markdown | grep '^| `' > rows.txt
[ "$(wc -l < rows.txt)" -gt 20 ] || fail "distkan keys --markdown printed too few keys"
missing=0
while IFS= read -r row; do
    grep -qxF -- "$row" "$SOURCE_DIR/README.md" || { echo "README lacks: $row"; missing=1; }
done < rows.txt
[ "$missing" -eq 0 ] || fail "README.md is out of date: regenerate its reference with 'distkan keys --markdown'"
echo "README documents all $(wc -l < rows.txt) keys"
