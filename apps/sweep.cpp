// tdml sweep: batch size x loader workers grid (throughput, accuracy, epoch time per cell).
#include "tdml/study/sweep.h"

#include <sstream>

#include "command.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {

template <typename T>
std::vector<T> parse_list(const std::string& opt, const std::string& s) {
  std::vector<T> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) {
    try {
      std::size_t used = 0;
      out.push_back(static_cast<T>(std::stoll(x, &used)));
      if (used != x.size()) throw std::invalid_argument(x);
    } catch (const std::exception&) {
      throw UsageError("--" + opt + " " + s + ": expected comma-separated integers");
    }
  }
  return out;
}

int run(int argc, char** argv) {
  train::TrainOptions d;
  cxxopts::Options opts(argv[0],
                        "Grid of batch size x loader workers, one training run per cell; writes "
                        "DIR/metrics.json (and TensorBoard event files with --log-dir)");
  // clang-format off
  opts.add_options()
      ("model", "tinycnn | smallcifarcnn | resnet50", cxxopts::value<std::string>()->default_value("resnet50"))
      ("batch-sizes", "Batch sizes", cxxopts::value<std::string>()->default_value("32,64,128"))
      ("workers", "Loader threads (0 = in the training thread)", cxxopts::value<std::string>()->default_value("0,2,4,8"))
      ("epochs", "Epochs per cell", cxxopts::value<int>()->default_value("2"))
      ("limit-train-batches", "Batches per epoch (0 = all; the study: 200)", cxxopts::value<std::int64_t>()->default_value("200"))
      ("limit-test-batches", "Test batches of 500 (0 = all)", cxxopts::value<std::int64_t>()->default_value("0"))
      ("data", "CIFAR-10 dir, 'synthetic' or 'auto'", cxxopts::value<std::string>()->default_value(d.data))
      ("augment", "Random crop + flip", cxxopts::value<bool>()->default_value("true"))
      ("lr", "SGD learning rate", cxxopts::value<double>()->default_value("0.1"))
      ("seed", "Seed", cxxopts::value<std::uint64_t>()->default_value("0"))
      ("device", "auto | cpu | cuda[:N]", cxxopts::value<std::string>()->default_value(d.device))
      ("threads", "Intra-op threads (0 = all cores)", cxxopts::value<int>()->default_value("0"))
      ("amp", "off | bf16 | fp16", cxxopts::value<std::string>()->default_value(d.amp))
      ("channels-last", "NHWC memory format", cxxopts::value<bool>()->default_value("false"))
      ("log-dir", "TensorBoard event files, one folder per cell", cxxopts::value<std::string>()->default_value(""))
      ("out", "Run directory (metrics.json, cells/)", cxxopts::value<std::string>()->default_value("runs/sweep"));
  // clang-format on
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  study::SweepOptions o;
  auto& t = o.base;
  t.model = r["model"].as<std::string>();
  t.epochs = r["epochs"].as<int>();
  t.limit_train_batches = r["limit-train-batches"].as<std::int64_t>();
  t.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  t.data = r["data"].as<std::string>();
  t.augment = r["augment"].as<bool>();
  t.optim.lr = r["lr"].as<double>();
  t.seed = r["seed"].as<std::uint64_t>();
  t.device = r["device"].as<std::string>();
  t.threads = r["threads"].as<int>();
  t.amp = r["amp"].as<std::string>();
  t.channels_last = r["channels-last"].as<bool>();
  o.batch_sizes = parse_list<std::int64_t>("batch-sizes", r["batch-sizes"].as<std::string>());
  o.workers = parse_list<int>("workers", r["workers"].as<std::string>());
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

const Registration reg("sweep",
                       "Batch size x loader workers grid (throughput, accuracy, epoch time)", run);

}  // namespace
}  // namespace tdml::app
