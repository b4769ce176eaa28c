// tdml bench allreduce: all-reduce bus bandwidth per message size (nccl-tests definition).
#include <cstdio>

#include "cli_values.h"
#include "command.h"
#include "dist_options.h"
#include "tdml/dist/allreduce_bench.h"
#include "tdml/dist/rank.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"

namespace tdml::app {
namespace {

// "default": 1 KiB .. 64 MiB in steps of x4; "small": 1 KiB .. 64 KiB; else a size list.
std::vector<std::int64_t> bench_sizes(const std::string& spec) {
  std::vector<std::int64_t> out;
  if (spec == "default" || spec == "small") {
    const std::int64_t last = spec == "small" ? (64 << 10) : (64 << 20);
    for (std::int64_t b = 1 << 10; b <= last; b *= 4) out.push_back(b);
    return out;
  }
  out = parse_size_list("sizes", spec);
  for (auto v : out) {
    if (v < 4 || v % 4) {
      throw UsageError("--sizes " + spec + ": " + std::to_string(v) +
                       " bytes is not a positive multiple of 4 (float32 elements)");
    }
  }
  return out;
}

// Rank 0: the table on stdout and, with --out, DIR/metrics.json.
void report(const std::vector<dist::AllreduceSample>& samples, const dist::Rank& rank,
            const cxxopts::ParseResult& r) {
  std::printf("%12s %8s %12s %12s %12s\n", "bytes", "iters", "time_us", "algbw_GB/s", "busbw_GB/s");
  for (const auto& s : samples) {
    std::printf("%12lld %8d %12.1f %12.3f %12.3f\n", static_cast<long long>(s.bytes), s.iters,
                s.time_us, s.algbw_gbs, s.busbw_gbs);
  }
  if (!r.count("out")) return;
  const auto dir = r["out"].as<std::string>();
  util::make_dirs(dir);
  auto doc = dist::allreduce_bench_json(*rank.comm, samples);
  doc["cpu_bind"] = rank.cpu_bind;
  util::write_file_atomic(dir + "/metrics.json", doc.dump(2));
  spdlog::info("wrote {}/metrics.json", dir);
}

int run_allreduce(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "All-reduce bandwidth over --nproc ranks; writes DIR/metrics.json");
  auto add = opts.add_options();
  add("sizes", "default (1K..64M x4), small (1K..64K) or a list: 4K,1M",
      cxxopts::value<std::string>()->default_value("default"));
  add("iters", "Timed iterations per size (0: 512 MiB / size, 10..1000)",
      cxxopts::value<int>()->default_value("0"));
  add("warmup", "Untimed iterations per size", cxxopts::value<int>()->default_value("5"));
  add("out", "Output directory (rank 0 writes metrics.json)", cxxopts::value<std::string>());
  add_dist_options(opts);
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  dist::AllreduceBenchOptions b;
  b.sizes = bench_sizes(r["sizes"].as<std::string>());
  b.iters = r["iters"].as<int>();
  b.warmup = r["warmup"].as<int>();
  const auto launch = launch_options_from(r);
  if (!dist::is_worker_process() && launch.nproc < 2 && launch.nnodes < 2) {
    throw UsageError("bench allreduce needs --nproc >= 2 (or torchrun)");
  }
  // Ranks are placed as training ranks are (--cpu-bind), so the figure is the one training sees.
  return dist::launch_or_join(launch, dist_options_from(r), {0, "auto"}, [&](dist::Rank& rank) {
    const auto samples = dist::run_allreduce_bench(*rank.comm, b);
    if (rank.rank() == 0) report(samples, rank, r);
  });
}

const Registration bench_allreduce_reg("bench allreduce", "All-reduce bus bandwidth per message size (--nproc N)",
                       run_allreduce);

}  // namespace
}  // namespace tdml::app
