#include "tdml/dist/allreduce_bench.h"

#include <algorithm>
#include <sstream>

#include "tdml/dist/step_hook.h"
#include "tdml/util/error.h"
#include "tdml/util/system.h"
#include "util/timer.h"

namespace tdml::dist {


// NCCL works on CUDA tensors and its collectives complete asynchronously on the GPU: wait for
// the device before reading the clock.
void sync_device(bool on_gpu) {
#ifdef TDML_HAS_CUDA
  if (on_gpu) torch::cuda::synchronize();
#else
  (void)on_gpu;
#endif
}

int iters_for_size(std::int64_t bytes) {
  return static_cast<int>(std::clamp<std::int64_t>((512LL << 20) / bytes, 10, 1000));
}

std::vector<AllreduceSample> run_allreduce_bench(Comm& comm, const AllreduceBenchOptions& o) {
  std::vector<AllreduceSample> out;
  std::int64_t step = 0;
  const double n = comm.world();
  const bool on_gpu = comm.kind() == BackendKind::kNccl;  // the current device (set per rank)
  const auto dev = on_gpu ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  for (const auto bytes : o.sizes) {
    auto t = torch::ones({bytes / 4}, torch::TensorOptions(torch::kFloat32).device(dev));
    for (int i = 0; i < o.warmup; ++i) comm.all_reduce(t);
    sync_device(on_gpu);
    AllreduceSample s;
    s.bytes = bytes;
    s.iters = o.iters > 0 ? o.iters : iters_for_size(bytes);
    comm.barrier();
    util::Stopwatch sw;
    for (int i = 0; i < s.iters; ++i) {
      on_rank_step(comm.rank(), step++);
      comm.all_reduce(t);
    }
    sync_device(on_gpu);
    auto elapsed = torch::tensor({sw.seconds()}, torch::kFloat64).to(dev);
    const double slowest = torch::stack(comm.all_gather(elapsed)).max().item<double>();
    s.time_us = slowest / s.iters * 1e6;
    s.algbw_gbs = bytes / (slowest / s.iters) / 1e9;
    s.busbw_gbs = s.algbw_gbs * 2.0 * (n - 1) / n;
    out.push_back(s);
  }
  return out;
}

nlohmann::json allreduce_bench_json(const Comm& comm, const std::vector<AllreduceSample>& samples) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& s : samples) {
    results.push_back({{"bytes", s.bytes},
                       {"iters", s.iters},
                       {"time_us", s.time_us},
                       {"algbw_gbs", s.algbw_gbs},
                       {"busbw_gbs", s.busbw_gbs}});
  }
  return {{"schema", 1},
          {"kind", "bench.allreduce"},
          {"impl", "tdml"},
          {"tdml_version", TDML_VERSION},
          {"created", util::utc_timestamp()},
          {"host", util::host_name()},
          {"status", "completed"},
          {"backend", backend_name(comm.kind())},
          {"world", comm.world()},
          {"dtype", "float32"},
          {"results", results}};
}

}  // namespace tdml::dist
