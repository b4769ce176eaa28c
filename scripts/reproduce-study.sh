#!/usr/bin/env bash
# The whole study end to end on this machine (reduced sizes: a 2-core CPU finishes in about 17
# minutes, measured on real CIFAR-10; budget: under an hour), leaving every run directory and a
# report with every picture:
#   runs/study/<step>/            one tdml run each (metrics.json, logs, plots/)
#   runs/study/report/index.html  links every run's figures, plus the summary comparison
# Usage: scripts/reproduce-study.sh [CIFAR_DIR] [--out DIR] [--quick]
#   CIFAR_DIR: the cifar-10-batches-bin folder (default: $TDML_DATA, ./data, else download;
#              offline it runs on the synthetic set, labelled as such in every metrics.json).
#   --quick:   tiny sizes (a few minutes): checks that every step and picture is produced.
# Steps whose metrics.json already says "completed" are skipped, so a rerun after a crash or
# Ctrl-C continues where it stopped. Assumes scripts/install-deps.sh --python and a build.
#
# Reduced sizes (documented, vs the study): 2 epochs of single-node training; DDP, pipeline,
# sweep and autobatch on limited batches; FL with 6 clients x 2000 samples (study: 6000) and
# 3 rounds; the scaling projection is computed for N up to 64 from measured 1- and 2-process
# runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tdml=${TDML:-$root/build/tdml}
data=auto out=runs/study quick=0
while (($#)); do
  case $1 in
    --out) out=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n 2,17p "$0"; exit 0 ;;
    -*) echo "reproduce-study.sh: unknown option $1" >&2; exit 2 ;;
    *) data=$1; shift ;;
  esac
done
[[ -x $tdml ]] || { echo "reproduce-study.sh: no $tdml; run scripts/build.sh first" >&2; exit 1; }
mkdir -p "$out"
log=$out/reproduce.log
start=$(date +%s)

# Sizes: full (default) or --quick.
if ((quick)); then
  E=1 LIM="--limit-train-batches 8 --limit-test-batches 2" SMALL=4 PER=200 ROUNDS=2 IT=2
else
  E=2 LIM="" SMALL=100 PER=2000 ROUNDS=3 IT=5
fi

done_already() {  # metrics.json written and, where the command tracks a status, "completed"
  local f=$1/metrics.json
  [[ -f $f ]] || return 1
  grep -q '"status"' "$f" || return 0
  grep -q '"status": *"completed"' "$f"
}
step() {  # step NAME tdml-args...: runs `tdml ARGS --out OUT/NAME` unless already completed
  local name=$1; shift
  if done_already "$out/$name"; then echo "== $name: done already, skipped" | tee -a "$log"; return; fi
  echo "== $name: tdml $* ($(date +%T))" | tee -a "$log"
  local t0=$(date +%s)
  "$tdml" "$@" --out "$out/$name" 2>&1 | tee -a "$log" | grep -E "epoch [0-9]+/|round [0-9]+/|error|wrote|OK" || true
  done_already "$out/$name" || { echo "reproduce-study.sh: step $name failed (see $log)" >&2; exit 1; }
  echo "   $name: $(( $(date +%s) - t0 )) s" | tee -a "$log"
}

"$tdml" info --json > "$out/system.json"
# 1. Distributed ML systems.
step throughput bench throughput --model all --amp off,bf16 --iters $IT
step single train --model smallcifarcnn --epochs $E --data "$data" $LIM --save
step single-bf16 train --model smallcifarcnn --epochs $E --data "$data" $LIM --amp bf16 --channels-last
step ddp train --mode ddp --nproc 2 --model smallcifarcnn --epochs 1 --data "$data" $LIM
step pipeline train --mode pipeline --stages 2 --micro-batches 4 --model smallcifarcnn --epochs 1 --data "$data" $LIM
# Two processes on a 2-core machine: one thread each, stages balanced by measured time (the
# study's features/classifier split leaves the classifier stage idle ~half the time).
step pipeline-2proc train --mode pipeline --stages 2 --nproc 2 --micro-batches 8 --pipeline-schedule 1f1b \
  --split time --threads 1 --model smallcifarcnn --epochs 1 --data "$data" --limit-train-batches $SMALL --limit-test-batches 4
step scaling bench scaling --model tinycnn --data "$data" --global-batch 128 --steps $((quick ? 4 : 20))
step autobatch autobatch --model smallcifarcnn --data "$data" --max-batch $((quick ? 128 : 1024)) \
  --images $((quick ? 512 : 20480)) --limit-test-batches 4
step sweep sweep --model smallcifarcnn --data "$data" --batch-sizes 32,64,128 --workers 0,1,2 --epochs 1 \
  --limit-train-batches $((quick ? 4 : 40)) --limit-test-batches 4 --log-dir "$out/sweep/tb"
# 2. Trust: the study's FL configuration (gradient mode, median), FedAvg, the backdoor under
#    every aggregator, detection, and the ledger.
fl=(fl --data "$data" --clients 6 --per-client $PER --rounds $ROUNDS --limit-test-batches 4)
step fl-study "${fl[@]}" --local gradient --aggregator median --ledger "$out/fl-study/ledger.jsonl"
step fl-fedavg "${fl[@]}" --local train --attack none --aggregator mean
for rule in mean median trimmed-mean krum; do
  step fl-backdoor-$rule "${fl[@]}" --local train --malicious 1 --attack backdoor+model-replacement \
    --poison-rate 0.5 --boost 6 --max-norm 0 --trim 0.17 --aggregator $rule
done
step fl-detection "${fl[@]}" --local train --malicious 2 --attack zero,mean-shift,gaussian --aggregator median
echo "== ledger verify" | tee -a "$log"
"$tdml" ledger verify "$out/fl-study/ledger.jsonl" --keys "$out/fl-study/keys" | tee -a "$log"

# 3. Pictures: every run, the summary, and a report page linking them.
for d in "$out"/*/; do
  [[ -f $d/metrics.json ]] && "$tdml" plot "$d" -q >> "$log" 2>&1
done
"$tdml" plot --summary "$out/single" "$out/single-bf16" "$out/ddp" "$out/pipeline" "$out/fl-study" \
  "$out/fl-fedavg" --out "$out/report/summary" -q >> "$log" 2>&1
/usr/bin/python3 - "$out" <<'PY'
import html, json, os, sys
out = sys.argv[1]
runs = sorted(d for d in os.listdir(out) if os.path.isfile(os.path.join(out, d, "plots", "index.html")))
rows = []
for d in runs:
    m = json.load(open(os.path.join(out, d, "metrics.json")))
    pngs = sorted(f for f in os.listdir(os.path.join(out, d, "plots")) if f.endswith(".png"))
    imgs = "".join(f'<a href="../{d}/plots/{p}"><img src="../{d}/plots/{p}" height="160"></a>' for p in pngs)
    rows.append(f'<h2><a href="../{d}/plots/index.html">{html.escape(d)}</a> '
                f'<small>({html.escape(str(m.get("kind")))}, {html.escape(str(m.get("status")))})</small></h2>{imgs}')
os.makedirs(os.path.join(out, "report"), exist_ok=True)
with open(os.path.join(out, "report", "index.html"), "w") as f:
    f.write("<!doctype html><meta charset=utf-8><title>tdml study report</title>"
            "<h1>tdml: the study, reproduced</h1><p><a href='summary/index.html'>summary</a> | "
            "<a href='../system.json'>system report</a></p>" + "".join(rows))
print(f"report: {out}/report/index.html ({len(runs)} runs)")
PY
echo "reproduce-study.sh: done in $(( $(date +%s) - start )) s; report: $out/report/index.html" | tee -a "$log"
