// tdml train: train a model on CIFAR-10 (single process; ddp and pipeline modes).
#include "command.h"
#include "dist_options.h"
#include "tdml/train/trainer.h"
#include "tdml/util/error.h"
#include "train_ddp.h"
#include "train_options.h"
#include "train_pipeline.h"

namespace tdml::app {
namespace {

// Flags that only one mode reads: given with another mode, they are refused (one line).
void refuse_flags_of_other_modes(const cxxopts::ParseResult& r, const std::string& mode) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> only = {
      {"pipeline", {"stages", "micro-batches", "pipeline-schedule", "split", "describe"}},
      {"ddp", {"bucket-cap-mb", "first-bucket-mb", "broadcast-buffers"}}};
  for (const auto& [owner, flags] : only) {
    if (owner == mode) continue;
    for (const auto& f : flags) {
      if (r.count(f)) throw UsageError("--" + f + " applies to --mode " + owner + ", not " + mode);
    }
  }
  if (mode == "single") refuse_distributed_flags(r, "--mode single (use --mode ddp or pipeline)");
}

int train_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Train a model on CIFAR-10; writes DIR/metrics.json");
  opts.add_options("Mode")("mode", "single | ddp | pipeline",
                           cxxopts::value<std::string>()->default_value("single"));
  add_train_options(opts);
  add_train_ledger_options(opts);
  add_pipeline_options(opts);
  add_train_ddp_options(opts);
  add_dist_options(opts);
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  const auto mode = r["mode"].as<std::string>();
  if (mode != "single" && mode != "ddp" && mode != "pipeline") {
    throw UsageError("--mode " + mode + ": expected single, ddp or pipeline");
  }
  refuse_flags_of_other_modes(r, mode);
  if (mode == "ddp") return run_train_ddp(r);
  if (mode == "pipeline") return run_train_pipeline(r);
  train::TrainContext ctx;
  ctx.observers = train_observers_from(r);
  train::run_training(train_options_from(r), ctx);
  return 0;
}

const Registration train_reg("train", "Train a model (metrics.json, checkpoints)", train_main);

}  // namespace
}  // namespace tdml::app
