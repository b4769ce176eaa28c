// tdml bench throughput: forward-only and training images/s on in-memory tensors.
#include <iostream>
#include <sstream>

#include "command.h"
#include "tdml/metrics/metrics_file.h"
#include "tdml/models/model.h"
#include "tdml/train/throughput.h"

namespace tdml::app {
namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(x);
  return out;
}

int bench_throughput_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Forward and training throughput of models on in-memory tensors");
  opts.add_options()
      ("model", "Model(s), comma-separated, or 'all'", cxxopts::value<std::string>()->default_value("smallcifarcnn"))
      ("batch-size", "Batch size", cxxopts::value<std::int64_t>()->default_value("128"))
      ("amp", "off | bf16 | fp16, comma-separated for several", cxxopts::value<std::string>()->default_value("off"))
      ("channels-last", "NHWC memory format", cxxopts::value<bool>()->default_value("false"))
      ("device", "auto | cpu | cuda[:N]", cxxopts::value<std::string>()->default_value("auto"))
      ("threads", "Intra-op threads (0 = all cores)", cxxopts::value<int>()->default_value("0"))
      ("iters", "Timed iterations", cxxopts::value<int>()->default_value("20"))
      ("warmup", "Untimed iterations first", cxxopts::value<int>()->default_value("3"))
      ("forward-only", "Skip the training step")
      ("out", "Run directory for metrics.json", cxxopts::value<std::string>()->default_value("runs/throughput"));
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  auto names = r["model"].as<std::string>() == "all" ? std::vector<std::string>{} : split_list(r["model"].as<std::string>());
  if (names.empty()) {
    for (auto& m : models::list_models()) names.push_back(m.name);
  }
  metrics::MetricsFile mf(r["out"].as<std::string>(), "bench.throughput");
  mf.doc()["results"] = nlohmann::json::array();
  std::printf("%-14s %-5s %6s %12s %12s %12s %12s\n", "model", "amp", "batch", "fwd ms", "fwd img/s",
              "train ms", "train img/s");
  for (const auto& name : names) {
    for (const auto& amp : split_list(r["amp"].as<std::string>())) {
      train::ThroughputOptions o;
      o.model = name;
      o.amp = amp;
      o.batch_size = r["batch-size"].as<std::int64_t>();
      o.channels_last = r["channels-last"].as<bool>();
      o.device = r["device"].as<std::string>();
      o.threads = r["threads"].as<int>();
      o.iters = r["iters"].as<int>();
      o.warmup = r["warmup"].as<int>();
      o.train = !r.count("forward-only");
      auto res = train::measure_throughput(o);
      std::printf("%-14s %-5s %6lld %12.1f %12.0f %12.1f %12.0f\n", name.c_str(), amp.c_str(),
                  static_cast<long long>(o.batch_size), res["forward"]["ms_per_iter"].get<double>(),
                  res["forward"]["images_per_s"].get<double>(),
                  o.train ? res["train"]["ms_per_iter"].get<double>() : 0.0,
                  o.train ? res["train"]["images_per_s"].get<double>() : 0.0);
      std::fflush(stdout);
      mf.doc()["results"].push_back(res);
      mf.flush();
    }
  }
  mf.finish("completed");
  return 0;
}

const Registration bench_throughput_reg("bench throughput", "Forward/training images/s of models (in-memory tensors)", bench_throughput_main);

}  // namespace
}  // namespace tdml::app
