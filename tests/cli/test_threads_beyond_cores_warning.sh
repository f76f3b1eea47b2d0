# More OpenMP threads than a rank has cores for slows every step 10 to 100 times without
# another sign: the run's header warns, naming the rank, its CPUs and its node's. One
# thread per rank, or OMP_WAIT_POLICY=passive (the remedy), draws no warning.
source "$(dirname "$0")/../lib.sh"
cpus=$(nproc)
over=$((cpus + 1))
printf '[train]\nsteps = 2\n[fit]\ntrain_size = 64\ntest_size = 16\n' > fit.ini
"$DISTKAN" train fit.ini --run-dir over --set dist.threads=$over > over.log || { cat over.log; fail "training failed"; }
grep -q "^warning: \[dist\] threads = $over per rank, more than the cores there are for them (rank 0 may run on [0-9]* CPUs*, and 1 rank share its node's [0-9]*): OpenMP's spinning waits can slow every step 10 to 100 times" over.log ||
    { cat over.log; fail "no warning for $over threads on $cpus CPUs"; }
OMP_WAIT_POLICY=passive "$DISTKAN" train fit.ini --run-dir passive --set dist.threads=$over > passive.log ||
    fail "training with OMP_WAIT_POLICY=passive failed"
! grep -q "cores there are" passive.log || { cat passive.log; fail "a warning despite OMP_WAIT_POLICY=passive"; }
"$DISTKAN" train fit.ini --run-dir one > one.log || fail "training with one thread failed"
! grep -q "cores there are" one.log || { cat one.log; fail "a warning for one thread per rank"; }
echo "ok: $over threads on $cpus CPUs are warned of"
