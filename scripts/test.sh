#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite with ctest. Ends with how many
# tests were skipped; in CI (CI set) a skipped test fails the run, since CI installs everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --python
scripts/build.sh
root=$(pwd)
cd "${BUILD_DIR:-build}"
# ctest -j starts the longest tests first when it knows their times (Testing/Temporary/
# CTestCostData.txt, written by every run); a fresh build gets the times measured here, so a
# minute-long test does not start last and leave one core idle at the end.
if [[ ! -s Testing/Temporary/CTestCostData.txt ]]; then
  mkdir -p Testing/Temporary && cp "$root/tests/ctest-costs.txt" Testing/Temporary/CTestCostData.txt
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
ctest --output-on-failure -j "${JOBS:-$(nproc)}" "$@" 2>&1 | tee "$log" || rc=$?
skipped=$(grep -c '\*\*\*Skipped\|Not Run (Skipped)' "$log" || true)
# (A ctest entry runs a suite's short tests together: it is skipped when one of them skipped
# and none failed; its output names them.)
echo "test.sh: ${skipped} test entr(ies) skipped"
if [[ $rc -eq 0 && $skipped -gt 0 && -n ${CI:-} && ${CI} != false ]]; then
  echo "test.sh: error: tests skipped in CI (every dependency is installed here)" >&2
  rc=1
fi
exit $rc
