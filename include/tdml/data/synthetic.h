#pragma once
// A deterministic synthetic CIFAR-shaped data set whose classes are learnable: each class has
// its own colour/frequency pattern plus noise. For tests and offline demos; always labelled
// "synthetic" in metrics.
#include <cstdint>
#include <string>

#include "tdml/data/dataset.h"

namespace tdml::data {

struct SynthOptions {
  std::int64_t train_size = 5000;  // records in the train split (split over 5 batch files)
  std::int64_t test_size = 1000;   // records in test_batch.bin
  std::uint64_t seed = 0;          // same seed, same bytes
  double noise = 0.35;             // 0: trivially separable; 1: mostly noise
};

// In memory, n images of one split (train and test differ but share the class patterns).
Dataset make_synthetic(std::int64_t n, Split split, const SynthOptions& opts = {});

// Writes DIR/cifar-10-batches-bin/ in the official layout (+ batches.meta.txt).
// Returns the batches folder.
std::string write_synthetic_cifar10(const std::string& dir, const SynthOptions& opts = {});

}  // namespace tdml::data
