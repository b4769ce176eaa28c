#pragma once
// One rank of `tdml train --mode ddp`: the shared training loop (train/trainer.h) with a
// DdpStep strategy. Every rank builds the model from the same seed, then rank 0's weights and
// buffers are broadcast; each rank trains on its DistributedSampler shard with --batch-size per
// rank; gradients are averaged by GradientReducer (bucketed all-reduce overlapping backward);
// evaluation is sharded over ranks and summed; rank 0 writes metrics.json and checkpoints.
//
// BatchNorm buffer policy (as PyTorch DDP with broadcast_buffers=True, its default): before
// every forward, also on no-sync micro-steps, rank 0's buffers (running mean/var, batch count)
// are broadcast to all ranks, so every rank normalises evaluation with rank 0's statistics and
// the checkpoint rank 0 writes is the state every rank holds. Batch statistics in training are
// per rank (no SyncBatchNorm): with BatchNorm, ddp on N x B is not bit-equivalent to one
// process on N*B; without it, it is (tests/dist/ddp_train_test.cpp).
//
// Resume: every rank loads DIR/checkpoint.pt + train_state.pt, so DIR must be readable by all
// ranks (one machine, or a shared file system across nodes).
#include <torch/torch.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "tdml/dist/ddp.h"
#include "tdml/dist/process_group.h"
#include "tdml/dist/rank.h"
#include "tdml/train/options.h"
#include "tdml/train/trainer.h"

namespace tdml::dist {

// The trainer step for data-parallel training: broadcast_buffers() before forward,
// set_require_sync(last micro-step), finalize() after backward; collects per-epoch
// communication statistics. Owns the reducer; the StepSetup's model/optimizer and the Comm
// must outlive it. Not thread-safe (the training thread drives it).
class DdpStep : public train::PlainStep {
 public:
  DdpStep(train::StepSetup setup, std::shared_ptr<Comm> comm, const DdpOptions& options);
  void step(const data::Batch& batch, train::EpochTotals& totals) override;
  void start_epoch() override;
  // Collective: gathers every rank's timing and returns (same on every rank)
  // {"world_size", "epoch_time_s_per_rank", "epoch_time_s_max", "global_samples_per_s",
  //  "compute_s_per_rank", "comm_wait_s_per_rank", "comm_s_per_rank",
  //  "buffer_broadcast_s_per_rank", "bytes_allreduced_per_step", "buckets",
  //  "buckets_overlapped_per_step", "synced_steps", "exposed_comm_fraction"}.
  nlohmann::json epoch_stats() override;
  const GradientReducer& reducer() const { return *reducer_; }

 protected:
  void before_forward() override;
  void after_backward() override;

 private:
  std::shared_ptr<Comm> comm_;
  std::unique_ptr<GradientReducer> reducer_;
  std::int64_t micro_steps_ = 0;  // since the run started (for the kill test hook)
  // This epoch, this rank:
  std::chrono::steady_clock::time_point epoch_start_, last_step_end_;
  std::int64_t samples_ = 0, synced_steps_ = 0, bytes_ = 0, overlapped_ = 0, timed_at_wait_ = 0;
  double wait_s_ = 0, comm_s_ = 0, broadcast_s_ = 0, backward_s_ = 0;
};

// Trains this rank of a ddp job (joined by rank.h's join_job, whose threads and device it
// uses). metrics.json "run" gets mode "ddp", world_size, backend, nnodes, local_world_size,
// cpu_bind, bucket_cap_mb, first_bucket_mb, broadcast_buffers, grad_accum, global_batch_size.
// `observers` watch rank 0's run (train/observer.h).
train::RunResult run_ddp_training(train::TrainOptions opts, const Rank& rank,
                                  const DdpOptions& ddp, train::Observers observers = {});

}  // namespace tdml::dist
