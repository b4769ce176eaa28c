#pragma once
// Data-parallel gradient averaging, what PyTorch's DistributedDataParallel Reducer does, for a
// torch::nn::Module in C++: rank 0's weights are broadcast once, each parameter's gradient is
// copied (divided by the world size) into a flat bucket the moment autograd has accumulated it,
// a full bucket starts an asynchronous all-reduce while backward continues, and finalize()
// waits and writes the averaged gradients back into p.grad(). After finalize() every rank holds
// the gradient of the mean loss over the union of all ranks' batches.
//
// Per step:   reducer.broadcast_buffers();          // if DdpOptions::broadcast_buffers
//             loss = model->forward(x) ...; loss.backward();
//             reducer.finalize();                   // before optimizer.step()
// Gradient accumulation over K micro-batches: set_require_sync(false) for the first K-1
// backward passes (no communication, grads accumulate locally), true for the last.
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tdml/dist/process_group.h"

namespace torch::autograd {
struct Node;
}

namespace tdml::dist {

struct DdpOptions {
  // Bucket size in MiB after the first: larger buckets mean fewer, more efficient collectives
  // but later start of communication (PyTorch's default 25).
  double bucket_cap_mb = 25.0;
  // The first bucket (the last layers' gradients, ready first) is small so communication
  // starts early in backward (PyTorch's default 1).
  double first_bucket_mb = 1.0;
  // Broadcast rank 0's buffers (BatchNorm running stats) when the trainer calls
  // broadcast_buffers() before each forward, as PyTorch does by default. false: the call is a
  // no-op and each rank keeps its own statistics.
  bool broadcast_buffers = true;
  // false: a parameter whose gradient never arrives in a synced backward is an error reported
  // by finalize(). true: such gradients count as zero on this rank (their buckets are reduced
  // in finalize(), without overlap), for models with conditionally used parameters.
  bool find_unused_parameters = false;
};

// What one bucket did in the last synced step.
struct BucketStats {
  std::int64_t bytes = 0;                 // size of the flat bucket
  int params = 0;                         // parameters in it
  double launch_s = 0;                    // launch time, seconds after the step's first gradient
  double comm_s = 0;                      // all-reduce launch to completion
  bool launched_during_backward = false;  // launched while other gradients were still pending
  // No completion time was recorded (the backend offers no future): comm_s ends at the end of
  // finalize()'s wait, an upper bound.
  bool completion_from_wait = false;
};

// Communication of the last step (a no-sync step reports synced = false and zeros).
struct StepStats {
  bool synced = false;                     // this step all-reduced
  int buckets = 0;                         // collectives launched
  int buckets_overlapped = 0;              // of them, launched while backward was still running
  std::int64_t bytes_reduced = 0;          // bytes all-reduced by this rank
  double backward_s = 0;                   // first to last gradient hook
  double comm_s = 0;                       // time at least one all-reduce was in flight
  double exposed_s = 0;                    // time finalize() waited for communication
  int buckets_timed_at_wait = 0;           // buckets whose comm_s is an upper bound (see above)
  std::vector<BucketStats> per_bucket;     // in launch (index) order
  std::vector<std::string> unused_params;  // zero-filled (find_unused_parameters) this step
};

// Owns the buckets and the autograd hooks of one module's parameters. The module, the
// optimizer and the Comm must outlive it (it keeps the Comm via shared_ptr). Hooks are removed
// on destruction. backward() may run hooks on autograd threads: hook state is locked; all other
// calls come from the training thread. Not copyable.
class GradientReducer {
 public:
  // Broadcasts rank 0's parameters and buffers to all ranks (collective: every rank constructs
  // its reducer at the same point), assigns buckets and installs the hooks.
  GradientReducer(std::shared_ptr<Comm> comm, torch::nn::Module& module, DdpOptions options = {});
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // false: the following backward passes do not communicate (grad accumulation, no_sync).
  void set_require_sync(bool on);
  bool require_sync() const { return require_sync_; }

  // Broadcasts rank 0's buffers (collective). No-op when options.broadcast_buffers is false or
  // the module has no buffers.
  void broadcast_buffers();

  // Call once after a synced backward, before the optimizer step: waits for every bucket and
  // writes averaged gradients into p.grad(). In a no-sync step it only resets the step state.
  // Throws tdml::Error naming the parameters whose gradient never arrived (unused parameters)
  // or arrived twice (two backward passes in one synced step), and on communication failure.
  void finalize();

  const StepStats& last_step_stats() const { return stats_; }
  // Parameter names of each bucket, in launch order (for logs and tests).
  std::vector<std::vector<std::string>> bucket_layout() const;
  int num_buckets() const { return static_cast<int>(buckets_.size()); }

 private:
  struct Bucket;
  struct Slot {
    std::string name;
    torch::Tensor param;
    int bucket = 0;
    std::int64_t offset = 0;  // elements into the bucket's flat tensor
    bool ready = false;
  };
  using Clock = std::chrono::steady_clock;

  void assign_buckets();
  void install_hooks();
  void on_gradient(std::size_t slot);  // called by the hook
  void mark_ready_locked(std::size_t slot, const torch::Tensor& grad);
  void launch_ready_locked();
  void reset_step_locked();
  void record_step_stats_locked(Clock::time_point wait_start, Clock::time_point wait_end,
                                Clock::time_point backward_end);
  [[noreturn]] void fail_step_locked(const std::string& message);

  std::shared_ptr<Comm> comm_;
  DdpOptions options_;
  std::vector<Slot> slots_;                       // module parameter order
  std::vector<std::unique_ptr<Bucket>> buckets_;  // launch order
  std::vector<std::pair<std::string, torch::Tensor>> buffers_;
  // Gradient accumulators must stay alive, or autograd makes new ones without our hooks.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<std::uintptr_t> hook_keys_;

  std::mutex mu_;  // guards the step state below (hooks may run on autograd threads)
  bool require_sync_ = true;
  bool step_started_ = false;
  std::size_t next_launch_ = 0;
  std::size_t pending_slots_ = 0;
  Clock::time_point first_grad_;
  Clock::time_point last_grad_;
  std::vector<std::string> errors_;
  StepStats stats_;
};

// RAII no_sync(): require_sync is false for the guard's lifetime, restored afterwards.
class NoSyncGuard {
 public:
  explicit NoSyncGuard(GradientReducer& r) : r_(r), prev_(r.require_sync()) {
    r_.set_require_sync(false);
  }
  ~NoSyncGuard() { r_.set_require_sync(prev_); }
  NoSyncGuard(const NoSyncGuard&) = delete;
  NoSyncGuard& operator=(const NoSyncGuard&) = delete;

 private:
  GradientReducer& r_;
  bool prev_;
};

// Broadcasts rank 0's values of `tensors` in place, coalesced into one flat tensor per
// (dtype, device) (collective). Used for parameters at start and for buffers each step.
void broadcast_coalesced(Comm& comm, const std::vector<torch::Tensor>& tensors);

}  // namespace tdml::dist
