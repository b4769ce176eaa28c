#pragma once
// `tdml train --mode ddp`: the DDP flags (--bucket-cap-mb, --first-bucket-mb,
// --broadcast-buffers) and the run function: launch --nproc workers (or, as a worker started by
// the launcher or torchrun, train one rank). The distributed flags are dist_options.h's.
#include <cxxopts.hpp>

namespace tdml::app {

void add_train_ddp_options(cxxopts::Options& opts);
int run_train_ddp(const cxxopts::ParseResult& r);

}  // namespace tdml::app
