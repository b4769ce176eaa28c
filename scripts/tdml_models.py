"""PyTorch definitions of tdml's models with tdml's state-dict names and shapes.

A checkpoint written by tdml (tdml::models::save_tensors) loads into these with
``load_state_dict(torch.load(path, weights_only=True), strict=True)``, and back.
ResNet50 is torchvision's: ``torchvision.models.resnet50(num_classes=10)``.

    >>> import tdml_models
    >>> model = tdml_models.make_model("smallcifarcnn")
"""
import torch
from torch import nn
import torch.nn.functional as F


def _conv3x3(cin, cout):
    return nn.Conv2d(cin, cout, kernel_size=3, padding=1)


class TinyCNN(nn.Module):
    """conv(3,64)-relu-conv(64,64)-relu-maxpool2-conv(64,128)-relu-avgpool-linear: 113,866."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            _conv3x3(3, 64), nn.ReLU(),
            _conv3x3(64, 64), nn.ReLU(),
            nn.MaxPool2d(2),
            _conv3x3(64, 128), nn.ReLU(),
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _conv_bn_relu(cin, cout):
    return [_conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU()]


class SmallCifarCNN(nn.Module):
    """Six conv3x3+BN+ReLU blocks (32,32,pool,64,64,pool,128,128), avgpool, linear: 289,194."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(3, 32), *_conv_bn_relu(32, 32), nn.MaxPool2d(2),
            *_conv_bn_relu(32, 64), *_conv_bn_relu(64, 64), nn.MaxPool2d(2),
            *_conv_bn_relu(64, 128), *_conv_bn_relu(128, 128),
        )
        self.classifier = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def make_model(name, num_classes=10):
    """The PyTorch twin of tdml::models::make_model (same names, same seeded initialisation)."""
    if name == "tinycnn":
        return TinyCNN(num_classes)
    if name == "smallcifarcnn":
        return SmallCifarCNN(num_classes)
    if name == "resnet50":
        import torchvision
        return torchvision.models.resnet50(num_classes=num_classes)
    raise ValueError(f"unknown model {name!r} (choose one of: tinycnn, smallcifarcnn, resnet50)")


if __name__ == "__main__":
    for n in ("tinycnn", "smallcifarcnn", "resnet50"):
        m = make_model(n)
        print(f"{n:14s} {sum(p.numel() for p in m.parameters()):>12,d} parameters, "
              f"{len(m.state_dict())} state-dict keys")
