#!/usr/bin/env bash
# Fuzzes tdml's parsers of untrusted input with libFuzzer under ASan + UBSan (docs/fuzzing.md).
#
#   scripts/fuzz.sh [TARGET|all] [SECONDS]     # default: all targets, 600 s each
#   scripts/fuzz.sh --list                     # the targets
#   scripts/fuzz.sh --build-only               # build the fuzzers, run nothing
#
# Builds the targets of fuzz/ with clang (-fsanitize=fuzzer,address,undefined; the libraries
# with coverage instrumentation) into $FUZZ_BUILD_DIR (default build-fuzz/), then runs each one
# for SECONDS on its seeds fuzz/corpus/TARGET/. New inputs go to $FUZZ_BUILD_DIR/corpus/TARGET/
# (the seeds in the repo are not touched); the log, with libFuzzer's final stats, to
# $FUZZ_BUILD_DIR/logs/TARGET.log. An input that crashes, leaks (fuzz/lsan.supp: LibTorch's own
# leaks excepted), runs over 25 s (-timeout) or over 2 GB (-rss_limit_mb) is copied to
# fuzz/regressions/TARGET/, where ctest's Fuzz.Replay<Target> replays it with the normal build.
# Exit status 1 when any target found something.
# Environment: FUZZ_BUILD_DIR, JOBS (ninja -j, default nproc), CXX (default clang++),
# FUZZ_ARGS (more libFuzzer flags, e.g. "-jobs=2 -workers=2"). On a shared machine run it as
# `nice -n 19 scripts/fuzz.sh ...`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${FUZZ_BUILD_DIR:-$root/build-fuzz}"
targets=$(sed -n '/^set(TDML_FUZZ_TARGETS/,/)/p' "$root/fuzz/CMakeLists.txt" |
          sed 's/set(TDML_FUZZ_TARGETS//; s/)//' | tr -s ' \n' ' ')

usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --list) echo $targets; exit 0 ;;
esac
build_only=false
[[ ${1:-} == --build-only ]] && { build_only=true; shift; }
target="${1:-all}"
seconds="${2:-600}"
if [[ $target != all && " $targets " != *" $target "* ]]; then
  echo "fuzz.sh: error: unknown target '$target' (one of: $targets)" >&2
  exit 2
fi
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz.sh: error: SECONDS must be a number" >&2; exit 2; }
[[ $target == all ]] && run="$targets" || run="$target"

# Everything with ASan + UBSan; the libraries also with coverage counters for libFuzzer, which
# only the fuzz executables link (-fsanitize=fuzzer, fuzz/CMakeLists.txt). -O1: quick to build.
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fsanitize=fuzzer-no-link"
cmake -S "$root" -B "$build" -G Ninja -DTDML_FUZZ=ON -DCMAKE_CXX_COMPILER="${CXX:-clang++}" \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" \
  "-DCMAKE_CXX_FLAGS=$san -fno-omit-frame-pointer" \
  "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
ninja -C "$build" -j "${JOBS:-$(nproc)}" $(for t in $run; do echo "${t}_fuzz"; done)
$build_only && exit 0

# Inputs larger than libFuzzer's default 4096 bytes where the format needs them.
max_len() {
  case "$1" in
    cifar10) echo 16384 ;;
    checkpoint|train_state|ledger) echo 65536 ;;
    *) echo 8192 ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp}"  # LibTorch's own leaks
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build/logs"
found=0
for t in $run; do
  work="$build/corpus/$t" artifacts="$build/artifacts/$t/" log="$build/logs/$t.log"
  mkdir -p "$work" "$artifacts"
  # Not regressions/: libFuzzer stops at the first seed that crashes, and a regression of a bug
  # not fixed yet would end every run at once (ctest replays them).
  seeds=()
  [[ -d $root/fuzz/corpus/$t ]] && seeds+=("$root/fuzz/corpus/$t")
  echo "fuzz.sh: $t for ${seconds} s (log: $log)"
  rc=0
  "$build/fuzz/${t}_fuzz" "$work" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -max_len="$(max_len "$t")" \
    -artifact_prefix="$artifacts" -print_final_stats=1 ${FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
  # The last status line (#N DONE/pulse cov: ft: corp: exec/s:) and the final stats.
  grep -E '^#[0-9]+' "$log" | tail -1 || true
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' \
    "$log" | tr '\n' ' ' || true
  echo
  shopt -s nullglob
  crashes=("$artifacts"crash-* "$artifacts"leak-* "$artifacts"timeout-* "$artifacts"oom-*)
  shopt -u nullglob
  if ((${#crashes[@]} > 0)) || ((rc != 0)); then
    found=1
    mkdir -p "$root/fuzz/regressions/$t"
    for c in "${crashes[@]}"; do cp "$c" "$root/fuzz/regressions/$t/" && rm "$c"; done
    echo "fuzz.sh: $t FOUND a problem (rc $rc): inputs copied to fuzz/regressions/$t/; see $log"
  fi
done
exit $found
