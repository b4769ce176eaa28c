#pragma once
// The aggregation-cost benchmark behind `tdml bench aggregate` (issue #18): the time of one
// call of every aggregation rule (aggregators.h) on n random float32 updates of a model's size
// d, for each n and model asked for. scripts/bench/aggregate_ref.py times the rules Flower has
// in NumPy the same way, on the layer shapes this benchmark records.
//
// Method: one untimed warm-up call, then `repeats` timed calls; the median and the minimum are
// reported. The rows are random normals (a rule's time barely depends on the values), the
// weights are 1, and cclip's previous aggregate and fltrust's root update are random [d]
// vectors. A cell whose memory (the [n, d] updates plus what the rule allocates on top,
// aggregation_extra_bytes) would exceed max_gib is skipped with the reason; so is one the rule
// refuses (Aggregator::check). Runs on the CPU in the calling thread; not thread-safe (it sets
// torch's intra-op thread count).
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tdml/fl/aggregators.h"

namespace tdml::fl {

struct AggregationBenchOptions {
  std::vector<int> clients = {10, 100, 1000};                       // n values, each >= 1
  std::vector<std::string> models = {"smallcifarcnn", "resnet50"};  // models::make_model names
  std::vector<std::string> rules;  // aggregator_names() entries; empty = all of them
  int repeats = 3;                 // timed calls per cell (after one warm-up), >= 1
  double max_gib = 8;              // memory bound per cell (updates + the rule's own), GiB
  int threads = 0;                 // intra-op threads (0 = all cores)
  std::uint64_t seed = 0;          // of the random updates
};

// A model's parameters as the benchmark (and the NumPy reference) lays them out.
struct ModelLayout {
  struct Layer {
    std::string name;                 // "features.0.weight"
    std::vector<std::int64_t> shape;  // [16, 3, 3, 3]
  };
  std::string model;
  std::int64_t d = 0;  // parameter count: the length of one flat update
  std::vector<Layer> layers;
};

// One (model, n, rule) measurement, or the reason it was skipped.
struct AggregationCell {
  std::string model;
  std::string rule;
  int n = 0;
  std::int64_t d = 0;
  int f = -1;                        // krum, multi-krum, bulyan: bench_byzantine(n); else -1
  std::int64_t estimated_bytes = 0;  // updates + aggregation_extra_bytes
  std::string skipped;               // why it was not measured; empty when it was
  std::vector<double> times_ms;      // the timed calls, in order
  double median_ms = 0;
  double min_ms = 0;
  std::int64_t peak_extra_bytes = -1;  // measured peak RSS above the cell's start; -1 unknown
  int iterations = 0;                  // what Aggregate::iterations said (geomed, cclip)
  bool measured() const { return skipped.empty(); }
};

// How time grows with n for one rule and model: the least-squares slope of log(time) against
// log(n) over the measured cells, and the ratios between consecutive measured n.
struct GrowthFit {
  struct Step {
    int from_n = 0;
    int to_n = 0;
    double time_ratio = 0;  // time(to_n) / time(from_n)
  };
  int points = 0;                  // cells used
  std::optional<double> exponent;  // none with fewer than 2 distinct n
  std::vector<Step> steps;
};

// Progress for a long run: `started` before a cell runs (not for skipped ones), `finished`
// after every cell, measured or skipped. index counts from 0 up to total - 1.
struct AggregationBenchHooks {
  std::function<void(const AggregationCell&, int index, int total)> started;
  std::function<void(const AggregationCell&, int index, int total)> finished;
};

// The Byzantine count the benchmark gives krum, multi-krum and bulyan for n updates:
// max(0, (n - 3) / 4), the largest f with n >= 4f + 3 (bulyan's condition, so one f serves all
// three).
int bench_byzantine(int n);

// The options each rule is built with for n updates (trim 0.2; f as above; multi-krum m = n - f;
// geomed and cclip defaults).
AggregatorOptions bench_rule_options(const std::string& rule, int n);

// Bytes rule allocates on top of the [n, d] float32 updates it is given (its sorted copies,
// float64 conversions, distance matrix), an upper estimate from the implementations in src/fl;
// the benchmark records the measured peak next to it. Unknown rule: tdml::UsageError.
std::int64_t aggregation_extra_bytes(const std::string& rule, int n, std::int64_t d);

// The layout of a model's trainable parameters (models::make_model, in named_parameters order).
ModelLayout model_layout(const std::string& model);

// The growth fit of time_ms over n (same length; entries with time <= 0 are ignored).
GrowthFit fit_growth(const std::vector<int>& n, const std::vector<double>& time_ms);

// Throws tdml::UsageError for bad options: unknown model or rule, no or a non-positive n,
// repeats < 1, max_gib <= 0 (run_aggregation_bench calls it first).
void check_aggregation_bench_options(const AggregationBenchOptions& options);

// Runs every (model, n, rule) cell in that order (models outer, rules inner; one set of random
// updates per model and n).
std::vector<AggregationCell> run_aggregation_bench(const AggregationBenchOptions& options,
                                                   const AggregationBenchHooks& hooks = {});

// JSON of the pieces, as metrics.json of `tdml bench aggregate` holds them:
//   settings: the options, the threads used and how each rule was configured ("notes")
//   models:   [{"model","d","layers":[{"name","shape"}]}]
//   cells:    [{"model","rule","n","d","f","estimated_bytes","status":"measured"|"skipped",
//               "reason","times_ms","median_ms","min_ms","ms_per_client","ms_per_mcoord",
//               "peak_extra_bytes","iterations"}]
//   growth:   [{"rule","model","points","exponent","steps":[{"from_n","to_n","n_ratio",
//               "time_ratio"}]}]
nlohmann::json aggregation_settings_json(const AggregationBenchOptions& options);
nlohmann::json layout_json(const ModelLayout& layout);
nlohmann::json cell_json(const AggregationCell& cell);
nlohmann::json growth_json(const std::vector<AggregationCell>& cells);

// One line saying how krum, multi-krum, bulyan and trimmed-mean are configured (printed by the
// command and stored in settings.notes).
std::string aggregation_bench_note();

}  // namespace tdml::fl
