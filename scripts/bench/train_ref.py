#!/usr/bin/env python3
"""PyTorch reference for `tdml train`: the study's recipe in plain PyTorch (Python).

Same model definitions as tdml (scripts/tdml_models.py), the same CIFAR-10 binary files, a
torchvision-style per-image pipeline (RandomCrop(32, 4), RandomHorizontalFlip, ToTensor,
Normalize) in a DataLoader with 2 workers, as the study ran it. Prints one JSON line:
{"end_to_end_img_s", "epoch_s", "test_acc", "in_memory_img_s", ...}.
Run with Debian's /usr/bin/python3 (python3-torch, python3-torchvision).
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cifar_ref import CifarBin, read_test, read_train, transform  # noqa: E402
from tdml_models import make_model  # noqa: E402

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True, help="cifar-10-batches-bin folder")
    ap.add_argument("--model", default="smallcifarcnn")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--limit-train-batches", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--amp", choices=["off", "bf16"], default="off")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--in-memory-iters", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    d = a.data
    xtr, ytr = read_train(d)
    xte, yte = read_test(d)
    train_tf, test_tf = transform(augment=True), transform(augment=False)
    train = DataLoader(CifarBin(xtr, ytr, train_tf), batch_size=a.batch_size, shuffle=True,
                       num_workers=a.workers, drop_last=False, persistent_workers=a.workers > 0)
    test = DataLoader(CifarBin(xte, yte, test_tf), batch_size=500, num_workers=a.workers)
    model = make_model(a.model)
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=mf)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
            loss = F.cross_entropy(model(x.contiguous(memory_format=mf)).float(), y)
        loss.backward()
        opt.step()
        return loss

    # In-memory step throughput (no data pipeline), same model and optimiser.
    xb = torch.randn(a.batch_size, 3, 32, 32)
    yb = torch.randint(0, 10, (a.batch_size,))
    model.train()
    for _ in range(3):
        step(xb, yb)
    t0 = time.perf_counter()
    for _ in range(a.in_memory_iters):
        step(xb, yb)
    in_mem = a.batch_size * a.in_memory_iters / (time.perf_counter() - t0)

    # End-to-end epoch.
    torch.manual_seed(a.seed)
    model = make_model(a.model).to(memory_format=mf)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    seen = 0
    t0 = time.perf_counter()
    for i, (x, y) in enumerate(train):
        if a.limit_train_batches and i >= a.limit_train_batches:
            break
        step(x, y)
        seen += len(y)
    epoch_s = time.perf_counter() - t0
    model.eval()
    correct = total = 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.amp == "bf16"):
        for x, y in test:
            correct += (model(x.contiguous(memory_format=mf)).argmax(1) == y).sum().item()
            total += len(y)
    print(json.dumps({"impl": "pytorch-python", "model": a.model, "amp": a.amp,
                      "channels_last": a.channels_last, "threads": a.threads,
                      "samples": seen, "epoch_s": epoch_s, "end_to_end_img_s": seen / epoch_s,
                      "in_memory_img_s": in_mem, "test_acc": correct / total}))


if __name__ == "__main__":
    main()
