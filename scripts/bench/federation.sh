#!/usr/bin/env bash
# A federation over loopback with TLS (`tdml fl server` + `tdml fl client` processes) measured
# side by side with the in-process simulation on the same shards (`tdml fl --shards`).
# Usage: scripts/bench/federation.sh round|wire|clients [OUT_DIR=runs/bench-federation]
#   round   the study's round: 6 clients x PER_CLIENT (default 6000) CIFAR-10 images, gradient
#           mode, median, SmallCifarCNN, ROUNDS (default 3) rounds; seconds per round (rounds 2..,
#           round 1 includes the clients' start-up) of both, and their ratio.
#   wire    one ResNet50 update (94 MB) up and the global model down, one client with 8 images:
#           (bytes down + bytes up) / transport seconds (round trip minus the client's compute).
#   clients CLIENTS (default 50) TinyCNN client processes, 3 rounds: rounds completed, updates
#           accepted per round, and the server's peak RSS.
# Env: TDML (default build/tdml), DATA (CIFAR-10 dir, default /tmp/cifar10/cifar-10-batches-bin;
#      `synthetic` works too), THREADS (the simulation's threads, default all cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: scripts/bench/federation.sh round|wire|clients [OUT_DIR]}
out=$(realpath -m "${2:-runs/bench-federation}")/$mode
tdml=$(realpath "${TDML:-build/tdml}")
data=${DATA:-/tmp/cifar10/cifar-10-batches-bin}
rm -rf "$out" && mkdir -p "$out" && cd "$out"

case $mode in
  round) n=6 per=${PER_CLIENT:-6000} model=smallcifarcnn rounds=${ROUNDS:-3}
         recipe="--aggregator median --detect=false --augment=false --limit-test-batches 4" ;;
  wire) n=1 per=8 model=resnet50 rounds=2 recipe="--batch-size 8 --limit-test-batches 1 --eval-batch-size 50" ;;
  clients) n=${CLIENTS:-50} per=20 model=tinycnn rounds=3 recipe="--batch-size 20 --limit-test-batches 1" ;;
  *) echo "federation.sh: unknown mode '$mode' (round|wire|clients)" >&2; exit 2 ;;
esac
recipe="--model $model --rounds $rounds --seed 1 $recipe"

# Keys, enrolment, shards, and a CA + server certificate for 127.0.0.1.
"$tdml" keys gen --id server --out server-keys > /dev/null
for k in $(seq 0 $((n - 1))); do "$tdml" keys gen --id client-$k --out keys > /dev/null; done
"$tdml" keys enroll --out enrolled.json keys/*.pub.json > /dev/null
"$tdml" data split --data "$data" --clients "$n" --per-client "$per" --seed 1 --out shards > /dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca.key -out ca.crt 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server.key -out server.csr 2> /dev/null
printf 'subjectAltName=IP:127.0.0.1' > san.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
  -out server.crt 2> /dev/null

# The federation: clients share the cores (one thread each), as processes on one machine do.
"$tdml" fl server --listen 127.0.0.1:0 --port-file port --tls-cert server.crt --tls-key server.key \
  --enrolled enrolled.json --key server-keys/server.key --data shards/server --out server \
  --min-clients "$n" --round-timeout 600 $recipe -q &
server=$!
for _ in $(seq 300); do [[ -s port ]] && break; sleep 0.1; done
pids=()
for k in $(seq 0 $((n - 1))); do
  "$tdml" fl client --server 127.0.0.1:"$(cat port)" --tls-ca ca.crt --id client-$k \
    --key keys/client-$k.key --data shards/client-$k --out clients/c$k --threads 1 -q &
  pids+=($!)
done
wait "$server"
for p in "${pids[@]}"; do wait "$p"; done
if [[ $mode == round ]]; then
  "$tdml" fl --shards shards $recipe --threads "${THREADS:-0}" --out sim -q
fi

/usr/bin/python3 - "$mode" "$n" <<'PY'
import json, statistics, sys
mode, n = sys.argv[1], int(sys.argv[2])
fed = json.load(open("server/metrics.json"))
rounds = fed["rounds"]
if mode == "round":
    sim = json.load(open("sim/metrics.json"))["rounds"]
    f = statistics.median(r["seconds"] for r in rounds[1:])
    s = statistics.median(r["seconds"] for r in sim[1:])
    print(f"round (6 clients, gradient, median, smallcifarcnn): federation over TLS {f:.2f} s, "
          f"in-process {s:.2f} s, federation/in-process {f / s:.3f} (median of rounds 2..{len(rounds)})")
    print(f"same final model: {fed['final_model_hash'] == json.load(open('sim/metrics.json'))['final_model_hash']}")
elif mode == "wire":
    r = rounds[-1]
    moved = r["comm_bytes_up"] + r["comm_bytes_down"]
    print(f"wire (resnet50, TLS, loopback): {moved / 1e6:.1f} MB in {r['transport_seconds']:.3f} s "
          f"of transport = {moved / 1e6 / r['transport_seconds']:.0f} MB/s "
          f"(client compute {r['client_compute_seconds']:.2f} s, round {r['seconds']:.2f} s)")
else:
    ok = all(len(r["aggregated"]) == n for r in rounds)
    print(f"clients: {len(rounds)} rounds completed with {n} clients, every update aggregated: {ok}; "
          f"server peak RSS {fed.get('peak_rss_mib', float('nan')):.0f} MiB; "
          f"round seconds {[round(r['seconds'], 1) for r in rounds]}")
PY
