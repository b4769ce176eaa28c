#!/usr/bin/env bash
# Target: FedAvg (--local train) without attack reaches test accuracy within 5 points of
# single-node training on the same number of samples seen.
#   FedAvg: 5 clients x 2,000 IID samples, 5 rounds of 1 local epoch (batch 32, lr 0.05,
#   momentum 0.9), mean, no clipping -> 50,000 samples seen.
#   Single node: `tdml train`, SmallCifarCNN, SGD lr 0.05 momentum 0.9, batch 32, the same
#   50,000 samples seen (--limit-train-batches 1563 of one epoch).
# Usage: scripts/fl/fedavg_vs_single.sh [CIFAR_DIR]   (OUT=dir to choose the output folder)
set -euo pipefail
source "$(dirname "$0")/common.sh"
fl --clients 5 --per-client 2000 --rounds 5 --local train --local-epochs 1 --batch-size 32 \
   --local-lr 0.05 --attack none --aggregator mean --max-norm 0 --out "$out/fedavg"
nice -n 10 "$tdml" train --data "$data" --model smallcifarcnn --epochs 1 --batch-size 32 --lr 0.05 \
   --limit-train-batches 1563 --out "$out/single" -q
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
fl = json.load(open(f"{out}/fedavg/metrics.json"))
sn = json.load(open(f"{out}/single/metrics.json"))
fa = fl["rounds"][-1]["test_accuracy"]
seen = sum(r["samples"] for r in fl["rounds"])
sa = sn["epochs"][-1]["test_acc"]
print(f"FedAvg  {seen} samples seen: test accuracy {fa:.4f}")
print(f"single  {sn['epochs'][-1]['train_samples']} samples seen: test accuracy {sa:.4f}")
print(f"gap {100 * (sa - fa):+.1f} points (target: within 5) -> {'PASS' if abs(sa - fa) <= 0.05 else 'FAIL'}")
PY
