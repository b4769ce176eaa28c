#pragma once
// An image-classification data set held in memory: the whole CIFAR-10 split is 150 MB as
// uint8, so tdml loads it once and does all augmentation on batches as tensor ops.
#include <torch/torch.h>

#include <string>

namespace tdml::data {

enum class Split { kTrain, kTest };

struct Dataset {
  torch::Tensor images;  // uint8 [N, 3, 32, 32], CPU, contiguous
  torch::Tensor labels;  // int64 [N], CPU, values 0..num_classes-1
  int num_classes = 10;
  std::string source;  // where it came from ("/path/to/cifar-10-batches-bin", "synthetic")
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }

  // Rows `index` (int64 [K]) as a new Dataset (copies).
  Dataset subset(const torch::Tensor& index) const;
};

}  // namespace tdml::data
