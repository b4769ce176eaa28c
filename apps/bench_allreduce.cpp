// tdml bench allreduce: all-reduce bus bandwidth per message size (nccl-tests definition).
#include <iostream>

#include "command.h"
#include "dist_options.h"
#include "tdml/dist/allreduce_bench.h"
#include "tdml/dist/cpu_binding.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"

namespace tdml::app {
namespace {

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
  b.sizes = dist::parse_bench_sizes(r["sizes"].as<std::string>());
  b.iters = r["iters"].as<int>();
  b.warmup = r["warmup"].as<int>();
  const auto launch = launch_options_from(r);
  if (!dist::is_worker_process()) {
    if (launch.nproc > 1 || launch.nnodes > 1) return dist::launch_workers(launch);
    throw UsageError("bench allreduce needs --nproc >= 2 (or torchrun)");
  }
  std::shared_ptr<dist::Comm> comm;
  std::vector<dist::AllreduceSample> samples;
  nlohmann::json cpu_bind;
  try {
    const auto d = dist_options_from(r);
    comm = dist::init_process_group(d);
    // Placed as training ranks are (--cpu-bind), so the figure is the one training sees.
    cpu_bind = dist::place_rank(*comm, d.cpu_bind, d.local_rank, d.local_world, 0).record;
    samples = dist::run_allreduce_bench(*comm, b);
  } catch (const std::exception& e) {
    dist::write_elastic_error_file(e.what());  // torchrun reports it
    throw;
  }
  if (comm->rank() != 0) return 0;
  std::printf("%12s %8s %12s %12s %12s\n", "bytes", "iters", "time_us", "algbw_GB/s", "busbw_GB/s");
  for (const auto& s : samples) {
    std::printf("%12lld %8d %12.1f %12.3f %12.3f\n", static_cast<long long>(s.bytes), s.iters,
                s.time_us, s.algbw_gbs, s.busbw_gbs);
  }
  if (r.count("out")) {
    const auto dir = r["out"].as<std::string>();
    util::make_dirs(dir);
    auto doc = dist::allreduce_bench_json(*comm, samples);
    doc["cpu_bind"] = cpu_bind;
    util::write_file_atomic(dir + "/metrics.json", doc.dump(2));
    spdlog::info("wrote {}/metrics.json", dir);
  }
  return 0;
}

const Registration reg("bench allreduce", "All-reduce bus bandwidth per message size (--nproc N)",
                       run_allreduce);

}  // namespace
}  // namespace tdml::app
