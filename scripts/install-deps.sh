#!/usr/bin/env bash
# Installs tdml's build and test dependencies from Debian 12 packages. Idempotent: when every
# package is already installed it only checks (about a second) and touches nothing.
# Usage: scripts/install-deps.sh [--python]   (--python: also the PyTorch/matplotlib/cryptography packages
#        used by the reference benchmarks and plots)
set -euo pipefail
pkgs=(cmake g++ make ninja-build pkg-config libtorch-dev libgloo-dev libcxxopts-dev libspdlog-dev
      nlohmann-json3-dev libssl-dev libgtest-dev libcurl4-openssl-dev zlib1g-dev
      libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc openssl)
if [[ ${1:-} == --python ]]; then
  pkgs+=(python3-torch python3-torchvision python3-matplotlib python3-numpy python3-cryptography)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) != 0 ]]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
