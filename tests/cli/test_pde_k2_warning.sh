# PDEs with k = 2 and a hidden layer: the splines' second derivatives jump at the knots,
# and L-BFGS stops early at such a jump. The run's header warns; k = 3, or no hidden
# layer, or Adam alone (L-BFGS with no steps included) gets no warning. The early stop the warning describes is checked
# too, so that the warning goes when the cause does. Also the header's warning of a domain
# beyond [model] grid_range.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/examples/poisson_nd.ini"
common=(--set train.optimizer=lbfgs --set lbfgs.steps=500 --set pde.interior_points=300
        --set pde.boundary_points=100 --set model.grid=6 --set pde.dim=2)
warning="warning: k = 2 with a hidden layer: the splines' second derivatives"
run() { # NAME ARGS...
    local name=$1; shift
    "$DISTKAN" train "$cfg" --run-dir "$name" "${common[@]}" "$@" > "$name.log" 2>&1 || { cat "$name.log"; fail "$name failed"; }
}
run k2 --set model.k=2 --set model.widths=2,3,1
grep -qF "$warning" k2.log || { head -n 12 k2.log; fail "k = 2 with a hidden layer: no warning"; }
grep -q "^L-BFGS stopped at step [0-9]*: no progress" k2.log || { tail -n 3 k2.log; fail "k = 2: L-BFGS ran all its steps"; }
run k3 --set model.k=3 --set model.widths=2,3,1
run k2_shallow --set model.k=2 --set model.widths=2,1
run k2_adam --set model.k=2 --set model.widths=2,3,1 --set train.optimizer=adam --set train.steps=20
run k2_no_lbfgs --set model.k=2 --set model.widths=2,3,1 --set train.optimizer=adam_then_lbfgs --set train.steps=20 \
    --set lbfgs.steps=0
for name in k3 k2_shallow k2_adam k2_no_lbfgs; do
    ! grep -qF "$warning" $name.log || fail "$name: warned"
done
grep -q "^L-BFGS stopped" k3.log && { tail -n 3 k3.log; fail "k = 3: L-BFGS stopped early"; }
echo "ok: $(grep -o '^L-BFGS stopped at step [0-9]*' k2.log) with k = 2 (warned); k = 3 ran all 500 steps"

# The header's other warning: a domain beyond [model] grid_range, every input outside counted.
run range --set model.k=3 --set model.widths=2,3,1 --set model.grid_range=-3,0.5 --set lbfgs.steps=1
grep -qF "warning: the domain leaves [model] grid_range [-3, 0.5]: input 0 spans [0, 1] (2 of 2 inputs outside)" \
    range.log || { head -n 12 range.log; fail "a domain beyond grid_range: no warning, or not naming both inputs"; }
! grep -q "domain leaves" k3.log || fail "k3: warned of a domain inside grid_range"
echo "ok: a domain beyond grid_range is warned of"
