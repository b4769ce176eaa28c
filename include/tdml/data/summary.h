#pragma once
// What a data set holds, for `tdml data info` and sanity checks: records and class counts per
// split, and per-channel pixel mean (compare with kCifarMean).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tdml/data/dataset.h"
#include "tdml/data/source.h"

namespace tdml::data {

struct SplitSummary {
  std::int64_t records = 0;
  std::vector<std::int64_t> class_counts;  // num_classes entries
  std::array<double, 3> channel_mean{};    // pixel mean per channel, in [0,1]
};

SplitSummary summarize(const Dataset& d);

// A small table: one line per split with counts per class, then the source.
std::string format_summary(const DataSplits& splits);

}  // namespace tdml::data
