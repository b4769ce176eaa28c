#pragma once
// `tdml fl`'s flags: clients and data, attacks, server (aggregation, clipping, detection),
// output and ledger. The distributed flags (--nproc ...) are dist_options.h's.
#include <cxxopts.hpp>
#include <set>

#include "tdml/fl/options.h"

namespace tdml::app {

// Every group, as `tdml fl` (the simulation) takes them.
void add_fl_options(cxxopts::Options& opts);
// The groups one by one (`tdml fl server` takes the recipe and server groups, `tdml fl client`
// the attack group with one attack of its own: mix = false).
void add_fl_client_options(cxxopts::Options& opts);
void add_fl_recipe_options(cxxopts::Options& opts);
void add_fl_attack_options(cxxopts::Options& opts, bool mix);
void add_fl_server_options(cxxopts::Options& opts);
// Readers of those groups (model, seed and performance: add_model_data/performance_options).
void fl_model_perf_from(const cxxopts::ParseResult& r, fl::RunnerOptions& o);
void fl_recipe_from(const cxxopts::ParseResult& r, fl::RunnerOptions& o);
fl::AttackOptions fl_attack_options_from(const cxxopts::ParseResult& r);
void fl_server_from(const cxxopts::ParseResult& r, fl::RunnerOptions& o);
// Fills and validates the runner's options (tdml::UsageError names the bad flag).
fl::RunnerOptions fl_options_from(const cxxopts::ParseResult& r);
// --forge-client 2,5 (demo/test: these clients sign with a key that is not theirs).
std::set<int> forging_clients_from(const cxxopts::ParseResult& r);

}  // namespace tdml::app
