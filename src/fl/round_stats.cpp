#include "tdml/fl/round_stats.h"

#include "tdml/util/error.h"

namespace tdml::fl {

UpdateStats update_stats(const torch::Tensor& update) {
  return row_stats(update.reshape({1, -1}))[0];
}

std::vector<UpdateStats> row_stats(const torch::Tensor& updates) {
  TDML_CHECK(updates.defined() && updates.dim() == 2, "row stats: updates must be float [n, d]");
  auto x = updates.to(torch::kFloat64);
  auto m = x.mean(1).cpu(), s = x.std(1, /*unbiased=*/true).cpu(), nm = x.norm(2, 1).cpu();
  std::vector<UpdateStats> out(updates.size(0));
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = {m[i].item<double>(), s[i].item<double>(), nm[i].item<double>()};
  }
  return out;
}

double aggregate_variance(const torch::Tensor& aggregate) {
  TDML_CHECK(aggregate.defined() && aggregate.numel() > 1, "aggregate variance: need >= 2 values");
  return aggregate.to(torch::kFloat64).var(/*unbiased=*/true).item<double>();
}

CommBytes round_communication(int senders, int receivers, std::int64_t elements,
                              int bytes_per_element) {
  return {static_cast<std::int64_t>(senders) * elements * bytes_per_element,
          static_cast<std::int64_t>(receivers) * elements * bytes_per_element};
}

}  // namespace tdml::fl
