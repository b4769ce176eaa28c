// The aggregation-cost benchmark (`tdml bench aggregate`). Helpers carry an `agg_bench_` prefix:
// fl's sources are compiled in unity batches, where anonymous namespaces are shared.
#include "tdml/fl/aggregation_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "tdml/models/model.h"
#include "tdml/util/allocator.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/system.h"
#include "util/timer.h"

namespace tdml::fl {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
constexpr double kTrim = 0.2;

bool agg_bench_uses_f(const std::string& rule) {
  return rule == "krum" || rule == "multi-krum" || rule == "bulyan";
}

std::vector<std::string> agg_bench_rules(const AggregationBenchOptions& o) {
  return o.rules.empty() ? aggregator_names() : o.rules;
}

std::string agg_bench_gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / kGiB);
  return buf;
}

double agg_bench_median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const auto k = v.size();
  return k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]);
}

// Why a cell cannot run, or "" when it can.
std::string agg_bench_skip_reason(const Aggregator& agg, const AggregationCell& c, double max_gib) {
  try {
    agg.check(c.n);
  } catch (const Error& e) {
    return std::string("the rule refuses n = ") + std::to_string(c.n) + ": " + e.what();
  }
  const double updates = 4.0 * c.n * c.d;
  if (c.estimated_bytes > max_gib * kGiB) {
    return "needs about " + agg_bench_gib(c.estimated_bytes) + " (updates " +
           agg_bench_gib(updates) + " + the rule's " + agg_bench_gib(c.estimated_bytes - updates) +
           ") > --max-gib " + agg_bench_gib(max_gib * kGiB);
  }
  return "";
}

// One warm-up, then `repeats` timed calls; the peak resident memory above the start.
void agg_bench_measure(const Aggregator& agg, const torch::Tensor& updates,
                       const torch::Tensor& weights, const RuleInputs& in, int repeats,
                       AggregationCell& c) {
  const torch::Device cpu(torch::kCPU);
  util::release_free_memory();  // so that the resident size is what is in use
  util::reset_peak_memory(cpu);
  const std::int64_t base = util::current_rss_bytes();
  c.iterations = agg.aggregate_with(updates, weights, in).iterations;
  for (int r = 0; r < repeats; ++r) {
    util::Stopwatch sw;
    agg.aggregate_with(updates, weights, in);
    c.times_ms.push_back(sw.seconds() * 1e3);
  }
  c.median_ms = agg_bench_median(c.times_ms);
  c.min_ms = *std::min_element(c.times_ms.begin(), c.times_ms.end());
  if (std::string(util::peak_memory_kind(cpu)) == "peak_rss" && base > 0) {
    c.peak_extra_bytes = std::max<std::int64_t>(0, util::peak_memory_bytes(cpu) - base);
  }
}

}  // namespace

void check_aggregation_bench_options(const AggregationBenchOptions& o) {
  if (o.clients.empty()) throw UsageError("bench aggregate: --clients is empty");
  for (int n : o.clients) {
    if (n < 1)
      throw UsageError("bench aggregate: --clients values must be >= 1, got " + std::to_string(n));
  }
  if (o.models.empty()) throw UsageError("bench aggregate: --model is empty");
  if (o.repeats < 1) throw UsageError("bench aggregate: --repeats must be >= 1");
  if (!(o.max_gib > 0)) throw UsageError("bench aggregate: --max-gib must be > 0");
  const auto known = aggregator_names();
  for (const auto& r : agg_bench_rules(o)) {
    if (std::find(known.begin(), known.end(), r) == known.end()) {
      make_aggregator(AggregatorOptions{r});  // throws the factory's error, listing the choices
    }
  }
  const auto models = models::list_models();
  for (const auto& m : o.models) {
    const bool found = std::any_of(models.begin(), models.end(),
                                   [&](const models::ModelInfo& i) { return i.name == m; });
    if (!found) models::make_model(m);  // throws, listing the choices
  }
}

int bench_byzantine(int n) { return std::max(0, (n - 3) / 4); }

AggregatorOptions bench_rule_options(const std::string& rule, int n) {
  AggregatorOptions o;
  o.rule = rule;
  o.trim = kTrim;
  o.f = bench_byzantine(n);
  o.multi_krum_m = 0;  // n - f
  return o;
}

std::int64_t aggregation_extra_bytes(const std::string& rule, int n, std::int64_t d) {
  // In units of the float32 updates (B = 4nd), from what each implementation allocates, checked
  // against the peak resident memory measured on SmallCifarCNN at n = 5..30.
  const double B = 4.0 * n * d, vec = 8.0 * d;
  const int f = bench_byzantine(n);
  const double theta = n - 2.0 * f, beta = theta - 2.0 * f;
  const double gram = 3.0 * 8 * n * n + 2.0 * 8 * n * (1 << 16);  // Gram, distances; one block
  double extra = 0;
  if (rule == "mean") {
    extra = 2 * vec;
  } else if (rule == "median") {
    extra = 3 * B + 3 * vec;  // kthvalue: measured 3.1 B (its working copies)
  } else if (rule == "trimmed-mean") {
    extra = 3 * B + 2 * vec;  // sort: float values + int64 indices
  } else if (rule == "krum" || rule == "multi-krum") {
    extra = B + gram + vec;  // the picked rows (index_select), then their mean
  } else if (rule == "geomed") {
    extra = 4 * B + 4 * vec;  // float64 copy + the float64 differences
  } else if (rule == "bulyan") {
    // theta picked rows, their kthvalue copy, |sel - median| (two), topk values + indices.
    extra = 4.0 * 4 * theta * d + 16.0 * beta * d + gram + 2 * vec;
  } else if (rule == "cclip") {
    extra = 8 * B + 8 * vec;  // float64 copy, differences, clipped ones, the mean's: 8.2 B measured
  } else if (rule == "fltrust") {
    extra = 4 * B + 4 * vec;  // float64 copy + the trust scores' own / the rescaled rows
  } else {
    make_aggregator(AggregatorOptions{rule});  // throws, listing the choices
  }
  return static_cast<std::int64_t>(extra);
}

ModelLayout model_layout(const std::string& model) {
  auto m = models::make_model(model);
  ModelLayout l;
  l.model = model;
  for (const auto& p : m->named_parameters(/*recurse=*/true)) {
    if (!p.value().requires_grad()) continue;
    l.layers.push_back({p.key(), p.value().sizes().vec()});
    l.d += p.value().numel();
  }
  return l;
}

GrowthFit fit_growth(const std::vector<int>& n, const std::vector<double>& time_ms) {
  TDML_CHECK(n.size() == time_ms.size(),
             "fit_growth: " << n.size() << " n for " << time_ms.size() << " times");
  std::vector<std::pair<int, double>> pts;
  for (std::size_t i = 0; i < n.size(); ++i) {
    if (n[i] > 0 && time_ms[i] > 0) pts.emplace_back(n[i], time_ms[i]);
  }
  std::sort(pts.begin(), pts.end());
  GrowthFit g;
  g.points = static_cast<int>(pts.size());
  for (std::size_t i = 1; i < pts.size(); ++i) {
    g.steps.push_back({pts[i - 1].first, pts[i].first, pts[i].second / pts[i - 1].second});
  }
  double mx = 0, my = 0;
  for (const auto& [x, y] : pts) {
    mx += std::log(x);
    my += std::log(y);
  }
  if (pts.empty()) return g;
  mx /= pts.size();
  my /= pts.size();
  double sxx = 0, sxy = 0;
  for (const auto& [x, y] : pts) {
    sxx += (std::log(x) - mx) * (std::log(x) - mx);
    sxy += (std::log(x) - mx) * (std::log(y) - my);
  }
  if (sxx > 0) g.exponent = sxy / sxx;
  return g;
}

std::vector<AggregationCell> run_aggregation_bench(const AggregationBenchOptions& o,
                                                   const AggregationBenchHooks& hooks) {
  check_aggregation_bench_options(o);
  const auto rules = agg_bench_rules(o);
  util::set_threads(o.threads);
  std::vector<ModelLayout> layouts;
  for (const auto& m : o.models) layouts.push_back(model_layout(m));
  const int total = static_cast<int>(layouts.size() * o.clients.size() * rules.size());
  std::vector<AggregationCell> cells;
  for (const auto& layout : layouts) {
    for (int n : o.clients) {
      torch::Tensor updates, weights;
      RuleInputs inputs;
      for (const auto& rule : rules) {
        AggregationCell c;
        c.model = layout.model;
        c.rule = rule;
        c.n = n;
        c.d = layout.d;
        if (agg_bench_uses_f(rule)) c.f = bench_byzantine(n);
        c.estimated_bytes = 4 * n * layout.d + aggregation_extra_bytes(rule, n, layout.d);
        const auto agg = make_aggregator(bench_rule_options(rule, n));
        c.skipped = agg_bench_skip_reason(*agg, c, o.max_gib);
        const int index = static_cast<int>(cells.size());
        if (c.measured()) {
          if (!updates.defined()) {
            auto gen = at::detail::createCPUGenerator(o.seed * 1000003 + n);
            updates = at::normal(0.0, 1.0, {n, layout.d}, gen, torch::kFloat32);
            weights = torch::ones({n});
            inputs.previous = at::normal(0.0, 1.0, {layout.d}, gen, torch::kFloat32);
            inputs.root = at::normal(0.0, 1.0, {layout.d}, gen, torch::kFloat32);
          }
          if (hooks.started) hooks.started(c, index, total);
          agg_bench_measure(*agg, updates, weights, inputs, o.repeats, c);
        }
        cells.push_back(c);
        if (hooks.finished) hooks.finished(cells.back(), index, total);
      }
    }
  }
  return cells;
}

std::string aggregation_bench_note() {
  return "krum, multi-krum, bulyan: f = max(0, (n - 3) / 4) (so bulyan's n >= 4f + 3 holds); "
         "multi-krum averages n - f; trimmed-mean trim 0.2 at each end; geomed and cclip "
         "defaults; weights 1; cclip's previous aggregate and fltrust's root update random [d]";
}

nlohmann::json aggregation_settings_json(const AggregationBenchOptions& o) {
  const AggregatorOptions def;
  const int threads = o.threads > 0 ? o.threads : util::cpu_cores();  // as util::set_threads
  return {{"clients", o.clients},
          {"models", o.models},
          {"rules", agg_bench_rules(o)},
          {"warmup", 1},
          {"repeats", o.repeats},
          {"max_gib", o.max_gib},
          {"threads", threads},
          {"seed", o.seed},
          {"device", "cpu"},
          {"trim", kTrim},
          {"f", "max(0, (n - 3) / 4)"},
          {"multi_krum_m", "n - f"},
          {"geomed",
           {{"nu", def.geomed_nu}, {"tol", def.geomed_tol}, {"max_iter", def.geomed_max_iter}}},
          {"cclip", {{"tau", def.cclip_tau}, {"iterations", def.cclip_iterations}}},
          {"inputs", "random normal float32 [n, d] updates, weights 1"},
          {"notes", aggregation_bench_note()}};
}

nlohmann::json layout_json(const ModelLayout& l) {
  auto layers = nlohmann::json::array();
  for (const auto& x : l.layers) layers.push_back({{"name", x.name}, {"shape", x.shape}});
  return {{"model", l.model}, {"d", l.d}, {"layers", layers}};
}

nlohmann::json cell_json(const AggregationCell& c) {
  nlohmann::json j = {{"model", c.model},
                      {"rule", c.rule},
                      {"n", c.n},
                      {"d", c.d},
                      {"estimated_bytes", c.estimated_bytes},
                      {"status", c.measured() ? "measured" : "skipped"}};
  if (c.f >= 0) j["f"] = c.f;
  if (!c.measured()) {
    j["reason"] = c.skipped;
    return j;
  }
  const double coords = static_cast<double>(c.n) * static_cast<double>(c.d);
  j["times_ms"] = c.times_ms;
  j["median_ms"] = c.median_ms;
  j["min_ms"] = c.min_ms;
  j["ms_per_client"] = c.median_ms / c.n;
  j["ms_per_mcoord"] = c.median_ms / (coords / 1e6);
  j["peak_extra_bytes"] =
      c.peak_extra_bytes >= 0 ? nlohmann::json(c.peak_extra_bytes) : nlohmann::json();
  j["iterations"] = c.iterations;
  return j;
}

nlohmann::json growth_json(const std::vector<AggregationCell>& cells) {
  // Keyed by (rule, model) in first-seen order.
  std::vector<std::pair<std::string, std::string>> order;
  std::map<std::pair<std::string, std::string>, std::pair<std::vector<int>, std::vector<double>>>
      by;
  for (const auto& c : cells) {
    const auto key = std::make_pair(c.rule, c.model);
    if (!by.count(key)) order.push_back(key);
    auto& [ns, ts] = by[key];
    if (c.measured()) {
      ns.push_back(c.n);
      ts.push_back(c.median_ms);
    }
  }
  auto out = nlohmann::json::array();
  for (const auto& key : order) {
    const auto& [ns, ts] = by[key];
    const auto g = fit_growth(ns, ts);
    auto steps = nlohmann::json::array();
    for (const auto& s : g.steps) {
      steps.push_back({{"from_n", s.from_n},
                       {"to_n", s.to_n},
                       {"n_ratio", static_cast<double>(s.to_n) / s.from_n},
                       {"time_ratio", s.time_ratio}});
    }
    out.push_back({{"rule", key.first},
                   {"model", key.second},
                   {"points", g.points},
                   {"exponent", g.exponent ? nlohmann::json(*g.exponent) : nlohmann::json()},
                   {"steps", steps}});
  }
  return out;
}

}  // namespace tdml::fl
