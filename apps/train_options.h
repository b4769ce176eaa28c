#pragma once
// The training options shared by `tdml train`, `tdml sweep` and `tdml autobatch`.
#include <cxxopts.hpp>

#include "tdml/train/observer.h"
#include "tdml/train/options.h"

namespace tdml::app {

void add_train_options(cxxopts::Options& opts);

// --resume (the newest checkpoint; error if none), --resume auto or --resume=auto (the newest
// if there is one, else afresh), or neither. A bad value is a tdml::UsageError.
struct ResumeFlag {
  bool resume = false;
  bool if_any = false;
};
ResumeFlag resume_flag_from(const cxxopts::ParseResult& r);
train::TrainOptions train_options_from(const cxxopts::ParseResult& r);
// The shared groups (option_groups.h: model and data, performance) into `o`.
void apply_shared_groups(const cxxopts::ParseResult& r, train::TrainOptions& o);

// `tdml train` only: --ledger, --keys, --sign, and the observers they ask for (the ledger of
// ledger/train_ledger.h). Checks --sign (tdml::UsageError).
void add_train_ledger_options(cxxopts::Options& opts);
train::Observers train_observers_from(const cxxopts::ParseResult& r);

}  // namespace tdml::app
