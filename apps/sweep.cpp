// tdml sweep: batch size x loader workers grid (throughput, accuracy, epoch time per cell).
#include "tdml/study/sweep.h"

#include <sstream>

#include "cli_values.h"
#include "command.h"
#include "option_groups.h"
#include "train_options.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {


int sweep_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0],
                        "Grid of batch size x loader workers, one training run per cell; writes "
                        "DIR/metrics.json (and TensorBoard event files with --log-dir)");
  // clang-format off
  add_model_data_options(opts, "resnet50", "the study's sweep model");
  opts.add_options("Grid")
      ("batch-sizes", "Batch sizes", cxxopts::value<std::string>()->default_value("32,64,128"))
      ("workers", "Loader threads (0 = in the training thread)", cxxopts::value<std::string>()->default_value("0,2,4,8"))
      ("epochs", "Epochs per cell", cxxopts::value<int>()->default_value("2"))
      ("limit-train-batches", "Batches per epoch (0 = all; the study: 200)", cxxopts::value<std::int64_t>()->default_value("200"))
      ("limit-test-batches", "Test batches of 500 (0 = all)", cxxopts::value<std::int64_t>()->default_value("0"))
      ("augment", "Random crop + flip", cxxopts::value<bool>()->default_value("true"))
      ("lr", "SGD learning rate", cxxopts::value<double>()->default_value("0.1"))
      ("log-dir", "TensorBoard event files, one folder per cell", cxxopts::value<std::string>()->default_value(""));
  add_performance_options(opts);
  add_output_options(opts, "runs/sweep", "metrics.json, cells/");
  // clang-format on
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  study::SweepOptions o;
  auto& t = o.base;
  apply_shared_groups(r, t);
  t.epochs = r["epochs"].as<int>();
  t.limit_train_batches = r["limit-train-batches"].as<std::int64_t>();
  t.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  t.augment = r["augment"].as<bool>();
  t.optim.lr = r["lr"].as<double>();
  o.batch_sizes = parse_int_list("batch-sizes", r["batch-sizes"].as<std::string>());
  for (auto w : parse_int_list("workers", r["workers"].as<std::string>())) {
    o.workers.push_back(static_cast<int>(w));
  }
  o.log_dir = r["log-dir"].as<std::string>();
  o.out_dir = r["out"].as<std::string>();
  train::validate(t);
  auto doc = study::run_sweep(o);
  std::printf("%6s %8s %10s %9s %10s %9s\n", "batch", "workers", "img/s", "test acc", "epoch s",
              "wait %");
  for (const auto& c : doc["cells"]) {
    std::printf("%6lld %8d %10.1f %9.3f %10.2f %9.1f\n",
                static_cast<long long>(c["batch_size"].get<std::int64_t>()),
                c["workers"].get<int>(), c["samples_per_s"].get<double>(),
                c["test_acc"].get<double>(), c["epoch_time_s"].get<double>(),
                100 * c["data_wait_share"].get<double>());
  }
  return 0;
}

const Registration sweep_reg("sweep",
                       "Batch size x loader workers grid (throughput, accuracy, epoch time)", sweep_main);

}  // namespace
}  // namespace tdml::app
