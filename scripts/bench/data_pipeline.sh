#!/usr/bin/env bash
# Input pipeline throughput, tdml vs the study's Python DataLoader, side by side in one run.
# Both read the same CIFAR-10 binary train split, batch 128, random crop (pad 4) + horizontal
# flip + normalise, after 5 warm-up batches; tdml times 3 epochs (a single one takes well
# under a second), Python one.
# Usage: scripts/bench/data_pipeline.sh [DATA_DIR=/tmp/cifar10] [WORKERS=2]
# Needs build/tdml (scripts/build.sh) and /usr/bin/python3 with torch + torchvision.
set -euo pipefail
cd "$(dirname "$0")/../.."
data=${1:-/tmp/cifar10}
workers=${2:-2}
tdml=${TDML:-build/tdml}
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
t=$("$tdml" data bench -q --data "$data" --batch-size 128 --workers "$workers" --epochs 3)
echo "$t"
p=$(/usr/bin/python3 scripts/bench/data_pipeline_ref.py --data "$data" --batch-size 128 \
      --workers "$workers")
echo "$p"
rate() { sed -E 's/.* = ([0-9]+) img\/s.*/\1/' <<<"$1"; }
awk -v a="$(rate "$t")" -v b="$(rate "$p")" \
  'BEGIN { printf "ratio tdml/python: %.1fx\n", a / b }'
