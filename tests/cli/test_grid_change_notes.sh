# The notes after grid changes say what happened, checked against the logged losses:
# - a grid update that raises the loss tenfold or more is followed by a note giving the
#   factor and what to change; one that does not, by no such note;
# - a grid extension to a multiple of G (nested knots) refits exactly: the loss keeps its
#   value and no note follows; to another G the refit approximates, and a loss that moves
#   by more than 1% gets a note naming both G.
source "$(dirname "$0")/../lib.sh"
pde="$SOURCE_DIR/tests/mpi/small_pde.ini"

# Few samples on a PDE: updates raise the loss (a fold checked per line, whichever it is).
# (G = 8 and 15 samples: the updates at steps 101, 201 and 301 raise the loss 25- to
# 56-fold, the first one not at all.)
"$DISTKAN" train "$pde" --set train.optimizer=adam --set train.steps=400 --set model.grid=8 \
    --set grid.update_every=100 --set grid.update_samples=15 --set pde.resample_every=0 --run-dir upd > upd.log \
    || { cat upd.log; fail "the PDE run with grid updates failed"; }
awk '
    /^grid update at step/ {
        if (pending) { print "no note after a " fold "-fold rise: " prev; bad = 1 }
        split($0, a, "loss "); split(a[2], b, " -> "); split(b[2], c, ",")
        fold = (c[1] + 0) / (b[1] + 0); pending = fold >= 10; prev = $0; updates++
        if (fold >= 10) rises++
        next
    }
    /^  the update raised the loss/ {
        if (!pending) { print "a note after an update that did not raise the loss tenfold: " prev; bad = 1 }
        split($0, f, "raised the loss "); split(f[2], g, "-fold")
        if (g[1] / fold < 0.99 || g[1] / fold > 1.01) { print "the note says " g[1] "-fold, the losses " fold; bad = 1 }
        pending = 0; next
    }
    { if (pending) { print "no note after a " fold "-fold rise: " prev; bad = 1 }; pending = 0 }
    END { if (pending) { print "no note after the last update"; bad = 1 }
          print updates " updates, " rises " of them tenfold rises"; if (updates < 4 || rises < 1) bad = 1
          exit bad }' upd.log || { grep -A1 "^grid update" upd.log; fail "grid update notes do not match the losses"; }
grep -q "update_samples (now 15)" upd.log || fail "the note does not give update_samples"

# Extensions: 5 -> 10 nests the knots, 3 -> 5 does not.
extension_line() { grep -A1 "^grid extension at step" "$1"; }
"$DISTKAN" train "$pde" --set train.optimizer=adam --set train.steps=60 --set model.grid=5 --set grid.schedule=5,10 \
    --run-dir nested > nested.log || { cat nested.log; fail "the nested extension run failed"; }
extension_line nested.log
rel=$(sed -n 's/^grid extension at step.*(\([-+0-9.e]*\)%).*/\1/p' nested.log)
assert_less "${rel#[-+]}" 1e-7 "relative loss change (%) of the nested extension 5 -> 10"
! grep -q "^  the loss moved" nested.log || fail "a note after an exact refit"
"$DISTKAN" train "$pde" --set train.optimizer=adam --set train.steps=400 --set model.grid=3 --set grid.schedule=3,5 \
    --run-dir coarse > coarse.log || { cat coarse.log; fail "the 3 -> 5 extension run failed"; }
extension_line coarse.log
rel=$(sed -n 's/^grid extension at step.*(\([-+0-9.e]*\)%).*/\1/p' coarse.log)
assert_less 1 "${rel#[-+]}" "relative loss change (%) of the extension 3 -> 5 (the test needs one above 1%)"
grep -q "^  the loss moved by more than 1%: G 5 is no multiple of G 3, .*which the PDE residual's derivatives magnify" \
    coarse.log || fail "no note naming G 5 and G 3"

# A run that diverged through its grid updates (2 samples per update, heat_nd, k = 2) is
# told so at its end, not to lower the learning rate; a run resumed from its step 20
# compares with the run's first loss and largest rise, kept in the checkpoint, and says the
# same. (With lr 0.01 Adam undoes each update's jump in one step, and the final model is
# no worse than the first: no warning is due. With lr 1e-4 the jumps stay.)
div=(--set model.grid_eps=0 --set grid.update_samples=2 --set grid.update_every=3 --set train.steps=28
     --set lbfgs.steps=0 --set pde.interior_points=300 --set pde.boundary_points=100 --set model.grid=4
     --set model.k=2 --set checkpoint.every=20 --set train.lr=1e-4)
"$DISTKAN" train "$SOURCE_DIR/examples/heat_nd.ini" --run-dir dv "${div[@]}" > dv.log 2>&1 || { cat dv.log; fail "dv failed"; }
"$DISTKAN" train "$SOURCE_DIR/examples/heat_nd.ini" --run-dir dv "${div[@]}" --resume dv/checkpoints/ckpt-000000000020.dkc \
    > dv_resumed.log 2>&1 || { cat dv_resumed.log; fail "dv resumed failed"; }
for log in dv.log dv_resumed.log; do
    grep -qE "warning: the training loss rose from .* before step 1 to .* the run diverged; the grid update at step [0-9]+ raised the loss [0-9.e+]+-fold" $log \
        || { grep -i "warning" $log; fail "$log: the divergence is not put down to the grid update"; }
    ! grep -q "lower \[train\] lr" $log || fail "$log: the divergence is put down to the learning rate"
done
echo "ok: divergence through grid updates: $(grep -o 'the grid update at step [0-9]* raised the loss [^ ]*' dv_resumed.log)"
# The same first update with lr = 1 and no more updates: the loss then rises a hundredfold
# again after the update's jump, which the learning rate did: that is the advice.
"$DISTKAN" train "$SOURCE_DIR/examples/heat_nd.ini" --run-dir dl "${div[@]}" --set grid.update_until=2 \
    --set train.steps=200 --set train.lr=1 --set checkpoint.every=0 > dl.log 2>&1 || { cat dl.log; fail "dl failed"; }
grep -q "the run diverged; lower \[train\] lr (now 1)" dl.log || { grep -i warning dl.log; fail "dl: the learning rate is not blamed"; }
echo "ok: divergence after a grid update's jump: $(grep -o 'the run diverged; lower [^(]*' dl.log)"
