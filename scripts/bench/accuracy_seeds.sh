#!/usr/bin/env bash
# One-epoch test accuracy of the study's recipe (SmallCifarCNN, SGD lr 0.1 momentum 0.9 wd 5e-4,
# batch 128, augmentation) over several seeds, tdml and PyTorch Python (train_ref.py) side by
# side: one epoch's accuracy moves by several points from seed to seed, so a single run cannot
# tell an implementation difference from noise. Prints each seed, mean and standard deviation,
# and writes OUT/summary.json.
# Usage: scripts/bench/accuracy_seeds.sh CIFAR_DIR [--seeds "0 1 2 3 4"] [--amp off|bf16]
#          [--no-python] [--out DIR]
set -euo pipefail
source "$(dirname "$0")/common.sh"
usage='usage: accuracy_seeds.sh CIFAR_DIR [--seeds "0 1 2 3 4"] [--amp off|bf16] [--no-python] [--out DIR]'
data=${1:?$usage}
shift
seeds="0 1 2 3 4" amp=off python=1 out=runs/bench-accuracy
while (($#)); do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --amp) amp=$2; shift 2 ;;
    --no-python) python=0; shift ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1; $usage" >&2; exit 2 ;;
  esac
done
cl=false; pycl=""
if [[ $amp == bf16 ]]; then cl=true; pycl=--channels-last; fi
if ((python)); then
  need_torch_python
fi
mkdir -p "$out"
for s in $seeds; do
  echo "== seed $s: tdml" >&2
  "$tdml" train --model smallcifarcnn --data "$data" --epochs 1 --seed "$s" --amp "$amp" \
    --channels-last=$cl --out "$out/tdml-seed$s" -q
  if ((python)); then
    echo "== seed $s: PyTorch Python" >&2
    "$py" "$here/train_ref.py" --data "$data" --amp "$amp" $pycl --seed "$s" \
      --in-memory-iters 0 > "$out/pytorch-seed$s.json"
  fi
done
"$py" - "$out" "$seeds" "$python" "$amp" <<'PY'
import json, os, statistics, sys
out, seeds, python = sys.argv[1], sys.argv[2].split(), sys.argv[3] == "1"
rows = {"tdml": [], "pytorch": []}
for s in seeds:
    rows["tdml"].append(json.load(open(f"{out}/tdml-seed{s}/metrics.json"))["epochs"][-1]["test_acc"])
    if python:
        rows["pytorch"].append(json.load(open(f"{out}/pytorch-seed{s}.json"))["test_acc"])
impls = ["tdml"] + (["pytorch"] if python else [])
print(f"{'seed':>6}" + "".join(f"{i:>10}" for i in impls))
for k, s in enumerate(seeds):
    print(f"{s:>6}" + "".join(f"{rows[i][k]:10.4f}" for i in impls))
summary = {"seeds": seeds, "amp": sys.argv[4], "impls": {}}
for i in impls:
    v = rows[i]
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    summary["impls"][i] = {"test_acc": v, "mean": statistics.mean(v), "stdev": sd}
print(f"{'mean':>6}" + "".join(f"{summary['impls'][i]['mean']:10.4f}" for i in impls))
print(f"{'sd':>6}" + "".join(f"{summary['impls'][i]['stdev']:10.4f}" for i in impls))
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
PY
