#pragma once
// `tdml train --mode pipeline`: the pipeline flags and the mode's run function.
#include <cxxopts.hpp>

#include "tdml/pipeline/pipeline_step.h"

namespace tdml::app {

// --stages, --micro-batches, --pipeline-schedule, --split, --describe.
void add_pipeline_options(cxxopts::Options& opts);
pipeline::PipelineOptions pipeline_options_from(const cxxopts::ParseResult& r);
// --describe: prints the split. --nproc 1: all stages on one device. --nproc S: launches S
// workers (one stage each); a worker (RANK set) runs its stage.
int run_train_pipeline(const cxxopts::ParseResult& r);

}  // namespace tdml::app
