"""NumPy reference for `tdml bench aggregate`: the aggregation rules as Flower (flwr) implements
them in flwr/server/strategy/aggregate.py, timed the way tdml times its own.

Written from the published algorithms of Flower's aggregate.py, not copied: an update is a LIST of
per-layer arrays (the model's parameter shapes, read from tdml's metrics.json); FedAvg multiplies
each layer by the client's sample count and reduces with np.add; median is np.median over the
stacked layer; trimmed mean is scipy's trim_mean on np.partition, per layer; Krum flattens every
client and fills the distance matrix with a Python double loop over all pairs
(np.linalg.norm(a - b) ** 2); Multi-Krum averages the to_keep best with FedAvg; Bulyan runs Krum
again and again on the remaining set (recomputing the distances each time, finding the pick by
comparing arrays), then averages per coordinate the beta values closest to np.median of the picks.
Flower has no geometric median, centered clipping nor FLTrust: they are not in the reference.

Same protocol as tdml: one warm-up call, then --repeats timed calls; median and min in ms; random
normal float32 updates, sample counts 1. A cell whose estimated time (warm-up + repeats, scaled
from the last measured cell of the rule: time ~ n^p * d, p = 1 for the coordinate-wise rules, 2
for Krum's pair loop, 3 for Bulyan's repeated Krum) exceeds --max-seconds is skipped, and so is
one whose memory estimate exceeds --max-gib; both say why.

Usage:
  aggregate_ref.py --shapes TDML_METRICS_JSON [--clients 10,100] [--models a,b] [--rules all]
                   [--repeats 3] [--max-seconds 300] [--max-gib 8] [--seed 0] [--out DIR]
  aggregate_ref.py --check IN.json    # aggregates of a small fixed input, JSON on stdout
Threads: numpy's BLAS (np.linalg.norm, np.dot) follows OMP_NUM_THREADS / OPENBLAS_NUM_THREADS /
MKL_NUM_THREADS; sorting and partitioning are single-threaded.
"""
import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

TRIM = 0.2  # as tdml bench aggregate
FLOWER_RULES = ["mean", "median", "trimmed-mean", "krum", "multi-krum", "bulyan"]
NOT_IN_FLOWER = {"geomed": "Flower has no geometric median",
                 "cclip": "Flower has no centered clipping",
                 "fltrust": "Flower has no FLTrust"}
# Time ~ n^p at fixed d (the Python loops dominate Krum and Bulyan).
TIME_EXPONENT = {"mean": 1, "median": 1, "trimmed-mean": 1, "krum": 2, "multi-krum": 2, "bulyan": 3}


# ---- the rules, as Flower's strategy/aggregate.py computes them -------------------------------
# results: a list of (layers, num_examples), layers a list of numpy arrays (one client).

def fedavg(results):
    """Flower's `aggregate`: per layer, sum_i layer_i * n_i / sum_i n_i."""
    total = sum(num for _, num in results)
    scaled = [[layer * num for layer in layers] for layers, num in results]
    return [functools.reduce(np.add, per_client) / total for per_client in zip(*scaled)]


def median(results):
    """Flower's `aggregate_median`: np.median over the stacked layer (averages the middle two)."""
    clients = [layers for layers, _ in results]
    return [np.median(np.asarray(per_client), axis=0) for per_client in zip(*clients)]


def trim_mean(array, proportiontocut):
    """Flower's `_trim_mean` (scipy.stats.trim_mean along axis 0, on np.partition)."""
    nobs = array.shape[0]
    lowercut = int(proportiontocut * nobs)
    uppercut = nobs - lowercut
    if lowercut > uppercut:
        raise ValueError("proportion too big")
    part = np.partition(array, (lowercut, uppercut - 1), axis=0)
    return np.mean(part[lowercut:uppercut], axis=0)


def trimmed_mean(results, proportiontocut):
    """Flower's `aggregate_trimmed_avg`: _trim_mean per layer."""
    clients = [layers for layers, _ in results]
    return [trim_mean(np.asarray(per_client), proportiontocut) for per_client in zip(*clients)]


def pair_distances(clients):
    """Flower's `_compute_distances`: flatten each client; squared norms over all pairs."""
    flat = np.array([np.concatenate(layers, axis=None).ravel() for layers in clients])
    dist = np.zeros((len(clients), len(clients)))
    for i, a in enumerate(flat):
        for j, b in enumerate(flat):
            dist[i, j] = np.linalg.norm(a - b) ** 2
    return dist


def krum(results, num_malicious, to_keep):
    """Flower's `aggregate_krum`: to_keep = 0 returns the best client, else FedAvg of the best."""
    clients = [layers for layers, _ in results]
    dist = pair_distances(clients)
    num_closest = max(1, len(clients) - num_malicious - 2)
    # Position 0 of each sorted row is the client itself (distance 0).
    closest = [np.argsort(row)[1:num_closest + 1].tolist() for row in dist]
    scores = [np.sum(dist[i, closest[i]]) for i in range(len(dist))]
    if to_keep > 0:
        best = np.argsort(scores)[::-1][len(scores) - to_keep:]
        return fedavg([results[i] for i in best])
    return clients[int(np.argmin(scores))]


def same_layers(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def closest_to_reference(reference, results, beta):
    """Flower's `_aggregate_n_closest_weights`: per coordinate, the mean of the beta values
    closest to the reference."""
    clients = [layers for layers, _ in results]
    out = []
    for k, ref in enumerate(reference):
        stacked = np.array([layers[k] for layers in clients])
        gap = np.abs(ref - stacked)
        idx = np.argpartition(gap, kth=beta - 1, axis=0)
        out.append(np.mean(np.take_along_axis(stacked, idx, axis=0)[:beta], axis=0))
    return out


def bulyan(results, num_malicious):
    """Flower's `aggregate_bulyan` with Krum as the selection rule."""
    n, f = len(results), num_malicious
    if n < 4 * f + 3:
        raise ValueError(f"bulyan needs n >= 4f + 3, got n = {n}, f = {f}")
    remaining = list(results)
    theta = n - 2 * f
    beta = theta - 2 * f
    picked = []
    for _ in range(theta):
        best = krum(remaining, num_malicious, to_keep=0)
        idx = next(i for i, (layers, _) in enumerate(remaining) if same_layers(best, layers))
        picked.append(remaining.pop(idx))
    return closest_to_reference(median(picked), picked, beta)


def byzantine(n):
    return max(0, (n - 3) // 4)  # as tdml bench aggregate


def run_rule(rule, results):
    n = len(results)
    if rule == "mean":
        return fedavg(results)
    if rule == "median":
        return median(results)
    if rule == "trimmed-mean":
        return trimmed_mean(results, TRIM)
    if rule == "krum":
        return krum(results, byzantine(n), to_keep=0)
    if rule == "multi-krum":
        return krum(results, byzantine(n), to_keep=n - byzantine(n))
    if rule == "bulyan":
        return bulyan(results, byzantine(n))
    raise ValueError(rule)


# ---- the benchmark -------------------------------------------------------------------------

def extra_memory_factor(rule, n, layers):
    """Memory on top of the updates, in units of the updates (flat copies; per-layer stacks)."""
    largest = max(int(np.prod(s)) for s in layers) / sum(int(np.prod(s)) for s in layers)
    per_layer = 3 * largest  # a stacked layer, its partitioned / |gap| copy, indices
    return {"mean": 1.0, "median": per_layer, "trimmed-mean": per_layer, "krum": 1.0,
            "multi-krum": 2.0, "bulyan": 1.0 + 4 * largest}[rule]


def estimate_seconds(rule, n, d, last):
    """Per call, from the rule's last measured cell (n0, d0, seconds), or None."""
    if rule not in last:
        return None
    n0, d0, s0 = last[rule]
    return s0 * (n / n0) ** TIME_EXPONENT[rule] * (d / d0)


def make_results(rng, n, shapes):
    return [([rng.standard_normal(s, dtype=np.float32) for s in shapes], 1) for _ in range(n)]


def time_cell(rule, results, repeats):
    run_rule(rule, results)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        run_rule(rule, results)
        times.append((time.perf_counter() - t) * 1e3)
    return times


def bench(args):
    tdml = json.load(open(args.shapes))
    settings = tdml.get("settings", {})
    models = {m["model"]: m for m in tdml["models"]}
    model_names = args.models.split(",") if args.models else list(models)
    for m in model_names:
        if m not in models:
            sys.exit(f"aggregate_ref.py: model {m} is not in {args.shapes} (it has {list(models)})")
    clients = [int(x) for x in args.clients.split(",")] if args.clients else settings["clients"]
    asked = settings.get("rules", FLOWER_RULES + list(NOT_IN_FLOWER)) if args.rules == "all" \
        else args.rules.split(",")
    rules = [r for r in asked if r in FLOWER_RULES]
    skipped_rules = {r: NOT_IN_FLOWER.get(r, "not a Flower rule") for r in asked if r not in rules}
    threads = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "MKL_NUM_THREADS")}
    doc = {"schema": 1, "kind": "bench.aggregate.numpy",
           "impl": "numpy, the algorithms of Flower's strategy/aggregate.py",
           "numpy": np.__version__, "python": platform.python_version(), "threads": threads,
           "settings": {"clients": clients, "models": model_names, "rules": rules, "warmup": 1,
                        "repeats": args.repeats, "max_seconds": args.max_seconds,
                        "max_gib": args.max_gib, "seed": args.seed, "trim": TRIM,
                        "f": "max(0, (n - 3) / 4)", "multi_krum_m": "n - f"},
           "not_in_reference": skipped_rules, "cells": []}
    for r, why in skipped_rules.items():
        print(f"{r}: not in the reference ({why})")
    print(f"{'model':13} {'n':>5} {'rule':12} {'median ms':>11} {'min ms':>11}")
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    last = {}  # rule -> (n, d, seconds per call) of its last measured cell
    for m in model_names:
        shapes = [l["shape"] for l in models[m]["layers"]]
        d = models[m]["d"]
        for n in clients:
            results = None
            for rule in rules:
                cell = {"model": m, "rule": rule, "n": n, "d": d}
                need = 4.0 * n * d * (1 + extra_memory_factor(rule, n, shapes))
                est = estimate_seconds(rule, n, d, last)
                if rule == "bulyan" and n < 4 * byzantine(n) + 3:
                    cell["reason"] = "bulyan needs n >= 4f + 3"
                elif need > args.max_gib * 2 ** 30:
                    cell["reason"] = (f"needs about {need / 2 ** 30:.2f} GiB > --max-gib "
                                      f"{args.max_gib:g}")
                elif est is not None and est * (1 + args.repeats) > args.max_seconds:
                    n0, d0, _ = last[rule]
                    cell["reason"] = (f"estimated {est * (1 + args.repeats):.0f} s for "
                                      f"{1 + args.repeats} calls (from n = {n0}, d = {d0}; time ~ "
                                      f"n^{TIME_EXPONENT[rule]} d) > --max-seconds "
                                      f"{args.max_seconds:g}")
                if "reason" in cell:
                    cell["status"] = "skipped"
                    if est is not None:
                        cell["estimated_s_per_call"] = est
                    print(f"{m:13} {n:>5} {rule:12} skipped: {cell['reason']}", flush=True)
                    doc["cells"].append(cell)
                    continue
                if results is None:
                    results = make_results(rng, n, shapes)
                print(f"  running {m} n={n} {rule} ...", file=sys.stderr, flush=True)
                times = time_cell(rule, results, args.repeats)
                med = statistics.median(times)
                last[rule] = (n, d, med / 1e3)
                cell.update({"status": "measured", "times_ms": times, "median_ms": med,
                             "min_ms": min(times), "ms_per_client": med / n,
                             "ms_per_mcoord": med / (n * d / 1e6)})
                print(f"{m:13} {n:>5} {rule:12} {med:11.2f} {min(times):11.2f}", flush=True)
                doc["cells"].append(cell)
                with open(os.path.join(args.out, "metrics.json"), "w") as fh:
                    json.dump(doc, fh, indent=2)
            del results
    doc["status"] = "completed"
    with open(os.path.join(args.out, "metrics.json"), "w") as fh:
        json.dump(doc, fh, indent=2)


def check(path):
    """Aggregates of a small input {"shapes", "updates" (flat rows), "weights"}: mean with the
    weights; the other rules with sample count 1 (tdml's robust rules ignore weights, and its
    Multi-Krum is the plain mean of the picks, where Flower's would weight them)."""
    inp = json.load(open(path))
    shapes = [tuple(s) for s in inp["shapes"]]
    sizes = [int(np.prod(s)) for s in shapes]

    def layers_of(row):
        row = np.asarray(row, dtype=np.float32)
        cuts = np.cumsum([0] + sizes)
        return [row[cuts[k]:cuts[k + 1]].reshape(s) for k, s in enumerate(shapes)]

    rows = [layers_of(r) for r in inp["updates"]]
    out = {}
    for rule in FLOWER_RULES:
        weights = inp["weights"] if rule == "mean" else [1] * len(rows)
        agg = run_rule(rule, list(zip(rows, weights)))
        out[rule] = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in agg]).tolist()
    json.dump(out, sys.stdout)
    print()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--shapes", help="tdml bench aggregate's metrics.json (models, layer shapes)")
    p.add_argument("--clients", help="n values, comma-separated (default: tdml's)")
    p.add_argument("--models", help="models, comma-separated (default: all in --shapes)")
    p.add_argument("--rules", default="all")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--max-gib", type=float, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/bench-aggregate/numpy")
    p.add_argument("--check", metavar="IN_JSON")
    args = p.parse_args()
    if args.check:
        check(args.check)
    elif args.shapes:
        if args.repeats < 1:
            p.error("--repeats must be >= 1")
        bench(args)
    else:
        p.error("give --shapes TDML_METRICS_JSON or --check IN_JSON")


if __name__ == "__main__":
    main()
