#pragma once
// `tdml fl`'s flags: clients and data, attacks, server (aggregation, clipping, detection),
// output and ledger. The distributed flags (--nproc ...) are dist_options.h's.
#include <cxxopts.hpp>
#include <set>

#include "tdml/fl/options.h"

namespace tdml::app {

void add_fl_options(cxxopts::Options& opts);
// Fills and validates the runner's options (tdml::UsageError names the bad flag).
fl::RunnerOptions fl_options_from(const cxxopts::ParseResult& r);
// --forge-client 2,5 (demo/test: these clients sign with a key that is not theirs).
std::set<int> forging_clients_from(const cxxopts::ParseResult& r);

}  // namespace tdml::app
