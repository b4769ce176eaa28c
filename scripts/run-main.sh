#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, then train SmallCifarCNN on
# CIFAR-10 with the study's recipe (2 epochs) into runs/main/. Data: $TDML_DATA, else ./data,
# else downloaded into ./data. Offline (no data and no download), this script says so and passes
# --data synthetic explicitly (metrics.json then has "synthetic": true); tdml itself never
# switches to synthetic data on its own. Extra arguments go to `tdml train`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
data=auto
if [[ -z ${TDML_DATA:-} && ! -d data/cifar-10-batches-bin ]]; then
  if ! build/tdml data fetch --dir data; then
    echo "run-main: CIFAR-10 could not be downloaded (offline?): training on the SYNTHETIC set" \
         "instead (--data synthetic); set TDML_DATA=DIR to use a CIFAR-10 copy" >&2
    data=synthetic
  fi
fi
exec build/tdml train --model smallcifarcnn --epochs 2 --data "$data" --out runs/main --save "$@"
