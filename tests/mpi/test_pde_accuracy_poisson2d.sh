# Physics-informed Poisson: a [2,10,1] KAN trained by Adam then L-BFGS on 2 ranks, across
# the example's grid schedule 5 -> 10 -> 20 (400 updates split equally, so the second stage
# switches from Adam to L-BFGS), gets within 1% (relative L2) of the exact solution
# sin(pi x) sin(pi y^2) in a few seconds.
source "$(dirname "$0")/../lib.sh"
run_ranks 2 train "$SOURCE_DIR/examples/poisson2d.ini" --set train.steps=200 --set lbfgs.steps=200 \
    --set pde.interior_points=2000 --set pde.boundary_points=400 --set grid.steps= --run-dir acc > acc.log
tail -n 3 acc.log
rel=$(json_number acc/summary.json rel_l2)
[ -n "$rel" ] || fail "no rel_l2 in summary.json"
assert_less "$rel" 1e-2 "relative L2 error"
[ "$(json_number acc/summary.json grid)" = 20 ] || fail "the run did not end at G = 20"
echo "relative L2 error $rel < 1e-2"
