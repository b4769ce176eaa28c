#!/usr/bin/env bash
# tdml vs PyTorch (Python) Gloo all-reduce bus bandwidth, 2 processes, side by side.
# Usage: scripts/bench/allreduce.sh [OUT_DIR=runs/bench-allreduce] [SIZES=default]
# Env: TDML (default build/tdml), NPROC (default 2), REPEATS (default 1; repeats alternate which side runs first),
# CPU_BIND (default none, like the unbound Python reference; auto places tdml's ranks as training does).
# Prints per size the medians and the paired per-repeat ratio tdml/python with its 95% interval.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-runs/bench-allreduce}
sizes=${2:-default}
tdml=${TDML:-build/tdml}
nproc=${NPROC:-2}
repeats=${REPEATS:-1}
run_tdml() {
  "$tdml" bench allreduce --nproc "$nproc" --cpu-bind "${CPU_BIND:-none}" --sizes "$sizes" \
    --out "$out/tdml-$1" -q
}
run_python() {
  /usr/bin/python3 scripts/bench/allreduce_ref.py --nproc "$nproc" --sizes "$sizes" \
    --out "$out/python-$1" > /dev/null
}
for i in $(seq 1 "$repeats"); do
  # Odd repeats run tdml first, even ones Python first, so neither always runs second.
  if ((i % 2)); then run_tdml "$i"; run_python "$i"; else run_python "$i"; run_tdml "$i"; fi
done
/usr/bin/python3 - "$out" "$repeats" <<'PY'
import json, sys, statistics
sys.path.insert(0, "scripts/bench")
from paired import ci_text, ratio_stats
out, repeats = sys.argv[1], int(sys.argv[2])
def load(impl):  # {bytes: [busbw of each repeat]}
    runs = [json.load(open(f"{out}/{impl}-{i}/metrics.json"))["results"] for i in range(1, repeats + 1)]
    return {r["bytes"]: [run[k]["busbw_gbs"] for run in runs] for k, r in enumerate(runs[0])}
t, p = load("tdml"), load("python")
med = statistics.median
print(f"{'bytes':>10} {'tdml busbw':>12} {'python busbw':>13} {'tdml/python':>12} {'paired, 95% CI':>24}"
      f"   (GB/s, median of {repeats})")
for b in t:
    s = ratio_stats([x / y for x, y in zip(t[b], p[b])])
    print(f"{b:>10} {med(t[b]):>12.3f} {med(p[b]):>13.3f} {med(t[b]) / med(p[b]):>12.3f}"
          f" {s['geomean']:>9.3f} {ci_text(s):>14}")
PY
