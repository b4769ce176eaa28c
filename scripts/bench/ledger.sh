#!/usr/bin/env bash
# The ledger at growing sizes: `tdml ledger bench` at 10^3, 10^4 and 10^5 blocks (10 signed
# client entries a block): append (with fsync per block) in blocks/s, verify, and Merkle proofs
# (make / check time, size), showing the logarithmic growth of proofs.
# Usage: scripts/bench/ledger.sh [OUT_DIR=runs/bench-ledger]   Env: TDML (default build/tdml),
#        SIZES (default "1000 10000 100000"), FSYNC (default true).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(realpath -m "${1:-runs/bench-ledger}")
tdml=$(realpath "${TDML:-build/tdml}")
mkdir -p "$out"
printf "%8s  %10s  %10s  %9s  %9s  %9s  %8s  %8s\n" blocks append/s verify_s tree_s prove_us check_us nodes bytes
for n in ${SIZES:-1000 10000 100000}; do
  rm -rf "$out/$n"
  "$tdml" ledger bench --blocks "$n" --clients 10 --fsync="${FSYNC:-true}" --out "$out/$n" -q \
    > "$out/$n.txt"
  /usr/bin/python3 - "$out/$n.txt" "$n" <<'PY'
import re, sys
t = open(sys.argv[1]).read(); n = int(sys.argv[2])
num = lambda pat: float(re.search(pat, t).group(1))
total = num(r"total ([0-9.e+-]+) s")
print("%8d  %10.0f  %10.3f  %9.3f  %9.2f  %9.2f  %8.1f  %8.0f" % (
    n, n / total, num(r"verify: ([0-9.e+-]+) s wall"), num(r"([0-9.e+-]+) s to build"),
    num(r"inclusion proof ([0-9.e+-]+) us to make"), num(r"([0-9.e+-]+) us to check, "),
    num(r"([0-9.e+-]+) nodes \("), num(r"nodes \(([0-9.e+-]+) bytes")))
if "ledger OK" not in t: sys.exit("verify failed: " + t)
PY
done
