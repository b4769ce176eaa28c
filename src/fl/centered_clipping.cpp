// Centered clipping (Karimireddy, He and Jaggi 2021).
#include "tdml/fl/aggregators.h"
#include "tdml/util/error.h"

namespace tdml::fl {

CenteredClipping::CenteredClipping(double tau, int iterations)
    : tau_(tau), iterations_(iterations) {
  if (!(tau > 0)) throw UsageError("cclip: --cclip-tau must be > 0");
  if (iterations < 1) throw UsageError("cclip: --cclip-iters must be >= 1");
}

Aggregate CenteredClipping::aggregate(const torch::Tensor& updates,
                                      const torch::Tensor& weights) const {
  return aggregate_with(updates, weights, {});
}

Aggregate CenteredClipping::aggregate_with(const torch::Tensor& updates, const torch::Tensor&,
                                           const RuleInputs& in) const {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "cclip: updates must be float [n, d]");
  const int n = updates.size(0);
  check(n);
  auto x = updates.to(torch::kFloat64);
  auto v = in.previous.defined() ? in.previous.to(x.device(), torch::kFloat64).clone()
                                 : torch::zeros({x.size(1)}, x.options());
  TDML_CHECK(v.numel() == x.size(1), "cclip: the previous aggregate has " << v.numel()
                                         << " values for updates of " << x.size(1));
  for (int it = 0; it < iterations_; ++it) {
    auto diff = x - v.unsqueeze(0);
    auto scale = (tau_ / diff.norm(2, 1).clamp_min(1e-12)).clamp_max(1.0);
    v = v + (diff * scale.unsqueeze(1)).mean(0);
  }
  std::vector<int> rows(n);
  for (int i = 0; i < n; ++i) rows[i] = i;
  return {v.to(updates.scalar_type()), rows, iterations_};
}

}  // namespace tdml::fl
