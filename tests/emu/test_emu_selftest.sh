# The CUDA emulator's checks, each provoked on purpose by a case of emu_selftest: the two
# controls (correct uses) must run clean, each fault must be stopped or reported with the
# emulator's message. Arguments: the emu_selftest program, the scratch directory.
SELFTEST=${1:?the emu_selftest program}
shift
source "$(dirname "$0")/../lib.sh"

# run_case NAME: runs it; rc, out.txt, err.txt.
run_case() {
    rc=0
    timeout 60 "$SELFTEST" "$1" > out.txt 2> err.txt || rc=$?
    [ "$rc" -ne 124 ] || fail "$1: still running after 60 s"
}
# expect_clean NAME STDOUT-PATTERN
expect_clean() {
    run_case "$1"
    [ "$rc" -eq 0 ] && grep -qE -- "$2" out.txt ||
        { cat out.txt err.txt; fail "$1: a correct use; exit 0 and /$2/ expected, got exit $rc"; }
    echo "ok: $1: $(head -n 1 out.txt)"
}
# expect_stopped NAME STDERR-PATTERN: the fault ends the run with the pattern on stderr.
expect_stopped() {
    run_case "$1"
    [ "$rc" -ne 0 ] && grep -qE -- "$2" err.txt ||
        { cat out.txt err.txt; fail "$1: the emulator should have stopped it with /$2/ (exit $rc)"; }
    echo "ok: $1: stopped (exit $rc): $(grep -m 1 -E -- "$2" err.txt)"
}
# expect_reported NAME STDOUT-PATTERN STDERR-PATTERN: the run goes on, the fault shows.
expect_reported() {
    run_case "$1"
    [ "$rc" -eq 0 ] && grep -qE -- "$2" out.txt && grep -qE -- "$3" err.txt ||
        { cat out.txt err.txt; fail "$1: /$2/ on stdout and /$3/ on stderr expected (exit $rc)"; }
    echo "ok: $1: $(head -n 1 out.txt)"
}

expect_clean copy_back '^copy_back: 100 elements as written'
expect_clean synced_rotate "every thread read its neighbour's value"

expect_stopped host_reads_device 'cuda emulator: host code touched device memory at .*, byte 12 of a cudaMalloc buffer of 400 bytes'
expect_stopped host_writes_device 'cuda emulator: host code touched device memory'
expect_stopped deadlock 'cuda emulator: block \(0, 0, 0\) deadlocks: 16 thread\(s\) wait at __syncthreads, 16 at a warp shuffle'
# One element past the end lies in the bytes that round the buffer up to 256: poisoned for
# AddressSanitizer, so only a sanitized build sees it. A kernel given a pageable host
# pointer: only AddressSanitizer can tell the heap apart from other addresses.
if ldd "$SELFTEST" | grep -q libasan; then
    expect_stopped kernel_overflow 'AddressSanitizer: use-after-poison'
    expect_stopped kernel_gets_host_pointer \
        'cuda emulator: a kernel launched with a pointer into pageable host memory \(heap, 0x[0-9a-f]+, 0 bytes into a block of 400\) in the 8 bytes at offset'
else
    echo "skip: kernel_overflow, kernel_gets_host_pointer (built without AddressSanitizer)"
fi

expect_reported copy_overflow 'copy past the end: cudaErrorInvalidValue' 'run past the end of its allocation'
expect_reported wrong_direction 'copy in the wrong direction: cudaErrorInvalidValue' \
    'the destination 0x[0-9a-f]+ is device memory, host memory was expected'
expect_reported big_block 'a block of 2048 threads: cudaErrorInvalidConfiguration' 'invalid launch configuration'
expect_reported big_shared 'cudaErrorInvalidValue before opting in, cudaSuccess after' \
    '65536 bytes of dynamic shared memory, beyond the 49152 allowed'
expect_stopped big_static_shared 'cuda emulator: 52000 bytes of static __shared__ arrays in one block, beyond the 48 KiB'
expect_reported double_free 'second cudaFree: cudaErrorInvalidValue' 'not the start of a live device allocation'

# Fresh device and pinned memory reads as NaN (0xFF bytes), not as zeros. Deferred
# streams: a pinned buffer read before its stream is synchronised still holds what it
# held. Shared memory nobody wrote reads as -1 (0xFF bytes), whichever thread runs first.
run_case fresh_memory
grep -qxE 'fresh_memory: device -?nan, pinned -?nan' out.txt || { cat out.txt err.txt; fail "fresh_memory: NaN expected"; }
echo "ok: $(cat out.txt)"
run_case missing_sync
grep -qx 'without a sync: -1; after it: 7.5' out.txt || { cat out.txt err.txt; fail "missing_sync: stale then 7.5 expected"; }
echo "ok: missing_sync: $(cat out.txt)"
for schedule in forward reverse; do
    DK_EMU_SCHEDULE=$schedule run_case unsynced_rotate
    [ "$rc" -eq 0 ] && grep -qE '^unsynced_rotate: [1-9][0-9]* of 64 threads' out.txt ||
        { cat out.txt err.txt; fail "unsynced_rotate ($schedule): some threads should read unwritten shared memory"; }
    echo "ok: unsynced_rotate ($schedule): $(cat out.txt)"
done
# Blocks run first to last, and last to first when reversed: a race between blocks shows.
for schedule in forward:7 reverse:0; do
    DK_EMU_SCHEDULE=${schedule%:*} run_case blocks_race
    grep -qx "blocks_race: block ${schedule#*:} wrote last" out.txt ||
        { cat out.txt err.txt; fail "blocks_race (${schedule%:*}): block ${schedule#*:} should write last"; }
    echo "ok: blocks_race (${schedule%:*}): $(cat out.txt)"
done
echo "ok: every check of the emulator fired"
