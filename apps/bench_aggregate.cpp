// tdml bench aggregate: time per aggregation of every rule vs clients and model size (#18).
#include <algorithm>
#include <cstdio>
#include <sstream>

#include "cli_values.h"
#include "command.h"
#include "tdml/fl/aggregation_bench.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/model.h"
#include "tdml/util/log.h"

namespace tdml::app {
namespace {

// "a,b,c" -> {a, b, c}; `all` -> every name in `all_names`.
std::vector<std::string> aggregate_name_list(const std::string& text,
                                             const std::vector<std::string>& all_names) {
  if (text == "all") return all_names;
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(x);
  return out;
}

void print_aggregate_cell(const fl::AggregationCell& c, int index, int total) {
  std::printf("[%2d/%d] %-13s %5d %-12s %4s ", index + 1, total, c.model.c_str(), c.n,
              c.rule.c_str(), c.f >= 0 ? std::to_string(c.f).c_str() : "-");
  if (!c.measured()) {
    std::printf("skipped: %s\n", c.skipped.c_str());
  } else {
    std::printf("%11.2f %11.2f %10.3f %10.3f %9.0f\n", c.median_ms, c.min_ms, c.median_ms / c.n,
                c.median_ms / (1e-6 * c.n * c.d), std::max(0.0, c.peak_extra_bytes / 1048576.0));
  }
  std::fflush(stdout);
}

void print_aggregate_growth(const nlohmann::json& growth) {
  std::printf("\ngrowth (time ~ n^k, least squares over the measured n; time ratios):\n");
  for (const auto& g : growth) {
    std::printf("  %-12s %-13s k = ", g["rule"].get<std::string>().c_str(),
                g["model"].get<std::string>().c_str());
    if (g["exponent"].is_null())
      std::printf("-");
    else
      std::printf("%.2f", g["exponent"].get<double>());
    for (const auto& s : g["steps"]) {
      std::printf("   %d->%d: x%.2f", s["from_n"].get<int>(), s["to_n"].get<int>(),
                  s["time_ratio"].get<double>());
    }
    std::printf("\n");
  }
}

int bench_aggregate_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Time per aggregation of each rule on random updates [n, d]");
  auto add = opts.add_options();
  add("clients", "Numbers of updates n, comma-separated",
      cxxopts::value<std::string>()->default_value("10,100,1000"));
  add("model", "Model(s) giving d, comma-separated, or 'all'",
      cxxopts::value<std::string>()->default_value("smallcifarcnn,resnet50"));
  add("rules", "Rules, comma-separated, or 'all'",
      cxxopts::value<std::string>()->default_value("all"));
  add("repeats", "Timed calls per cell (after one warm-up)",
      cxxopts::value<int>()->default_value("3"));
  add("max-gib", "Skip a cell needing more memory (GiB)",
      cxxopts::value<double>()->default_value("8"));
  add("threads", "Intra-op threads (0 = all cores)", cxxopts::value<int>()->default_value("0"));
  add("seed", "Seed of the random updates", cxxopts::value<std::uint64_t>()->default_value("0"));
  add("out", "Run directory for metrics.json",
      cxxopts::value<std::string>()->default_value("runs/bench-aggregate"));
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  fl::AggregationBenchOptions o;
  o.clients.clear();
  for (auto n : parse_int_list("clients", r["clients"].as<std::string>()))
    o.clients.push_back(static_cast<int>(n));
  std::vector<std::string> all_models;
  for (const auto& m : models::list_models()) all_models.push_back(m.name);
  o.models = aggregate_name_list(r["model"].as<std::string>(), all_models);
  o.rules = aggregate_name_list(r["rules"].as<std::string>(), fl::aggregator_names());
  o.repeats = r["repeats"].as<int>();
  o.max_gib = r["max-gib"].as<double>();
  o.threads = r["threads"].as<int>();
  o.seed = r["seed"].as<std::uint64_t>();

  fl::check_aggregation_bench_options(o);
  metrics::MetricsFile mf(r["out"].as<std::string>(), "bench.aggregate");
  auto& doc = mf.doc();
  doc["settings"] = fl::aggregation_settings_json(o);
  doc["models"] = nlohmann::json::array();
  for (const auto& m : o.models) doc["models"].push_back(fl::layout_json(fl::model_layout(m)));
  doc["cells"] = nlohmann::json::array();
  mf.flush();
  std::printf(
      "%s\n%d threads; median and min of %d timed calls after 1 warm-up; peak+: resident "
      "memory above the updates\n",
      fl::aggregation_bench_note().c_str(), doc["settings"]["threads"].get<int>(), o.repeats);
  std::printf("%-7s %-13s %5s %-12s %4s %11s %11s %10s %10s %9s\n", "", "model", "n", "rule", "f",
              "median ms", "min ms", "ms/client", "ms/Mcoord", "peak+ MiB");
  fl::AggregationBenchHooks hooks;
  hooks.started = [](const fl::AggregationCell& c, int i, int total) {
    spdlog::info("[{}/{}] {} n={} {} ...", i + 1, total, c.model, c.n, c.rule);
  };
  hooks.finished = [&](const fl::AggregationCell& c, int i, int total) {
    print_aggregate_cell(c, i, total);
    doc["cells"].push_back(fl::cell_json(c));
    mf.flush();
  };
  std::vector<fl::AggregationCell> cells;
  try {
    cells = fl::run_aggregation_bench(o, hooks);
  } catch (const std::exception& e) {
    mf.finish("failed", e.what());
    throw;
  }
  doc["growth"] = fl::growth_json(cells);
  print_aggregate_growth(doc["growth"]);
  mf.finish("completed");
  return 0;
}

const Registration bench_aggregate_reg(
    "bench aggregate", "Time per aggregation of each rule vs clients and model size",
    bench_aggregate_main);

}  // namespace
}  // namespace tdml::app
