#include "tdml/study/run_recorder.h"

#include <malloc.h>

#include <algorithm>
#include <fstream>

#include "tdml/train/trainer.h"
#include "tdml/util/log.h"

namespace tdml::study {
namespace {

// PlainStep plus a per-step record of the batch's mean loss (kept on the device: no sync).
class RecordingStep : public train::PlainStep {
 public:
  struct Curve {
    std::vector<std::int64_t> images;  // images seen after the step
    std::vector<torch::Tensor> loss;   // the step's mean loss
  };
  RecordingStep(train::StepSetup s, std::shared_ptr<Curve> curve)
      : PlainStep(s), curve_(std::move(curve)) {}
  void step(const data::Batch& batch, train::EpochTotals& totals) override {
    const auto before = totals.loss_sum.defined() ? totals.loss_sum.clone() : torch::Tensor();
    PlainStep::step(batch, totals);
    const auto n = static_cast<double>(batch.labels.size(0));
    auto sum = before.defined() ? totals.loss_sum - before : totals.loss_sum.clone();
    seen_ += batch.labels.size(0);
    curve_->images.push_back(seen_);
    curve_->loss.push_back(sum / n);
  }

 private:
  std::shared_ptr<Curve> curve_;
  std::int64_t seen_ = 0;
};

// Restores the default logger's sinks on scope exit (the trainer adds a train.log sink).
class SinkGuard {
 public:
  SinkGuard() : n_(spdlog::default_logger()->sinks().size()) {}
  ~SinkGuard() {
    auto& s = spdlog::default_logger()->sinks();
    if (s.size() > n_) s.resize(n_);
  }

 private:
  std::size_t n_;
};

}  // namespace

bool reset_peak_rss() {
  ::malloc_trim(0);
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

RunPlan plan_images(std::int64_t images, std::int64_t batch, std::int64_t n_train) {
  const std::int64_t steps = (images + batch - 1) / batch;
  const std::int64_t full = std::max<std::int64_t>(1, (n_train + batch - 1) / batch);
  RunPlan p;
  p.epochs = static_cast<int>((steps + full - 1) / full);
  p.batches_per_epoch = (steps + p.epochs - 1) / p.epochs;
  return p;
}

nlohmann::json record_training(const train::TrainOptions& t, bool record_steps,
                               const std::function<void(const nlohmann::json&)>& on_epoch) {
  auto curve = std::make_shared<RecordingStep::Curve>();
  train::TrainContext ctx;
  if (record_steps) {
    ctx.make_strategy = [curve](train::StepSetup s) {
      return std::make_unique<RecordingStep>(s, curve);
    };
  }
  if (on_epoch)
    ctx.on_epoch_end = [&](const nlohmann::json& e, const models::Model&) { on_epoch(e); };
  train::RunResult result;
  reset_peak_rss();
  {
    SinkGuard guard;
    result = train::run_training(t, ctx);
  }
  const auto& eps = result.metrics["epochs"];
  double seconds = 0, wait = 0;
  std::int64_t images = 0, steps = 0, peak = 0;
  for (const auto& e : eps) {
    seconds += e["epoch_time_s"].get<double>();
    wait += e["data_wait_s"].get<double>();
    images += e["train_samples"].get<std::int64_t>();
    steps += e["steps"].get<std::int64_t>();
    peak = std::max(peak, e["peak_memory_bytes"].get<std::int64_t>());
  }
  nlohmann::json rec = {
      {"run_dir", t.out_dir},
      {"batch_size", t.batch_size},
      {"epochs", t.epochs},
      {"steps", steps},
      {"images", images},
      {"train_seconds", seconds},
      {"samples_per_s", seconds > 0 ? images / seconds : 0.0},
      {"final_train_loss", eps.empty() ? 0.0 : eps.back()["train_loss"].get<double>()},
      {"test_acc", result.final_eval.accuracy},
      {"test_loss", result.final_eval.loss},
      {"peak_memory_bytes", peak},
      {"data_wait_share", seconds > 0 ? wait / seconds : 0.0},
      {"epochs_detail", eps}};
  if (record_steps) {
    nlohmann::json c = nlohmann::json::array();
    auto losses = curve->loss.empty()
                      ? torch::Tensor()
                      : torch::stack(curve->loss).to(torch::kCPU).to(torch::kDouble).flatten();
    for (std::size_t i = 0; i < curve->images.size(); ++i) {
      c.push_back({{"images", curve->images[i]},
                   {"loss", losses[static_cast<std::int64_t>(i)].item<double>()}});
    }
    rec["loss_curve"] = c;
  }
  return rec;
}

}  // namespace tdml::study
