#include "tdml/pipeline/pipeline_train.h"

#include "tdml/util/error.h"

namespace tdml::pipeline {

void validate_pipeline_job(const train::TrainOptions& opts, const PipelineOptions& po, int nproc) {
  train::validate(opts);
  validate(po);
  if (nproc > 1 && nproc != po.stages) {
    throw UsageError("--nproc " + std::to_string(nproc) +
                     ": multi-process pipeline runs one stage per process, so --nproc must "
                     "equal --stages (" + std::to_string(po.stages) + ")");
  }
  if (nproc > 1 && opts.resume && opts.save_every == 0) {
    throw UsageError(
        "--resume: a multi-process pipeline resumes from step checkpoints only (every stage "
        "saves its own part): add --save-every N");
  }
  if (nproc > 1 && (opts.resume || opts.save_every > 0) && po.split.method == SplitMethod::kTime) {
    throw UsageError(
        "--split time cuts by measured times, which differ between runs: a checkpointed "
        "multi-process pipeline needs a fixed split (--split params or study)");
  }
}

PipelineOptions resolved_for_checkpoints(const train::TrainOptions& opts, PipelineOptions po) {
  if ((opts.resume || opts.save_every > 0) && po.split.method == SplitMethod::kAuto) {
    po.split.method = SplitMethod::kParams;
  }
  return po;
}

train::RunResult run_local_pipeline_training(const train::TrainOptions& opts,
                                             const PipelineOptions& po,
                                             train::Observers observers) {
  train::TrainContext ctx;
  ctx.run_info = {{"mode", "pipeline"}, {"world_size", 1}};
  ctx.make_strategy = [po](train::StepSetup s) {
    return std::make_unique<LocalPipelineStep>(s, po);
  };
  ctx.observers = std::move(observers);
  return train::run_training(opts, ctx);
}

train::RunResult run_pipeline_training(train::TrainOptions opts, const PipelineOptions& options,
                                       const dist::Rank& rank, train::Observers observers) {
  const PipelineOptions po = resolved_for_checkpoints(opts, options);
  auto comm = rank.comm;
  opts.threads = rank.threads;  // this stage's share of the cores: the stages run at once
  opts.device = rank.device;
  train::TrainContext ctx;
  ctx.rank = comm->rank();
  ctx.world = comm->world();
  ctx.shard_train_data = false;                   // every stage sees the same batches
  ctx.labels_only_train_data = comm->rank() > 0;  // only stage 0 consumes images
  ctx.every_rank_checkpoints = true;              // each stage's weights and optimizer
  ctx.restart_count = rank.options.restart_count;
  ctx.all_reduce_sum = [comm](torch::Tensor& t) { comm->all_reduce(t); };
  ctx.run_info = {{"mode", "pipeline"},
                  {"world_size", comm->world()},
                  {"backend", dist::backend_name(comm->kind())},
                  {"cpu_bind", rank.cpu_bind}};
  ctx.make_strategy = [po, comm](train::StepSetup s) {
    return std::make_unique<DistributedPipelineStep>(s, po, comm);
  };
  ctx.observers = std::move(observers);
  return train::run_training(opts, ctx);
}

}  // namespace tdml::pipeline
