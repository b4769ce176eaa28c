#pragma once
// Where a command's data comes from: `--data DIR|synthetic|auto`.
#include <string>

#include "tdml/data/dataset.h"
#include "tdml/data/synthetic.h"

namespace tdml::data {

struct DataSplits {
  Dataset train;
  Dataset test;
  bool synthetic = false;
  std::string description;  // "CIFAR-10 from /x/cifar-10-batches-bin" or "synthetic (seed 0)"
};

// spec "synthetic": in-memory synthetic set. spec "auto": $TDML_DATA, else ./data, else try to
// download into ./data; if that fails (offline) a tdml::Error naming `tdml data fetch` and
// `--data synthetic` (never a silent switch to synthetic data). Any other spec: a directory
// that must hold CIFAR-10 (error otherwise).
DataSplits load_data(const std::string& spec, const SynthOptions& synth = {});

}  // namespace tdml::data
