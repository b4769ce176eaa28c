#!/usr/bin/python3
"""Reference input pipeline (the study's): torchvision per-image transforms in a PyTorch
DataLoader with worker processes, over the same CIFAR-10 binary files tdml reads.
Prints one line: "python pipeline: N images in T s = R img/s (batch B, workers W)"."""
import argparse
import os
import time

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


class Cifar10Bin(Dataset):
    """Train split from data_batch_1..5.bin, held as HWC uint8 like torchvision's CIFAR10."""

    def __init__(self, root, transform):
        if os.path.isdir(os.path.join(root, "cifar-10-batches-bin")):
            root = os.path.join(root, "cifar-10-batches-bin")
        raw = np.concatenate([np.fromfile(os.path.join(root, f"data_batch_{i}.bin"), np.uint8)
                              for i in range(1, 6)]).reshape(-1, 3073)
        self.labels = raw[:, 0].astype(np.int64)
        self.images = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
        self.transform = transform

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/tmp/cifar10")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--warmup-batches", type=int, default=5)
    a = ap.parse_args()
    tf = transforms.Compose([transforms.RandomCrop(32, padding=4),
                             transforms.RandomHorizontalFlip(), transforms.ToTensor(),
                             transforms.Normalize(MEAN, STD)])
    loader = DataLoader(Cifar10Bin(a.data, tf), batch_size=a.batch_size, shuffle=True,
                        num_workers=a.workers, persistent_workers=a.workers > 0)
    images, start, checksum = 0, None, 0.0
    for k, (x, _) in enumerate(loader):
        checksum += float(x[0, 0, 0, 0])
        if k + 1 == a.warmup_batches:
            start = time.perf_counter()
        elif k + 1 > a.warmup_batches:
            images += x.shape[0]
    secs = time.perf_counter() - start
    print(f"python pipeline: {images} images in {secs:.3f} s = {images / secs:.0f} img/s "
          f"(batch {a.batch_size}, workers {a.workers})")


if __name__ == "__main__":
    main()
