#include "tdml/dist/ddp_train.h"

#include <algorithm>

#include "tdml/dist/step_hook.h"
#include "tdml/util/error.h"

namespace tdml::dist {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

std::vector<double> column(const std::vector<torch::Tensor>& rows, int k) {
  std::vector<double> out;
  for (const auto& r : rows) out.push_back(r[k].item<double>());
  return out;
}

}  // namespace

DdpStep::DdpStep(train::StepSetup setup, std::shared_ptr<Comm> comm, const DdpOptions& options)
    : PlainStep(setup), comm_(std::move(comm)) {
  reducer_ = std::make_unique<GradientReducer>(comm_, setup.model, options);
  start_epoch();
}

void DdpStep::start_epoch() {
  epoch_start_ = last_step_end_ = Clock::now();
  samples_ = synced_steps_ = bytes_ = overlapped_ = timed_at_wait_ = 0;
  wait_s_ = comm_s_ = broadcast_s_ = backward_s_ = 0;
}

void DdpStep::before_forward() {
  // PyTorch DDP broadcasts buffers before every forward in training, no_sync or not.
  const auto t = Clock::now();
  reducer_->broadcast_buffers();
  broadcast_s_ += since(t);
  reducer_->set_require_sync(last_micro_step());
}

void DdpStep::after_backward() {
  reducer_->finalize();
  const auto& s = reducer_->last_step_stats();
  if (!s.synced) return;
  ++synced_steps_;
  bytes_ += s.bytes_reduced;
  overlapped_ += s.buckets_overlapped;
  wait_s_ += s.exposed_s;
  comm_s_ += s.comm_s;
  backward_s_ += s.backward_s;
  timed_at_wait_ += s.buckets_timed_at_wait;
}

void DdpStep::step(const data::Batch& batch, train::EpochTotals& totals) {
  on_rank_step(comm_->rank(), micro_steps_++);
  PlainStep::step(batch, totals);
  samples_ += batch.labels.size(0);
  last_step_end_ = Clock::now();
}

nlohmann::json DdpStep::epoch_stats() {
  const double epoch_s = std::chrono::duration<double>(last_step_end_ - epoch_start_).count();
  const double waiting = wait_s_ + broadcast_s_;
  auto mine = torch::tensor(
      {epoch_s, std::max(0.0, epoch_s - waiting), wait_s_, comm_s_, broadcast_s_, double(samples_),
       double(synced_steps_), double(bytes_), double(overlapped_), backward_s_},
      torch::kDouble);
  const auto rows = comm_->all_gather(mine);
  const auto epoch = column(rows, 0);
  const double max_s = *std::max_element(epoch.begin(), epoch.end());
  double samples = 0, comm_total = 0, wait_total = 0;
  for (const auto& r : rows) {
    samples += r[5].item<double>();
    comm_total += r[3].item<double>();
    wait_total += r[2].item<double>();
  }
  const double steps = std::max(1.0, double(synced_steps_));
  return {
      {"world_size", comm_->world()},
      {"backend", backend_name(comm_->kind())},
      {"epoch_time_s_per_rank", epoch},
      {"epoch_time_s_max", max_s},
      {"global_samples", samples},
      {"global_samples_per_s", max_s > 0 ? samples / max_s : 0.0},
      {"compute_s_per_rank", column(rows, 1)},
      {"comm_wait_s_per_rank", column(rows, 2)},
      {"comm_s_per_rank", column(rows, 3)},
      {"buffer_broadcast_s_per_rank", column(rows, 4)},
      {"backward_s_per_rank", column(rows, 9)},
      {"synced_steps", synced_steps_},
      {"buckets", reducer_->num_buckets()},
      {"bytes_allreduced_per_step", synced_steps_ ? double(bytes_) / steps : 0.0},
      {"buckets_overlapped_per_step", synced_steps_ ? double(overlapped_) / steps : 0.0},
      {"comm_s_per_step", comm_total / comm_->world() / steps},
      {"comm_wait_s_per_step", wait_total / comm_->world() / steps},
      {"exposed_comm_fraction", comm_total > 0 ? wait_total / comm_total : 0.0},
      // Bucket completions this rank could not time (comm_s then ends at the wait: an upper
      // bound); 0 on Gloo and NCCL, whose collectives report completion.
      {"buckets_timed_at_wait", timed_at_wait_},
  };
}

train::RunResult run_ddp_training(train::TrainOptions opts, const Rank& rank,
                                  const DdpOptions& ddp, train::Observers observers) {
  const auto& d = rank.options;
  auto comm = rank.comm;
  opts.threads = rank.threads;
  opts.device = rank.device;
  train::TrainContext ctx;
  ctx.rank = comm->rank();
  ctx.world = comm->world();
  ctx.all_reduce_sum = [comm](torch::Tensor& t) { comm->all_reduce(t, ReduceOp::kSum); };
  ctx.make_strategy = [comm, ddp](train::StepSetup s) -> std::unique_ptr<train::StepStrategy> {
    return std::make_unique<DdpStep>(s, comm, ddp);
  };
  ctx.observers = std::move(observers);
  ctx.restart_count = d.restart_count;
  ctx.run_info = {{"mode", "ddp"},
                  {"world_size", comm->world()},
                  {"backend", backend_name(comm->kind())},
                  {"nnodes", d.nnodes},
                  {"local_world_size", d.local_world},
                  {"cpu_bind", rank.cpu_bind},
                  {"bucket_cap_mb", ddp.bucket_cap_mb},
                  {"first_bucket_mb", ddp.first_bucket_mb},
                  {"broadcast_buffers", ddp.broadcast_buffers},
                  {"grad_accum", opts.grad_accum},
                  {"global_batch_size", opts.batch_size * opts.grad_accum * comm->world()}};
  if (!d.run_id.empty()) ctx.run_info["torchelastic_run_id"] = d.run_id;
  return train::run_training(opts, ctx);
}

}  // namespace tdml::dist
