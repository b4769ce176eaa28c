#include "tdml/study/sweep.h"

#include <memory>

#include "tdml/metrics/metrics_file.h"
#include "tdml/study/run_recorder.h"
#include "tdml/study/tfevents.h"
#include "tdml/util/error.h"
#include "tdml/util/log.h"

namespace tdml::study {

const std::vector<std::string>& sweep_scalar_tags() {
  static const std::vector<std::string> tags = {"loss/train",
                                                "loss/test",
                                                "accuracy/train",
                                                "accuracy/test",
                                                "throughput/images_per_s",
                                                "time/epoch_s",
                                                "share/loader_wait",
                                                "share/compute",
                                                "memory/peak_mib"};
  return tags;
}

namespace {

void write_epoch_scalars(EventWriter& w, const nlohmann::json& e) {
  const auto step = e["epoch"].get<std::int64_t>();
  const double t = e["epoch_time_s"].get<double>();
  const double wait = e["data_wait_s"].get<double>();
  const std::vector<double> values = {
      e["train_loss"].get<double>(),
      e["test_loss"].get<double>(),
      e["train_acc"].get<double>(),
      e["test_acc"].get<double>(),
      e["samples_per_s"].get<double>(),
      t,
      t > 0 ? wait / t : 0.0,
      t > 0 ? (t - wait) / t : 0.0,
      static_cast<double>(e["peak_memory_bytes"].get<std::int64_t>()) / 1048576.0};
  const auto& tags = sweep_scalar_tags();
  for (std::size_t i = 0; i < tags.size(); ++i) w.add_scalar(tags[i], step, values[i]);
}

}  // namespace

nlohmann::json run_sweep(const SweepOptions& o) {
  if (o.batch_sizes.empty() || o.workers.empty()) {
    throw UsageError("sweep: --batch-sizes and --workers need at least one value each");
  }
  for (auto b : o.batch_sizes) {
    if (b < 1) throw UsageError("sweep: batch sizes must be >= 1");
  }
  for (auto w : o.workers) {
    if (w < 0) throw UsageError("sweep: workers must be >= 0");
  }
  metrics::MetricsFile mf(o.out_dir, "sweep");
  auto& doc = mf.doc();
  auto cfg = train::to_json(o.base);
  cfg.erase("batch_size");
  doc["config"] = cfg;
  doc["config"]["batch_sizes"] = o.batch_sizes;
  doc["config"]["workers"] = o.workers;
  doc["config"]["log_dir"] = o.log_dir;
  doc["config"]["workers_meaning"] =
      "loader threads preparing batches; 0 = in the training thread; prefetch = 2 x workers";
  doc["cells"] = nlohmann::json::array();
  mf.flush();
  try {
    for (auto b : o.batch_sizes) {
      for (auto w : o.workers) {
        const std::string name = "b" + std::to_string(b) + "_w" + std::to_string(w);
        spdlog::info("sweep: cell {} (batch {}, workers {})", name, b, w);
        train::TrainOptions t = o.base;
        t.batch_size = b;
        t.loader_workers = w;  // 0: in the training thread, as everywhere
        t.prefetch = 2 * w;
        t.out_dir = o.out_dir + "/cells/" + name;
        std::unique_ptr<EventWriter> tb;
        if (!o.log_dir.empty()) tb = std::make_unique<EventWriter>(o.log_dir + "/" + name);
        auto rec = record_training(t, false, [&](const nlohmann::json& e) {
          if (tb) write_epoch_scalars(*tb, e);
        });
        double epoch_time = 0;
        for (const auto& e : rec["epochs_detail"]) epoch_time += e["epoch_time_s"].get<double>();
        const auto n_epochs = rec["epochs_detail"].size();
        nlohmann::json cell = {{"name", name},
                               {"batch_size", b},
                               {"workers", w},
                               {"samples_per_s", rec["samples_per_s"]},
                               {"test_acc", rec["test_acc"]},
                               {"test_loss", rec["test_loss"]},
                               {"final_train_loss", rec["final_train_loss"]},
                               {"epoch_time_s", n_epochs ? epoch_time / n_epochs : 0.0},
                               {"data_wait_share", rec["data_wait_share"]},
                               {"peak_memory_bytes", rec["peak_memory_bytes"]},
                               {"images", rec["images"]},
                               {"run_dir", t.out_dir},
                               {"epochs", rec["epochs_detail"]}};
        if (tb) cell["tfevents"] = tb->path();
        doc["cells"].push_back(cell);
        mf.flush();
        spdlog::info("sweep: {}: {:.0f} img/s, test acc {:.3f}, {:.2f} s/epoch", name,
                     cell["samples_per_s"].get<double>(), cell["test_acc"].get<double>(),
                     cell["epoch_time_s"].get<double>());
      }
    }
    mf.finish("completed");
  } catch (const std::exception& e) {
    mf.finish("failed", e.what());
    throw;
  }
  return doc;
}

}  // namespace tdml::study
