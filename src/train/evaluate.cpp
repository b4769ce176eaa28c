#include "tdml/train/evaluate.h"

#include "tdml/data/transforms.h"

namespace tdml::train {

nlohmann::json EvalResult::to_json() const {
  nlohmann::json cm = nlohmann::json::array();
  if (confusion.defined()) {
    auto c = confusion.accessor<std::int64_t, 2>();
    for (int i = 0; i < c.size(0); ++i) {
      nlohmann::json row = nlohmann::json::array();
      for (int j = 0; j < c.size(1); ++j) row.push_back(c[i][j]);
      cm.push_back(row);
    }
  }
  return {{"loss", loss}, {"accuracy", accuracy}, {"samples", samples}, {"confusion_matrix", cm}};
}

namespace {
torch::Tensor prepare(const torch::Tensor& images_u8, const EvalOptions& opts) {
  auto x = data::normalize(images_u8.to(opts.device, /*non_blocking=*/true));
  if (opts.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  return x;
}
}  // namespace

EvalResult evaluate(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                    const data::Dataset& data, const EvalOptions& opts) {
  torch::NoGradGuard no_grad;
  const int C = data.num_classes;
  auto rows = torch::arange(opts.rank, data.size(), opts.world, torch::kLong);
  std::int64_t n = rows.size(0);
  if (opts.limit_batches > 0) n = std::min(n, opts.limit_batches * opts.batch_size);
  auto confusion = torch::zeros({C * C}, torch::kLong);
  double loss_sum = 0;
  for (std::int64_t start = 0; start < n; start += opts.batch_size) {
    auto idx = rows.slice(0, start, std::min(n, start + opts.batch_size));
    auto x = prepare(data.images.index_select(0, idx), opts);
    auto y = data.labels.index_select(0, idx);
    torch::Tensor logits;
    {
      AutocastGuard autocast(opts.amp, opts.device.type());
      logits = forward(x);
    }
    logits = logits.to(torch::kCPU, torch::kFloat);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    auto pred = logits.argmax(1);
    confusion.index_add_(0, y * C + pred, torch::ones_like(y));
  }
  auto totals = torch::cat({confusion.to(torch::kDouble), torch::tensor({loss_sum, double(n)}, torch::kDouble)});
  if (opts.all_reduce_sum) opts.all_reduce_sum(totals);
  EvalResult r;
  r.confusion = totals.slice(0, 0, C * C).round().to(torch::kLong).view({C, C});
  r.samples = static_cast<std::int64_t>(totals[C * C + 1].item<double>());
  r.loss = r.samples ? totals[C * C].item<double>() / r.samples : 0.0;
  r.accuracy = r.samples ? r.confusion.diag().sum().item<double>() / r.samples : 0.0;
  return r;
}

torch::Tensor predict_first(const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                            const data::Dataset& data, std::int64_t n, const EvalOptions& opts) {
  torch::NoGradGuard no_grad;
  n = std::min(n, data.size());
  auto x = prepare(data.images.slice(0, 0, n), opts);
  AutocastGuard autocast(opts.amp, opts.device.type());
  return forward(x).argmax(1).to(torch::kCPU);
}

}  // namespace tdml::train
