#include "tdml/train/throughput.h"

#include "tdml/models/model.h"
#include "tdml/train/amp.h"
#include "tdml/train/optim.h"
#include "tdml/train/trainer.h"
#include "tdml/util/device.h"
#include "util/timer.h"

namespace tdml::train {
namespace {

// Times `iters` calls of fn after `warmup` untimed ones; returns seconds per call.
template <typename F>
double time_per_call(const torch::Device& d, int warmup, int iters, F&& fn) {
  for (int i = 0; i < warmup; ++i) fn();
  util::synchronize(d);
  util::Stopwatch sw;
  for (int i = 0; i < iters; ++i) fn();
  util::synchronize(d);
  return sw.seconds() / iters;
}

}  // namespace

nlohmann::json measure_throughput(const ThroughputOptions& o) {
  const int threads = util::set_threads(o.threads);
  const torch::Device device = util::resolve_device(o.device);
  const AmpMode amp = parse_amp(o.amp, device);
  torch::manual_seed(o.seed);
  auto model = models::make_model(o.model);
  model->to(device);
  auto fmt = o.channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  if (o.channels_last) to_channels_last(*model);
  data::Batch batch;
  batch.images = torch::randn({o.batch_size, 3, 32, 32}, torch::TensorOptions().device(device))
                     .contiguous(fmt);
  batch.labels = torch::randint(0, 10, {o.batch_size}, torch::TensorOptions().dtype(torch::kLong).device(device));
  util::reset_peak_memory(device);

  nlohmann::json r = {{"model", o.model},
                      {"batch_size", o.batch_size},
                      {"device", device.str()},
                      {"amp", amp_name(amp)},
                      {"channels_last", o.channels_last},
                      {"threads", threads},
                      {"parameters", models::parameter_count(*model)},
                      {"gradient_bytes", models::parameter_bytes(*model)}};
  model->eval();
  const double fwd = time_per_call(device, o.warmup, o.iters, [&] {
    torch::NoGradGuard g;
    AutocastGuard autocast(amp, device.type());
    model->forward(batch.images);
  });
  r["forward"] = {{"ms_per_iter", fwd * 1e3}, {"images_per_s", o.batch_size / fwd}};
  if (o.train) {
    model->train();
    auto opt = make_optimizer(model->parameters(), OptimizerOptions{});
    GradScaler scaler(amp == AmpMode::kFp16, device);
    PlainStep step({*model, *opt, device, amp, scaler});
    EpochTotals totals;
    const double tr = time_per_call(device, o.warmup, o.iters, [&] { step.step(batch, totals); });
    r["train"] = {{"ms_per_iter", tr * 1e3}, {"images_per_s", o.batch_size / tr}};
  }
  r["peak_memory_bytes"] = util::peak_memory_bytes(device);
  r["memory_kind"] = util::peak_memory_kind(device);
  return r;
}

}  // namespace tdml::train
