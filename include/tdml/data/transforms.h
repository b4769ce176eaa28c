#pragma once
// Batch transforms as tensor ops (never per image): the CIFAR-10 training augmentation
// (random crop 32 with 4-pixel zero padding, horizontal flip) and normalisation.
#include <torch/torch.h>

namespace tdml::data {

// CIFAR-10 channel statistics used everywhere in tdml (and in the study).
constexpr double kCifarMean[3] = {0.4914, 0.4822, 0.4465};
constexpr double kCifarStd[3] = {0.2470, 0.2435, 0.2616};

// uint8 [B,3,H,W] -> float [B,3,H,W]: (x/255 - mean) / std, on x's device.
torch::Tensor normalize(const torch::Tensor& images_u8);

// Random crop with zero padding + random horizontal flip on uint8 [B,3,32,32]; each image gets
// its own offset and flip drawn from `gen`. Same generator state, same output.
torch::Tensor random_crop_flip(const torch::Tensor& images_u8, int padding, bool flip,
                               at::Generator& gen);

}  // namespace tdml::data
