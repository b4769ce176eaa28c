#!/usr/bin/env bash
# Builds tdml and its tests under a sanitizer into its own folder and runs ctest there
# (docs/sanitizers.md).
#
#   scripts/sanitize.sh asan|ubsan|tsan [CTEST ARGS...]
#
#   asan   AddressSanitizer + LeakSanitizer, every test
#   ubsan  UndefinedBehaviorSanitizer (the first report fails the test), every test
#   tsan   ThreadSanitizer, the tests that run threads: dist (ddp, launcher, process group),
#          pipeline, the loader, the federation
# The tests' `tdml` and `tdml-faults` binaries are instrumented too, so the multi-process tests
# check the workers. LibTorch itself is not instrumented (Debian's build): its own code is not
# checked, every call tdml makes into it is. Leaks allocated inside LibTorch are not reported
# (fuzz/lsan.supp). Extra arguments go to ctest (e.g. -R Loader). Exit status: ctest's.
# Environment: BUILD_DIR (default build-<kind>), JOBS (default nproc), CXX (default g++),
# TEST_TIMEOUT (seconds per test, default 1200: sanitized runs are 2-5x slower).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
usage() { sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
kind="${1:-}"
case "$kind" in
  -h|--help) usage; exit 0 ;;
  asan) flags="-fsanitize=address" ;;
  ubsan) flags="-fsanitize=undefined -fno-sanitize-recover=undefined" ;;
  tsan) flags="-fsanitize=thread" ;;
  *) echo "sanitize.sh: error: expected asan, ubsan or tsan (see --help)" >&2; exit 2 ;;
esac
shift
build="${BUILD_DIR:-$root/build-$kind}"
jobs="${JOBS:-$(nproc)}"

"$root/scripts/install-deps.sh" --python
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
  "-DCMAKE_CXX_FLAGS=$flags -fno-omit-frame-pointer" \
  "-DCMAKE_EXE_LINKER_FLAGS=$flags" -DTDML_TEST_TIMEOUT="${TEST_TIMEOUT:-1200}" >/dev/null
ninja -C "$build" -j "$jobs"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:detect_odr_violation=0}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/fuzz/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Instrumented parties run slower: the tests that give one a deadline stretch it by this.
if [[ $kind == tsan ]]; then export TDML_TEST_TIME_SCALE="${TDML_TEST_TIME_SCALE:-8}"
else export TDML_TEST_TIME_SCALE="${TDML_TEST_TIME_SCALE:-4}"; fi
# ignore_noninstrumented_modules: memcpy and the other interceptors called from inside gRPC,
# LibTorch or Abseil record no accesses, whose locks TSan cannot see; without it every chunk a
# gRPC thread copies is a suppressed race report, and symbolizing them made a 2-client federation
# round take minutes (past every deadline). tdml's own accesses are all still checked.
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:ignore_noninstrumented_modules=1:suppressions=$root/scripts/tsan.supp}"
# Install.*: the installed (instrumented) libraries linked into an uninstrumented consumer
# project cannot resolve the sanitizer's runtime symbols; that test checks packaging, not memory.
select=(-E '^Install\.')
if [[ $kind == tsan ]]; then
  select+=(-R '^(Ddp|DdpTrain|Launcher|ProcessGroup|PipelineCli|PipelineStep|PipelineSchedule|LoaderTest|Sharding|Federation|FederationTls)\.')
fi
cd "$build"
log="$build/ctest-$kind.log"
echo "sanitize.sh: $kind: ctest in $build (log: $log)"
rc=0
ctest --output-on-failure -j "$jobs" "${select[@]}" "$@" 2>&1 | tee "$log" || rc=$?
echo "sanitize.sh: $kind: $(grep -E '^[0-9]+% tests passed' "$log" || echo 'no summary')"
exit $rc
