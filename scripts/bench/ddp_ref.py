#!/usr/bin/env python3
"""PyTorch reference for `tdml train --mode ddp`: DistributedDataParallel over Gloo on CPU.

N processes (torch.multiprocessing), 1 intra-op thread each (as tdml gives each of N ranks
cores / N), the same model definitions (scripts/tdml_models.py), DistributedSampler over the
CIFAR-10 binary files, a torchvision-style per-image pipeline (RandomCrop(32, 4),
RandomHorizontalFlip, ToTensor, Normalize) in the rank's own process (--workers 0) unless
--workers is given, SGD lr 0.1 momentum 0.9 wd 5e-4, DDP defaults (25 MiB buckets, buffers
broadcast). Times --batches batches of --batch-size a rank and prints one JSON line:
{"epoch_s": slowest rank, "per_rank_s": [...], "samples", "samples_per_s", ...}.
Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
"""
import argparse
import json
import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cifar_ref import CifarBin, read_train, transform  # noqa: E402
from tdml_models import make_model  # noqa: E402

def worker(rank, a, port, results):
    torch.set_num_threads(a.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=a.nproc)
    torch.manual_seed(a.seed)
    d = a.data
    x, y = read_train(d)
    data = CifarBin(x, y, transform(a.augment))
    sampler = DistributedSampler(data, num_replicas=a.nproc, rank=rank, shuffle=True,
                                 seed=a.seed, drop_last=True)
    loader = DataLoader(data, batch_size=a.batch_size, sampler=sampler, num_workers=a.workers,
                        drop_last=True)
    model = torch.nn.parallel.DistributedDataParallel(make_model(a.model))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    sampler.set_epoch(1)
    model.train()
    dist.barrier()
    seen = 0
    t0 = time.perf_counter()
    for i, (xb, yb) in enumerate(loader):
        if i >= a.batches:
            break
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xb), yb).backward()
        opt.step()
        seen += len(yb)
    elapsed = time.perf_counter() - t0
    t = torch.tensor([elapsed, float(seen)], dtype=torch.float64)
    out = [torch.zeros_like(t) for _ in range(a.nproc)]
    dist.all_gather(out, t)
    if rank == 0:
        results.put([o.tolist() for o in out])
    dist.destroy_process_group()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="cifar-10-batches-bin folder")
    ap.add_argument("--model", default="tinycnn")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128, help="per rank")
    ap.add_argument("--batches", type=int, default=20, help="timed batches per rank")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads per rank")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers per rank")
    ap.add_argument("--augment", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    results = ctx.SimpleQueue()
    mp.spawn(worker, args=(a, port, results), nprocs=a.nproc, join=True)
    rows = results.get()
    per_rank = [r[0] for r in rows]
    samples = sum(r[1] for r in rows)
    epoch_s = max(per_rank)
    print(json.dumps({"impl": "pytorch-python-ddp", "backend": "gloo", "model": a.model,
                      "nproc": a.nproc, "threads_per_rank": a.threads, "batch_size": a.batch_size,
                      "batches": a.batches, "augment": bool(a.augment), "workers": a.workers,
                      "per_rank_s": per_rank, "epoch_s": epoch_s, "samples": samples,
                      "samples_per_s": samples / epoch_s}))


if __name__ == "__main__":
    main()
