#!/usr/bin/env bash
# Target: FedAvg (--local train) without attack reaches test accuracy within 5 points of
# single-node training on the same number of samples seen.
#   FedAvg: 5 clients x 2,000 IID samples, 5 rounds of 1 local epoch (batch 32, lr 0.05,
#   momentum 0.9), mean, no clipping -> 50,000 samples seen, 10,000 distinct.
#   Single node, the controlled comparison (the target): one process trains on the union of the
#   5 clients' shards (the same 10,000 images: `--clients 1 --per-client 10000` takes the same
#   rows of the seeded permutation), 5 epochs in one run with the same SGD settings -> the same
#   50,000 samples seen, the same data; only federation differs.
#   Single node on 50,000 distinct images (`tdml train`, one epoch, same SGD settings): reported
#   for context; it sees 5x more distinct data than the federation owns, so it is not the target.
# Usage: scripts/fl/fedavg_vs_single.sh [CIFAR_DIR]   (OUT=dir to choose the output folder)
set -euo pipefail
source "$(dirname "$0")/common.sh"
sgd=(--local train --batch-size 32 --local-lr 0.05 --attack none --aggregator mean --max-norm 0)
fl --clients 5 --per-client 2000 --rounds 5 --local-epochs 1 "${sgd[@]}" --out "$out/fedavg"
fl --clients 1 --per-client 10000 --rounds 1 --local-epochs 5 "${sgd[@]}" --out "$out/single-union"
nice -n 10 "$tdml" train --data "$data" --model smallcifarcnn --epochs 1 --batch-size 32 --lr 0.05 \
   --limit-train-batches 1563 --out "$out/single" -q
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
fl = json.load(open(f"{out}/fedavg/metrics.json"))
un = json.load(open(f"{out}/single-union/metrics.json"))
sn = json.load(open(f"{out}/single/metrics.json"))
fa = fl["rounds"][-1]["test_accuracy"]
seen = sum(r["samples"] for r in fl["rounds"])
ua = un["rounds"][-1]["test_accuracy"]
sa = sn["epochs"][-1]["test_acc"]
print(f"FedAvg 5 clients        {seen} samples seen (10,000 distinct): test accuracy {fa:.4f}")
print(f"single node, same data  {un['rounds'][-1]['samples']} samples seen (10,000 distinct): test accuracy {ua:.4f}")
print(f"single node, all data   {sn['epochs'][-1]['train_samples']} samples seen (50,000 distinct): test accuracy {sa:.4f} (context)")
print(f"gap to the same-data single node {100 * (ua - fa):+.1f} points (target: within 5) -> "
      f"{'PASS' if abs(ua - fa) <= 0.05 else 'FAIL'}")
PY
