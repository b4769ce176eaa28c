#pragma once
// Rendezvous and the process group of a data-parallel job: who am I (rank), how many are we
// (world), where is the store (MASTER_ADDR:MASTER_PORT), and a small communicator (`Comm`)
// over c10d's Gloo or NCCL backend whose every failure is a tdml::Error naming the operation,
// this rank and, where it can be known, the peer that was lost.
//
// Filled from the CLI or from the environment that `tdml ... --nproc N` (launcher.h) and
// `torchrun --no-python ./tdml ...` both set (RANK, WORLD_SIZE, ...).
#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tdml/dist/cpu_binding.h"

namespace tdml::dist {

enum class BackendKind {
  kAuto,  // NCCL when built with CUDA and a GPU is visible, else Gloo
  kGloo,  // CPU tensors (and CUDA tensors staged through the host)
  kNccl,  // CUDA tensors only; requires a CUDA LibTorch (TDML_HAS_CUDA)
};

// "auto" | "gloo" | "nccl" -> BackendKind; throws tdml::UsageError otherwise.
BackendKind parse_backend(const std::string& name);
std::string backend_name(BackendKind kind);

struct DistOptions {
  BackendKind backend = BackendKind::kAuto;  // communication backend
  int rank = 0;                              // global rank, 0 .. world-1
  int world = 1;                             // number of processes in the job
  int local_rank = 0;                        // rank on this node (selects the GPU)
  int local_world = 1;                       // processes on this node
  int nnodes = 1;                            // nodes in the job
  int node_rank = 0;                         // this node's index, 0 .. nnodes-1
  std::string master_addr = "127.0.0.1";     // host of the rendezvous store (rank 0 or agent)
  int master_port = 29500;                   // its TCP port
  // Applies to the rendezvous (store connect, waiting for all ranks) and to every collective.
  std::chrono::milliseconds timeout{std::chrono::seconds(300)};
  // torchrun: the elastic agent hosts the store; ranks connect as clients and use the prefix
  // "/worker/attempt_<restart_count>" (TORCHELASTIC_USE_AGENT_STORE == "True").
  bool use_agent_store = false;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT
  std::string run_id;     // TORCHELASTIC_RUN_ID (informational)
  // Binding of this node's ranks to CPUs (--cpu-bind; see cpu_binding.h).
  CpuBind cpu_bind = CpuBind::kAuto;
};

// True when this process was started as one rank of a job (RANK and WORLD_SIZE are set, by
// `tdml --nproc` or torchrun): commands then run as a worker instead of launching workers.
bool is_worker_process();

// Reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// GROUP_RANK (node rank), TORCHELASTIC_* and TDML_DIST_TIMEOUT_S (seconds) over `base`.
// Throws tdml::Error naming the variable when one is malformed or inconsistent.
DistOptions dist_options_from_env(DistOptions base = {});

// Writes {"message": ..., "timestamp": ...} to $TORCHELASTIC_ERROR_FILE when that is set, so
// torchrun reports this rank's failure; does nothing otherwise. Never throws.
void write_elastic_error_file(const std::string& message);

enum class ReduceOp { kSum, kAvg };

class Comm;

// An asynchronous collective in flight. Keep it until wait() returns: c10d requires the work
// object to stay alive until completion. Move-only; not thread-safe.
class PendingOp {
 public:
  struct Work;  // the backend's handle on the op (c10d::Work), defined in process_group.cpp
  PendingOp();
  PendingOp(std::unique_ptr<Work> work, const Comm* comm, std::string what,
            std::function<void()> after, int peer = -1);
  PendingOp(PendingOp&&) noexcept;
  PendingOp& operator=(PendingOp&&) noexcept;
  ~PendingOp();
  // Blocks until done (up to the group's timeout); throws tdml::Error on failure.
  void wait();
  bool valid() const { return static_cast<bool>(work_); }
  // Non-blocking: true once the collective has finished (successfully or not).
  bool completed() const;
  // Runs fn on the completing thread when the collective finishes (or now if it has); used for
  // timing. Returns false when the backend offers no completion future (fn never runs).
  bool on_complete(std::function<void()> fn);
  // Gives up on an unfinished point-to-point op (Gloo: a posted receive stops waiting) so that
  // an error path does not block on it until the timeout; a no-op when empty.
  void abort() noexcept;

 private:
  std::unique_ptr<Work> work_;
  const Comm* comm_ = nullptr;   // for error context; outlives the op
  std::string what_;             // "all_reduce of 4.0 MiB" for error messages
  std::function<void()> after_;  // runs after a successful wait (e.g. divide for kAvg)
  int peer_ = -1;                // the other rank of a point-to-point op
};

// A communicator: one rank's handle on the group. Owns the c10d backend. Collectives must be
// issued in the same order on every rank. Calls are not thread-safe (one thread issues them);
// PendingOp completion may be observed from any thread. Always held by shared_ptr. Every failure
// throws tdml::Error "OP failed on rank R of W: REASON" (a lost peer reads "lost connection to rank
// P").
class Comm : public std::enable_shared_from_this<Comm> {
 public:
  struct Backend;  // the c10d backend and its store, defined in process_group.cpp
  Comm(std::unique_ptr<Backend> backend, int rank, int world, BackendKind kind,
       std::chrono::milliseconds timeout);
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int world() const { return world_; }
  BackendKind kind() const { return kind_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // broadcast, all_reduce and all_gather take CPU tensors on every backend: under NCCL a CPU
  // tensor (epoch totals, metrics) is copied to the current GPU and back. all_reduce_async, send
  // and recv take the backend's own kind (CUDA tensors under NCCL).
  // In place: every rank ends with root's tensors.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  // In place sum (or average) over ranks of a contiguous tensor.
  void all_reduce(torch::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
  PendingOp all_reduce_async(torch::Tensor& tensor, ReduceOp op = ReduceOp::kSum);
  // Returns world tensors shaped like `input`, index = rank.
  std::vector<torch::Tensor> all_gather(const torch::Tensor& input);
  void barrier();
  // Point-to-point (tagged on Gloo; NCCL ignores the tag, so pair sends and receives).
  void send(torch::Tensor& tensor, int dst, int tag = 0);
  void recv(torch::Tensor& tensor, int src, int tag = 0);
  // The same, in flight: `what` names the op in errors ("pipeline activation to rank 1"). Keep
  // `tensor` alive until the op is waited for.
  PendingOp send_async(torch::Tensor& tensor, int dst, int tag, std::string what);
  PendingOp recv_async(torch::Tensor& tensor, int src, int tag, std::string what);

  // True when `t` must be staged through the GPU (NCCL and a CPU tensor).
  bool stages_through_gpu(const torch::Tensor& t) const;

  // Turns a c10d/gloo failure of `what` into a tdml::Error with rank context.
  [[noreturn]] void rethrow(const std::string& what, const std::exception& e, int peer = -1) const;

 private:
  std::unique_ptr<Backend> backend_;  // owns the c10d backend and keeps its store alive
  int rank_;
  int world_;
  BackendKind kind_;
  std::chrono::milliseconds timeout_;
};

// Rendezvous through a TCPStore (rank 0 hosts it unless the torchrun agent does) and creates
// the backend. Blocks until all `world` ranks have joined or the timeout. Throws tdml::Error for
// a port in use, an unreachable/bad address, a rendezvous timeout, or NCCL without CUDA.
// NCCL: sets the current CUDA device to local_rank first.
std::shared_ptr<Comm> init_process_group(const DistOptions& options);

// N ranks as threads of this process over an in-memory c10d::HashStore + Gloo (unit tests,
// simulations). Returns world communicators, index = rank. Creating them runs the rendezvous on
// `world` threads; afterwards each Comm must be driven by its own thread.
std::vector<std::shared_ptr<Comm>> make_local_group(
    int world, std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Runs fn(comm) for each rank of a local group on its own thread and joins them. When ranks
// throw, rethrows the first exception (by rank) after all have finished.
void run_local_ranks(int world, const std::function<void(Comm&)>& fn,
                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace tdml::dist
