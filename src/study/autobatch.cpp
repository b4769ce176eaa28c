#include "tdml/study/autobatch.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#ifdef TDML_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "tdml/data/source.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/model.h"
#include "tdml/study/run_recorder.h"
#include "tdml/train/amp.h"
#include "tdml/train/optim.h"
#include "tdml/train/trainer.h"
#include "tdml/util/allocator.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"
#include "tdml/util/system.h"
#include "util/timer.h"

namespace tdml::study {
namespace {

std::int64_t mem_available_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  std::int64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit) {
    if (key == "MemAvailable:") return kb * 1024;
  }
  return 0;
}

double mib(std::int64_t b) { return static_cast<double>(b) / 1048576.0; }

}  // namespace

nlohmann::json SearchResult::to_json() const {
  nlohmann::json p = nlohmann::json::array();
  for (const auto& r : probes) {
    p.push_back({{"batch", r.batch},
                 {"phase", r.phase},
                 {"fits", r.result.fits},
                 {"peak_memory_bytes", r.result.peak_bytes},
                 {"reason", r.result.reason},
                 {"seconds", r.seconds}});
  }
  return {{"batch", batch},
          {"hit_cap", hit_cap},
          {"probes", p},
          {"num_probes", probes.size()},
          {"seconds", seconds}};
}

SearchResult search_batch_size(const BatchProbe& probe, const SearchOptions& o) {
  if (o.start < 1 || o.max_batch < o.start || o.resolution < 0) {
    throw UsageError("autobatch: need 1 <= start <= max batch and resolution >= 0");
  }
  SearchResult res;
  util::Stopwatch total;
  auto try_batch = [&](std::int64_t b, const char* phase) {
    util::Stopwatch sw;
    ProbeRecord rec{b, phase, probe(b), 0};
    rec.seconds = sw.seconds();
    spdlog::info("autobatch: {} probe batch {}: {} (peak {:.0f} MiB{}{})", phase, b,
                 rec.result.fits ? "fits" : "fails", mib(rec.result.peak_bytes),
                 rec.result.reason.empty() ? "" : ", ", rec.result.reason);
    res.probes.push_back(rec);
    return rec.result.fits;
  };

  std::int64_t lo = 0, hi = 0;  // largest fit, smallest failure (0: none yet)
  if (try_batch(o.start, "exponential")) {
    lo = o.start;
    while (lo < o.max_batch) {
      const std::int64_t b = std::min(lo * 2, o.max_batch);
      if (!try_batch(b, "exponential")) {
        hi = b;
        break;
      }
      lo = b;
    }
    if (hi == 0) res.hit_cap = true;
  } else {
    hi = o.start;
    for (std::int64_t b = o.start / 2; b >= 1; b /= 2) {
      if (try_batch(b, "descend")) {
        lo = b;
        break;
      }
      hi = b;
    }
    if (lo == 0) throw Error("autobatch: even batch size 1 does not fit in memory");
  }
  auto resolution = [&] {
    return o.resolution > 0 ? o.resolution : std::max<std::int64_t>(1, lo / 16);
  };
  while (hi != 0 && hi - lo > resolution()) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (try_batch(mid, "binary") ? lo : hi) = mid;
  }
  res.batch = lo;
  res.seconds = total.seconds();
  return res;
}

BatchProbe budget_probe(StepRunner run, std::int64_t budget_bytes) {
  // (batch, peak) of the probes that fit, for the linear extrapolation.
  auto fits = std::make_shared<std::vector<std::pair<std::int64_t, std::int64_t>>>();
  return [run = std::move(run), budget_bytes, fits](std::int64_t batch) {
    ProbeResult r;
    if (budget_bytes > 0 && fits->size() >= 2) {
      auto sorted = *fits;
      std::sort(sorted.begin(), sorted.end());
      const auto& [b1, p1] = sorted[sorted.size() - 2];
      const auto& [b2, p2] = sorted.back();
      if (batch > b2 && b2 > b1) {
        const double slope = std::max(0.0, double(p2 - p1) / double(b2 - b1));
        const double predicted = double(p2) + slope * double(batch - b2);
        if (predicted > 1.25 * double(budget_bytes)) {
          r.reason = "predicted over budget";
          return r;
        }
      }
    }
    try {
      r.peak_bytes = run(batch);
    } catch (const OutOfMemory&) {
      r.reason = "out of memory";
      return r;
    }
    if (budget_bytes > 0 && r.peak_bytes > budget_bytes) {
      r.reason = "over budget";
      return r;
    }
    r.fits = true;
    fits->emplace_back(batch, r.peak_bytes);
    return r;
  };
}

std::int64_t default_memory_budget() {
  const std::int64_t half = util::total_ram_bytes() / 2;
  const std::int64_t avail = mem_available_bytes();
  if (avail <= 0) return half;
  return std::min(half, util::current_rss_bytes() + avail / 5 * 4);
}

StepRunner training_step_runner(const TrainingProbeOptions& o) {
  struct State {
    torch::Device device = torch::kCPU;
    train::AmpMode amp = train::AmpMode::kOff;
    std::shared_ptr<models::Model> model;
    std::unique_ptr<torch::optim::Optimizer> opt;
    std::unique_ptr<train::GradScaler> scaler;
    bool warned = false;  // about an unresettable peak RSS
  };
  auto st = std::make_shared<State>();
  st->device = util::resolve_device(o.device);
  st->amp = train::parse_amp(o.amp, st->device);
  torch::manual_seed(o.seed);
  st->model = models::make_model(o.model);
  st->model->to(st->device);
  if (o.channels_last) train::to_channels_last(*st->model);
  st->opt = train::make_optimizer(st->model->parameters(), train::OptimizerOptions{});
  st->scaler = std::make_unique<train::GradScaler>(st->amp == train::AmpMode::kFp16, st->device);
  const bool channels_last = o.channels_last;
  return [st, channels_last](std::int64_t batch) -> std::int64_t {
    const auto& d = st->device;
    bool oom = false;
    {
      // Freed blocks stay in the heap (util/allocator.h): hand them back first, so the peak
      // after the reset is this probe's.
      if (d.is_cpu()) util::release_free_memory();
      if (d.is_cpu() && !reset_peak_rss() && !st->warned) {
        st->warned = true;
        spdlog::warn("autobatch: cannot reset peak RSS; probes measure the peak since start");
      }
      util::reset_peak_memory(d);
      try {
        data::Batch b;
        b.images = torch::randn({batch, 3, 32, 32}, torch::TensorOptions().device(d));
        if (channels_last) b.images = b.images.contiguous(torch::MemoryFormat::ChannelsLast);
        b.labels =
            torch::randint(0, 10, {batch}, torch::TensorOptions().dtype(torch::kLong).device(d));
        st->model->train();
        train::PlainStep step({*st->model, *st->opt, d, st->amp, *st->scaler});
        train::EpochTotals totals;
        step.step(b, totals);
        util::synchronize(d);
      } catch (const c10::OutOfMemoryError&) {
        oom = true;
      }
    }
    const std::int64_t peak = util::peak_memory_bytes(d);
    st->opt->zero_grad();
#ifdef TDML_HAS_CUDA
    if (d.is_cuda()) c10::cuda::CUDACachingAllocator::emptyCache();
#endif
    if (oom) throw OutOfMemory("out of memory at batch " + std::to_string(batch));
    return peak;
  };
}

namespace {

// The training run that compares a batch size: the same images, lr scaled linearly.
train::TrainOptions comparison_run(const AutobatchOptions& o, int threads, std::int64_t batch,
                                   std::int64_t n_train) {
  RunPlan plan = plan_images(o.images, batch, n_train);
  train::TrainOptions t;
  t.model = o.probe.model;
  t.data = o.data;
  t.device = o.probe.device;
  t.amp = o.probe.amp;
  t.channels_last = o.probe.channels_last;
  t.threads = threads;
  t.seed = o.probe.seed;
  t.batch_size = batch;
  t.epochs = plan.epochs;
  t.limit_train_batches = plan.batches_per_epoch;
  t.limit_test_batches = o.limit_test_batches;
  t.optim.lr = o.lr * static_cast<double>(batch) / static_cast<double>(o.static_batch);
  t.schedule.name = "constant";
  t.schedule.warmup_epochs = o.warmup_fraction * plan.epochs;
  return t;
}

}  // namespace

nlohmann::json run_autobatch(const AutobatchOptions& o) {
  if (o.static_batch < 1 || o.images < 1 || o.warmup_fraction < 0 || o.warmup_fraction > 1) {
    throw UsageError("autobatch: need --batch-size >= 1, --images >= 1, warmup fraction in [0,1]");
  }
  const int threads = util::set_threads(o.threads);
  const torch::Device device = util::resolve_device(o.probe.device);
  std::int64_t budget = o.mem_budget_bytes;
  if (budget <= 0 && device.is_cpu()) budget = default_memory_budget();
  metrics::MetricsFile mf(o.out_dir, "autobatch");
  auto& doc = mf.doc();
  doc["config"] = {{"model", o.probe.model},
                   {"device", device.str()},
                   {"amp", o.probe.amp},
                   {"channels_last", o.probe.channels_last},
                   {"threads", threads},
                   {"seed", o.probe.seed},
                   {"data", o.data},
                   {"static_batch", o.static_batch},
                   {"start_batch", o.search.start},
                   {"max_batch", o.search.max_batch},
                   {"resolution", o.search.resolution},
                   {"mem_budget_bytes", budget},
                   {"images", o.images},
                   {"lr", o.lr},
                   {"lr_rule", "linear: lr * batch / static_batch, warmup over warmup_fraction"},
                   {"warmup_fraction", o.warmup_fraction},
                   {"limit_test_batches", o.limit_test_batches}};
  doc["memory_kind"] = util::peak_memory_kind(device);
  mf.flush();

  SearchResult found;
  try {
    {
      auto probe = budget_probe(training_step_runner(o.probe), budget);
      spdlog::info("autobatch: {} on {}, budget {}", o.probe.model, device.str(),
                   budget > 0 ? std::to_string(static_cast<long long>(mib(budget))) + " MiB"
                              : std::string("device memory"));
      found = search_batch_size(probe, o.search);
    }  // the probe's model and optimizer are freed here
    doc["search"] = found.to_json();
    mf.flush();
    spdlog::info("autobatch: largest batch {} ({} probes, {:.1f} s){}", found.batch,
                 found.probes.size(), found.seconds, found.hit_cap ? " [cap reached]" : "");
    if (!o.search_only) {
      const std::int64_t n_train = data::load_data(o.data).train.size();
      nlohmann::json runs = nlohmann::json::array();
      for (auto [name, batch] : {std::pair<std::string, std::int64_t>{"static", o.static_batch},
                                 {"auto", found.batch}}) {
        auto t = comparison_run(o, threads, batch, n_train);
        t.out_dir = o.out_dir + "/" + name;
        auto rec = record_training(t);
        rec["name"] = name;
        rec["lr"] = t.optim.lr;
        runs.push_back(rec);
        doc["runs"] = runs;
        mf.flush();
      }
      const double s = runs[0]["samples_per_s"].get<double>();
      doc["speedup"] = s > 0 ? runs[1]["samples_per_s"].get<double>() / s : 0.0;
    }
    mf.finish("completed");
  } catch (const std::exception& e) {
    mf.finish("failed", e.what());
    throw;
  }
  return doc;
}

}  // namespace tdml::study
