# Sourced by the scripts/bench/*.sh side-by-side benchmarks: paths, the tdml binary under test
# (TDML overrides), and the Python that runs the PyTorch references.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tdml=${TDML:-$root/build/tdml}
py=/usr/bin/python3  # Debian's, with python3-torch (the first python3 on PATH may lack it)
# Exits with a one-line error when the reference cannot run.
need_torch_python() {
  "$py" -c 'import torch, torchvision' 2>/dev/null || {
    echo "needs Debian's python3-torch and python3-torchvision (scripts/install-deps.sh --python)" >&2
    exit 1
  }
}
