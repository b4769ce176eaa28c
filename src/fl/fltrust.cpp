// FLTrust (Cao, Fang, Liu and Gong 2021).
#include "tdml/fl/aggregators.h"
#include "tdml/util/error.h"

namespace tdml::fl {

torch::Tensor FLTrust::trust_scores(const torch::Tensor& updates, const torch::Tensor& root) {
  auto x = updates.to(torch::kFloat64);
  auto g = root.to(x.device(), torch::kFloat64);
  const double gn = g.norm().item<double>();
  auto norms = x.norm(2, 1);
  auto cos = torch::matmul(x, g) / (norms * gn).clamp_min(1e-300);
  return cos.clamp_min(0);
}

Aggregate FLTrust::aggregate(const torch::Tensor& updates, const torch::Tensor& weights) const {
  return aggregate_with(updates, weights, {});
}

Aggregate FLTrust::aggregate_with(const torch::Tensor& updates, const torch::Tensor&,
                                  const RuleInputs& in) const {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "fltrust: updates must be float [n, d]");
  const int n = updates.size(0);
  check(n);
  if (!in.root.defined()) {
    throw Error("fltrust: no root update (the server trains on its root set, --root-samples)");
  }
  TDML_CHECK(in.root.numel() == updates.size(1), "fltrust: the root update has "
                                                     << in.root.numel() << " values for updates of "
                                                     << updates.size(1));
  auto x = updates.to(torch::kFloat64);
  auto g = in.root.to(x.device(), torch::kFloat64);
  const double gn = g.norm().item<double>();
  auto ts = trust_scores(updates, in.root);
  std::vector<int> trusted;
  auto tsc = ts.cpu();
  for (int i = 0; i < n; ++i) {
    if (tsc[i].item<double>() > 0) trusted.push_back(i);
  }
  const double total = tsc.sum().item<double>();
  if (total <= 0) return {torch::zeros_like(updates[0]), trusted, 0};
  auto scaled = x * (gn / x.norm(2, 1).clamp_min(1e-300)).unsqueeze(1);
  auto out = torch::matmul(ts, scaled) / total;
  return {out.to(updates.scalar_type()), trusted, 0};
}

}  // namespace tdml::fl
