#!/usr/bin/env bash
# Installs tdml from BUILD_DIR into a temporary prefix, builds examples/cpp-ddp against it (a
# project outside tdml's build: find_package(tdml), tdml::tdml), trains it on 2 ranks and checks
# that data-parallel training matched one process on the global batch.
# Usage: cpp_ddp_example.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
if [[ $# -ne 2 ]]; then echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2; exit 2; fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tdml-cpp-ddp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Runs a step quietly; on failure shows its output and fails.
step() {
  local what=$1; shift
  echo "== $what"
  "$@" >"$tmp/step.log" 2>&1 || { tail -n 60 "$tmp/step.log" >&2; fail "$what"; }
}

prefix=$tmp/prefix
step "cmake --install $build --prefix $prefix" cmake --install "$build" --prefix "$prefix"
config=$(find "$prefix" -name tdmlConfig.cmake -print -quit)
[[ -n $config ]] || fail "no tdmlConfig.cmake under $prefix"
[[ -x $prefix/bin/tdml ]] || fail "no $prefix/bin/tdml"
[[ -f $prefix/include/tdml/dist/ddp.h ]] || fail "no public headers under $prefix/include"
[[ -f $prefix/share/tdml/plot.py ]] || fail "no $prefix/share/tdml/plot.py"
# The package must not point back into the tree it was built from.
if grep -rn -e "$src/" -e "$build" "$(dirname "$config")"; then
  fail "the installed CMake package refers to the source or build tree (above)"
fi

# Without the environment of a job: the example is the launcher of its own ranks.
unset RANK WORLD_SIZE LOCAL_RANK LOCAL_WORLD_SIZE GROUP_RANK MASTER_ADDR MASTER_PORT
step "configure examples/cpp-ddp against the prefix" \
  cmake -S "$src/examples/cpp-ddp" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$prefix"
step "build examples/cpp-ddp" cmake --build "$tmp/ex" -j2

echo "== cpp_ddp 2 30 (2 ranks, 30 steps)"
result=$tmp/result.txt
rc=0
timeout 300 "$tmp/ex/cpp_ddp" 2 30 "$result" >"$tmp/run.log" 2>&1 || rc=$?
cat "$tmp/run.log"
[[ $rc -eq 0 ]] || fail "cpp_ddp exited with status $rc"
grep -q '^\[rank 1\] ' "$tmp/run.log" || fail "no output from rank 1: did two ranks run?"
[[ -s $result ]] || fail "cpp_ddp wrote no $result"
line=$(cat "$result")
field() {  # the value after the word $1 in the result line
  awk -v k="$1" '{ for (i = 1; i < NF; ++i) if ($i == k) { print $(i + 1); found = 1 } }
                 END { if (!found) exit 1 }' <<<"$line" || fail "no '$1' in: $line"
}
check() {  # check DESCRIPTION AWK_CONDITION (on the variables a, b)
  awk -v a="$3" -v b="${4:-0}" "BEGIN { exit !($2) }" || fail "$1 ($3${4:+, $4})"
}
world=$(field world); first=$(field first_loss); loss=$(field loss); ref_loss=$(field ref_loss)
rank_diff=$(field rank_max_diff); ref_diff=$(field ref_max_diff)
check "world is not 2" "a == 2" "$world"
check "the ranks ended with different weights" "a < 1e-6" "$rank_diff"
check "2 ranks and 1 process on the global batch differ by 1e-5 or more" "a < 1e-5" "$ref_diff"
check "mean loss of the ranks differs from the single process's" "a - b < 1e-4 && b - a < 1e-4" \
  "$loss" "$ref_loss"
check "the loss did not fall (first, last)" "b < a" "$first" "$loss"
echo "PASS: $line"
