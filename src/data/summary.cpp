#include "tdml/data/summary.h"

#include <cstdio>

namespace tdml::data {

SplitSummary summarize(const Dataset& d) {
  SplitSummary s;
  s.records = d.size();
  s.class_counts.assign(static_cast<std::size_t>(d.num_classes), 0);
  if (s.records == 0) return s;
  auto counts = torch::bincount(d.labels, {}, d.num_classes);
  for (int k = 0; k < d.num_classes; ++k) s.class_counts[k] = counts[k].item<std::int64_t>();
  // Integer sums are exact and avoid a float copy of the whole set.
  auto sums = d.images.sum({0, 2, 3}, /*keepdim=*/false, torch::kInt64);
  const double per_channel = static_cast<double>(d.images.numel() / 3) * 255.0;
  for (int c = 0; c < 3; ++c) s.channel_mean[c] = sums[c].item<std::int64_t>() / per_channel;
  return s;
}

std::string format_summary(const DataSplits& splits) {
  std::string out = "data: " + splits.description + "\n";
  char line[256];
  std::snprintf(line, sizeof(line), "%-6s %8s  %-30s  %s\n", "split", "records",
                "channel mean (R G B)", "records per class 0..9");
  out += line;
  for (const auto* entry : {&splits.train, &splits.test}) {
    SplitSummary s = summarize(*entry);
    std::snprintf(line, sizeof(line), "%-6s %8lld  %.4f %.4f %.4f           ",
                  entry == &splits.train ? "train" : "test", static_cast<long long>(s.records),
                  s.channel_mean[0], s.channel_mean[1], s.channel_mean[2]);
    out += line;
    for (auto c : s.class_counts) out += " " + std::to_string(c);
    out += "\n";
  }
  return out;
}

}  // namespace tdml::data
