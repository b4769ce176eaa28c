// tdml eval: test loss, accuracy and confusion matrix of a checkpoint.
#include <iostream>

#include "command.h"
#include "tdml/data/source.h"
#include "tdml/models/model.h"
#include "tdml/models/state_dict.h"
#include "tdml/train/checkpoint.h"
#include "tdml/train/evaluate.h"
#include "tdml/util/device.h"
#include "tdml/util/error.h"

namespace tdml::app {
namespace {

int eval_main(int argc, char** argv) {
  cxxopts::Options opts(argv[0], "Evaluate a checkpoint on the CIFAR-10 test set");
  opts.add_options()("checkpoint", "checkpoint.pt written by tdml train --save",
                     cxxopts::value<std::string>())(
      "model", "Model name (default: inferred from the checkpoint's keys)",
      cxxopts::value<std::string>()->default_value(""))(
      "data", "CIFAR-10 dir, 'synthetic' or 'auto'", cxxopts::value<std::string>()->default_value("auto"))(
      "batch-size", "Evaluation batch", cxxopts::value<std::int64_t>()->default_value("500"))(
      "device", "auto | cpu | cuda[:N]", cxxopts::value<std::string>()->default_value("auto"))(
      "threads", "Intra-op threads (0 = all)", cxxopts::value<int>()->default_value("0"))(
      "json", "Print JSON instead of text");
  cxxopts::ParseResult r;
  if (!parse(opts, argc, argv, r)) return 0;
  if (!r.count("checkpoint")) throw UsageError("--checkpoint is required");
  const auto path = r["checkpoint"].as<std::string>();
  util::set_threads(r["threads"].as<int>());
  auto name = r["model"].as<std::string>();
  if (name.empty()) name = train::infer_model_name(path);
  if (name.empty()) throw Error(path + " does not match any tdml model; pass --model");
  auto splits = data::load_data(r["data"].as<std::string>());
  auto model = models::make_model(name, splits.test.num_classes);
  models::load_state_dict(*model, models::load_tensors(path), /*strict=*/true);
  train::EvalOptions eo;
  eo.device = util::resolve_device(r["device"].as<std::string>());
  eo.batch_size = r["batch-size"].as<std::int64_t>();
  model->to(eo.device);
  model->eval();
  auto ev = train::evaluate([&](const torch::Tensor& x) { return model->forward(x); }, splits.test, eo);
  if (r.count("json")) {
    auto j = ev.to_json();
    j["model"] = name;
    j["data"] = splits.description;
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::cout << name << " on " << splits.description << ": test loss " << ev.loss << ", accuracy "
            << ev.accuracy << " (" << ev.samples << " images)\nconfusion matrix (rows: true, "
            << "columns: predicted):\n"
            << ev.confusion << std::endl;
  return 0;
}

const Registration eval_reg("eval", "Evaluate a checkpoint (loss, accuracy, confusion matrix)", eval_main);

}  // namespace
}  // namespace tdml::app
