#pragma once
// `tdml bench scaling`: how data-parallel training time scales with the number of workers, three
// ways, for one model and a fixed global batch (strong scaling):
//   measured   real data-parallel jobs of n processes on this machine's backend (run by the
//              caller's run_ddp_job: the CLI's `tdml train --mode ddp`), per-rank batch = global / n;
//   projected  the ring all-reduce model of scaling.h with T_compute measured here (one process,
//              all cores, the whole global batch) and the model's gradient bytes;
//   simulated  one process, all cores, the measured step at the per-worker batch global / N,
//              plus the projected communication delay for N virtual workers (each worker is a
//              machine like this one; captures small-batch inefficiency the projection misses);
//   allreduce  the all-reduce bus bandwidth measured with 2 processes (run_allreduce_job),
//              which provides the link bandwidth and latency unless they are given.
// The JSON schema is in scaling_bench_json(). Blocking; runs child processes; not thread-safe.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/dist/allreduce_bench.h"
#include "tdml/dist/scaling.h"

namespace tdml::dist {

struct ScalingBenchOptions {
  std::string model = "tinycnn";    // a name of models::list_models()
  std::string data = "synthetic";   // --data of the measured train runs
  std::int64_t global_batch = 128;  // samples per optimizer step over all workers
  std::int64_t steps = 20;          // optimizer steps per measured run and per simulation
  std::vector<int> nprocs;          // measured process counts; empty: 1, 2, 4 .. <= cores
  int max_projected_n = 64;         // projection for N = 1, 2, 4 .. this
  int max_simulated_n = 8;          // simulation for N = 1, 2, 4 .. this (batch / N >= 1)
  double bandwidth_Bps = 0;         // link bandwidth; 0: measured busbw near the grad size
  double latency_s = -1;            // per-step latency; < 0: measured time of the smallest size
  std::string allreduce_sizes = "default";  // parse_bench_sizes(); "none": skip (needs both above)
  std::string backend = "auto";             // --backend of the measured runs
  int timeout_s = 300;                      // seconds a child job may take
  std::string out_dir;                      // runs/n<k>/ and allreduce/ go here (required)
  // The measured jobs, supplied by the caller (the CLI runs `tdml train --mode ddp` and `tdml
  // bench allreduce` as child processes; the library never builds a command line). Each must
  // leave DIR/metrics.json in the schema of that command, or throw.
  std::function<void(int nproc, std::int64_t per_rank_batch, const std::string& dir)> run_ddp_job;
  std::function<void(const std::string& dir)> run_allreduce_job;
};

struct MeasuredPoint {
  int nproc = 1;
  std::int64_t per_rank_batch = 0;
  double epoch_s = 0;               // `steps` steps, slowest rank
  double step_s = 0;                // epoch_s / steps
  double samples_per_s = 0;         // global samples / epoch_s
  double speedup = 1;               // vs the smallest nproc measured, scaled to 1 process
  double efficiency = 1;            // speedup / nproc
  double comm_s_per_step = 0;       // all-reduce in flight (mean over ranks)
  double comm_wait_s_per_step = 0;  // of it, exposed (not hidden behind backward)
  double exposed_comm_fraction = 0;
  int threads_per_rank = 0;
  std::string backend;
};

struct SimulatedPoint {
  int n = 1;
  std::int64_t per_worker_batch = 0;
  double compute_s = 0;  // measured step at per_worker_batch (one process, all cores)
  double comm_s = 0;     // projected all-reduce time for n workers
  double step_s = 0;
  double samples_per_s = 0;  // global_batch / step_s
  double speedup = 1;        // vs n = 1
  double efficiency = 1;
};

struct ScalingBenchResult {
  ScalingBenchOptions options;
  double grad_bytes = 0;
  ScalingModel link;                    // compute_s, grad_bytes, bandwidth, latency used
  std::string link_source;              // "measured", "given" or "mixed" (one of each)
  std::int64_t link_message_bytes = 0;  // the allreduce size the bandwidth was read at
  std::vector<MeasuredPoint> measured;
  std::vector<ScalingPoint> projected;
  std::vector<SimulatedPoint> simulated;
  std::vector<AllreduceSample> allreduce;
  int cores = 0;
};

// Mean seconds of one training step (forward, backward, SGD) of `model` on random data with
// batch `batch` in this process, after 2 warm-up steps.
double measure_step_seconds(const std::string& model, std::int64_t batch, std::int64_t steps);

// Runs everything above. Throws tdml::Error when a child job fails (naming it) and
// tdml::UsageError for inconsistent options.
ScalingBenchResult run_scaling_bench(const ScalingBenchOptions& options);

// {"schema": 1, "kind": "bench.scaling", "model", "backend", "global_batch", "steps", "cores",
//  "grad_bytes", "link": {"bandwidth_Bps", "latency_s", "source", "message_bytes",
//  "compute_s"}, "measured": [{"nproc", "per_rank_batch", "epoch_s", "step_s", "samples_per_s",
//  "speedup", "efficiency", "comm_s_per_step", "comm_wait_s_per_step", "exposed_comm_fraction",
//  "threads_per_rank"}], "projected": [{"n", "compute_s", "comm_s", "step_s", "samples_per_s",
//  "speedup", "efficiency", "comm_fraction"}], "simulated": [{"n", "per_worker_batch",
//  "compute_s", "comm_s", "step_s", "samples_per_s", "speedup", "efficiency"}],
//  "allreduce": {"world": 2, "results": [{"bytes", "iters", "time_us", "algbw_gbs",
//  "busbw_gbs"}]}}
nlohmann::json scaling_bench_json(const ScalingBenchResult& r);

}  // namespace tdml::dist
