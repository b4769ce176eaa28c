#pragma once
// A client's update as ONE flat float32 tensor: the concatenation, in a fixed order, of a list
// of tensors (a model's parameters, its gradients, or its floating-point buffers such as
// BatchNorm running mean/var). Everything in fl/ (attacks, aggregators, detection) works on
// these flat [d] tensors; FlatLayout converts between a module and them.
//
// Buffers: integer buffers (BatchNorm's num_batches_tracked) are never part of a flat vector;
// they only matter for BatchNorm with momentum = None, which tdml's models do not use.
// FlatLayout holds tensors that share storage with the module: it must not outlive the module.
// Not thread-safe for concurrent assign/add on the same module.
#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace tdml::fl {

class FlatLayout {
 public:
  // `tensors` share storage with their owner (e.g. module.parameters()).
  explicit FlatLayout(std::vector<torch::Tensor> tensors);
  // The module's parameters, in registration order (Module::parameters()).
  static FlatLayout parameters(const torch::nn::Module& m);
  // The module's floating-point buffers, in registration order (integer buffers skipped).
  static FlatLayout float_buffers(const torch::nn::Module& m);

  std::int64_t numel() const { return numel_; }
  std::size_t size() const { return tensors_.size(); }

  // float32 [numel] copy of the current values (on the tensors' device).
  torch::Tensor flatten() const;
  // float32 [numel] copy of the gradients; a tensor without a gradient contributes zeros.
  torch::Tensor flatten_grads() const;
  // Copies `flat` (float [numel]) into the tensors, converting dtype. No autograd recording.
  void assign(const torch::Tensor& flat) const;
  // tensors += alpha * flat (e.g. a server step: add(aggregate, -lr)). No autograd recording.
  void add(const torch::Tensor& flat, double alpha = 1.0) const;

 private:
  void check_flat(const torch::Tensor& flat) const;

  std::vector<torch::Tensor> tensors_;
  std::int64_t numel_ = 0;
};

}  // namespace tdml::fl
