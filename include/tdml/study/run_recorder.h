#pragma once
// Runs of the trainer (tdml::train::run_training) as study experiments use them: a fixed number
// of images, a per-step loss curve, one summary record. Not a second training loop.
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>

#include "tdml/train/options.h"

namespace tdml::study {

// How to see about `images` images at batch `batch` from a train split of n_train images:
// epochs x batches_per_epoch steps (each epoch reshuffled, as the trainer does).
struct RunPlan {
  int epochs = 1;
  std::int64_t batches_per_epoch = 1;
};
RunPlan plan_images(std::int64_t images, std::int64_t batch, std::int64_t n_train);

// Resets the kernel's peak-RSS mark (VmHWM) to the current RSS (/proc/self/clear_refs "5"),
// after returning freed heap to the kernel (malloc_trim). Returns false when the kernel refuses
// (the peak is then the peak since process start: conservative). LibTorch on CPU keeps no peak
// of its own, so this is how a CPU run's peak memory is made its own.
bool reset_peak_rss();

// Trains with `t` (peak RSS reset first) (t.out_dir gets the usual train metrics.json) and returns
// {"run_dir", "batch_size", "epochs", "steps", "images", "train_seconds", "samples_per_s",
//  "final_train_loss", "test_acc", "test_loss", "peak_memory_bytes", "data_wait_share",
//  "epochs_detail": [the trainer's epoch records], "loss_curve": [{"images", "loss"}] (per step,
//  when record_steps)}. on_epoch (optional) sees each epoch record as it completes.
// The trainer's log file sink is removed again afterwards.
nlohmann::json record_training(const train::TrainOptions& t, bool record_steps = true,
                               const std::function<void(const nlohmann::json&)>& on_epoch = {});

}  // namespace tdml::study
