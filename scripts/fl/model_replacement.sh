#!/usr/bin/env bash
# Target: a model-replacement backdoor by 1 of 10 clients (client 0 trains on backdoored data,
# --poison-rate 0.2 as in the study, and sends its update boosted x10 = clients / server lr) reaches an attack
# success rate >= 80% under mean, <= 10% under median, trimmed-mean (0.1: 1 cut per end) and
# krum (f = 1), and costs the robust rules <= 3 points of clean accuracy (same rule, no attack).
# FedAvg: 10 clients x 2,000 IID samples, 7 rounds of 1 local epoch, batch 32, lr 0.05, no
# clipping (clipping is itself a defence against boosting: see the README); bf16 autocast +
# channels-last so the 8 runs fit in about 9 minutes here.
# The runs without attack measure the trigger too (--eval-trigger): a weak model already sends
# some triggered images to the target class (with 1,000 samples a client and 6 rounds, 40%
# clean accuracy: 10-19% of them, which is above the target by itself). That baseline is
# printed next to each ASR; the target is judged on the ASR itself.
# Usage: scripts/fl/model_replacement.sh [CIFAR_DIR]   (OUT=dir to choose the output folder)
set -euo pipefail
source "$(dirname "$0")/common.sh"
base=(--clients 10 --per-client 2000 --rounds 7 --local train --batch-size 32 --local-lr 0.05
      --max-norm 0 --trim 0.1 --krum-f 1 --limit-test-batches 4 --amp bf16 --channels-last)
attack=(--malicious 1 --attack backdoor+model-replacement --poison-rate 0.2 --boost 10)
for rule in mean median trimmed-mean krum; do
  fl "${base[@]}" --aggregator $rule --attack none --eval-trigger --out "$out/mr-$rule-clean"
  fl "${base[@]}" --aggregator $rule "${attack[@]}" --out "$out/mr-$rule"
done
/usr/bin/python3 "$here/summary.py" "$out"/mr-*
/usr/bin/python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
ok = True
for rule in ["mean", "median", "trimmed-mean", "krum"]:
    a = json.load(open(f"{out}/mr-{rule}/metrics.json"))["rounds"][-1]
    c = json.load(open(f"{out}/mr-{rule}-clean/metrics.json"))["rounds"][-1]
    asr = a["backdoor"]["asr_non_target"]
    base = c["backdoor"]["asr_non_target"]
    cost = 100 * (c["test_accuracy"] - a["test_accuracy"])
    want = asr >= 0.8 if rule == "mean" else (asr <= 0.1 and cost <= 3)
    ok &= want
    print(f"{rule:13} ASR {asr:.3f} (no attack: {base:.3f})  clean acc {a['test_accuracy']:.3f} (no attack "
          f"{c['test_accuracy']:.3f}, cost {cost:+.1f} points)  {'PASS' if want else 'FAIL'}")
print("model replacement target:", "PASS" if ok else "FAIL")
PY
