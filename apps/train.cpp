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

int run(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Train a model on CIFAR-10; writes DIR/metrics.json");
  opts.add_options("Mode")("mode", "single | ddp | pipeline",
                           cxxopts::value<std::string>()->default_value("single"));
  add_train_options(opts);
  add_pipeline_options(opts);
  add_train_ddp_options(opts);  // also the distributed options (--nproc, --backend ...)
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  const auto mode = r["mode"].as<std::string>();
  if (mode == "ddp") return run_train_ddp(r);
  if (mode == "pipeline") return run_train_pipeline(r);
  if (mode != "single") throw UsageError("--mode " + mode + ": expected single, ddp or pipeline");
  if (r["nproc"].as<int>() != 1 || r["nnodes"].as<int>() != 1) {
    throw UsageError("--nproc/--nnodes need --mode ddp or --mode pipeline");
  }
  train::run_training(train_options_from(r));
  return 0;
}

const Registration reg("train", "Train a model (metrics.json, checkpoints)", run);

}  // namespace
}  // namespace tdml::app
