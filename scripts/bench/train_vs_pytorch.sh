#!/usr/bin/env bash
# Side-by-side benchmark of `tdml train` and the same recipe in PyTorch Python (train_ref.py):
# SmallCifarCNN, SGD lr 0.1 momentum 0.9 wd 5e-4, batch 128, augmentation, one epoch on real
# CIFAR-10, in one run on one machine. Also the in-memory training step of each (no data
# pipeline), so the cost of the input pipeline shows. Prints a table and writes
# OUT/summary.json.
# Usage: scripts/bench/train_vs_pytorch.sh CIFAR_DIR [--amp off|bf16] [--limit N] [--out DIR]
set -euo pipefail
source "$(dirname "$0")/common.sh"
data=${1:?usage: train_vs_pytorch.sh CIFAR_DIR [--amp off|bf16] [--limit N] [--out DIR]}
shift
amp=off limit=0 out=runs/bench-train model=smallcifarcnn
while (($#)); do
  case $1 in
    --amp) amp=$2; shift 2 ;;
    --limit) limit=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --model) model=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
need_torch_python
cl=false; pycl=""
if [[ $amp == bf16 ]]; then cl=true; pycl=--channels-last; fi
mkdir -p "$out"
echo "== tdml: in-memory step" >&2
"$tdml" bench throughput --model "$model" --batch-size 128 --amp "$amp" --channels-last=$cl \
  --iters 20 --out "$out/tdml-step" -q >&2
echo "== tdml: one epoch end to end" >&2
"$tdml" train --model "$model" --data "$data" --epochs 1 --amp "$amp" --channels-last=$cl \
  --limit-train-batches "$limit" --out "$out/tdml-train" -q
echo "== PyTorch Python: in-memory step + one epoch (DataLoader, 2 workers)" >&2
"$py" "$here/train_ref.py" --data "$data" --model "$model" --amp "$amp" $pycl \
  --limit-train-batches "$limit" > "$out/pytorch.json"
"$py" - "$out" <<'PY'
import json, sys
out = sys.argv[1]
step = json.load(open(f"{out}/tdml-step/metrics.json"))["results"][0]
run = json.load(open(f"{out}/tdml-train/metrics.json"))
ep = run["epochs"][-1]
ref = json.load(open(f"{out}/pytorch.json"))
t = {"end_to_end_img_s": ep["samples_per_s"], "epoch_s": ep["epoch_time_s"],
     "in_memory_img_s": step["train"]["images_per_s"], "test_acc": ep["test_acc"],
     "data_wait_s": ep["data_wait_s"]}
s = {"tdml": t, "pytorch": ref,
     "ratio_end_to_end": t["end_to_end_img_s"] / ref["end_to_end_img_s"],
     "tdml_pipeline_efficiency": t["end_to_end_img_s"] / t["in_memory_img_s"],
     "pytorch_pipeline_efficiency": ref["end_to_end_img_s"] / ref["in_memory_img_s"]}
json.dump(s, open(f"{out}/summary.json", "w"), indent=2)
print(f"{'':22}{'tdml':>12}{'PyTorch':>12}")
print(f"{'end-to-end img/s':22}{t['end_to_end_img_s']:12.0f}{ref['end_to_end_img_s']:12.0f}")
print(f"{'in-memory step img/s':22}{t['in_memory_img_s']:12.0f}{ref['in_memory_img_s']:12.0f}")
print(f"{'epoch s':22}{t['epoch_s']:12.1f}{ref['epoch_s']:12.1f}")
print(f"{'test accuracy':22}{t['test_acc']:12.3f}{ref['test_acc']:12.3f}")
print(f"end-to-end ratio tdml/PyTorch: {s['ratio_end_to_end']:.2f}x; "
      f"end-to-end / in-memory: tdml {s['tdml_pipeline_efficiency']:.2f}, "
      f"PyTorch {s['pytorch_pipeline_efficiency']:.2f}")
PY
