#!/usr/bin/env bash
# Data-poisoning backdoor in the study's settings (1 of 6 clients, 20% of its samples get a 4x4
# trigger of 2.5 at the bottom-right, relabelled 0; every update clipped to 5.0), reported for
# every aggregator. The study's gradient mode never learned (10% accuracy), so clients run
# FedAvg (--local train) to make the attack success rate mean something: 6 clients x 1,000
# samples, 5 rounds, batch 32, lr 0.05. Trimmed mean cuts 1 per end (--trim 0.2; the study's
# 0.1 cuts nothing with 6 clients and tdml refuses it).
# Usage: scripts/fl/data_poisoning.sh [CIFAR_DIR]   (OUT=dir to choose the output folder)
set -euo pipefail
source "$(dirname "$0")/common.sh"
for rule in mean median trimmed-mean krum multi-krum geomed; do
  fl --clients 6 --per-client 1000 --rounds 5 --local train --batch-size 32 --local-lr 0.05 \
     --malicious 1 --attack backdoor --poison-rate 0.2 --trigger-size 4 --target 0 \
     --max-norm 5 --trim 0.2 --krum-f 1 --limit-test-batches 4 --aggregator $rule --out "$out/dp-$rule"
done
/usr/bin/python3 "$here/summary.py" "$out"/dp-*
