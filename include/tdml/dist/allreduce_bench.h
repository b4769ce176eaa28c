#pragma once
// The all-reduce bandwidth benchmark behind `tdml bench allreduce`, measured the way
// nccl-tests reports it: per message size, the mean time of one in-place float32 all-reduce
// (slowest rank), algbw = bytes / time and busbw = algbw * 2(n-1)/n (what each link carries in
// a ring, comparable across world sizes). scripts/bench/allreduce_ref.py does the same in
// PyTorch's Python API for comparison.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tdml/dist/process_group.h"

namespace tdml::dist {

struct AllreduceBenchOptions {
  std::vector<std::int64_t> sizes;  // message sizes in bytes (multiples of 4)
  int warmup = 5;                   // untimed all-reduces per size
  int iters = 0;                    // timed all-reduces per size; 0: iters_for_size()
};

struct AllreduceSample {
  std::int64_t bytes = 0;
  int iters = 0;
  double time_us = 0;    // mean per all-reduce, slowest rank
  double algbw_gbs = 0;  // bytes / time, GB/s (1e9)
  double busbw_gbs = 0;  // algbw * 2(n-1)/n
};

// Timed iterations for a size when not given: clamp(512 MiB / bytes, 10, 1000), the same
// schedule as the Python reference.
int iters_for_size(std::int64_t bytes);

// Runs on every rank (collective); every rank returns the same samples. Calls
// on_rank_step(rank, iteration) before each timed all-reduce (step_hook.h).
std::vector<AllreduceSample> run_allreduce_bench(Comm& comm, const AllreduceBenchOptions& options);

// {"schema":1,"kind":"bench.allreduce","impl":"tdml","backend":...,"world":...,"results":[...]}
nlohmann::json allreduce_bench_json(const Comm& comm, const std::vector<AllreduceSample>& samples);

}  // namespace tdml::dist
