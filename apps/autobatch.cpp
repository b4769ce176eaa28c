// tdml autobatch: the largest batch size that trains, then static vs found batch size.
#include "tdml/study/autobatch.h"

#include <cctype>

#include "cli_values.h"
#include "command.h"
#include "option_groups.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {


int autobatch_main(int argc, char** argv) {
  study::AutobatchOptions d;
  auto s = [](auto v) { return std::to_string(v); };
  cxxopts::Options opts(argv[0],
                        "Largest batch size that runs a training step (exponential then binary "
                        "search), then train the same images with the static and the found "
                        "batch size; writes DIR/metrics.json");
  // clang-format off
  add_model_data_options(opts, d.probe.model, "the study's batch-size search model");
  add_performance_options(opts);
  opts.add_options("Search")
      ("mem-budget", "CPU: peak-RSS budget, e.g. 8G (default: half of RAM, at most 80% of available); CUDA: optional extra cap",
       cxxopts::value<std::string>()->default_value("0"))
      ("start-batch", "First batch size probed", cxxopts::value<std::int64_t>()->default_value(s(d.search.start)))
      ("max-batch", "Largest batch size probed", cxxopts::value<std::int64_t>()->default_value(s(d.search.max_batch)))
      ("resolution", "Binary search stops when fail - fit <= this (0 = found/16)", cxxopts::value<std::int64_t>()->default_value(s(d.search.resolution)))
      ("batch-size", "Static (baseline) batch size", cxxopts::value<std::int64_t>()->default_value(s(d.static_batch)))
      ("images", "Images trained with each batch size", cxxopts::value<std::int64_t>()->default_value(s(d.images)))
      ("lr", "SGD lr at the static batch (found batch: lr x B/static)", cxxopts::value<double>()->default_value("0.1"))
      ("warmup-fraction", "Linear lr warmup over this share of each run", cxxopts::value<double>()->default_value("0.2"))
      ("limit-test-batches", "Test batches (of 500) evaluated after each run (0 = all)",
       cxxopts::value<std::int64_t>()->default_value(s(d.limit_test_batches)))
      ("search-only", "Only search; skip the two training runs");
  add_output_options(opts, d.out_dir, "metrics.json, static/, auto/");
  // clang-format on
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  study::AutobatchOptions o;
  const auto md = model_data_from(r);
  o.probe.model = md.model;
  o.probe.seed = md.seed;
  o.data = md.data;
  const auto perf = performance_from(r);
  o.probe.device = perf.device;
  o.probe.amp = perf.amp;
  o.probe.channels_last = perf.channels_last;
  o.threads = perf.threads;
  o.mem_budget_bytes = parse_size("mem-budget", r["mem-budget"].as<std::string>());
  o.search.start = r["start-batch"].as<std::int64_t>();
  o.search.max_batch = r["max-batch"].as<std::int64_t>();
  o.search.resolution = r["resolution"].as<std::int64_t>();
  o.static_batch = r["batch-size"].as<std::int64_t>();
  o.images = r["images"].as<std::int64_t>();
  o.lr = r["lr"].as<double>();
  o.warmup_fraction = r["warmup-fraction"].as<double>();
  o.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  o.search_only = r.count("search-only") > 0;
  o.out_dir = r["out"].as<std::string>();
  auto doc = study::run_autobatch(o);
  const auto& sr = doc["search"];
  std::printf("largest batch: %lld%s (%zu probes, %.1f s)\n",
              static_cast<long long>(sr["batch"].get<std::int64_t>()),
              sr["hit_cap"].get<bool>() ? " (the --max-batch cap)" : "", sr["probes"].size(),
              sr["seconds"].get<double>());
  if (doc.contains("runs")) {
    std::printf("%-7s %6s %8s %10s %9s %10s %10s\n", "run", "batch", "lr", "img/s", "time s",
                "loss", "peak MiB");
    for (const auto& run : doc["runs"]) {
      std::printf("%-7s %6lld %8.4f %10.1f %9.2f %10.4f %10.1f\n",
                  run["name"].get<std::string>().c_str(),
                  static_cast<long long>(run["batch_size"].get<std::int64_t>()),
                  run["lr"].get<double>(), run["samples_per_s"].get<double>(),
                  run["train_seconds"].get<double>(), run["final_train_loss"].get<double>(),
                  run["peak_memory_bytes"].get<double>() / 1048576.0);
    }
  }
  return 0;
}

const Registration autobatch_reg("autobatch", "Largest batch size that trains; static vs found batch size",
                       autobatch_main);

}  // namespace
}  // namespace tdml::app
