#!/usr/bin/env bash
# Target: detection of zero / mean-shift (+5.0) / gaussian (sigma 10) attackers with precision
# and recall >= 0.9 (summed over rounds). 10 clients x 300 IID samples, 3 of them malicious
# (one of each attack), FedAvg 3 rounds, median; the detection rule flags on the raw updates.
# Usage: scripts/fl/detection.sh [CIFAR_DIR]   (OUT=dir to choose the output folder)
set -euo pipefail
source "$(dirname "$0")/common.sh"
fl --clients 10 --per-client 300 --rounds 3 --local train --batch-size 32 --local-lr 0.05 \
   --malicious 3 --attack zero,mean-shift,gaussian --shift 5 --sigma 10 --aggregator median \
   --max-norm 5 --limit-test-batches 2 --out "$out/detect"
fl --clients 10 --per-client 300 --rounds 3 --local gradient \
   --malicious 3 --attack zero,mean-shift,gaussian --shift 5 --sigma 10 --aggregator median \
   --max-norm 5 --limit-test-batches 2 --out "$out/detect-gradient"
/usr/bin/python3 "$here/summary.py" "$out"/detect "$out"/detect-gradient
for d in detect detect-gradient; do
/usr/bin/python3 - "$out/$d" <<'PY'
import json, sys
m = json.load(open(f"{sys.argv[1]}/metrics.json"))
tp = sum(r["detection"]["true_positives"] for r in m["rounds"])
fp = sum(r["detection"]["false_positives"] for r in m["rounds"])
fn = sum(r["detection"]["false_negatives"] for r in m["rounds"])
p, r = tp / max(1, tp + fp), tp / max(1, tp + fn)
ok = p >= 0.9 and r >= 0.9
print(f"{sys.argv[1]}: precision {p:.2f} recall {r:.2f} (TP {tp} FP {fp} FN {fn}) -> {'PASS' if ok else 'FAIL'}")
PY
done
