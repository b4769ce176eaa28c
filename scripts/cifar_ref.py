"""The CIFAR-10 side shared by the PyTorch reference scripts (scripts/bench/*_ref.py): the
official binary files read into numpy, and the study's per-image torchvision pipeline in a
Dataset. One definition, so every reference feeds its model the same way.
Needs Debian's python3-torch, python3-torchvision (and numpy, PIL)."""
import numpy as np
import torchvision.transforms as T
from PIL import Image
from torch.utils.data import Dataset

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def read_bins(files):
    """uint8 images [N, 3, 32, 32] and int64 labels [N] from CIFAR-10 binary batch files."""
    raw = np.concatenate([np.fromfile(f, dtype=np.uint8) for f in files]).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def read_train(folder):
    return read_bins([f"{folder}/data_batch_{i}.bin" for i in range(1, 6)])


def read_test(folder):
    return read_bins([f"{folder}/test_batch.bin"])


def transform(augment):
    """The study's pipeline: [RandomCrop(32, 4), RandomHorizontalFlip,] ToTensor, Normalize."""
    aug = [T.RandomCrop(32, padding=4), T.RandomHorizontalFlip()] if augment else []
    return T.Compose(aug + [T.ToTensor(), T.Normalize(MEAN, STD)])


class CifarBin(Dataset):
    """Per-image samples (transform(image), label), plus the row index when with_index."""

    def __init__(self, images, labels, transform, with_index=False):
        self.images, self.labels, self.transform = images, labels, transform
        self.with_index = with_index

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = Image.fromarray(self.images[i].transpose(1, 2, 0))
        if self.with_index:
            return self.transform(img), int(self.labels[i]), i
        return self.transform(img), int(self.labels[i])
