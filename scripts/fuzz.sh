#!/usr/bin/env bash
# Fuzzes the checkpoint reader: tests/fuzz/fuzz_ckpt_reader.c under libFuzzer with
# AddressSanitizer and UBSan, built here with clang directly (the CMake build does not
# need clang).
#
#   scripts/fuzz.sh [seconds]        build, then fuzz for `seconds` (default 60)
#   scripts/fuzz.sh --make-corpus    regenerate the seeds in tests/fuzz/corpus/ (valid
#                                    checkpoints written by tests/fuzz/make_corpus.c)
#
# FUZZ_BUILD_DIR (default build-fuzz) holds the binaries, the generated protobuf code and
# the working corpus: new inputs go there, tests/fuzz/corpus/ is only read. An input that
# fails is saved as $FUZZ_BUILD_DIR/crash-<hash> (or leak-, timeout-); rerun it with
#   $FUZZ_BUILD_DIR/fuzz_ckpt_reader $FUZZ_BUILD_DIR/crash-<hash>
# Exits 77 (ctest: skipped) when clang cannot build a libFuzzer binary.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${FUZZ_BUILD_DIR:-build-fuzz}
clang=${FUZZ_CC:-clang}
mkdir -p "$build/gen" "$build/corpus"
build=$(cd "$build" && pwd)

protoc-c --proto_path=. --c_out="$build/gen" checkpoint/dk_checkpoint.proto
# The reader's whole closure: the checkpoint code, its generated manifest code, errors.
sources=(checkpoint/*.c "$build/gen/checkpoint/dk_checkpoint.pb-c.c" common/dk_crc32c.c common/dk_error.c common/dk_fs.c)
read -r -a pb_cflags <<< "$(pkg-config --cflags libprotobuf-c)"
read -r -a pb_libs <<< "$(pkg-config --libs libprotobuf-c)"
flags=(-std=c11 -D_POSIX_C_SOURCE=200809L -I. -I"$build/gen" "${pb_cflags[@]}" -g -Wall -Wextra)

if [ "${1:-}" = "--make-corpus" ]; then
    cc -O2 "${flags[@]}" "${sources[@]}" tests/fuzz/make_corpus.c "${pb_libs[@]}" -o "$build/make_corpus"
    "$build/make_corpus" tests/fuzz/corpus
    exit 0
fi
seconds=${1:-60}

if ! command -v "$clang" > /dev/null; then
    echo "fuzz: $clang not found: the fuzzer needs clang with libFuzzer (scripts/setup.sh installs clang and libclang-rt-dev)"
    exit 77
fi
probe=$build/probe.c
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' > "$probe"
if ! "$clang" -fsanitize=fuzzer,address,undefined "$probe" -o "$build/probe" 2> "$build/probe.log"; then
    echo "fuzz: $clang cannot link libFuzzer with the sanitizers (install libclang-rt-dev):"
    cat "$build/probe.log"
    exit 77
fi

# -fno-sanitize-recover: undefined behaviour stops the run like a crash, instead of a
# message the fuzzer would not count.
"$clang" -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    "${flags[@]}" "${sources[@]}" tests/fuzz/fuzz_ckpt_reader.c "${pb_libs[@]}" -o "$build/fuzz_ckpt_reader"

echo "fuzz: running $build/fuzz_ckpt_reader for $seconds s (corpus $build/corpus, seeds tests/fuzz/corpus)"
"$build/fuzz_ckpt_reader" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$build/" "$build/corpus" tests/fuzz/corpus
