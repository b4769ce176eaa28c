#include "option_groups.h"

namespace tdml::app {

void add_model_data_options(cxxopts::Options& opts, const std::string& default_model,
                            const std::string& purpose) {
  opts.add_options("Model and data")(
      "model", "tinycnn | smallcifarcnn | resnet50 (the default is " + purpose + ")",
      cxxopts::value<std::string>()->default_value(default_model))(
      "data", "CIFAR-10 dir, 'synthetic', or 'auto' ($TDML_DATA, ./data, else download)",
      cxxopts::value<std::string>()->default_value("auto"))(
      "seed", "Seed of model init, data order, augmentation (and attacks, partitions)",
      cxxopts::value<std::uint64_t>()->default_value("0"));
}

ModelData model_data_from(const cxxopts::ParseResult& r) {
  return {r["model"].as<std::string>(), r["data"].as<std::string>(),
          r["seed"].as<std::uint64_t>()};
}

void add_performance_options(cxxopts::Options& opts, const std::string& default_device) {
  opts.add_options("Performance")(
      "device", "auto | cpu | cuda | cuda:N", cxxopts::value<std::string>()->default_value(default_device))(
      "threads", "Intra-op threads (0 = all cores; several ranks on a node: each its share)",
      cxxopts::value<int>()->default_value("0"))(
      "amp", "off | bf16 | fp16 (fp16: CUDA, with loss scaling)",
      cxxopts::value<std::string>()->default_value("off"))(
      "channels-last", "NHWC memory format (with --amp bf16: the CPU fast path)",
      cxxopts::value<bool>()->default_value("false"));
}

Performance performance_from(const cxxopts::ParseResult& r) {
  return {r["device"].as<std::string>(), r["threads"].as<int>(), r["amp"].as<std::string>(),
          r["channels-last"].as<bool>()};
}

void add_output_options(cxxopts::Options& opts, const std::string& default_dir,
                        const std::string& what) {
  opts.add_options("Output")("out", "Run directory (" + what + ")",
                             cxxopts::value<std::string>()->default_value(default_dir));
}

void add_ledger_options(cxxopts::Options& opts, const std::string& block) {
  opts.add_options("Ledger")(
      "ledger", "Append a signed block per " + block + " to this ledger file (e.g. DIR/ledger.jsonl)",
      cxxopts::value<std::string>()->default_value(""))(
      "keys", "Ledger keys dir from `tdml keys gen` (default: fresh keys in DIR/keys)",
      cxxopts::value<std::string>()->default_value(""))(
      "sign", "Fresh ledger keys: ed25519 | hmac", cxxopts::value<std::string>()->default_value("ed25519"));
}

LedgerFlags ledger_flags_from(const cxxopts::ParseResult& r) {
  return {r["ledger"].as<std::string>(), r["keys"].as<std::string>(), r["sign"].as<std::string>()};
}

}  // namespace tdml::app
