#!/usr/bin/env bash
# Configures and builds tdml into ${BUILD_DIR:-build} (Release). Extra args go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
# Ninja when present (install-deps installs it): it compiles a target's sources while the targets
# below it still link, which keeps both cores busy. An existing build folder keeps its generator.
gen=()
if [[ ! -f $build/CMakeCache.txt ]] && command -v ninja >/dev/null; then gen=(-G Ninja); fi
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} "$@" >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}"
