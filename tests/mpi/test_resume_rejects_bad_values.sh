# A checkpoint whose every checksum holds but whose values distkan never writes (edited,
# or written by other means): a NaN or infinite knot, knots out of order or too wide apart
# for the basis, a mask of 2, a NaN parameter, Adam moment or L-BFGS pair, a negative
# second moment or L-BFGS rho. Each is refused
# where it is read, exit 1, naming the file and the tensor: by train --resume (two ranks;
# before, a NaN knot crashed the kernels with SIGSEGV and the others trained on garbage
# with exit 0), by predict and by inspect (which said "valid"). The unedited checkpoint
# still resumes, so the checks refuse only the edits.
source "$(dirname "$0")/../lib.sh"
cfg="$SOURCE_DIR/tests/mpi/small_grid.ini" # Adam, then L-BFGS over three grid stages
run_ranks 2 train "$cfg" --run-dir base --set checkpoint.every=49 > base.log || fail "base run failed"
good=base/checkpoints/ckpt-000000000049.dkc # in the L-BFGS phase: pairs and moments both stored
[ -f "$good" ] || fail "no checkpoint at step 49: $(ls base/checkpoints)"
printf 'x0,x1\n0.1,0.2\n-0.5,0.7\n' > points.csv
# edit TENSOR INDEX VALUE EXPECTED-MESSAGE [predict]
check() {
    local tensor=$1 index=$2 value=$3 pattern=$4 model=${5:-}
    "$EDIT_CKPT" "$good" bad.dkc "$tensor" "$index" "$value" || fail "edit_ckpt $tensor failed"
    "$DISTKAN" inspect bad.dkc > /dev/null 2>&1 && fail "inspect called $tensor[$index] = $value valid" || true
    rm -rf rx
    expect_failure 1 "bad.dkc: .*$pattern" run_ranks 2 train "$cfg" --run-dir rx --resume bad.dkc
    if [ "$model" = model ]; then
        expect_failure 1 "bad.dkc: .*$pattern" "$DISTKAN" predict bad.dkc points.csv --out p.csv
        expect_failure 1 "bad.dkc: .*$pattern" "$DISTKAN" inspect bad.dkc
    fi
}
check layers.0.knots 0 -inf "tensor layers.0.knots, input 0: knot 0 is -inf" model
check layers.0.knots 3 nan "tensor layers.0.knots, input 0: knot 3 is -?nan" model
check layers.1.knots 5 5.0 "tensor layers.1.knots, input 0: knot 6 .* is not above knot 5 \(5\)" model
check layers.0.knots 0 -1e110 "tensor layers.0.knots, input 0: knot 1 is 1e\+110 above knot 0, above the 6.16e\+101 that k = 3 allows" model
check layers.0.mask 1 2 "tensor layers.0.mask, element 1, is 2 \(a mask is 0 or 1\)" model
check layers.1.coef 7 nan "tensor layers.1.coef, element 7, is -?nan" model
check adam.m 4 inf "Adam's first moment 4 is inf"
check adam.v 3 -1 "Adam's second moment 3 is -1 \(expected >= 0\)"
check adam.v 2 nan "Adam's second moment 2 is -?nan"
check lbfgs.s 0 nan "L-BFGS correction pair [0-9]+ \(slot 0\) holds a value that is not finite"
check lbfgs.rho 0 -1 "L-BFGS correction pair [0-9]+ \(slot 0\) has rho = 1 / y.s = -1 \(expected > 0"
check lbfgs.g 1 inf "element 1 of the L-BFGS gradient is inf"
# Manifest fields no config can check, edited likewise (the checksums recomputed): inspect
# and resume refuse each alike (resume used to accept a layer table inspect refused, and
# carried a NaN training time or a negative Adam step counter on), naming the field.
check_field() { # FIELD VALUE PATTERN
    "$EDIT_CKPT" "$good" bad.dkc "$1" 0 "$2" || fail "edit_ckpt $1 failed"
    expect_failure 1 "bad.dkc: .*$3" "$DISTKAN" inspect bad.dkc
    rm -rf rx
    expect_failure 1 "bad.dkc: .*$3" run_ranks 2 train "$cfg" --run-dir rx --resume bad.dkc
}
check_field @layers.0.in 3 "layer 0's shape disagrees with the model's widths"
check_field @adam.step -1 "Adam's step counter is -1, but the current grid stage holds [0-9]+ Adam updates"
check_field @adam.step 4611686018427387904 "Adam's step counter is 4611686018427387904"
check_field @adam.step 3 "Adam's step counter is 3, but the current grid stage holds [0-9]+ Adam updates"
check_field @schedule.step 100000 "the step, 100000, is not where grid stage [0-9] stands"
check_field @schedule.stage 0 "the step, 49, is not where grid stage 1 stands"
check_field @lbfgs.steps -1 "L-BFGS's counters are -1 iterations"
check_field @metadata.wall_s nan "the metadata say 2 ranks and -?nan s of training"
check_field @metadata.wall_s -5 "the metadata say 2 ranks and -5 s of training"
check_field @metadata.world_size 0 "the metadata say 0 ranks"
check_field @schedule.stage 5 "the schedule is in grid stage 6 of 3"
check_field @model.grid 2147483646 "the model has G = 2147483646"
# The model is optional in the format: without it, inspect says so (it crashed, SIGSEGV).
"$EDIT_CKPT" "$good" bad.dkc @model 0 0 || fail "edit_ckpt @model failed"
expect_failure 1 "bad.dkc: the manifest holds no model" "$DISTKAN" inspect bad.dkc
expect_failure 1 "bad.dkc: the manifest holds no model" run_ranks 2 train "$cfg" --run-dir rx --resume bad.dkc
check_field @data.fit_batch 7 "the batch clock \(7\) differs from the Adam step count \([0-9]+\)"
"$EDIT_CKPT" "$good" bad.dkc @data.seed 0 12345 || fail "edit_ckpt @data.seed failed"
expect_failure 1 "bad.dkc: the data position was drawn with seed 12345" run_ranks 2 train "$cfg" --run-dir rx --resume bad.dkc
# inspect checks the manifest against the config stored in it as a resume does (it called
# this file valid, which resume then refused).
expect_failure 1 "invalid checkpoint: .*bad.dkc: the data position was drawn with seed 12345" "$DISTKAN" inspect bad.dkc
# What a run does write is read back: a float32 run whose gradients overflow squares them to
# +inf in Adam's second moments (that coordinate freezes; the loss stays finite), and its
# checkpoints resume. An update that overflows the parameters themselves is never written:
# the run stops there, naming the step.
run_ranks 1 train "$SOURCE_DIR/tests/mpi/small_fit.ini" --run-dir f32 --set model.precision=float32 \
    --set train.lr=1e6 --set train.steps=300 --set checkpoint.every=100 > f32.log 2> f32.err || fail "float32 blow-up run failed"
grep -q "diverged" f32.err || fail "the float32 blow-up was not warned of"
"$DISTKAN" inspect f32/checkpoints/ckpt-000000000300.dkc > /dev/null || fail "inspect refuses a float32 run's checkpoint"
run_ranks 1 train "$SOURCE_DIR/tests/mpi/small_fit.ini" --run-dir f32b --set model.precision=float32 \
    --set train.lr=1e6 --set train.steps=310 --resume f32/checkpoints/ckpt-000000000200.dkc > /dev/null 2>&1 ||
    fail "a float32 run's checkpoint with infinite second moments does not resume"
expect_failure 1 "the update at step 1 made parameter 0 of [0-9]+ -?inf: lower \[train\] lr \(now 1e\+308\)" \
    run_ranks 1 train "$SOURCE_DIR/tests/mpi/small_fit.ini" --run-dir over --set train.lr=1e308 --set checkpoint.every=1
[ -z "$(ls over/checkpoints 2> /dev/null)" ] || fail "an overflowed update was checkpointed: $(ls over/checkpoints)"
# The same file unedited resumes and finishes.
run_ranks 2 train "$cfg" --run-dir ok --resume "$good" > ok.log || fail "the unedited checkpoint no longer resumes"
"$DISTKAN" inspect "$good" | grep -q "the model loads" || fail "inspect does not report the model as loadable"
echo "values distkan never writes are refused on resume, predict and inspect, naming the tensor"
