#pragma once
// The option groups every command shares, with one name, one meaning and one default each:
//   "Model and data"  --model (its default is the command's purpose, said in --help), --data,
//                     --seed (0 everywhere)
//   "Performance"     --device, --threads, --amp, --channels-last
//   "Output"          --out
//   "Ledger"          --ledger, --keys, --sign
// The distributed group (--nproc, --timeout ...) is dist_options.h's.
#include <cstdint>
#include <cxxopts.hpp>
#include <string>

namespace tdml::app {

struct ModelData {
  std::string model;
  std::string data;
  std::uint64_t seed = 0;
};
// `purpose` explains the default model in --help, e.g. "the study's sweep model".
void add_model_data_options(cxxopts::Options& opts, const std::string& default_model,
                            const std::string& purpose);
ModelData model_data_from(const cxxopts::ParseResult& r);

struct Performance {
  std::string device = "auto";
  int threads = 0;
  std::string amp = "off";
  bool channels_last = false;
};
void add_performance_options(cxxopts::Options& opts, const std::string& default_device = "auto");
Performance performance_from(const cxxopts::ParseResult& r);

// --out DIR; `what` lists what the command writes there.
void add_output_options(cxxopts::Options& opts, const std::string& default_dir,
                        const std::string& what);

struct LedgerFlags {
  std::string path;                // --ledger ("" = none)
  std::string keys;                // --keys ("" = fresh keys in OUT/keys)
  std::string scheme = "ed25519";  // --sign
};
// `block` says what one block is ("an epoch", "a round").
void add_ledger_options(cxxopts::Options& opts, const std::string& block);
LedgerFlags ledger_flags_from(const cxxopts::ParseResult& r);

}  // namespace tdml::app
