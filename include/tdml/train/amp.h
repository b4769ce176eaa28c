#pragma once
// Mixed precision. LibTorch has no C++ autocast guard or GradScaler: these are tdml's.
#include <torch/torch.h>

#include <string>
#include <utility>

namespace tdml::train {

enum class AmpMode { kOff, kBf16, kFp16 };

// "off" | "bf16" | "fp16" (fp16 needs a CUDA device: UsageError otherwise).
AmpMode parse_amp(const std::string& s, const torch::Device& device);
const char* amp_name(AmpMode m);

// Enables autocast for the device type for the guard's lifetime (nestable). kOff: no-op.
class AutocastGuard {
 public:
  AutocastGuard(AmpMode mode, torch::DeviceType device);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType device_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kFloat;
};

// Dynamic loss scaling for fp16 (PyTorch's GradScaler defaults: scale 2^16, growth 2.0,
// backoff 0.5, interval 2000). Only active on CUDA builds with mode kFp16; otherwise scale()
// returns the loss unchanged and step() is optimizer.step().
class GradScaler {
 public:
  explicit GradScaler(bool enabled, torch::Device device);
  torch::Tensor scale(const torch::Tensor& loss);
  // Unscales gradients; steps unless an inf/NaN was found; updates the scale.
  // Returns false when the step was skipped.
  bool step(torch::optim::Optimizer& opt);
  double current_scale() const;
  bool enabled() const { return enabled_; }
  // The scale and the growth tracker (for checkpoints); both undefined when disabled.
  std::pair<torch::Tensor, torch::Tensor> state() const { return {scale_, growth_tracker_}; }
  // Restores what state() returned (copied onto this scaler's device).
  void load_state(const torch::Tensor& scale, const torch::Tensor& growth_tracker);

 private:
  bool enabled_;
  torch::Tensor scale_;            // float [1] on the device
  torch::Tensor growth_tracker_;   // int [1] on the device
};

}  // namespace tdml::train
