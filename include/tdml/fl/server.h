#pragma once
// One round of robust aggregation on the server, in a fixed order:
//   1. reject updates holding NaN/Inf (counted, never averaged in);
//   2. score every remaining update and flag outliers (detection.h), on the raw updates;
//   3. optionally drop the flagged ones (DetectionOptions::exclude_flagged);
//   4. L2-clip each remaining update to clip_norm;
//   5. aggregate with the chosen rule (aggregators.h).
// The report says who was rejected, flagged, excluded, clipped and selected, so a round's
// metrics can be written from it. The server holds no model: it turns updates into one update.
// Errors (tdml::Error): no update left after rejection/exclusion, or the rule's precondition
// (krum's n >= 2f + 3, a trimmed mean that trims nothing) fails for the updates that remain.
// RobustServer is immutable after construction; aggregate() is const and thread-safe.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "tdml/fl/aggregators.h"
#include "tdml/fl/detection.h"

namespace tdml::fl {

struct ServerOptions {
  AggregatorOptions aggregator;  // which rule and its parameters
  double clip_norm = 5.0;        // L2 bound on every update (study 5.0); 0 = no clipping
  bool detect = true;            // score and flag clients every round
  DetectionOptions detection;    // flagging thresholds and exclude_flagged
};

struct RoundAggregation {
  torch::Tensor update;             // the aggregated update, float [d]
  std::vector<int> rejected;        // clients whose update held NaN/Inf
  std::vector<int> flagged;         // clients flagged by detection
  std::vector<int> excluded;        // flagged clients dropped before aggregation
  std::vector<int> aggregated;      // clients that entered the rule (after rejection/exclusion)
  std::vector<int> selected;        // clients the rule built its result from (krum's picks)
  std::vector<int> clipped;         // clients whose update was scaled down by clipping
  double clip_ratio = 0;            // clipped / aggregated
  std::vector<double> norms;        // per client (all of them), L2 before clipping; NaN if rejected
  std::vector<ClientScore> scores;  // per non-rejected client (empty when detect is off)
  int iterations = 0;               // geometric median iterations
};

class RobustServer {
 public:
  explicit RobustServer(ServerOptions opts);
  const ServerOptions& options() const { return opts_; }
  const Aggregator& rule() const { return *rule_; }

  // updates[i]: client i's flat update (float [d], all the same d and device); weights[i]: its
  // sample count (used by the mean). An empty weights vector means equal weights.
  RoundAggregation aggregate(const std::vector<torch::Tensor>& updates,
                             const std::vector<double>& weights = {}) const;

 private:
  ServerOptions opts_;
  std::unique_ptr<Aggregator> rule_;
};

}  // namespace tdml::fl
