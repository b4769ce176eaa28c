#!/usr/bin/env bash
# The main job on a fresh machine: install dependencies, build, then train SmallCifarCNN on
# CIFAR-10 with the study's recipe (2 epochs) into runs/main/. Data: $TDML_DATA, else ./data,
# else downloaded into ./data; when offline, tdml says so and trains on the synthetic set
# (labelled as such in metrics.json). Extra arguments go to `tdml train`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec build/tdml train --model smallcifarcnn --epochs 2 --data auto --out runs/main --save "$@"
