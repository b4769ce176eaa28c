#!/usr/bin/env bash
# A federation over loopback with TLS (`tdml fl server` + `tdml fl client` processes) measured
# side by side with the in-process simulation on the same shards (`tdml fl --shards`).
# Usage: scripts/bench/federation.sh round|wire|clients|churn [OUT_DIR=runs/bench-federation]
#   round   the study's round: 6 clients x PER_CLIENT (default 6000) CIFAR-10 images, gradient
#           mode, median, SmallCifarCNN, ROUNDS (default 3) rounds; seconds per round (rounds 2..,
#           round 1 includes the clients' start-up) of both, and their ratio.
#   wire    one ResNet50 update (94 MB) up and the global model down, one client with 8 images:
#           (bytes down + bytes up) / transport seconds (round trip minus the client's compute).
#   clients CLIENTS (default 50) TinyCNN client processes, ROUNDS (default 3) rounds: rounds completed, updates
#           accepted per round, and the server's peak RSS.
#   churn   the load test: CLIENTS (default 50) TinyCNN client processes, ROUNDS (default 20)
#           rounds of 25 sampled clients, while a chaos loop SIGKILLs a random client every
#           KILL_EVERY (default 0.7) seconds on average and starts it again (same --out) a moment
#           later; chaos stops two rounds before the end and every dead client is started again.
#           Checks that each client's receipts equal the ledger's accepted entries for it (round,
#           update hash, block), that nothing is counted twice, that every receipt passes
#           `tdml ledger check-receipt`; reports kills, restarts and the server's peak RSS.
# Env: TDML (default build/tdml), DATA (CIFAR-10 dir, default /tmp/cifar10/cifar-10-batches-bin;
#      `synthetic` works too), THREADS (the simulation's threads, default all cores).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:?usage: scripts/bench/federation.sh round|wire|clients|churn [OUT_DIR]}
out=$(realpath -m "${2:-runs/bench-federation}")/$mode
tdml=$(realpath "${TDML:-build/tdml}")
data=${DATA:-/tmp/cifar10/cifar-10-batches-bin}
rm -rf "$out" && mkdir -p "$out" && cd "$out"

case $mode in
  round) n=6 per=${PER_CLIENT:-6000} model=smallcifarcnn rounds=${ROUNDS:-3}
         recipe="--aggregator median --detect=false --augment=false --limit-test-batches 4" ;;
  wire) n=1 per=8 model=resnet50 rounds=2 recipe="--batch-size 8 --limit-test-batches 1 --eval-batch-size 50" ;;
  clients) n=${CLIENTS:-50} per=20 model=tinycnn rounds=${ROUNDS:-3} recipe="--batch-size 20 --limit-test-batches 1" ;;
  churn) n=${CLIENTS:-50} per=20 model=tinycnn rounds=${ROUNDS:-20}
         recipe="--batch-size 20 --limit-test-batches 1 --clients-per-round 25 --min-clients 10" ;;
  *) echo "federation.sh: unknown mode '$mode' (round|wire|clients|churn)" >&2; exit 2 ;;
esac
server_flags="--min-clients $n --round-timeout 600"
if [[ $mode == churn ]]; then
  # A round samples 25 of the connected clients and waits at most 20 s for them; a killed
  # client is dropped from its round and takes part again once restarted.
  server_flags="--min-available 25 --round-timeout 20 --join-timeout 120 --linger 120"
fi
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
  $server_flags $recipe -q &
server=$!
for _ in $(seq 300); do [[ -s port ]] && break; sleep 0.1; done
pids=()
start_client() {  # start_client K: client K, continuing in clients/cK when it ran before
  "$tdml" fl client --server 127.0.0.1:"$(cat port)" --tls-ca ca.crt --id client-$1 \
    --key keys/client-$1.key --data shards/client-$1 --out clients/c$1 --threads 1 -q \
    >> clients/c$1.log 2>&1 &
  pids[$1]=$!
}
mkdir -p clients
for k in $(seq 0 $((n - 1))); do start_client "$k"; done
if [[ $mode == churn ]]; then
  kills=0 restarts=0 dead=()
  rounds_done() { local c; c=$(grep -c '"kind":"fl_round"' server/ledger.jsonl 2> /dev/null) || true; echo "${c:-0}"; }
  while kill -0 "$server" 2> /dev/null && (($(rounds_done) < rounds - 2)); do
    sleep "$(/usr/bin/python3 -c "import random; print(random.expovariate(1 / ${KILL_EVERY:-0.7}))")"
    k=$((RANDOM % n))
    if kill -0 "${pids[$k]}" 2> /dev/null; then
      kill -9 "${pids[$k]}" 2> /dev/null && kills=$((kills + 1))
      wait "${pids[$k]}" 2> /dev/null || true
      dead+=("$k")
    fi
    if ((${#dead[@]} > 3)) || ((RANDOM % 2)); then  # restart the oldest dead client
      if ((${#dead[@]} > 0)); then start_client "${dead[0]}"; restarts=$((restarts + 1)); dead=("${dead[@]:1}"); fi
    fi
  done
  for k in "${dead[@]}"; do start_client "$k"; restarts=$((restarts + 1)); done
  echo "{\"kills\": $kills, \"restarts\": $restarts}" > chaos.json
fi
wait "$server"
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=$((fail + 1)); done
echo "$fail" > clients_failed
if [[ $mode == round ]]; then
  "$tdml" fl --shards shards $recipe --threads "${THREADS:-0}" --out sim -q
fi

/usr/bin/python3 - "$mode" "$n" "$tdml" "$rounds" <<'PY'
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
elif mode == "churn":
    import collections, os, subprocess
    tdml, want = sys.argv[3], int(sys.argv[4])
    chaos = json.load(open("chaos.json"))
    blocks = [json.loads(l) for l in open("server/ledger.jsonl") if l.strip()]
    taken, statuses, twice = collections.defaultdict(collections.Counter), collections.Counter(), 0
    for b, block in enumerate(blocks):
        seen = collections.Counter()
        for e in block.get("clients", []):
            statuses[e["status"]] += 1
            if e["status"] in ("accepted", "clipped", "flagged"):
                taken[e["id"]][(block["round"], e["update_hash"], b)] += 1
                seen[e["id"]] += 1
        twice += sum(c - 1 for c in seen.values() if c > 1)
    lost = extra = dup = bad_checks = restarts_counted = 0
    for k in range(n):
        cid, d = f"client-{k}", f"clients/c{k}"
        got = collections.Counter()
        if os.path.exists(f"{d}/receipts.jsonl"):
            for line in open(f"{d}/receipts.jsonl"):
                if line.strip():
                    r = json.loads(line)
                    got[(r["round"], r["update_hash"], r["block_index"])] += 1
        dup += sum(c - 1 for c in got.values() if c > 1)
        lost += sum((taken[cid] - got).values())
        extra += sum((got - taken[cid]).values())
        if got:
            c = subprocess.run([tdml, "ledger", "check-receipt", f"{d}/receipts.jsonl", "--ledger",
                                "server/ledger.jsonl", "--server-pubkey",
                                "server-keys/server.pub.json"], capture_output=True, text=True)
            bad_checks += c.returncode != 0
        if os.path.exists(f"{d}/metrics.json"):
            restarts_counted += json.load(open(f"{d}/metrics.json")).get("restarts", 0)
    failed = int(open("clients_failed").read())
    updates = sum(sum(c.values()) for c in taken.values())
    print(f"churn: {len(rounds)} of {want} rounds, status {fed['status']}; {chaos['kills']} clients "
          f"SIGKILLed, {chaos['restarts']} restarted (the clients counted {restarts_counted} "
          f"restarts); ledger entries {dict(statuses)}")
    print(f"  {updates} updates taken; lost (in the ledger, no receipt) {lost}, receipts the ledger "
          f"does not hold {extra}, receipts held twice {dup}, a client taken twice in one round "
          f"{twice}; check-receipt failures {bad_checks}; clients that exited non-zero {failed}")
    print(f"  server peak RSS {fed.get('peak_rss_mib', float('nan')):.0f} MiB; round seconds "
          f"median {statistics.median(r['seconds'] for r in rounds):.1f}, "
          f"max {max(r['seconds'] for r in rounds):.1f}")
    if len(rounds) != want or lost or extra or dup or twice or bad_checks or failed:
        print("churn: FAILED", file=sys.stderr)
        sys.exit(1)
else:
    ok = all(len(r["aggregated"]) == n for r in rounds)
    print(f"clients: {len(rounds)} rounds completed with {n} clients, every update aggregated: {ok}; "
          f"server peak RSS {fed.get('peak_rss_mib', float('nan')):.0f} MiB; "
          f"round seconds {[round(r['seconds'], 1) for r in rounds]}")
PY
