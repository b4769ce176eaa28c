#!/usr/bin/python3
"""PyTorch (Python, Gloo) reference for `tdml bench allreduce`: same sizes, same iteration
schedule, same timing (mean per all-reduce of the slowest rank), same JSON schema.

Usage: /usr/bin/python3 scripts/bench/allreduce_ref.py --nproc 2 --out DIR [--sizes default]
"""
import argparse
import json
import os
import socket
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def parse_sizes(spec):
    if spec in ("default", "small"):
        last = (64 << 10) if spec == "small" else (64 << 20)
        out, b = [], 1 << 10
        while b <= last:
            out.append(b)
            b *= 4
        return out
    out = []
    for item in spec.split(","):
        mult = {"K": 1 << 10, "k": 1 << 10, "M": 1 << 20, "m": 1 << 20}.get(item[-1], 1)
        out.append(int(item[:-1] if mult > 1 else item) * mult)
    return out


def iters_for_size(nbytes):
    return max(10, min(1000, (512 << 20) // nbytes))


def worker(rank, world, port, args, queue):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results = []
    for nbytes in parse_sizes(args.sizes):
        t = torch.ones(nbytes // 4, dtype=torch.float32)
        for _ in range(args.warmup):
            dist.all_reduce(t)
        iters = args.iters or iters_for_size(nbytes)
        dist.barrier()
        start = time.perf_counter()
        for _ in range(iters):
            dist.all_reduce(t)
        elapsed = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        gathered = [torch.zeros_like(elapsed) for _ in range(world)]
        dist.all_gather(gathered, elapsed)
        slowest = max(g.item() for g in gathered)
        per = slowest / iters
        algbw = nbytes / per / 1e9
        results.append({"bytes": nbytes, "iters": iters, "time_us": per * 1e6,
                        "algbw_gbs": algbw, "busbw_gbs": algbw * 2 * (world - 1) / world})
    if rank == 0:
        queue.put(results)
    dist.destroy_process_group()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--sizes", default="default")
    p.add_argument("--iters", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    with socket.socket() as s:
        s.bind(("", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args.nproc, port, args, queue))
             for r in range(args.nproc)]
    for pr in procs:
        pr.start()
    results = queue.get()
    for pr in procs:
        pr.join()
        if pr.exitcode != 0:
            raise SystemExit(f"rank exited with {pr.exitcode}")
    os.makedirs(args.out, exist_ok=True)
    doc = {"schema": 1, "kind": "bench.allreduce", "impl": "pytorch-python",
           "torch_version": torch.__version__, "backend": "gloo", "world": args.nproc,
           "dtype": "float32", "status": "completed", "results": results}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(doc, f, indent=2)
    print(f"{'bytes':>12} {'iters':>8} {'time_us':>12} {'busbw_GB/s':>12}")
    for r in results:
        print(f"{r['bytes']:>12} {r['iters']:>8} {r['time_us']:>12.1f} {r['busbw_gbs']:>12.3f}")


if __name__ == "__main__":
    main()
