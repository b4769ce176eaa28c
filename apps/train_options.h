#pragma once
// The training options shared by `tdml train`, `tdml sweep` and `tdml autobatch`.
#include <cxxopts.hpp>

#include "tdml/train/options.h"

namespace tdml::app {

void add_train_options(cxxopts::Options& opts);
train::TrainOptions train_options_from(const cxxopts::ParseResult& r);

}  // namespace tdml::app
