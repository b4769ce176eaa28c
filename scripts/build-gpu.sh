#!/usr/bin/env bash
# Builds tdml against the LibTorch inside a PyTorch 2.x (CUDA) wheel, e.g. on a GPU machine.
#   scripts/build-gpu.sh [extra cmake args]
# Environment:
#   PYTHON=python3      the Python whose `torch` provides LibTorch (torch.utils.cmake_prefix_path)
#   DEPS_DEBS=DIR       optional: unpack every DIR/*.deb (header-only deps such as libspdlog-dev,
#                       libfmt-dev, libcxxopts-dev, nlohmann-json3-dev, libgtest-dev, downloaded
#                       elsewhere with `apt-get download`) into DEPS_PREFIX and search there first
#   DEPS_PREFIX=/tmp/tdml-deps   where those packages are unpacked (never into /)
#   BUILD_DIR=build-gpu, BUILD_TYPE=Release, JOBS=$(nproc)
# The wheel ships its own fmt (include/fmt) and no gloo headers: see cmake/TdmlDeps.cmake for how
# tdml orders fmt/spdlog before LibTorch and builds without Gloo (NCCL only) in that case.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
torch_prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
prefix="$torch_prefix"
args=()
if [ -n "${DEPS_DEBS:-}" ]; then
  deps=${DEPS_PREFIX:-/tmp/tdml-deps}
  rm -rf "$deps" && mkdir -p "$deps"  # stale packages from an earlier run must not linger
  for f in "$DEPS_DEBS"/*.deb; do dpkg -x "$f" "$deps"; done
  prefix="$deps/usr;$prefix"
  [ -f "$deps/usr/include/cxxopts.hpp" ] && args+=("-DCXXOPTS_INCLUDE_DIR=$deps/usr/include")
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
build=${BUILD_DIR:-build-gpu}
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" \
  -DCMAKE_PREFIX_PATH="$prefix" "${args[@]}" "$@"
cmake --build "$build" -j "${JOBS:-$(nproc)}"
