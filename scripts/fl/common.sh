# Sourced by the scripts/fl/*.sh reproduce scripts: paths and the niced tdml runner.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tdml=${TDML:-$root/build/tdml}
data=${1:-${TDML_DATA:-/tmp/cifar10/cifar-10-batches-bin}}
out=${OUT:-runs/fl-repro}
[[ -d $data ]] || { echo "no CIFAR-10 at '$data' (pass the cifar-10-batches-bin folder)" >&2; exit 1; }
mkdir -p "$out"
# Accuracy figures do not depend on timing: run niced, all cores (--threads 0). --seed 123 is
# the seed the published FL figures were measured with (tdml's default seed is 0 everywhere).
fl() { nice -n 10 "$tdml" fl --data "$data" --model smallcifarcnn --seed 123 -q "$@"; }
