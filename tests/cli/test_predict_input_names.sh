# predict takes a points file's columns by position. A CSV fit's checkpoint records the
# training header's input names, and predict warns when the points name their columns
# otherwise: reordered (the model would see swapped inputs, with plausible numbers) or
# renamed. The same names, a model without names (a built-in function) and the table
# written are unaffected; inspect shows the names.
source "$(dirname "$0")/../lib.sh"
awk 'BEGIN { srand(3); print "x1,x2,x3,y";
             for (i = 0; i < 200; i++) { a = 2 * rand() - 1; b = 2 * rand() - 1; c = 2 * rand() - 1;
                                         printf "%.17g,%.17g,%.17g,%.17g\n", a, b, c, a * b + c } }' > train.csv
printf '[model]\nwidths = 3,4,1\n[train]\nsteps = 5\n[fit]\ncsv = train.csv\ntrain_size = 150\ntest_size = 50\n' > fit.ini
"$DISTKAN" train fit.ini --run-dir run > train.log || { cat train.log; fail "training failed"; }

printf 'x1,x2,x3\n0.1,0.2,0.3\n-0.5,0.25,0.75\n' > same.csv
"$DISTKAN" predict run same.csv --out same_out.csv 2> same.err || { cat same.err; fail "predict same.csv failed"; }
! grep -q "warning" same.err || { cat same.err; fail "a warning for the training header's own names"; }

printf 'x1,x3,x2\n0.1,0.2,0.3\n-0.5,0.25,0.75\n' > swapped.csv
"$DISTKAN" predict run swapped.csv --out swapped_out.csv 2> swapped.err || fail "predict swapped.csv failed"
grep -q "^distkan: warning: swapped.csv names its input columns x1,x3,x2; the model was trained on x1,x2,x3 (the same names in another order): predict takes the columns by position, so the model sees these inputs swapped: reorder the columns$" swapped.err ||
    { cat swapped.err; fail "no warning for reordered columns"; }
# Still by position: the values are the model at the file's numbers, as for same.csv.
[ "$(cut -d, -f4 swapped_out.csv | tail -n 2)" = "$(cut -d, -f4 same_out.csv | tail -n 2)" ] ||
    fail "the reordered file's outputs differ from the same numbers under the training names"

printf 'a,b,c\n0.1,0.2,0.3\n' > renamed.csv
"$DISTKAN" predict run renamed.csv > /dev/null 2> renamed.err || fail "predict renamed.csv failed"
grep -q "^distkan: warning: renamed.csv names its input columns a,b,c; the model was trained on x1,x2,x3: predict takes the columns by position, so check that they hold the model's inputs in its order$" renamed.err ||
    { cat renamed.err; fail "no warning for renamed columns"; }

"$DISTKAN" inspect run/checkpoints/ckpt-000000000005.dkc > inspect.txt || fail "inspect failed"
grep -q "^    inputs (training CSV's columns): x1,x2,x3$" inspect.txt || { cat inspect.txt; fail "inspect shows no input names"; }

# A built-in function's model records no names: no warning whatever the header.
printf '[train]\nsteps = 5\n[fit]\ntrain_size = 50\ntest_size = 10\n' > builtin.ini
"$DISTKAN" train builtin.ini --run-dir builtin > /dev/null || fail "training the built-in function failed"
printf 'p,q\n0.1,0.2\n' > pq.csv
"$DISTKAN" predict builtin pq.csv > /dev/null 2> builtin.err || fail "predict on the built-in model failed"
! grep -q "warning" builtin.err || { cat builtin.err; fail "a names warning for a model that records none"; }
echo "ok: predict warns of points whose columns are not the training data's"
