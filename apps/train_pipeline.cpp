#include "train_pipeline.h"

#include <spdlog/spdlog.h>

#include <iostream>

#include "dist_options.h"
#include "tdml/dist/launcher.h"
#include "tdml/util/error.h"
#include "train_options.h"

namespace tdml::app {

void add_pipeline_options(cxxopts::Options& opts) {
  pipeline::PipelineOptions d;
  opts.add_options("Pipeline (--mode pipeline)")(
      "stages", "Pipeline stages S (multi-process: --nproc S)",
      cxxopts::value<int>()->default_value(std::to_string(d.stages)))(
      "micro-batches", "Micro-batches M per batch",
      cxxopts::value<int>()->default_value(std::to_string(d.micro_batches)))(
      "pipeline-schedule", "gpipe | 1f1b (--schedule gpipe|1f1b works too)",
      cxxopts::value<std::string>()->default_value(pipeline::schedule_name(d.schedule)))(
      "split", "auto | study | params | time (where to cut the model)",
      cxxopts::value<std::string>()->default_value("auto"))(
      "describe", "Print the split (blocks, parameters, activation at each cut) and exit");
}

namespace {

bool is_pipeline_schedule(const std::string& name) { return name == "gpipe" || name == "1f1b"; }

}  // namespace

pipeline::PipelineOptions pipeline_options_from(const cxxopts::ParseResult& r) {
  pipeline::PipelineOptions o;
  o.stages = r["stages"].as<int>();
  o.micro_batches = r["micro-batches"].as<int>();
  o.schedule = pipeline::parse_schedule(r["pipeline-schedule"].as<std::string>());
  // --schedule is the learning-rate schedule; its pipeline values name the pipeline schedule.
  if (is_pipeline_schedule(r["schedule"].as<std::string>())) {
    if (r.count("pipeline-schedule")) {
      throw UsageError("--schedule " + r["schedule"].as<std::string>() +
                       " and --pipeline-schedule: give the pipeline schedule once");
    }
    o.schedule = pipeline::parse_schedule(r["schedule"].as<std::string>());
  }
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
  auto to = train_options_from(r);
  if (is_pipeline_schedule(to.schedule.name)) to.schedule.name = train::ScheduleOptions{}.name;
  if (r.count("describe")) return describe(to, po);
  train::TrainContext ctx;
  if (!dist::is_worker_process()) {
    const int nproc = r["nproc"].as<int>();
    if (nproc > 1) {
      if (nproc != po.stages) {
        throw UsageError("--nproc " + std::to_string(nproc) + ": multi-process pipeline runs one " +
                         "stage per process, so --nproc must equal --stages (" +
                         std::to_string(po.stages) + ")");
      }
      return dist::launch_workers(launch_options_from(r));
    }
    ctx.run_info = {{"mode", "pipeline"}, {"world_size", 1}};
    ctx.make_strategy = [po](train::StepSetup s) {
      return std::make_unique<pipeline::LocalPipelineStep>(s, po);
    };
    train::run_training(to, ctx);
    return 0;
  }
  if (to.resume) {
    throw UsageError(
        "--resume: multi-process pipeline checkpoints hold rank 0's optimizer "
        "state only; resume is supported in single-device mode");
  }
  const auto dopts = dist_options_from(r);
  auto comm = dist::init_process_group(dopts);
  const auto placement =
      dist::place_rank(*comm, dopts.cpu_bind, dopts.local_rank, dopts.local_world, to.threads);
  to.threads = placement.threads;  // not all cores each: the stages run at once
  spdlog::info("stage {} of {}: {} thread(s), {}", comm->rank(), comm->world(), to.threads,
               placement.description);
  ctx.rank = comm->rank();
  ctx.world = comm->world();
  ctx.shard_train_data = false;                   // every stage sees the same batches
  ctx.labels_only_train_data = comm->rank() > 0;  // only stage 0 consumes images
  ctx.all_reduce_sum = [comm](torch::Tensor& t) { comm->all_reduce(t); };
  ctx.run_info = {{"mode", "pipeline"},
                  {"world_size", comm->world()},
                  {"backend", dist::backend_name(comm->kind())},
                  {"cpu_bind", placement.record}};
  ctx.make_strategy = [po, comm](train::StepSetup s) {
    return std::make_unique<pipeline::DistributedPipelineStep>(s, po, comm);
  };
  try {
    train::run_training(to, ctx);
  } catch (const std::exception& e) {
    dist::write_elastic_error_file(e.what());
    throw;
  }
  return 0;
}

}  // namespace tdml::app
