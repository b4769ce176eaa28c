#pragma once
// Automatic batch size: the largest batch that runs one training step (forward, backward,
// optimizer step), found by exponential doubling then binary search, against the memory of
// the device. On CUDA an out-of-memory error is a failed probe (freed, search continues); on
// CPU a probe fails when the process's measured peak RSS during the step exceeds a budget.
// The search only sees a BatchProbe, so tests can give it a fake memory model.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace tdml::study {

struct ProbeResult {
  bool fits = false;            // the step ran and stayed within the budget
  std::int64_t peak_bytes = 0;  // peak memory measured during the step (0: not run)
  std::string reason;  // when !fits: "out of memory", "over budget", "predicted over budget"
};

// Tries one batch size. May throw tdml::Error for failures that are not about memory.
using BatchProbe = std::function<ProbeResult(std::int64_t batch)>;

struct SearchOptions {
  std::int64_t start = 32;        // first batch size tried (halved while it does not fit)
  std::int64_t max_batch = 4096;  // never probe above this (the study's cap)
  // Binary search stops when fail - fit <= resolution; 0 = lo/16 (within ~6%: CPU peak RSS is
  // noisy by a few %, and each probe of a large batch costs seconds).
  std::int64_t resolution = 0;
};

struct ProbeRecord {
  std::int64_t batch = 0;
  std::string phase;  // "exponential", "descend" or "binary"
  ProbeResult result;
  double seconds = 0;  // wall time of the probe
};

struct SearchResult {
  std::int64_t batch = 0;           // the largest batch that fit
  bool hit_cap = false;             // max_batch fit: the true limit may be higher
  std::vector<ProbeRecord> probes;  // in the order they ran
  double seconds = 0;               // wall time of the whole search
  nlohmann::json to_json() const;
};

// Exponential doubling from o.start (capped at o.max_batch) until a probe fails, then binary
// search between the last fit and the first failure. Throws tdml::Error when batch 1 fails and
// tdml::UsageError on bad options.
SearchResult search_batch_size(const BatchProbe& probe, const SearchOptions& o);

// Thrown by a StepRunner when the device ran out of memory (after freeing what it could).
struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs one training step at `batch` and returns the peak memory measured during it; throws
// OutOfMemory when the device is out of memory.
using StepRunner = std::function<std::int64_t(std::int64_t batch)>;

// A probe against a memory budget: OutOfMemory and a measured peak over `budget_bytes` fail.
// So that the CPU search never pushes the machine into swap, a batch whose peak, extrapolated
// linearly from the two largest fitting probes, exceeds 1.25 x budget is failed without running
// ("predicted over budget"). budget_bytes <= 0: only OutOfMemory fails (CUDA).
BatchProbe budget_probe(StepRunner run, std::int64_t budget_bytes);

// The default CPU budget: half of physical RAM, but no more than this process's RSS plus 80% of
// MemAvailable (a safe share on a shared machine).
std::int64_t default_memory_budget();

struct TrainingProbeOptions {
  std::string model = "resnet50";
  std::string device = "auto";  // auto | cpu | cuda[:N]
  std::string amp = "off";      // off | bf16 | fp16
  bool channels_last = false;
  std::uint64_t seed = 0;
};

// A StepRunner doing the real thing: one PlainStep (as `tdml train`) of the model with SGD
// (momentum 0.9) on random images at `batch`. CUDA: peak = max allocated, OutOfMemory after
// freeing the cache; CPU: peak RSS of the process during the step. The model lives as long as
// the returned function.
StepRunner training_step_runner(const TrainingProbeOptions& o);

struct AutobatchOptions {
  TrainingProbeOptions probe;           // model, device, amp, channels_last, seed
  SearchOptions search;                 // start, cap, resolution
  std::int64_t mem_budget_bytes = 0;    // 0: default_memory_budget() on CPU, none on CUDA
  std::string data = "auto";            // DIR, "synthetic" or "auto"
  std::int64_t static_batch = 128;      // the baseline batch size
  std::int64_t images = 20480;          // images trained with each batch size (the study's 20,480)
  double lr = 0.1;                      // SGD lr at static_batch; the found batch gets lr*B/static
  double warmup_fraction = 0.2;         // linear warmup over this share of each run's steps
  std::int64_t limit_test_batches = 4;  // test batches (of 500) evaluated after each run
  int threads = 0;                      // intra-op threads (0 = all cores)
  bool search_only = false;             // skip the two training runs
  std::string out_dir = "runs/autobatch";  // metrics.json; static/ and auto/ train runs
};

// The whole experiment: search, then train `images` images with static_batch and with the
// found batch (same data order, seed and schedule shape). Writes out_dir/metrics.json (kind
// "autobatch") and returns it.
nlohmann::json run_autobatch(const AutobatchOptions& o);

}  // namespace tdml::study
