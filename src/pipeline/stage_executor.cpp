#include "tdml/pipeline/stage_executor.h"

#include <algorithm>

#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "util/timer.h"

namespace tdml::pipeline {

StageExecutor::StageExecutor(Stage stage, torch::Device device, train::AmpMode amp)
    : stage_(std::move(stage)), device_(device), amp_(amp) {}

torch::Tensor StageExecutor::forward(int m, const torch::Tensor& input, bool input_needs_grad) {
  TDML_CHECK(!flight_.count(m),
             "stage " << stage_.index() << ": micro-batch " << m << " forwarded twice");
  util::Stopwatch clock;
  Held h;
  h.input = input_needs_grad ? input.detach().requires_grad_(true) : input;
  h.bytes = static_cast<std::int64_t>(h.input.nbytes());
  torch::Tensor x = h.input;
  {
    train::AutocastGuard autocast(amp_, device_.type());
    for (const auto& b : stage_.blocks()) {
      x = b.forward(x);
      h.bytes += static_cast<std::int64_t>(x.nbytes());
    }
  }
  h.output = x;
  held_bytes_ += h.bytes;
  flight_.emplace(m, std::move(h));
  if (device_.is_cuda()) util::synchronize(device_);  // honest busy time
  stats_.busy_s += clock.seconds();
  stats_.micro_batches += 1;
  stats_.max_in_flight = std::max(stats_.max_in_flight, in_flight());
  stats_.peak_activation_bytes = std::max(stats_.peak_activation_bytes, held_bytes_);
  return x;
}

torch::Tensor StageExecutor::backward(int m, const torch::Tensor& grad_output) {
  auto it = flight_.find(m);
  TDML_CHECK(it != flight_.end(),
             "stage " << stage_.index() << ": backward of micro-batch " << m << " before forward");
  return finish(m, it->second.output, grad_output);
}

torch::Tensor StageExecutor::backward_from_loss(int m, const torch::Tensor& loss) {
  TDML_CHECK(flight_.count(m),
             "stage " << stage_.index() << ": backward of micro-batch " << m << " before forward");
  return finish(m, loss, {});
}

torch::Tensor StageExecutor::finish(int m, const torch::Tensor& root_ref,
                                    const torch::Tensor& grad) {
  util::Stopwatch clock;
  const torch::Tensor root = root_ref;  // root_ref may be the entry erased below
  Held h = std::move(flight_.at(m));
  flight_.erase(m);
  held_bytes_ -= h.bytes;
  if (grad.defined()) {
    root.backward(grad.to(root.dtype()));
  } else {
    root.backward();
  }
  torch::Tensor g = h.input.requires_grad() ? h.input.grad() : torch::Tensor();
  if (device_.is_cuda()) util::synchronize(device_);
  stats_.busy_s += clock.seconds();
  return g;
}

}  // namespace tdml::pipeline
