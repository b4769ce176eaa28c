#pragma once
// The distributed flags shared by the commands that run data-parallel (bench allreduce,
// train --mode ddp): --nproc, --nnodes, --node-rank, --master-addr, --master-port, --backend,
// --timeout, --cpu-bind. The launcher reads them in the parent; workers take rank/world from
// the environment.
#include <cxxopts.hpp>

#include "tdml/dist/launcher.h"
#include "tdml/dist/process_group.h"

namespace tdml::app {

void add_dist_options(cxxopts::Options& opts);
dist::LaunchOptions launch_options_from(const cxxopts::ParseResult& r);
// Flags first, then the torchrun/launcher environment over them (a worker's truth).
dist::DistOptions dist_options_from(const cxxopts::ParseResult& r);
// Throws tdml::UsageError when any distributed flag was given: "--nproc applies to ... not WHY".
void refuse_distributed_flags(const cxxopts::ParseResult& r, const std::string& why);

}  // namespace tdml::app
