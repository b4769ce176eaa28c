// tdml bench scaling: measured, projected and simulated data-parallel scaling (DIR/metrics.json).
#include <cstdio>
#include <sstream>

#include "cli_values.h"
#include "command.h"
#include "tdml/dist/launcher.h"
#include "tdml/dist/scaling_bench.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"

namespace tdml::app {
namespace {


// The measured jobs, as child processes of this binary (the CLI knows its own flags).
void add_child_jobs(dist::ScalingBenchOptions& d) {
  dist::LaunchOptions lo;
  lo.timeout = std::chrono::seconds(d.timeout_s);
  const auto o = d;
  d.run_ddp_job = [o, lo](int nproc, std::int64_t batch, const std::string& dir) mutable {
    lo.nproc = nproc;
    dist::launch_workers(lo, {"tdml", "train", "--mode", "ddp", "--model", o.model, "--data",
                              o.data, "--batch-size", std::to_string(batch),
                              "--limit-train-batches", std::to_string(o.steps),
                              "--limit-test-batches", "1", "--epochs", "1", "--augment=false",
                              "--backend", o.backend, "--timeout", std::to_string(o.timeout_s),
                              "--out", dir, "-q"});
  };
  d.run_allreduce_job = [o, lo](const std::string& dir) mutable {
    lo.nproc = 2;
    dist::launch_workers(lo, {"tdml", "bench", "allreduce", "--sizes", o.allreduce_sizes,
                              "--backend", o.backend, "--timeout", std::to_string(o.timeout_s),
                              "--out", dir, "-q"});
  };
}

int run_scaling(int argc, char** argv) {
  cxxopts::Options opts(
      argv[0], "Data-parallel scaling: measured, projected, simulated; writes DIR/metrics.json");
  dist::ScalingBenchOptions d;
  auto add = opts.add_options();
  add("model", "tinycnn | smallcifarcnn | resnet50",
      cxxopts::value<std::string>()->default_value(d.model));
  add("data", "Data of the measured runs (CIFAR-10 dir or synthetic)",
      cxxopts::value<std::string>()->default_value(d.data));
  add("global-batch", "Samples per step over all workers",
      cxxopts::value<std::int64_t>()->default_value(std::to_string(d.global_batch)));
  add("steps", "Steps per measured run and per simulated point",
      cxxopts::value<std::int64_t>()->default_value(std::to_string(d.steps)));
  add("nprocs", "Measured process counts, e.g. 1,2,4 (auto: powers of 2 up to the cores)",
      cxxopts::value<std::string>()->default_value("auto"));
  add("max-n", "Largest N of the projection",
      cxxopts::value<int>()->default_value(std::to_string(d.max_projected_n)));
  add("max-simulated", "Largest virtual N of the simulation",
      cxxopts::value<int>()->default_value(std::to_string(d.max_simulated_n)));
  add("bandwidth-gbs", "Link bandwidth in GB/s (0: measured all-reduce bus bandwidth)",
      cxxopts::value<double>()->default_value("0"));
  add("latency-ms", "Per-step latency in ms (<0: measured smallest all-reduce)",
      cxxopts::value<double>()->default_value("-1"));
  add("allreduce-sizes", "default | small | list (4K,1M) | none",
      cxxopts::value<std::string>()->default_value(d.allreduce_sizes));
  add("backend", "auto, gloo or nccl", cxxopts::value<std::string>()->default_value(d.backend));
  add("job-timeout", "Seconds each child job may take (also its collective timeout)",
      cxxopts::value<int>()->default_value(std::to_string(d.timeout_s)));
  add("out", "Output directory (metrics.json, runs/, allreduce/)", cxxopts::value<std::string>());
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  if (!r.count("out")) throw UsageError("--out DIR is required (see 'tdml bench scaling --help')");
  d.model = r["model"].as<std::string>();
  d.data = r["data"].as<std::string>();
  d.global_batch = r["global-batch"].as<std::int64_t>();
  d.steps = r["steps"].as<std::int64_t>();
  if (r["nprocs"].as<std::string>() != "auto") {
    for (auto n : parse_int_list("nprocs", r["nprocs"].as<std::string>())) {
      d.nprocs.push_back(static_cast<int>(n));
    }
  }
  d.max_projected_n = r["max-n"].as<int>();
  d.max_simulated_n = r["max-simulated"].as<int>();
  d.bandwidth_Bps = r["bandwidth-gbs"].as<double>() * 1e9;
  d.latency_s = r["latency-ms"].as<double>() * 1e-3;
  d.allreduce_sizes = r["allreduce-sizes"].as<std::string>();
  d.backend = r["backend"].as<std::string>();
  d.timeout_s = r["job-timeout"].as<int>();
  d.out_dir = r["out"].as<std::string>();
  add_child_jobs(d);

  const auto res = dist::run_scaling_bench(d);
  std::printf("%s, global batch %lld, grad %.1f MiB, link %.3f GB/s + %.3f ms (%s)\n",
              d.model.c_str(), static_cast<long long>(d.global_batch), res.grad_bytes / (1 << 20),
              res.link.bandwidth_Bps / 1e9, res.link.latency_s * 1e3, res.link_source.c_str());
  std::printf("%-10s %6s %10s %12s %8s %6s\n", "kind", "N", "step_s", "samples/s", "speedup",
              "eff");
  for (const auto& p : res.measured)
    std::printf("%-10s %6d %10.4f %12.1f %8.2f %6.2f\n", "measured", p.nproc, p.step_s,
                p.samples_per_s, p.speedup, p.efficiency);
  for (const auto& p : res.simulated)
    std::printf("%-10s %6d %10.4f %12.1f %8.2f %6.2f\n", "simulated", p.n, p.step_s,
                p.samples_per_s, p.speedup, p.efficiency);
  for (const auto& p : res.projected)
    std::printf("%-10s %6d %10.4f %12.1f %8.2f %6.2f\n", "projected", p.n, p.step_s,
                d.global_batch / p.step_s, p.speedup, p.efficiency);
  util::write_file_atomic(d.out_dir + "/metrics.json", dist::scaling_bench_json(res).dump(2));
  spdlog::info("wrote {}/metrics.json", d.out_dir);
  return 0;
}

const Registration bench_scaling_reg(
    "bench scaling",
    "Data-parallel scaling: measured (--nprocs), projected (ring all-reduce), simulated",
    run_scaling);

}  // namespace
}  // namespace tdml::app
