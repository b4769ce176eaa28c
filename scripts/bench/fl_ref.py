#!/usr/bin/env python3
"""PyTorch reference for one `tdml fl` round, done the study's way.

The study's federated configuration: 6 clients x 6,000 disjoint random CIFAR-10 samples,
batch 128, gradient mode (each client's average gradient over its whole shard at the global
model), client 0 backdoored (20% of its samples get a 4x4 square of 2.5 in normalised space at
the bottom-right, label 0), every update clipped to L2 norm 5.0, coordinate-wise median, server
step lr 0.3. As the study ran it: a per-image torchvision pipeline in a DataLoader (RandomCrop,
RandomHorizontalFlip, ToTensor, Normalize) and a model rebuilt per client (a fresh model,
then load_state_dict(global)). Prints one JSON line with the round's times.
Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cifar_ref import CifarBin, read_train, transform  # noqa: E402
from tdml_models import make_model  # noqa: E402

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="cifar-10-batches-bin folder")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--per-client", type=int, default=6000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--amp", choices=["off", "bf16"], default="off")
    ap.add_argument("--seed", type=int, default=123)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr, ytr = read_train(a.data)
    full = CifarBin(xtr, ytr, transform(augment=True), with_index=True)
    perm = torch.randperm(len(full), generator=torch.Generator().manual_seed(a.seed))
    shards = [perm[k * a.per_client:(k + 1) * a.per_client].tolist() for k in range(a.clients)]
    poisoned = set(shards[0][i] for i in torch.randperm(a.per_client)[: int(0.2 * a.per_client)])

    global_model = make_model("smallcifarcnn")
    rounds = []
    for rnd in range(1, a.rounds + 1):
        t0 = time.perf_counter()
        grads = []
        for k in range(a.clients):
            model = make_model("smallcifarcnn")  # rebuilt per client, as the study did
            model.load_state_dict(global_model.state_dict())
            model.train()
            model.zero_grad()
            loader = DataLoader(Subset(full, shards[k]), batch_size=a.batch_size, shuffle=False,
                                num_workers=a.workers)
            n = len(shards[k])
            for x, y, idx in loader:
                if k == 0:  # the backdoor client
                    rows = torch.tensor([int(i) in poisoned for i in idx])
                    x[rows, :, -4:, -4:] = 2.5
                    y[rows] = 0
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
                    out = model(x).float()
                (F.cross_entropy(out, y, reduction="sum") / n).backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
        t_clients = time.perf_counter() - t0
        s0 = time.perf_counter()
        g = torch.stack(grads)
        norms = g.norm(dim=1, keepdim=True)
        g = g * torch.clamp(5.0 / (norms + 1e-12), max=1.0)
        agg = g.median(dim=0).values
        with torch.no_grad():
            off = 0
            for p in global_model.parameters():
                p -= 0.3 * agg[off:off + p.numel()].view_as(p)
                off += p.numel()
        t_server = time.perf_counter() - s0
        samples = a.clients * a.per_client
        rounds.append({"round": rnd, "client_s": t_clients, "server_s": t_server,
                       "train_s": t_clients + t_server,
                       "samples_per_s": samples / (t_clients + t_server)})
    print(json.dumps({"impl": "pytorch-python", "amp": a.amp, "threads": a.threads,
                      "workers": a.workers, "clients": a.clients, "per_client": a.per_client,
                      "rounds": rounds}))


if __name__ == "__main__":
    main()
