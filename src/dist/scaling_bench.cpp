#include "tdml/dist/scaling_bench.h"

#include <algorithm>
#include <cmath>

#include "tdml/models/model.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/fs.h"
#include "tdml/util/log.h"
#include "tdml/util/system.h"
#include "util/timer.h"

namespace tdml::dist {
namespace {

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(util::read_file(path));
  } catch (const std::exception& e) {
    throw Error("bench scaling: cannot read " + path + ": " + e.what());
  }
}

std::vector<int> powers_of_two_up_to(int max_n) {
  std::vector<int> out;
  for (int n = 1; n <= max_n; n *= 2) out.push_back(n);
  return out;
}

MeasuredPoint measure_ddp(const ScalingBenchOptions& o, int nproc) {
  const std::string dir = o.out_dir + "/runs/n" + std::to_string(nproc);
  MeasuredPoint p;
  p.nproc = nproc;
  p.per_rank_batch = o.global_batch / nproc;
  spdlog::info("measured: {} process(es), batch {} a rank, {} steps", nproc, p.per_rank_batch,
               o.steps);
  TDML_CHECK(o.run_ddp_job, "bench scaling: no run_ddp_job given");
  o.run_ddp_job(nproc, p.per_rank_batch, dir);
  const auto m = read_json(dir + "/metrics.json");
  const auto& s = m.at("epochs").at(0).at("strategy");
  const double steps = std::max(1.0, s.at("synced_steps").get<double>());
  p.epoch_s = s.at("epoch_time_s_max").get<double>();
  p.step_s = p.epoch_s / steps;
  p.samples_per_s = s.at("global_samples_per_s").get<double>();
  p.comm_s_per_step = s.at("comm_s_per_step").get<double>();
  p.comm_wait_s_per_step = s.at("comm_wait_s_per_step").get<double>();
  p.exposed_comm_fraction = s.at("exposed_comm_fraction").get<double>();
  p.threads_per_rank = m.at("run").at("threads").get<int>();
  p.backend = m.at("run").at("backend").get<std::string>();
  return p;
}

std::vector<AllreduceSample> measure_allreduce(const ScalingBenchOptions& o) {
  const std::string dir = o.out_dir + "/allreduce";
  spdlog::info("all-reduce bandwidth, 2 processes, sizes {}", o.allreduce_sizes);
  TDML_CHECK(o.run_allreduce_job, "bench scaling: no run_allreduce_job given");
  o.run_allreduce_job(dir);
  std::vector<AllreduceSample> out;
  const auto doc = read_json(dir + "/metrics.json");
  for (const auto& r : doc.at("results")) {
    AllreduceSample s;
    s.bytes = r.at("bytes").get<std::int64_t>();
    s.iters = r.at("iters").get<int>();
    s.time_us = r.at("time_us").get<double>();
    s.algbw_gbs = r.at("algbw_gbs").get<double>();
    s.busbw_gbs = r.at("busbw_gbs").get<double>();
    out.push_back(s);
  }
  TDML_CHECK(!out.empty(), "bench scaling: the all-reduce benchmark returned no sizes");
  return out;
}

// Bandwidth at the message size nearest (in log scale) to the gradient size; latency: the
// time of the smallest message.
void link_from_allreduce(ScalingBenchResult& r, bool want_bw, bool want_latency) {
  const auto& a = r.allreduce;
  if (want_bw) {
    const auto near = std::min_element(a.begin(), a.end(), [&](const auto& x, const auto& y) {
      return std::abs(std::log(double(x.bytes) / r.grad_bytes)) <
             std::abs(std::log(double(y.bytes) / r.grad_bytes));
    });
    r.link.bandwidth_Bps = near->busbw_gbs * 1e9;
    r.link_message_bytes = near->bytes;
  }
  if (want_latency) {
    const auto small = std::min_element(
        a.begin(), a.end(), [](const auto& x, const auto& y) { return x.bytes < y.bytes; });
    r.link.latency_s = small->time_us * 1e-6;
  }
}

}  // namespace

double measure_step_seconds(const std::string& model_name, std::int64_t batch, std::int64_t steps) {
  TDML_CHECK(batch >= 1 && steps >= 1, "measure_step_seconds: batch and steps must be >= 1");
  torch::manual_seed(0);
  auto model = models::make_model(model_name, 10);
  model->train();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.01).momentum(0.9));
  auto x = torch::randn({batch, 3, 32, 32});
  auto y = torch::randint(0, 10, {batch}, torch::kLong);
  auto one = [&] {
    opt.zero_grad();
    auto loss = torch::nn::functional::cross_entropy(model->forward(x), y);
    loss.backward();
    opt.step();
  };
  for (int i = 0; i < 2; ++i) one();
  util::Stopwatch clock;
  for (std::int64_t i = 0; i < steps; ++i) one();
  return clock.seconds() / static_cast<double>(steps);
}

ScalingBenchResult run_scaling_bench(const ScalingBenchOptions& options) {
  ScalingBenchResult r;
  r.options = options;
  auto& o = r.options;
  if (o.out_dir.empty()) throw UsageError("bench scaling: --out DIR is required");
  if (o.global_batch < 1 || o.steps < 1)
    throw UsageError("--global-batch and --steps must be >= 1");
  if (o.max_projected_n < 1 || o.max_simulated_n < 1) {
    throw UsageError("--max-n and --max-simulated must be >= 1");
  }
  r.cores = util::cpu_cores();
  if (o.nprocs.empty()) o.nprocs = powers_of_two_up_to(std::max(2, r.cores));
  for (int n : o.nprocs) {
    if (n < 1 || o.global_batch % n != 0) {
      throw UsageError("--nprocs " + std::to_string(n) +
                       ": must be >= 1 and divide --global-batch " +
                       std::to_string(o.global_batch));
    }
  }
  const bool want_bw = o.bandwidth_Bps <= 0, want_latency = o.latency_s < 0;
  if (o.allreduce_sizes == "none" && (want_bw || want_latency)) {
    throw UsageError("--allreduce-sizes none needs --bandwidth-gbs and --latency-ms");
  }
  util::make_dirs(o.out_dir);

  // Compute side, in this process with all cores.
  util::set_threads(0);
  {
    auto m = models::make_model(o.model, 10);
    r.grad_bytes = static_cast<double>(models::parameter_bytes(*m));
  }
  for (int n : powers_of_two_up_to(o.max_simulated_n)) {
    if (o.global_batch / n < 1) break;
    SimulatedPoint p;
    p.n = n;
    p.per_worker_batch = o.global_batch / n;
    spdlog::info("simulated: step at batch {} (N = {})", p.per_worker_batch, n);
    p.compute_s = measure_step_seconds(o.model, p.per_worker_batch, o.steps);
    r.simulated.push_back(p);
  }
  r.link.compute_s = r.simulated.front().compute_s;
  r.link.grad_bytes = r.grad_bytes;

  // Communication side.
  if (o.allreduce_sizes != "none") r.allreduce = measure_allreduce(o);
  r.link_source =
      want_bw && want_latency ? "measured" : (want_bw || want_latency ? "mixed" : "given");
  if (!want_bw) r.link.bandwidth_Bps = o.bandwidth_Bps;
  if (!want_latency) r.link.latency_s = o.latency_s;
  link_from_allreduce(r, want_bw, want_latency);

  r.projected = project_scaling_series(r.link, o.max_projected_n);
  for (auto& p : r.simulated) {
    p.comm_s = project_scaling(r.link, p.n).comm_s;
    p.step_s = p.compute_s + p.comm_s;
    p.samples_per_s = double(o.global_batch) / p.step_s;
    p.speedup = r.simulated.front().step_s > 0 ? r.simulated.front().step_s / p.step_s : 1.0;
    p.efficiency = p.speedup / p.n;
  }

  // Real jobs.
  for (int n : o.nprocs) r.measured.push_back(measure_ddp(o, n));
  const auto& base = r.measured.front();
  for (auto& p : r.measured) {
    p.speedup = base.epoch_s / p.epoch_s * 1.0;
    p.efficiency = p.speedup / (double(p.nproc) / base.nproc);
  }
  return r;
}

nlohmann::json scaling_bench_json(const ScalingBenchResult& r) {
  const auto& o = r.options;
  nlohmann::json measured = nlohmann::json::array(), projected = nlohmann::json::array(),
                 simulated = nlohmann::json::array(), allreduce = nlohmann::json::array();
  for (const auto& p : r.measured) {
    measured.push_back({{"nproc", p.nproc},
                        {"per_rank_batch", p.per_rank_batch},
                        {"epoch_s", p.epoch_s},
                        {"step_s", p.step_s},
                        {"samples_per_s", p.samples_per_s},
                        {"speedup", p.speedup},
                        {"efficiency", p.efficiency},
                        {"comm_s_per_step", p.comm_s_per_step},
                        {"comm_wait_s_per_step", p.comm_wait_s_per_step},
                        {"exposed_comm_fraction", p.exposed_comm_fraction},
                        {"threads_per_rank", p.threads_per_rank}});
  }
  for (const auto& p : r.projected) {
    projected.push_back({{"n", p.n},
                         {"compute_s", p.compute_s},
                         {"comm_s", p.comm_s},
                         {"step_s", p.step_s},
                         {"samples_per_s", p.step_s > 0 ? o.global_batch / p.step_s : 0.0},
                         {"speedup", p.speedup},
                         {"efficiency", p.efficiency},
                         {"comm_fraction", p.comm_fraction}});
  }
  for (const auto& p : r.simulated) {
    simulated.push_back({{"n", p.n},
                         {"per_worker_batch", p.per_worker_batch},
                         {"compute_s", p.compute_s},
                         {"comm_s", p.comm_s},
                         {"step_s", p.step_s},
                         {"samples_per_s", p.samples_per_s},
                         {"speedup", p.speedup},
                         {"efficiency", p.efficiency}});
  }
  for (const auto& s : r.allreduce) {
    allreduce.push_back({{"bytes", s.bytes},
                         {"iters", s.iters},
                         {"time_us", s.time_us},
                         {"algbw_gbs", s.algbw_gbs},
                         {"busbw_gbs", s.busbw_gbs}});
  }
  return {{"schema", 1},
          {"kind", "bench.scaling"},
          {"model", o.model},
          {"backend", r.measured.empty() ? o.backend : r.measured.front().backend},
          {"global_batch", o.global_batch},
          {"steps", o.steps},
          {"cores", r.cores},
          {"grad_bytes", r.grad_bytes},
          {"link",
           {{"bandwidth_Bps", r.link.bandwidth_Bps},
            {"latency_s", r.link.latency_s},
            {"source", r.link_source},
            {"message_bytes", r.link_message_bytes},
            {"compute_s", r.link.compute_s}}},
          {"measured", measured},
          {"projected", projected},
          {"simulated", simulated},
          {"allreduce", {{"world", 2}, {"results", allreduce}}}};
}

}  // namespace tdml::dist
