#include "train_options.h"

namespace tdml::app {

void add_train_options(cxxopts::Options& opts) {
  train::TrainOptions d;
  auto s = [](auto v) { return std::to_string(v); };
  opts.add_options("Model and data")
      ("model", "tinycnn | smallcifarcnn | resnet50", cxxopts::value<std::string>()->default_value(d.model))
      ("data", "CIFAR-10 dir, 'synthetic', or 'auto' ($TDML_DATA, ./data, download, else synthetic)",
       cxxopts::value<std::string>()->default_value(d.data))
      ("augment", "Random crop + flip (--augment=false to disable)", cxxopts::value<bool>()->default_value("true"))
      ("limit-train-batches", "Stop each epoch after N batches (0 = all)", cxxopts::value<std::int64_t>()->default_value("0"))
      ("limit-test-batches", "Evaluate on N test batches (0 = all)", cxxopts::value<std::int64_t>()->default_value("0"));
  opts.add_options("Optimisation")
      ("epochs", "Epochs", cxxopts::value<int>()->default_value(s(d.epochs)))
      ("batch-size", "Batch size (per rank)", cxxopts::value<std::int64_t>()->default_value(s(d.batch_size)))
      ("grad-accum", "Micro-batches per optimizer step (gradient accumulation)", cxxopts::value<int>()->default_value("1"))
      ("optimizer", "sgd | adamw", cxxopts::value<std::string>()->default_value(d.optim.name))
      ("lr", "Peak learning rate", cxxopts::value<double>()->default_value("0.1"))
      ("momentum", "SGD momentum", cxxopts::value<double>()->default_value("0.9"))
      ("nesterov", "Nesterov momentum", cxxopts::value<bool>()->default_value("false"))
      ("weight-decay", "Weight decay", cxxopts::value<double>()->default_value("0.0005"))
      ("schedule", "constant | step | cosine | onecycle", cxxopts::value<std::string>()->default_value(d.schedule.name))
      ("warmup-epochs", "Linear warmup (epochs, fractions allowed)", cxxopts::value<double>()->default_value("0"))
      ("step-epochs", "step schedule: decay every N epochs", cxxopts::value<double>()->default_value("30"))
      ("gamma", "step schedule: decay factor", cxxopts::value<double>()->default_value("0.1"))
      ("seed", "Seed for init, shuffling and augmentation", cxxopts::value<std::uint64_t>()->default_value("0"));
  opts.add_options("Performance")
      ("device", "auto | cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value(d.device))
      ("threads", "Intra-op threads (0 = all cores; several ranks on a node: each its cores)", cxxopts::value<int>()->default_value("0"))
      ("amp", "off | bf16 | fp16 (fp16: CUDA with loss scaling)", cxxopts::value<std::string>()->default_value(d.amp))
      ("channels-last", "NHWC memory format", cxxopts::value<bool>()->default_value("false"))
      ("prefetch", "Batches prepared ahead", cxxopts::value<int>()->default_value(s(d.prefetch)))
      ("workers", "Loader threads preparing batches", cxxopts::value<int>()->default_value(s(d.loader_workers)));
  opts.add_options("Output")
      ("out", "Run directory (metrics.json, train.log, checkpoint.pt)", cxxopts::value<std::string>()->default_value(d.out_dir))
      ("save", "Write DIR/checkpoint.pt after every epoch", cxxopts::value<bool>()->default_value("false"))
      ("resume", "Continue from DIR/checkpoint.pt", cxxopts::value<bool>()->default_value("false"))
      ("ledger", "Append a signed block per epoch to this ledger file (e.g. DIR/ledger.jsonl)",
       cxxopts::value<std::string>()->default_value(""))
      ("keys", "Ledger keys dir from `tdml keys gen` (default: fresh keys in DIR/keys)",
       cxxopts::value<std::string>()->default_value(""))
      ("sign", "Fresh ledger keys: ed25519 | hmac", cxxopts::value<std::string>()->default_value(d.sign));
}

train::TrainOptions train_options_from(const cxxopts::ParseResult& r) {
  train::TrainOptions o;
  o.model = r["model"].as<std::string>();
  o.data = r["data"].as<std::string>();
  o.augment = r["augment"].as<bool>();
  o.limit_train_batches = r["limit-train-batches"].as<std::int64_t>();
  o.limit_test_batches = r["limit-test-batches"].as<std::int64_t>();
  o.epochs = r["epochs"].as<int>();
  o.batch_size = r["batch-size"].as<std::int64_t>();
  o.grad_accum = r["grad-accum"].as<int>();
  o.optim.name = r["optimizer"].as<std::string>();
  o.optim.lr = r["lr"].as<double>();
  o.optim.momentum = r["momentum"].as<double>();
  o.optim.nesterov = r["nesterov"].as<bool>();
  o.optim.weight_decay = r["weight-decay"].as<double>();
  o.schedule.name = r["schedule"].as<std::string>();
  o.schedule.warmup_epochs = r["warmup-epochs"].as<double>();
  o.schedule.step_epochs = r["step-epochs"].as<double>();
  o.schedule.gamma = r["gamma"].as<double>();
  o.seed = r["seed"].as<std::uint64_t>();
  o.device = r["device"].as<std::string>();
  o.threads = r["threads"].as<int>();
  o.amp = r["amp"].as<std::string>();
  o.channels_last = r["channels-last"].as<bool>();
  o.prefetch = r["prefetch"].as<int>();
  o.loader_workers = r["workers"].as<int>();
  o.out_dir = r["out"].as<std::string>();
  o.save = r["save"].as<bool>();
  o.resume = r["resume"].as<bool>();
  o.ledger = r["ledger"].as<std::string>();
  o.ledger_keys = r["keys"].as<std::string>();
  o.sign = r["sign"].as<std::string>();
  if (o.optim.name == "adamw" && !r.count("weight-decay")) o.optim.weight_decay = 1e-4;
  if (o.optim.name == "adamw" && !r.count("lr")) o.optim.lr = 3e-4;
  return o;
}

}  // namespace tdml::app
