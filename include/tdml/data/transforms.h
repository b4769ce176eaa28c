#pragma once
// The CIFAR-10 training augmentation (random crop 32 with 4-pixel zero padding, horizontal
// flip) and normalisation. On the CPU both run as one plain pass over the bytes
// (gather_images), never through ATen's parallel kernels: the loader calls them from its
// worker threads, and an ATen parallel op there starts a second OpenMP team. libgomp then sees
// more threads than cores and stops spin-waiting, so the training thread's team sleeps and
// wakes through the kernel on every parallel region (tdml train at batch 32 on 2 cores lost
// about 20% of its epoch time that way).
#include <torch/torch.h>

#include <optional>

namespace tdml::data {

// CIFAR-10 channel statistics used everywhere in tdml (and in the study).
constexpr double kCifarMean[3] = {0.4914, 0.4822, 0.4465};
constexpr double kCifarStd[3] = {0.2470, 0.2435, 0.2616};

// Each image's crop offset (0..2*padding, in the padded image) and flip, drawn for a batch.
struct CropFlip {
  int padding = 4;
  torch::Tensor dy, dx, flip;  // int64 [B]
};

// Draw order (part of the determinism contract): row offsets, column offsets, flips.
CropFlip draw_crop_flip(std::int64_t batch, int padding, bool flip, at::Generator& gen);

struct GatherOptions {
  bool normalize = false;      // float (x/255 - mean)/std instead of uint8
  bool channels_last = false;  // NHWC memory format
  bool pinned = false;         // page-locked output (for an asynchronous copy to CUDA)
};

// images_u8[index] (uint8 [N,3,H,W], CPU), each cropped and flipped as `aug` says, written in
// one pass on the calling thread.
torch::Tensor gather_images(const torch::Tensor& images_u8, const torch::Tensor& index,
                            const std::optional<CropFlip>& aug, const GatherOptions& opts);

// uint8 [B,3,H,W] -> float [B,3,H,W]: (x/255 - mean) / std, on x's device.
torch::Tensor normalize(const torch::Tensor& images_u8);

// Random crop with zero padding + random horizontal flip on uint8 [B,3,32,32] (CPU); each
// image gets its own offset and flip drawn from `gen`. Same generator state, same output.
torch::Tensor random_crop_flip(const torch::Tensor& images_u8, int padding, bool flip,
                               at::Generator& gen);

}  // namespace tdml::data
