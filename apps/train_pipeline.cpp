#include "train_pipeline.h"

#include <iostream>

#include "dist_options.h"
#include "tdml/dist/rank.h"
#include "tdml/pipeline/pipeline_train.h"
#include "train_options.h"

namespace tdml::app {

void add_pipeline_options(cxxopts::Options& opts) {
  pipeline::PipelineOptions d;
  opts.add_options("Pipeline (--mode pipeline)")(
      "stages", "Pipeline stages S (multi-process: --nproc S)",
      cxxopts::value<int>()->default_value(std::to_string(d.stages)))(
      "micro-batches", "Micro-batches M per batch",
      cxxopts::value<int>()->default_value(std::to_string(d.micro_batches)))(
      "pipeline-schedule", "gpipe | 1f1b",
      cxxopts::value<std::string>()->default_value(pipeline::schedule_name(d.schedule)))(
      "split",
      "auto | study | params | time: where to cut the model (auto: time with --nproc S; on one "
      "device study for smallcifarcnn with 2 stages, else params)",
      cxxopts::value<std::string>()->default_value("auto"))(
      "describe", "Print the split (blocks, parameters, activation at each cut) and exit");
}

pipeline::PipelineOptions pipeline_options_from(const cxxopts::ParseResult& r) {
  pipeline::PipelineOptions o;
  o.stages = r["stages"].as<int>();
  o.micro_batches = r["micro-batches"].as<int>();
  o.schedule = pipeline::parse_schedule(r["pipeline-schedule"].as<std::string>());
  o.split.method = pipeline::parse_split_method(r["split"].as<std::string>());
  // --split time times the blocks at the micro-batch size the stages will run.
  const auto batch = r["batch-size"].as<std::int64_t>();
  if (batch > 0 && o.micro_batches > 0) {
    o.split.time_batch = std::max<std::int64_t>(1, (batch + o.micro_batches - 1) / o.micro_batches);
  }
  return o;
}

namespace {

int describe(const train::TrainOptions& to, const pipeline::PipelineOptions& po) {
  torch::manual_seed(to.seed);
  auto model = models::make_model(to.model);
  auto stages = pipeline::split_model(*model, po.stages, po.split);
  std::cout << to.model << " (" << models::parameter_count(*model) << " parameters, "
            << model->blocks().size() << " blocks) in " << po.stages << " stages, split "
            << pipeline::split_method_name(po.split.method) << ":\n"
            << pipeline::format_split(pipeline::describe_split(stages, *model));
  return 0;
}

}  // namespace

int run_train_pipeline(const cxxopts::ParseResult& r) {
  const auto po = pipeline_options_from(r);
  const auto to = train_options_from(r);
  const auto launch = launch_options_from(r);
  pipeline::validate_pipeline_job(to, po, dist::is_worker_process() ? po.stages : launch.nproc);
  if (r.count("describe")) return describe(to, po);
  auto observers = train_observers_from(r);
  if (!dist::is_worker_process() && launch.nproc == 1 && launch.nnodes == 1) {
    pipeline::run_local_pipeline_training(to, po, observers);
    return 0;
  }
  return dist::launch_or_join(launch, dist_options_from(r), {to.threads, to.device},
                              [&](dist::Rank& rank) {
                                pipeline::run_pipeline_training(to, po, rank, observers);
                              });
}

}  // namespace tdml::app
