#pragma once
// One round of robust aggregation on the server, in a fixed order:
//   1. reject updates holding NaN/Inf (counted, never averaged in);
//   2. score every remaining update and flag outliers (detection.h), on the raw updates;
//   3. optionally drop the flagged ones (DetectionOptions::exclude_flagged);
//   4. L2-clip each remaining update to clip_norm;
//   5. aggregate with the chosen rule (aggregators.h), on bucket means when bucketing is on;
//      with central DP (dp.h) instead: the clipped updates' sum plus Gaussian noise, divided by
//      the number of sampled clients (clipping to the DP bound C always comes before noise).
// The report says who was rejected, flagged, excluded, clipped and selected, so a round's
// metrics can be written from it. The server holds no model: it turns updates into one update.
// Errors (tdml::Error): no update left after rejection/exclusion, or the rule's precondition
// (krum's n >= 2f + 3, a trimmed mean that trims nothing) fails for the updates that remain.
// RobustServer is immutable after construction; aggregate() is const and thread-safe.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "tdml/fl/aggregators.h"
#include "tdml/fl/clipping.h"
#include "tdml/fl/detection.h"
#include "tdml/fl/dp.h"

namespace tdml::fl {

struct ServerOptions {
  AggregatorOptions aggregator;  // which rule and its parameters
  double clip_norm = 5.0;        // L2 bound on every update (study 5.0); 0 = no clipping
  bool detect = true;            // score and flag clients every round
  DetectionOptions detection;    // flagging thresholds and exclude_flagged
  int bucketing = 1;             // bucket size s before the rule (1 = none; aggregators.h)
  int root_samples = 0;          // fltrust: samples of the server's clean root set
  DpOptions dp;                  // differential privacy (central: here; local: the clients)
  bool central_dp() const { return dp.enabled() && !dp.local; }
  // UsageError for settings no round could run with (checked before any data is loaded).
  void validate() const;
};

// What one aggregation needs besides the updates.
struct AggregationInputs {
  RuleInputs rule;        // previous aggregate (cclip), root update (fltrust)
  std::uint64_t seed = 0;  // this round's seed: the bucket permutation, the DP noise
  int sampled = 0;        // clients sampled this round (central DP's denominator)
  double dp_clip = 0;     // central DP: this round's C (adaptive clipping moves it), 0 = dp.clip
};

// What central DP did in a round.
struct DpRound {
  bool on = false;
  double clip = 0;                // C this round
  double noise_std = 0;           // std of the noise added to the sum
  double unclipped_fraction = 0;  // adaptive: the noised fraction of updates with norm <= C
  double next_clip = 0;           // adaptive: C for the next round (= clip otherwise)
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
  int iterations = 0;               // geometric median / cclip iterations
  int buckets = 0;                  // bucket means the rule ran on (0: no bucketing)
  DpRound dp;                       // central DP this round
};

class RobustServer {
 public:
  explicit RobustServer(ServerOptions opts);
  const ServerOptions& options() const { return opts_; }
  const Aggregator& rule() const { return *rule_; }

  // updates[i]: client i's flat update (float [d], all the same d and device); weights[i]: its
  // sample count (used by the mean). An empty weights vector means equal weights.
  RoundAggregation aggregate(const std::vector<torch::Tensor>& updates,
                             const std::vector<double>& weights = {},
                             const AggregationInputs& in = {}) const;

 private:
  void central_dp(const ClipResult& clip, const AggregationInputs& in, RoundAggregation& r) const;

  ServerOptions opts_;
  std::unique_ptr<Aggregator> rule_;
};

}  // namespace tdml::fl
