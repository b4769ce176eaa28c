#pragma once
// `tdml train --mode pipeline`: the shared training loop (train/trainer.h) with a pipeline step,
// either all stages on one device in this process (LocalPipelineStep) or one stage per rank of a
// multi-process job (DistributedPipelineStep over the rank's Comm), mirroring ddp_train.h.
// Every stage reads the same batches (the loader does not shard); only stage 0 reads images.
// Rank 0 writes metrics.json and checkpoints; `observers` watch rank 0's run.
#include "tdml/dist/rank.h"
#include "tdml/pipeline/pipeline_step.h"
#include "tdml/train/options.h"
#include "tdml/train/trainer.h"

namespace tdml::pipeline {

// The checks made before any worker starts (one error line, not one per rank): the training
// options, the pipeline's, and that a multi-process job runs one stage per process (nproc ==
// stages). A multi-process job resumes from step checkpoints only (--save-every: every stage
// saves its own part; an epoch checkpoint holds rank 0's optimizer state only), and then cuts
// the model the same way in every run: --split auto means params, --split time is refused
// (measured times differ between runs, and so would the stages).
void validate_pipeline_job(const train::TrainOptions& opts, const PipelineOptions& po, int nproc);

// All stages on one device, in this process.
train::RunResult run_local_pipeline_training(const train::TrainOptions& opts,
                                             const PipelineOptions& po,
                                             train::Observers observers = {});

// The split a multi-process job uses: --split auto is params when the run checkpoints or
// resumes (see validate_pipeline_job), else as given.
PipelineOptions resolved_for_checkpoints(const train::TrainOptions& opts, PipelineOptions po);

// This rank's stage of a multi-process pipeline (joined by dist::join_job: its threads, its
// device, one GPU per local rank under NCCL). metrics.json "run" gets mode "pipeline",
// world_size, backend, cpu_bind.
train::RunResult run_pipeline_training(train::TrainOptions opts, const PipelineOptions& po,
                                       const dist::Rank& rank, train::Observers observers = {});

}  // namespace tdml::pipeline
